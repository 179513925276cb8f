# -*- test-case-name: tests.test_web -*-
"""
The JSON API of the web status page: C{twisted.web} resources over a
L{bittwist.service.BitTorrentService}.

Every answer is JSON (C{application/json}); an error is
C{{"error": "what is wrong and what to do"}} with a 4xx or 5xx code. The
resources assume the request already passed L{bittwist.web.site.AccessGuard}.
See C{docs/web.md} for the reference.
"""

import base64
import dataclasses
import functools
import json
import re
from typing import Any, Callable, Optional

from twisted.internet.defer import CancelledError
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.error import UnsupportedMethod

from bittwist import events
from bittwist.errors import (
    BittwistError,
    FormDataError,
    JsonBodyError,
    MagnetError,
    MetainfoError,
    TorrentFetchError,
    UsageError,
)
from bittwist.fetch import MAX_TORRENT_SIZE
from bittwist.metainfo import parse
from bittwist.safetext import printable
from bittwist.state.records import TORRENT_OPTIONS
from bittwist.state.settings import SESSION_SETTINGS
from bittwist.torrent import Torrent, TorrentState
from bittwist.torrent.lifecycle import ACTIVE
from bittwist.web.multipart import FormDataParser, boundaryFrom

__all__ = [
    "ApiResource",
    "SettingsResource",
    "TorrentsResource",
    "TorrentResource",
    "EventsResource",
    "JsonError",
    "torrentToJson",
    "MAX_UPLOAD_SIZE",
    "MAX_BODY_SIZE",
]

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

