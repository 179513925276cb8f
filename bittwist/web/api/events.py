# -*- test-case-name: tests.test_web -*-
"""
C{/api/events}: the torrents as a Server-Sent Events stream.
"""

from typing import Any, Optional

from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.web.server import NOT_DONE_YET, Request

from bittwist import events
from bittwist.torrent import Torrent
from bittwist.web.api.base import JsonResource, jsonBytes
from bittwist.web.api.tojson import torrentToJson

__all__ = ["EventsResource"]


class EventsResource(JsonResource):
    """
    C{GET /api/events}: a Server-Sent Events stream. Each C{torrents} event
    carries the same list as C{GET /api/torrents}: once on connecting, then
    every C{interval} seconds and as soon as a torrent changes state, is
    added or is removed.
    """

    def __init__(self, service: Any, reactor: Any, interval: float = 1.0) -> None:
        super().__init__()
        self._service = service
        self._reactor = reactor
        self._interval = interval
        self.clients: set[Request] = set()
        self._loop = LoopingCall(self.broadcast)
        self._loop.clock = reactor
        self._soon: Optional[IDelayedCall] = None
        self._observed: dict[bytes, Torrent] = {}

    def render_GET(self, request: Request) -> Any:
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        # The client reconnects this many milliseconds after a drop.
        request.write(b"retry: 2000\n\n")
        request.write(self._event())
        self.clients.add(request)
        request.notifyFinish().addBoth(lambda _: self._drop(request))
        if not self._loop.running:
            self._loop.start(self._interval, now=False)
        return NOT_DONE_YET

    def _drop(self, request: Request) -> None:
        self.clients.discard(request)
        if not self.clients:
            self._quiet()

    def _quiet(self) -> None:
        if self._loop.running:
            self._loop.stop()
        if self._soon is not None and self._soon.active():
            self._soon.cancel()
        self._soon = None
        for torrent in self._observed.values():
            torrent.removeObserver(self._torrentEvent)
        self._observed.clear()

    def _event(self) -> bytes:
        current = self._service.session.torrents
        for infoHash, torrent in list(self._observed.items()):
            if current.get(infoHash) is not torrent:
                del self._observed[infoHash]
                torrent.removeObserver(self._torrentEvent)
        # Watch every torrent, however it was added, for state changes.
        for infoHash, torrent in current.items():
            if infoHash not in self._observed:
                torrent.addObserver(self._torrentEvent)
                self._observed[infoHash] = torrent
        torrents = list(current.values())
        return b"event: torrents\ndata: " + jsonBytes([torrentToJson(t) for t in torrents]) + b"\n\n"

    def _torrentEvent(self, event: events.TorrentEvent) -> None:
        if isinstance(event, (events.StateChanged, events.Completed)):
            self.notify()

    def notify(self) -> None:
        """
        Send an update to every client soon (changes in one reactor turn
        make one update).
        """
        if self.clients and (self._soon is None or not self._soon.active()):
            self._soon = self._reactor.callLater(0, self.broadcast)

    def broadcast(self) -> None:
        """
        Send the torrents to every client now.
        """
        if not self.clients:
            return
        event = self._event()
        for request in list(self.clients):
            request.write(event)

    def closeAll(self) -> None:
        """
        End every stream and stop the timer, when the web service stops.
        """
        for request in list(self.clients):
            request.finish()
            channel = getattr(request, "channel", None)
            if channel is not None:
                channel.loseConnection()
        self.clients.clear()
        self._quiet()
