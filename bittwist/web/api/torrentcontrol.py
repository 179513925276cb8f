# -*- test-case-name: tests.test_web -*-
"""
One torrent controlled: C{POST /api/torrents/<hex>/pause}, C{.../resume},
C{.../announce} and C{.../options}.
"""

from typing import TYPE_CHECKING, Any

from twisted.web.server import Request

from bittwist.errors import UsageError
from bittwist.state.records import TORRENT_OPTIONS
from bittwist.torrent import Torrent, TorrentState
from bittwist.torrent.lifecycle import ACTIVE
from bittwist.web.api.base import JsonResource, errorJson, readJsonObject, withTorrent, writeJson
from bittwist.web.api.tojson import torrentToJson, trackersToJson

if TYPE_CHECKING:
    from bittwist.web.api.torrent import TorrentResource

__all__ = ["TorrentAction", "TorrentOptions"]

_PAUSABLE = {TorrentState.DOWNLOADING, TorrentState.SEEDING, TorrentState.FINISHED, TorrentState.PAUSED}
_RESUMABLE = {
    TorrentState.PAUSED,
    TorrentState.FINISHED,
    TorrentState.ERROR,
    TorrentState.DOWNLOADING,
    TorrentState.SEEDING,
}


class TorrentAction(JsonResource):
    """
    C{POST /api/torrents/<hex>/pause}, C{.../resume} and C{.../announce}
    (ask the trackers for peers now, as far as their C{min interval}
    allows).
    """

    def __init__(self, parent: "TorrentResource", action: str) -> None:
        super().__init__()
        self._parent = parent
        self._action = action

    @withTorrent
    def render_POST(self, request: Request, torrent: Torrent) -> bytes:
        if self._action == "announce":
            if torrent.state not in ACTIVE:
                return errorJson(request, 409, f"a torrent that is {torrent.state} does not announce")
            torrent.announceNow()
            return writeJson(request, trackersToJson(torrent, self._parent.now()))
        if self._action == "pause":
            if torrent.state not in _PAUSABLE:
                return errorJson(request, 409, f"cannot pause a torrent that is {torrent.state}")
            # The state changes now; the Deferred only says the trackers heard.
            torrent.pause()
        else:
            if torrent.state not in _RESUMABLE:
                return errorJson(request, 409, f"cannot resume a torrent that is {torrent.state}")
            torrent.resume()
        self._parent.changed()
        return writeJson(request, torrentToJson(torrent))


class TorrentOptions(JsonResource):
    """
    C{POST /api/torrents/<hex>/options} with a JSON object of options to
    change, remembered across restarts: C{sequential} (C{true}: pieces in
    order, to play a file while it downloads; C{false}: rarest first),
    C{maxPeers}, C{seedRatio} and C{seedTime} (seconds; C{null}: no goal),
    C{maxDownloadRate} and C{maxUploadRate} (bytes per second within the
    session's limits; 0: none of its own), C{filePriorities}. Answers with
    the torrent.
    """

    def __init__(self, parent: "TorrentResource", service: Any) -> None:
        super().__init__()
        self._parent = parent
        self._service = service

    @withTorrent
    def render_POST(self, request: Request, torrent: Torrent) -> bytes:
        usage = 'send a JSON object of options, e.g. {"sequential": true, "maxPeers": 30}'
        value = readJsonObject(request, usage)
        if not value:
            return errorJson(request, 400, usage)
        for name, option in value.items():
            types = TORRENT_OPTIONS.get(name)
            if types is None or type(option) not in types:
                return errorJson(
                    request, 400, f"{name!r} is not an option, or {option!r} is no value for it; "
                    f"options: {', '.join(TORRENT_OPTIONS)}"
                )
        if torrent.metainfo is None:
            return errorJson(request, 409, "the torrent's metadata is not here yet")
        try:
            self._service.setTorrentOptions(torrent.infoHash, **value)
        except UsageError as e:
            return errorJson(request, 400, str(e))
        self._parent.changed()
        return writeJson(request, torrentToJson(torrent))
