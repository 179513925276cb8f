# -*- test-case-name: tests.test_web -*-
"""
C{/api/torrents}: the torrents listed, and added by upload, by URL or by
magnet link; its children are L{bittwist.web.api.torrent.TorrentResource}s.
"""

import re
from typing import Any, Callable, Optional

from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from bittwist.errors import (
    BittwistError,
    FormDataError,
    MagnetError,
    MetainfoError,
    TorrentFetchError,
    UsageError,
)
from bittwist.fetch import MAX_TORRENT_SIZE
from bittwist.metainfo import parse
from bittwist.safetext import printable
from bittwist.torrent import Torrent
from bittwist.web.api.base import JsonError, JsonResource, answerLater, errorJson, readJsonObject, writeJson
from bittwist.web.api.tojson import torrentToJson
from bittwist.web.api.torrent import TorrentResource
from bittwist.web.multipart import FormDataParser, boundaryFrom

__all__ = ["TorrentsResource", "MAX_UPLOAD_SIZE", "MAX_BODY_SIZE"]

MAX_UPLOAD_SIZE = MAX_TORRENT_SIZE
"""
The largest C{.torrent} accepted by upload: see
L{bittwist.fetch.MAX_TORRENT_SIZE}.
"""

MAX_BODY_SIZE = MAX_UPLOAD_SIZE + 64 * 2**10
"""
The largest request body the site reads: a C{.torrent} of
L{MAX_UPLOAD_SIZE} and room for the multipart framing around it (boundaries
and part headers, each bounded by L{bittwist.web.multipart}).
"""

_READ_SIZE = 64 * 2**10

TORRENT_CONTENT_TYPE = "application/x-bittorrent"

_FETCH_ERROR_CODES = {
    "url": 400,
    "metainfo": 400,
    "address": 403,
    "status": 502,
    "network": 502,
    "size": 502,
    "timeout": 504,
}
"""
The answer to a failed fetch by URL, by L{TorrentFetchError.kind}: the
user's mistake (400), an address we do not fetch from (403), or the other
server's (502, 504 if it was too slow).
"""

_HEX_INFO_HASH = re.compile(rb"[0-9a-fA-F]{40}\Z")


