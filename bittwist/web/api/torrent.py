# -*- test-case-name: tests.test_web -*-
"""
C{/api/torrents/<hex>}: one torrent, read and removed; its children, one
module each: the parts read (L{bittwist.web.api.torrentparts}) and the
controls (L{bittwist.web.api.torrentcontrol}).
"""

from typing import Any, Callable, Optional

from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

from bittwist.torrent import Torrent
from bittwist.web.api.base import JsonResource, answerLater, errorJson, writeJson
from bittwist.web.api.tojson import torrentToJson
from bittwist.web.api.torrentcontrol import TorrentAction, TorrentOptions
from bittwist.web.api.torrentparts import TorrentFiles, TorrentPart

__all__ = ["TorrentResource"]


class TorrentResource(JsonResource):
    """
    C{/api/torrents/<hex>}: one torrent's status (GET), removing it
    (DELETE, with C{?deleteData=1} to delete its files too), and its
    children C{peers}, C{pieces}, C{trackers}, C{files}, C{pause}, C{resume},
    C{announce}, C{options}.
    """

    def __init__(self, service: Any, infoHash: bytes, changed: Callable[[], None]) -> None:
        super().__init__()
        self._service = service
        self.infoHash = infoHash
        self._changed = changed
        self.putChild(b"peers", TorrentPart(self, "peers"))
        self.putChild(b"pieces", TorrentPart(self, "pieces"))
        self.putChild(b"trackers", TorrentPart(self, "trackers"))
        self.putChild(b"files", TorrentFiles(self, service))
        self.putChild(b"pause", TorrentAction(self, "pause"))
        self.putChild(b"resume", TorrentAction(self, "resume"))
        self.putChild(b"announce", TorrentAction(self, "announce"))
        self.putChild(b"options", TorrentOptions(self, service))

    def torrent(self) -> Optional[Torrent]:
        """
        @return: the torrent, or C{None} if it was removed meanwhile.
        """
        return self._service.session.torrents.get(self.infoHash)

    def now(self) -> float:
        """
        @return: the session's clock, which tracker times are measured on.
        """
        return self._service.session.reactor.seconds()

    def changed(self) -> None:
        """
        Tell the event stream that this torrent changed.
        """
        self._changed()

    def gone(self, request: Request) -> bytes:
        return errorJson(request, 404, f"no torrent with info hash {self.infoHash.hex()}; it was removed")

    def render_GET(self, request: Request) -> bytes:
        torrent = self.torrent()
        if torrent is None:
            return self.gone(request)
        return writeJson(request, torrentToJson(torrent))

    def render_DELETE(self, request: Request) -> Any:
        if self.torrent() is None:
            return self.gone(request)
        flag = (request.args.get(b"deleteData") or [b"0"])[0].lower()
        if flag not in (b"0", b"1", b"true", b"false", b""):
            return errorJson(request, 400, "deleteData must be 1 or 0")
        deleteData = flag in (b"1", b"true")
        d = self._service.removeTorrent(self.infoHash, deleteData=deleteData)
        self._changed()
        answer = answerLater(request)

        def removed(_: None) -> None:
            answer(writeJson(request, {"removed": self.infoHash.hex(), "dataDeleted": deleteData}))

        def failed(failure: Failure) -> None:
            answer(
                errorJson(
                    request, 500, f"the torrent was removed but its files could not all be "
                    f"deleted: {failure.getErrorMessage()}"
                )
            )

        d.addCallbacks(removed, failed)
        return NOT_DONE_YET
