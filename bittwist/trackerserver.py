# -*- test-case-name: tests.test_trackerserver -*-
"""
A small HTTP BitTorrent tracker as a C{twisted.web} resource, for private and
test swarms.

Mount L{TrackerResource} anywhere in a resource tree, or serve
L{makeTrackerSite}; peers announce to C{<root>/announce} and scrape
C{<root>/scrape}. State lives in memory only.

Every bad request is answered, as BitTorrent trackers do, with HTTP 200 and a
bencoded C{failure reason}.  The swarms themselves live in a
L{bittwist.trackerstore.Tracker}, which a UDP front-end may share.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import bencodepy
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

from bittwist.errors import AnnounceRefused
from bittwist.trackerstore import DEFAULT_NUMWANT, MAX_NUMWANT, Tracker

__all__ = ["TrackerResource", "makeTrackerSite", "Tracker", "DEFAULT_NUMWANT", "MAX_NUMWANT"]

_INTEGER = re.compile(rb"[0-9]{1,20}")
_EVENTS = {b"": None, b"started": "started", b"completed": "completed",
           b"stopped": "stopped", b"paused": None}

#: The longest query string answered, in bytes: an announce takes ~250.
_MAX_QUERY = 8192

#: A request's arguments, as twisted.web parses them.
_Args = dict[bytes, list[bytes]]


class _BadRequest(Exception):
    """
    The request cannot be served; the message is the C{failure reason}.
    """


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
    The connection's peer address (C{""} if it has none); the store
    normalises it and refuses an announce without one.
    """
    host = getattr(request.getClientAddress(), "host", "")
    return host if isinstance(host, str) else ""


def _answer(request: Any, body: dict[bytes, Any]) -> bytes:
    request.setResponseCode(200)
    request.setHeader(b"content-type", b"text/plain")
    request.setHeader(b"cache-control", b"no-cache")
    return bencodepy.encode(body)


def _failure(request: Any, reason: str) -> bytes:
    return _answer(request, {b"failure reason": reason.encode("utf-8")})


class _Endpoint(Resource):
    """
    One of the tracker's children: answers a GET with what C{handle} makes
    of the request, or with the C{failure reason} it raised.
    """

    isLeaf = True

    def __init__(self, handle: Callable[[Any], dict[bytes, Any]]) -> None:
        super().__init__()
        self._handle = handle

    def render_GET(self, request: Any) -> bytes:
        try:
            return _answer(request, self._handle(request))
        except (_BadRequest, AnnounceRefused) as e:
            return _failure(request, str(e))


def _arguments(request: Any) -> _Args:
    # Requests made by other front-ends may carry no URI.
    if len(getattr(request, "uri", b"")) > _MAX_QUERY:
        raise _BadRequest(f"the request is longer than {_MAX_QUERY} bytes")
    return request.args


class TrackerResource(Resource):
    """
    An HTTP front-end (BEP 3, BEP 23, BEP 7, BEP 48 scrape) to a
    L{Tracker}, with children C{announce} and C{scrape}.

    @ivar tracker: the store of swarms; share it with other front-ends.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any = None,
        interval: int = 1800,
        minInterval: int | None = None,
        peerTimeout: float | None = None,
        tracker: Tracker | None = None,
    ) -> None:
        """
        @param reactor: provides C{seconds()}; the global reactor if C{None}.
        @param interval: the C{interval} we ask peers to announce at.
        @param minInterval: the C{min interval} we tell peers, if any.
        @param peerTimeout: seconds after which a silent peer is dropped;
            twice C{interval} if C{None}.
        @param tracker: the store to serve; if C{None}, a new L{Tracker}
            made with the other arguments.
        """
        super().__init__()
        if tracker is None:
            tracker = Tracker(reactor, interval, minInterval, peerTimeout)
        self.tracker = tracker
        self.putChild(b"announce", _Endpoint(self.announceRequest))
        self.putChild(b"scrape", _Endpoint(self.scrapeRequest))

    @property
    def interval(self) -> int:
        """
        The C{interval} peers are asked to announce at.
        """
        return self.tracker.interval

    def announceRequest(self, request: Any) -> dict[bytes, Any]:
        """
        Answer one HTTP announce.

        @return: the answer to bencode.
        @raise AnnounceRefused: if the tracker refuses it.
        """
        args = _arguments(request)
        infoHash = _single(args, b"info_hash")
        peerId = _single(args, b"peer_id")
        port = _integer(args, b"port")
        _integer(args, b"uploaded")
        _integer(args, b"downloaded")
        left = _integer(args, b"left")
        rawEvent = _single(args, b"event", required=False) or b""
        if rawEvent not in _EVENTS:
            raise _BadRequest("'event' must be started, completed or stopped")
        numwant = _integer(args, b"numwant", required=False)
        compact = _single(args, b"compact", required=False) == b"1"
        noPeerId = _single(args, b"no_peer_id", required=False) == b"1"
        ip = _clientHost(request)
        result = self.tracker.announce(
            infoHash, peerId, ip, port, _EVENTS[rawEvent], left, numwant
        )

        body: dict[bytes, Any] = {
            b"interval": result.interval,
            b"complete": result.complete,
            b"incomplete": result.incomplete,
        }
        if self.tracker.minInterval is not None:
            body[b"min interval"] = self.tracker.minInterval
        chosen = result.peers
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

    def scrapeRequest(self, request: Any) -> dict[bytes, Any]:
        """
        Answer one HTTP scrape.

        @return: the answer to bencode.
        @raise AnnounceRefused: if the tracker refuses it.
        """
        infoHashes = _arguments(request).get(b"info_hash", [])
        if not infoHashes:
            raise _BadRequest("scrape all is not supported; give 'info_hash'")
        files = self.tracker.scrape(infoHashes)
        return {
            b"files": {
                infoHash: {
                    b"complete": counts.complete,
                    b"incomplete": counts.incomplete,
                    b"downloaded": counts.downloaded,
                }
                for infoHash, counts in files.items()
            }
        }


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