class TorrentsResource(JsonResource):
    """
    C{/api/torrents}: list the torrents (GET), add one (POST) by uploading
    its C{.torrent} (the raw body, or C{multipart/form-data} with the file in
    field C{torrent}) or by giving its address as JSON C{{"url": ...}};
    C{/api/torrents/<info hash in hex>} is one torrent.
    """

    log = Logger()

    def __init__(self, service: Any, downloadDir: str, changed: Callable[[], None]) -> None:
        """
        @param changed: called when a request changed something, so that
            event stream clients hear of it at once.
        """
        super().__init__()
        self._service = service
        self._downloadDir = downloadDir
        self._changed = changed

    def getChild(self, path: bytes, request: Request) -> Resource:
        if path == b"":
            return self
        if _HEX_INFO_HASH.match(path):
            infoHash = bytes.fromhex(path.decode("ascii"))
            if infoHash in self._service.session.torrents:
                return TorrentResource(self._service, infoHash, self._changed)
        return JsonError(
            404, f"no torrent with info hash {path.decode('utf-8', 'replace')!r}; "
            "GET /api/torrents lists them"
        )

    def render_GET(self, request: Request) -> bytes:
        torrents = list(self._service.session.torrents.values())
        return writeJson(request, [torrentToJson(t) for t in torrents])

    def render_POST(self, request: Request) -> Any:
        contentType = (request.getHeader(b"content-type") or b"").lower()
        assert request.content is not None
        request.content.seek(0)
        if contentType.startswith(b"application/json"):
            return self._addFromURL(request)
        if contentType.startswith(b"multipart/form-data"):
            try:
                data = _readFormField(request, "torrent", MAX_UPLOAD_SIZE)
            except FormDataError as e:
                return errorJson(request, 413 if e.tooLarge else 400, str(e))
            if data is None:
                return errorJson(
                    request, 400, "a multipart upload needs the .torrent file in a field named 'torrent'"
                )
        else:
            data = request.content.read(MAX_UPLOAD_SIZE + 1)
        if len(data) > MAX_UPLOAD_SIZE:
            return errorJson(
                request, 413, f"the upload is larger than {MAX_UPLOAD_SIZE} bytes; that is no .torrent file"
            )
        if not data:
            return errorJson(request, 400, "empty upload; send the bytes of a .torrent file")
        try:
            metainfo = parse(data, source="upload")
        except MetainfoError as e:
            return errorJson(request, 400, str(e))
        return self._add(request, metainfo)

    def _addFromURL(self, request: Request) -> Any:
        """
        Add the torrent at the address in the JSON body C{{"url": ...}},
        answering once it is fetched.
        """
        usage = (
            'send {"url": "https://..."} with the address of a .torrent file, '
            'or {"magnet": "magnet:?xt=urn:btih:..."}'
        )
        value = readJsonObject(request, usage)
        magnet = value.get("magnet")
        if isinstance(magnet, str):
            return self._addMagnet(request, magnet)
        url = value.get("url")
        if not isinstance(url, str) or not url.strip():
            return errorJson(request, 400, usage)
        d = self._service.addTorrentFromURL(url.strip(), self._downloadDir)
        answer = answerLater(request, d.cancel)

        def added(torrent: Torrent) -> None:
            name = torrent.metainfo.name
            self.log.info(
                "{name}: added through the web page from {url}", name=printable(name), url=printable(url)
            )
            answer(self._created(request, torrent))

        def failed(failure: Failure) -> None:
            if failure.check(CancelledError):
                # Its client left.
                return
            if failure.check(TorrentFetchError):
                code = _FETCH_ERROR_CODES.get(failure.value.kind, 502)
                answer(errorJson(request, code, str(failure.value)))
            elif failure.check(UsageError):
                answer(errorJson(request, 409, str(failure.value)))
            elif failure.check(BittwistError):
                answer(errorJson(request, 400, str(failure.value)))
            else:
                self.log.failure("Adding {url} failed", failure, url=printable(url))
                answer(errorJson(request, 500, "internal error; see the log"))

        d.addCallbacks(added, failed)
        return NOT_DONE_YET

    def _addMagnet(self, request: Request, link: str) -> bytes:
        """
        Add the torrent of a magnet link, downloading into the web layer's
        folder: 201 with its status (C{fetching metadata}), 400 for a link
        that cannot be used, 409 if the torrent is already added.
        """
        try:
            magnet = self._service.addMagnet(link.strip(), self._downloadDir)
        except MagnetError as e:
            return errorJson(request, 400, str(e))
        except UsageError as e:
            return errorJson(request, 409, str(e))
        self.log.info("{name}: magnet link added through the web page", name=printable(magnet.name))
        return self._created(request, magnet)

    def _add(self, request: Request, metainfo: Any) -> bytes:
        """
        Add C{metainfo}, downloading into the web layer's folder.

        @return: the answer: 201 with the torrent, 409 if already added.
        """
        existing = self._service.session.torrents.get(metainfo.infoHash)
        if existing is not None:
            return errorJson(
                request, 409, f"{metainfo.name}: this torrent is already added (info hash "
                f"{metainfo.infoHash.hex()})"
            )
        try:
            torrent = self._service.addTorrent(metainfo, self._downloadDir)
        except BittwistError as e:
            return errorJson(request, 400, str(e))
        self.log.info("{name}: added through the web page", name=printable(metainfo.name))
        return self._created(request, torrent)

    def _created(self, request: Request, torrent: Torrent) -> bytes:
        """
        Tell the event stream, and answer 201 with the torrent just added
        and where it lives.
        """
        self._changed()
        request.setHeader(b"location", f"/api/torrents/{torrent.infoHash.hex()}".encode("ascii"))
        return writeJson(request, torrentToJson(torrent), 201)


def _readFormField(request: Request, name: str, limit: int) -> Optional[bytes]:
    """
    Read one field of the C{multipart/form-data} body of C{request} with
    L{FormDataParser}, in pieces.

    @return: the field's value, or C{None} if absent.
    @raise FormDataError: if the body is malformed, or the field is larger
        than C{limit}.
    """
    assert request.content is not None
    parser = FormDataParser(boundaryFrom(request.getHeader(b"content-type") or b""), {name: limit})
    while True:
        chunk = request.content.read(_READ_SIZE)
        if not chunk:
            break
        parser.feed(chunk)
    return parser.finish().get(name)
