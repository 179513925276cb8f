# -*- test-case-name: tests.test_trackerserver -*-
"""
A small HTTP BitTorrent tracker as a C{twisted.web} resource, for private and
test swarms.

Mount L{TrackerResource} anywhere in a resource tree, or serve
L{makeTrackerSite}; peers announce to C{<root>/announce} and scrape
C{<root>/scrape}. State lives in memory only.

Every bad request is answered, as BitTorrent trackers do, with HTTP 200 and a
bencoded C{failure reason}.
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field
from typing import Any

import bencodepy
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

__all__ = ["TrackerResource", "makeTrackerSite"]

#: Peers returned when the client does not say C{numwant}.
DEFAULT_NUMWANT = 50
#: The most peers returned in one answer.
MAX_NUMWANT = 200
#: Seconds between sweeps of every swarm for expired peers.
_SWEEP_EVERY = 60

_INTEGER = re.compile(rb"[0-9]{1,20}")
_EVENTS = {b"": None, b"started": "started", b"completed": "completed",
           b"stopped": "stopped", b"paused": None}


class _BadRequest(Exception):
    """
    The request cannot be served; the message is the C{failure reason}.
    """


@dataclass
class _Peer:
    peerId: bytes
    ip: str
    port: int
    left: int
    lastSeen: float

    @property
    def compact(self) -> bytes:
        return ipaddress.ip_address(self.ip).packed + self.port.to_bytes(2, "big")


@dataclass
class _Swarm:
    peers: dict[tuple[bytes, str], _Peer] = field(default_factory=dict)
    downloaded: int = 0

    def counts(self) -> tuple[int, int]:
        """
        @return: C{(complete, incomplete)}.
        """
        complete = sum(1 for peer in self.peers.values() if peer.left == 0)
        return complete, len(self.peers) - complete


def _single(args: dict[bytes, list[bytes]], name: bytes, required: bool = True) -> bytes | None:
    values = args.get(name)
    if not values:
        if required:
            raise _BadRequest(f"missing {name.decode()!r}")
        return None
    if len(values) > 1:
        raise _BadRequest(f"{name.decode()!r} given more than once")
    return values[0]


def _integer(args: dict[bytes, list[bytes]], name: bytes, required: bool = True) -> int | None:
    value = _single(args, name, required)
    if value is None:
        return None
    if not _INTEGER.fullmatch(value):
        raise _BadRequest(f"{name.decode()!r} must be a non-negative integer")
    return int(value)


def _clientHost(request: Any) -> str:
    """
    The connection's peer address as normalised text (IPv4-mapped IPv6
    addresses become IPv4).
    """
    host = getattr(request.getClientAddress(), "host", None)
    try:
        address = ipaddress.ip_address(host)
    except (TypeError, ValueError):
        raise _BadRequest("cannot tell your IP address; announce over TCP/IP")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _answer(request: Any, body: dict[bytes, Any]) -> bytes:
    request.setResponseCode(200)
    request.setHeader(b"content-type", b"text/plain")
    request.setHeader(b"cache-control", b"no-cache")
    return bencodepy.encode(body)


def _failure(request: Any, reason: str) -> bytes:
    return _answer(request, {b"failure reason": reason.encode("utf-8")})


class _Announce(Resource):
    isLeaf = True

    def __init__(self, tracker: TrackerResource) -> None:
        super().__init__()
        self._tracker = tracker

    def render_GET(self, request: Any) -> bytes:
        try:
            return _answer(request, self._tracker._announce(request))
        except _BadRequest as e:
            return _failure(request, str(e))


class _Scrape(Resource):
    isLeaf = True

    def __init__(self, tracker: TrackerResource) -> None:
        super().__init__()
        self._tracker = tracker

    def render_GET(self, request: Any) -> bytes:
        try:
            return _answer(request, self._tracker._scrape(request))
        except _BadRequest as e:
            return _failure(request, str(e))


class TrackerResource(Resource):
    """
    An in-memory HTTP tracker (BEP 3, BEP 23, BEP 7, BEP 48 scrape) with
    children C{announce} and C{scrape}.

    Peers are keyed by peer id and connection address, so one host cannot
    remove or overwrite another host's entry. A peer that has not announced
    for C{peerTimeout} seconds is forgotten.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any = None,
        interval: int = 1800,
        minInterval: int | None = None,
        peerTimeout: float | None = None,
    ) -> None:
        """
        @param reactor: provides C{seconds()}; the global reactor if C{None}.
        @param interval: the C{interval} we ask peers to announce at.
        @param minInterval: the C{min interval} we tell peers, if any.
        @param peerTimeout: seconds after which a silent peer is dropped;
            twice C{interval} if C{None}.
        """
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        self.interval = interval
        self.minInterval = minInterval
        self.peerTimeout = 2 * interval if peerTimeout is None else peerTimeout
        self._swarms: dict[bytes, _Swarm] = {}
        self._lastSweep = reactor.seconds()
        self._random = random.Random()
        self.putChild(b"announce", _Announce(self))
        self.putChild(b"scrape", _Scrape(self))

    def _expire(self, swarm: _Swarm, now: float) -> None:
        deadline = now - self.peerTimeout
        for key in [k for k, peer in swarm.peers.items() if peer.lastSeen <= deadline]:
            del swarm.peers[key]

    def _sweep(self, now: float) -> None:
        """
        Expire peers of every swarm, at most every L{_SWEEP_EVERY} seconds,
        and forget swarms nobody is in nor ever completed.
        """
        if now - self._lastSweep < _SWEEP_EVERY:
            return
        self._lastSweep = now
        for infoHash in list(self._swarms):
            swarm = self._swarms[infoHash]
            self._expire(swarm, now)
            if not swarm.peers and not swarm.downloaded:
                del self._swarms[infoHash]

    def _announce(self, request: Any) -> dict[bytes, Any]:
        args = request.args
        infoHash = _single(args, b"info_hash")
        if len(infoHash) != 20:
            raise _BadRequest("'info_hash' must be 20 bytes")
        peerId = _single(args, b"peer_id")
        if len(peerId) != 20:
            raise _BadRequest("'peer_id' must be 20 bytes")
        port = _integer(args, b"port")
        if not 0 < port < 65536:
            raise _BadRequest("'port' must be between 1 and 65535")
        _integer(args, b"uploaded")
        _integer(args, b"downloaded")
        left = _integer(args, b"left")
        rawEvent = _single(args, b"event", required=False) or b""
        if rawEvent not in _EVENTS:
            raise _BadRequest("'event' must be started, completed or stopped")
        event = _EVENTS[rawEvent]
        numwant = _integer(args, b"numwant", required=False)
        numwant = DEFAULT_NUMWANT if numwant is None else min(numwant, MAX_NUMWANT)
        compact = _single(args, b"compact", required=False) == b"1"
        noPeerId = _single(args, b"no_peer_id", required=False) == b"1"
        ip = _clientHost(request)

        now = self._reactor.seconds()
        self._sweep(now)
        swarm = self._swarms.get(infoHash)
        if swarm is None:
            swarm = self._swarms[infoHash] = _Swarm()
        self._expire(swarm, now)
        key = (peerId, ip)
        if event == "stopped":
            swarm.peers.pop(key, None)
            candidates: list[_Peer] = []
        else:
            previous = swarm.peers.get(key)
            if event == "completed" and (previous is None or previous.left != 0):
                swarm.downloaded += 1
            swarm.peers[key] = _Peer(peerId, ip, port, left, now)
            candidates = [
                peer for peer in swarm.peers.values()
                if peer.peerId != peerId
                and (peer.ip, peer.port) != (ip, port)
                and not (left == 0 and peer.left == 0)
            ]
        chosen = self._random.sample(candidates, min(numwant, len(candidates)))
        complete, incomplete = swarm.counts()
        if not swarm.peers and not swarm.downloaded:
            del self._swarms[infoHash]

        body: dict[bytes, Any] = {
            b"interval": self.interval,
            b"complete": complete,
            b"incomplete": incomplete,
        }
        if self.minInterval is not None:
            body[b"min interval"] = self.minInterval
        if compact:
            body[b"peers"] = b"".join(p.compact for p in chosen if ":" not in p.ip)
            peers6 = b"".join(p.compact for p in chosen if ":" in p.ip)
            if peers6:
                body[b"peers6"] = peers6
        else:
            peers = []
            for p in chosen:
                entry: dict[bytes, Any] = {b"ip": p.ip.encode("ascii"), b"port": p.port}
                if not noPeerId:
                    entry[b"peer id"] = p.peerId
                peers.append(entry)
            body[b"peers"] = peers
        return body

    def _scrape(self, request: Any) -> dict[bytes, Any]:
        infoHashes = request.args.get(b"info_hash", [])
        if not infoHashes:
            raise _BadRequest("scrape all is not supported; give 'info_hash'")
        if len(infoHashes) > MAX_NUMWANT:
            raise _BadRequest(f"at most {MAX_NUMWANT} 'info_hash' per scrape")
        now = self._reactor.seconds()
        self._sweep(now)
        files: dict[bytes, Any] = {}
        for infoHash in infoHashes:
            if len(infoHash) != 20:
                raise _BadRequest("'info_hash' must be 20 bytes")
            swarm = self._swarms.get(infoHash)
            if swarm is None:
                complete = incomplete = downloaded = 0
            else:
                self._expire(swarm, now)
                complete, incomplete = swarm.counts()
                downloaded = swarm.downloaded
            files[infoHash] = {
                b"complete": complete,
                b"incomplete": incomplete,
                b"downloaded": downloaded,
            }
        return {b"files": files}


def makeTrackerSite(reactor: Any = None, **kwargs: Any) -> Site:
    """
    A web site serving a L{TrackerResource} at its root: announce to
    C{http://host:port/announce}.

    @param reactor: passed to the resource and the site.
    @param kwargs: passed to L{TrackerResource}.
    """
    resource = TrackerResource(reactor=reactor, **kwargs)
    if reactor is None:
        return Site(resource)
    return Site(resource, reactor=reactor)