MAX_JSON_SIZE = 64 * 2**10
"""
The largest JSON body (C{{"url": ...}}) we parse.
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


def _jsonBytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def writeJson(request: Request, value: Any, code: int = 200) -> bytes:
    """
    Set the code and content type of C{request} for a JSON answer.

    @return: the body to return from C{render}.
    """
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return _jsonBytes(value)


def errorJson(request: Request, code: int, message: str) -> bytes:
    """
    @return: the body of a JSON error answer, C{{"error": message}}.
    """
    return writeJson(request, {"error": message}, code)


def torrentToJson(torrent: Torrent) -> dict[str, Any]:
    """
    @return: the L{bittwist.torrent.TorrentStatus} of C{torrent} as a JSON
        object, with its C{progress} (0 to 1) and C{eta} (seconds or
        C{null}).
    """
    status = torrent.status()
    result = dataclasses.asdict(status)
    result["progress"] = status.progress
    result["eta"] = status.eta
    return result


def trackersToJson(torrent: Torrent, now: float) -> list[dict[str, Any]]:
    """
    @param now: the time on the clock the tracker times were taken on.
    @return: each tracker's L{bittwist.tracker.TrackerStatus} as a JSON
        object, its times as C{lastAnnounceAgo} and C{nextAnnounceIn}
        (seconds, or C{null}).
    """
    result = []
    for status in torrent.trackerStatuses():
        entry = dataclasses.asdict(status)
        last, following = entry.pop("lastAnnounce"), entry.pop("nextAnnounce")
        entry["lastAnnounceAgo"] = None if last is None else max(0.0, now - last)
        entry["nextAnnounceIn"] = None if following is None else max(0.0, following - now)
        result.append(entry)
    return result


def _readJsonObject(request: Request, usage: str) -> dict[str, Any]:
    """
    @param usage: what to send instead, for the error's message.
    @return: the request's body as a JSON object.
    @raise JsonBodyError: if it is longer than L{MAX_JSON_SIZE}, not JSON,
        or not an object (L{_JsonResource} answers it).
    """
    assert request.content is not None
    request.content.seek(0)
    raw = request.content.read(MAX_JSON_SIZE + 1)
    if len(raw) > MAX_JSON_SIZE:
        raise JsonBodyError(f"a JSON body is at most {MAX_JSON_SIZE} bytes; {usage}", tooLarge=True)
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise JsonBodyError(f"the body is not JSON ({e}); {usage}") from None
    if not isinstance(value, dict):
        raise JsonBodyError(f"the body is not a JSON object; {usage}")
    return value


def _answerLater(
    request: Request, disconnected: Callable[[], object] = lambda: None
) -> Callable[[bytes], None]:
    """
    Get ready to answer C{request}, whose C{render} returned
    C{NOT_DONE_YET}, once a result comes: by then its client may be gone.

    @param disconnected: called if the client goes before the answer (to
        cancel the work, say).
    @return: writes an answer's body and finishes the request, if its
        client is still connected; else does nothing.
    """
    gone: list[object] = []

    def lost(reason: object) -> None:
        gone.append(reason)
        disconnected()

    request.notifyFinish().addErrback(lost)

    def answer(body: bytes) -> None:
        if not gone:
            request.write(body)
            request.finish()

    return answer


class _JsonResource(Resource):
    """
    A resource whose errors are JSON too: a method it lacks is a 405 naming
    those it has, a child it lacks is a 404, a body that is not the JSON
    object asked for a 400 (413 if too long).
    """

    def render(self, request: Request) -> Any:
        try:
            return super().render(request)
        except JsonBodyError as e:
            return errorJson(request, 413 if e.tooLarge else 400, str(e))
        except UnsupportedMethod as e:
            allowed = sorted({m.decode("ascii") for m in e.allowedMethods} - {"HEAD"})
            request.setHeader(b"allow", ", ".join(allowed).encode("ascii"))
            method = request.method.decode("ascii", "replace")
            return errorJson(
                request, 405, f"{method} is not allowed on {request.path.decode('utf-8', 'replace')}; "
                f"use {' or '.join(allowed)}"
            )

    def render_HEAD(self, request: Request) -> Any:
        # twisted.web answers HEAD with render_GET, which a POST-only
        # resource lacks: that was an AttributeError and a 500.
        if getattr(self, "render_GET", None) is None:
            raise UnsupportedMethod(
                [name[len("render_"):].encode("ascii") for name in dir(self)
                 if name.startswith("render_") and name != "render_HEAD"]
            )
        return self.render_GET(request)  # type: ignore[attr-defined]

    def getChild(self, path: bytes, request: Request) -> Resource:
        return JsonError(404, f"no such resource: {request.path.decode('utf-8', 'replace')}")


class JsonError(Resource):
    """
    Answers every request with one JSON error.
    """

    isLeaf = True

    def __init__(self, code: int, message: str, headers: Optional[dict[bytes, bytes]] = None) -> None:
        super().__init__()
        self.code = code
        self.message = message
        self.headers = headers or {}

    def render(self, request: Request) -> bytes:
        for name, value in self.headers.items():
            request.setHeader(name, value)
        return errorJson(request, self.code, self.message)


class ApiResource(_JsonResource):
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


class DHTResource(_JsonResource):
    """
    C{/api/dht}: the DHT node's figures (see
    L{bittwist.dht.node.DHTNode.stats}), and whether it is C{enabled}.
    """

    isLeaf = True

    def __init__(self, service: Any) -> None:
        super().__init__()
        self._service = service

    def render_GET(self, request: Request) -> bytes:
        dht = self._service.dht
        if dht is None:
            return writeJson(request, {"enabled": False})
        return writeJson(request, {"enabled": True, **dht.node.stats()})


class SettingsResource(_JsonResource):
    """
    C{/api/settings}: the session's rate limits (bytes per second for all
    torrents together, 0 for unlimited): GET them, POST a JSON object of
    those to change (C{maxUploadRate}, C{maxDownloadRate}); remembered in
    the state folder.
    """

    def __init__(self, service: Any) -> None:
        super().__init__()
        self._service = service

    def _current(self) -> dict[str, int]:
        # The buckets' rates: what limits the transfers now.
        session = self._service.session
        return {
            "maxUploadRate": int(session.uploadLimit.rate),
            "maxDownloadRate": int(session.downloadLimit.rate),
        }

    def render_GET(self, request: Request) -> bytes:
        return writeJson(request, self._current())

    def render_POST(self, request: Request) -> bytes:
        usage = (
            "send a JSON object of rates in bytes per second (0: unlimited), "
            'e.g. {"maxDownloadRate": 1048576, "maxUploadRate": 0}'
        )
        value = _readJsonObject(request, usage)
        if (
            not value
            or set(value) - set(SESSION_SETTINGS)
            or any(type(rate) is not int or rate < 0 for rate in value.values())
        ):
            return errorJson(request, 400, usage)
        self._service.setRateLimits(**value)
        return writeJson(request, self._current())


class TorrentsResource(_JsonResource):
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
        value = _readJsonObject(request, usage)
        magnet = value.get("magnet")
        if isinstance(magnet, str):
            return self._addMagnet(request, magnet)
        url = value.get("url")
        if not isinstance(url, str) or not url.strip():
            return errorJson(request, 400, usage)
        d = self._service.addTorrentFromURL(url.strip(), self._downloadDir)
        answer = _answerLater(request, d.cancel)

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


class TorrentResource(_JsonResource):
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
        self.putChild(b"peers", _TorrentPart(self, "peers"))
        self.putChild(b"pieces", _TorrentPart(self, "pieces"))
        self.putChild(b"trackers", _TorrentPart(self, "trackers"))
        self.putChild(b"files", _TorrentFiles(self, service))
        self.putChild(b"pause", _TorrentAction(self, "pause"))
        self.putChild(b"resume", _TorrentAction(self, "resume"))
        self.putChild(b"announce", _TorrentAction(self, "announce"))
        self.putChild(b"options", _TorrentOptions(self, service))

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
        answer = _answerLater(request)

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


def _withTorrent(
    render: Callable[[Any, Request, Torrent], bytes]
) -> Callable[[Any, Request], bytes]:
    """
    Decorate a C{render_*} method of a child of L{TorrentResource} (held as
    C{self._parent}) so it is called with the torrent, or answers 404 if
    the torrent was removed meanwhile.
    """

    @functools.wraps(render)
    def withTorrent(self: Any, request: Request) -> bytes:
        torrent = self._parent.torrent()
        if torrent is None:
            return self._parent.gone(request)
        return render(self, request, torrent)

    return withTorrent


class _TorrentPart(_JsonResource):
    """
    C{/api/torrents/<hex>/peers}, C{.../pieces}, C{.../trackers} and
    C{.../files}.
    """

    def __init__(self, parent: TorrentResource, part: str) -> None:
        super().__init__()
        self._parent = parent
        self._part = part

    @_withTorrent
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


class _TorrentFiles(_TorrentPart):
    """
    C{/api/torrents/<hex>/files}: C{GET} lists the files with their size,
    progress and priority (0 skipped, 1 normal, 2 high); C{POST} sets
    priorities, remembered across restarts, with C{{"priorities": [...]}}
    (one per file) or C{{"index": i, "priority": p}} (one file), and
    answers with the files.
    """

    def __init__(self, parent: TorrentResource, service: Any) -> None:
        super().__init__(parent, "files")
        self._service = service

    @_withTorrent
    def render_POST(self, request: Request, torrent: Torrent) -> bytes:
        usage = (
            'send {"priorities": [1, 0, 2]} (one per file) or {"index": 1, "priority": 0}; '
            "0 skips a file, 1 is normal, 2 high"
        )
        value = _readJsonObject(request, usage)
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


class _TorrentAction(_JsonResource):
    """
    C{POST /api/torrents/<hex>/pause}, C{.../resume} and C{.../announce}
    (ask the trackers for peers now, as far as their C{min interval}
    allows).
    """

    def __init__(self, parent: TorrentResource, action: str) -> None:
        super().__init__()
        self._parent = parent
        self._action = action

    @_withTorrent
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


class _TorrentOptions(_JsonResource):
    """
    C{POST /api/torrents/<hex>/options} with a JSON object of options to
    change, remembered across restarts: C{sequential} (C{true}: pieces in
    order, to play a file while it downloads; C{false}: rarest first),
    C{maxPeers}, C{seedRatio} and C{seedTime} (seconds; C{null}: no goal),
    C{maxDownloadRate} and C{maxUploadRate} (bytes per second within the
    session's limits; 0: none of its own), C{filePriorities}. Answers with
    the torrent.
    """

    def __init__(self, parent: TorrentResource, service: Any) -> None:
        super().__init__()
        self._parent = parent
        self._service = service

    @_withTorrent
    def render_POST(self, request: Request, torrent: Torrent) -> bytes:
        usage = 'send a JSON object of options, e.g. {"sequential": true, "maxPeers": 30}'
        value = _readJsonObject(request, usage)
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


_PAUSABLE = {TorrentState.DOWNLOADING, TorrentState.SEEDING, TorrentState.FINISHED, TorrentState.PAUSED}
_RESUMABLE = {
    TorrentState.PAUSED,
    TorrentState.FINISHED,
    TorrentState.ERROR,
    TorrentState.DOWNLOADING,
    TorrentState.SEEDING,
}


class EventsResource(_JsonResource):
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
        return b"event: torrents\ndata: " + _jsonBytes([torrentToJson(t) for t in torrents]) + b"\n\n"

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
