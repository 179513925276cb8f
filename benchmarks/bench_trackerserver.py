"""
Announce cost of our tracker (L{bittwist.trackerserver}) against swarm size.

Fills one swarm with C{N} peers (each from its own address), then times
announces through the HTTP resource (a C{DummyRequest} rendered, no
network): each is a peer of the swarm re-announcing, asking for 50 peers in
compact form.  Run it as a plain script::

    python benchmarks/bench_trackerserver.py [--sizes 100,100000] [--announces 200]

The cost should not depend on the swarm's size.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402
from twisted.web.resource import getChildForRequest  # noqa: E402
from twisted.web.test.requesthelper import DummyRequest  # noqa: E402

from bittwist.trackerserver import TrackerResource  # noqa: E402

INFO_HASH = bytes(range(20))


def peerId(n: int) -> bytes:
    return b"-BT0001-" + b"%012d" % n


def host(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def fill(resource: TrackerResource, clock: Clock, size: int) -> None:
    """
    Put C{size} leechers in the swarm, the quickest way the code allows.
    """
    store = getattr(resource, "tracker", None)
    if store is not None:
        for n in range(size):
            store.announce(INFO_HASH, peerId(n), host(n), 6881, "started", 100, 0)
        return
    # The tracker before the store existed walked the swarm on every
    # announce, so filling it through announces is quadratic: fill its
    # dictionary directly (benchmark only).
    from bittwist import trackerserver

    swarm = resource._swarms.setdefault(INFO_HASH, trackerserver._Swarm())
    now = clock.seconds()
    for n in range(size):
        swarm.peers[peerId(n), host(n)] = trackerserver._Peer(peerId(n), host(n), 6881, 100, now)


def announceOnce(resource: TrackerResource, n: int) -> bytes:
    request = DummyRequest([b"announce"])
    request.client = IPv4Address("TCP", host(n), 40000)
    request.args = {
        b"info_hash": [INFO_HASH],
        b"peer_id": [peerId(n)],
        b"port": [b"6881"],
        b"uploaded": [b"0"],
        b"downloaded": [b"0"],
        b"left": [b"100"],
        b"compact": [b"1"],
        b"numwant": [b"50"],
    }
    return getChildForRequest(resource, request).render(request)


def bench(size: int, announces: int) -> float:
    """
    @return: microseconds per announce in a swarm of C{size} peers.
    """
    clock = Clock()
    resource = TrackerResource(reactor=clock)
    fill(resource, clock, size)
    start = time.perf_counter()
    for i in range(announces):
        body = announceOnce(resource, i % size)
        assert b"failure reason" not in body, body
    return (time.perf_counter() - start) / announces * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--sizes", default="100,100000", help="swarm sizes, comma-separated")
    parser.add_argument("--announces", type=int, default=200, help="announces timed per size")
    options = parser.parse_args()
    for size in (int(s) for s in options.sizes.split(",")):
        perAnnounce = bench(size, options.announces)
        print(f"swarm of {size:>7} peers: {perAnnounce:10.1f} us per announce ({options.announces} announces)")


if __name__ == "__main__":
    main()
