# -*- test-case-name: tests.test_web -*-
"""
The JSON API of the web status page: C{twisted.web} resources over a
L{bittwist.service.BitTorrentService}, one module per resource.

Every answer is JSON (C{application/json}); an error is
C{{"error": "what is wrong and what to do"}} with a 4xx or 5xx code. The
resources assume the request already passed L{bittwist.web.site.AccessGuard}.
See C{docs/web.md} for the reference.
"""

from typing import Any

from twisted.web.server import Request

from bittwist.web.api.base import MAX_JSON_SIZE, JsonError, JsonResource, writeJson
from bittwist.web.api.dht import DHTResource
from bittwist.web.api.events import EventsResource
from bittwist.web.api.settings import SettingsResource
from bittwist.web.api.tojson import torrentToJson
from bittwist.web.api.torrent import TorrentResource
from bittwist.web.api.torrents import MAX_BODY_SIZE, MAX_UPLOAD_SIZE, TorrentsResource

__all__ = [
    "ApiResource",
    "DHTResource",
    "SettingsResource",
    "TorrentsResource",
    "TorrentResource",
    "EventsResource",
    "JsonError",
    "torrentToJson",
    "MAX_UPLOAD_SIZE",
    "MAX_BODY_SIZE",
    "MAX_JSON_SIZE",
]


class ApiResource(JsonResource):
    """
    C{/api}: the root of the API.
    """

    def __init__(self, service: Any, downloadDir: str, reactor: Any, interval: float = 1.0) -> None:
        """
        @param service: the L{bittwist.service.BitTorrentService} shown.
        @param downloadDir: where torrents added by upload download to.
        @param reactor: for the event stream's timer.
        @param interval: seconds between event stream updates.
        """
        super().__init__()
        self.events = EventsResource(service, reactor, interval)
        self.torrents = TorrentsResource(service, downloadDir, self.events.notify)
        self.putChild(b"torrents", self.torrents)
        self.putChild(b"events", self.events)
        self.putChild(b"settings", SettingsResource(service))
        self.putChild(b"dht", DHTResource(service))

    def render_GET(self, request: Request) -> bytes:
        return writeJson(
            request, {"torrents": "/api/torrents", "events": "/api/events", "dht": "/api/dht"}
        )
