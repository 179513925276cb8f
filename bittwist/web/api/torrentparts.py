# -*- test-case-name: tests.test_web -*-
"""
The parts of one torrent: C{/api/torrents/<hex>/peers}, C{.../pieces},
C{.../trackers} and C{.../files} (whose priorities are set there too).
"""

import base64
import dataclasses
from typing import TYPE_CHECKING, Any

from twisted.web.server import Request

from bittwist.errors import UsageError
from bittwist.torrent import Torrent
from bittwist.web.api.base import JsonResource, errorJson, readJsonObject, withTorrent, writeJson
from bittwist.web.api.tojson import trackersToJson

if TYPE_CHECKING:
    from bittwist.web.api.torrent import TorrentResource

__all__ = ["TorrentPart", "TorrentFiles"]


class TorrentPart(JsonResource):
    """
    C{/api/torrents/<hex>/peers}, C{.../pieces}, C{.../trackers} and
    C{.../files}.
    """

    def __init__(self, parent: "TorrentResource", part: str) -> None:
        super().__init__()
        self._parent = parent
        self._part = part

    @withTorrent
    def render_GET(self, request: Request, torrent: Torrent) -> bytes:
        if self._part == "peers":
            return writeJson(request, [dataclasses.asdict(p) for p in torrent.peerStatuses()])
        if self._part == "trackers":
            return writeJson(request, trackersToJson(torrent, self._parent.now()))
        if self._part == "files":
            return writeJson(
                request,
                [{**dataclasses.asdict(f), "progress": f.progress} for f in torrent.fileStatuses()],
            )
        pieces = torrent.pieces()
        return writeJson(
            request,
            {
                "numPieces": torrent.numPieces,
                "verified": len(pieces),
                # BEP 3 bitfield order: piece 0 is the high bit of byte 0.
                "bitfield": base64.b64encode(pieces.toBytes()).decode("ascii"),
            },
        )


class TorrentFiles(TorrentPart):
    """
    C{/api/torrents/<hex>/files}: C{GET} lists the files with their size,
    progress and priority (0 skipped, 1 normal, 2 high); C{POST} sets
    priorities, remembered across restarts, with C{{"priorities": [...]}}
    (one per file) or C{{"index": i, "priority": p}} (one file), and
    answers with the files.
    """

    def __init__(self, parent: "TorrentResource", service: Any) -> None:
        super().__init__(parent, "files")
        self._service = service

    @withTorrent
    def render_POST(self, request: Request, torrent: Torrent) -> bytes:
        usage = (
            'send {"priorities": [1, 0, 2]} (one per file) or {"index": 1, "priority": 0}; '
            "0 skips a file, 1 is normal, 2 high"
        )
        value = readJsonObject(request, usage)
        if torrent.metainfo is None:
            return errorJson(request, 409, "the torrent's metadata is not here yet")
        if set(value) == {"priorities"} and isinstance(value["priorities"], list):
            priorities = value["priorities"]
        elif (
            set(value) == {"index", "priority"}
            and type(value["index"]) is int and type(value["priority"]) is int
        ):
            priorities = [f.priority for f in torrent.fileStatuses()]
            if not 0 <= value["index"] < len(priorities):
                return errorJson(
                    request, 400, f"no file {value['index']}: files are 0..{len(priorities) - 1}"
                )
            priorities[value["index"]] = value["priority"]
        else:
            return errorJson(request, 400, usage)
        try:
            self._service.setFilePriorities(torrent.infoHash, priorities)
        except UsageError as e:
            return errorJson(request, 400, str(e))
        self._parent.changed()
        return self.render_GET(request)
