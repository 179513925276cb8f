# -*- test-case-name: tests.test_trackerclient -*-
"""
What every tracker client shares, whatever its transport: the announce it
is asked to make (L{AnnounceQuery}), the answer it gives
(L{AnnounceResponse}), the interface it provides (L{ITrackerClient}) and
the reading of compact peer lists (L{addCompactPeers}).

The HTTP client is L{bittwist.httptracker}'s, the UDP one
L{bittwist.udptracker}'s; L{bittwist.announcer} picks one by URL scheme.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from zope.interface import Interface

__all__ = [
    "EVENTS",
    "AnnounceQuery",
    "AnnounceResponse",
    "ITrackerClient",
    "addCompactPeers",
    "urlScheme",
]

#: BEP 3's announce events; C{None} is a regular announce.
EVENTS = (None, "started", "completed", "stopped")


@dataclass(frozen=True)
class AnnounceQuery:
    """
    One announce, as a client is asked to make it of any tracker.

    @ivar infoHash: the torrent's 20-byte info hash.
    @ivar peerId: our 20-byte peer id.
    @ivar port: the port we accept peer connections on.
    @ivar uploaded: bytes uploaded since the C{started} announce.
    @ivar downloaded: bytes downloaded since the C{started} announce.
    @ivar left: bytes still to download.
    @ivar event: C{"started"}, C{"completed"}, C{"stopped"} or C{None}.
    @ivar numwant: how many peers we would like.
    @ivar key: our random announce key, if any.
    @ivar trackerId: the C{tracker id} this tracker gave us last time (HTTP
        only; UDP trackers have none).
    """

    infoHash: bytes
    peerId: bytes
    port: int
    uploaded: int
    downloaded: int
    left: int
    event: str | None = None
    numwant: int = 50
    key: bytes | None = None
    trackerId: bytes | None = None

    def __post_init__(self) -> None:
        """
        @raise ValueError: if C{event} is not one of BEP 3's.
        """
        if self.event not in EVENTS:
            raise ValueError(f"unknown announce event {self.event!r}")


@dataclass(frozen=True)
class AnnounceResponse:
    """
    A tracker's successful answer to an announce.

    @ivar interval: seconds the tracker wants between regular announces.
    @ivar minInterval: seconds the tracker demands between any two announces,
        if it said.
    @ivar peers: C{(host, port)} pairs, IPv4 and IPv6 hosts as text, without
        duplicates, in the tracker's order.
    @ivar warning: the tracker's C{warning message}, if any.
    @ivar complete: number of seeders, if the tracker said.
    @ivar incomplete: number of leechers, if the tracker said.
    @ivar trackerId: the C{tracker id} to send back next time, if any.
    """

    interval: int
    minInterval: int | None
    peers: tuple[tuple[str, int], ...]
    warning: str | None
    complete: int | None
    incomplete: int | None
    trackerId: bytes | None


class ITrackerClient(Interface):
    """
    Announces to the trackers of one URL scheme, for an announcer.
    """

    def announce(url: str, query: AnnounceQuery, timeout: float | None = None) -> Deferred[AnnounceResponse]:
        """
        Announce C{query} to the tracker at C{url}.

        @param timeout: seconds the announce may take; the client's own
            default if C{None}.
        @return: a Deferred firing with an L{AnnounceResponse}, or failing
            with L{bittwist.errors.TrackerError} and nothing else;
            cancelling it stops the announce.
        """

    def close() -> Deferred[None]:
        """
        Stop every announce in flight and release what the client holds.

        @return: fires when it is released.
        """


def addCompactPeers(
    blob: bytes, size: int, peers: dict[tuple[str, int], None], limit: int
) -> None:
    """
    Add the peers of a compact peer string (BEP 23, BEP 7, BEP 15): 4 (or
    16) address bytes then 2 port bytes, big-endian, per peer, to C{peers}
    until it holds C{limit}; entries with port 0 are dropped.  A trailing
    partial entry is ignored: the caller checks the length if it must.

    @param size: 6 for IPv4 entries, 18 for IPv6 ones.
    @param peers: an ordered set: duplicates are dropped, the order kept.
    """
    # inet_ntop writes IPv4 text as ipaddress does, in a fifth of the time;
    # ipaddress keeps IPv6 text one way (an IPv4-mapped address as hex).
    ntop, family = socket.inet_ntop, socket.AF_INET
    ipv4 = size == 6
    for offset in range(0, len(blob) - size + 1, size):
        if len(peers) >= limit:
            return
        port = int.from_bytes(blob[offset + size - 2 : offset + size], "big")
        if port:
            packed = blob[offset : offset + size - 2]
            host = ntop(family, packed) if ipv4 else str(ipaddress.IPv6Address(packed))
            peers[host, port] = None

def urlScheme(url: str) -> str | None:
    """
    @return: the scheme of C{url}, lower case; C{None} if C{url} cannot be
        parsed (C{urlsplit} raises for a bad IPv6 literal such as C{[2J}).
    """
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return None
