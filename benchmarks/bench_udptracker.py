"""
Announce round trips on 127.0.0.1: bittwist's UDP tracker client against
bittwist's UDP tracker and Debian's opentracker, and the HTTP client against
bittwist's HTTP tracker, for comparison.

    python benchmarks/bench_udptracker.py [--announces 500]

Prints, per tracker, the first announce (UDP: connect + announce) and the
median and 95th percentile of the following ones, in milliseconds.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import ensureDeferred  # noqa: E402
from twisted.web.client import Agent, HTTPConnectionPool  # noqa: E402

import treq  # noqa: E402
from bittwist.tracker import AnnounceQuery, announce as httpAnnounce  # noqa: E402
from bittwist.trackerserver import makeTrackerSite  # noqa: E402
from bittwist.trackerstore import Tracker, TrackerLimits  # noqa: E402
from bittwist.udptracker import UDPTrackerClient  # noqa: E402
from bittwist.udptrackerserver import UDPTrackerServer  # noqa: E402

INFO_HASH = b"\x42" * 20
PEERS = 50


def query(n):
    """
    The announce of peer C{n} of the swarm.
    """
    return AnnounceQuery(INFO_HASH, b"-BT0000-%012d" % (n % PEERS), 6881 + n % PEERS, 0, 0, 1)


def freePort(host):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


async def measure(name, announceOnce, count):
    timings = []
    for n in range(count + 1):
        started = time.perf_counter()
        await announceOnce(n)
        timings.append((time.perf_counter() - started) * 1000)
    first, rest = timings[0], sorted(timings[1:])
    p95 = rest[int(len(rest) * 0.95) - 1]
    print(f"{name:28} first {first:6.2f} ms   median {statistics.median(rest):6.3f} ms   "
          f"p95 {p95:6.3f} ms   ({count} announces)")


async def main(count):
    # A swarm of 50 peers, all on 127.0.0.1: more peer ids from one address
    # than the store allows by default.
    limits = TrackerLimits(maxPeerIdsPerAddress=PEERS)
    store = Tracker(reactor, limits=limits)
    udpPort = reactor.listenUDP(0, UDPTrackerServer(store), interface="127.0.0.1")
    site = makeTrackerSite(reactor, tracker=Tracker(reactor, limits=limits))
    tcpPort = reactor.listenTCP(0, site, interface="127.0.0.1")
    client = UDPTrackerClient(reactor, tries=1)

    def udp(url):
        return lambda n: client.announce(url, query(n))

    await measure("bittwist UDP tracker", udp(f"udp://127.0.0.1:{udpPort.getHost().port}"), count)

    binary = shutil.which("opentracker")
    if binary:
        root = tempfile.mkdtemp()
        os.chmod(root, 0o755)  # opentracker, run as root, chroots there as nobody
        with open(os.path.join(root, "wl.txt"), "w") as f:
            f.write(INFO_HASH.hex() + "\n")
        port = freePort("127.0.0.2")
        process = subprocess.Popen(
            [binary, "-i", "127.0.0.2", "-P", str(port), "-d", root,
             "-w", "wl.txt" if os.getuid() == 0 else os.path.join(root, "wl.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
        try:
            time.sleep(0.5)
            await measure("opentracker (UDP)", udp(f"udp://127.0.0.2:{port}"), count)
        finally:
            process.terminate()
            process.wait()
    else:
        print("opentracker not installed: skipped")

    pool = HTTPConnectionPool(reactor, persistent=True)
    http = treq.client.HTTPClient(Agent(reactor, pool=pool))
    url = f"http://127.0.0.1:{tcpPort.getHost().port}/announce"
    await measure(
        "bittwist HTTP tracker",
        lambda n: httpAnnounce(url, query(n), httpClient=http),
        count,
    )
    await client.close()
    await pool.closeCachedConnections()
    await udpPort.stopListening()
    await tcpPort.stopListening()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--announces", type=int, default=500)
    args = parser.parse_args()
    d = ensureDeferred(main(args.announces))
    d.addErrback(lambda f: print(f.getTraceback(), file=sys.stderr))
    d.addBoth(lambda _: reactor.stop())
    reactor.run()
