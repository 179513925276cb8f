# -*- test-case-name: tests.test_web -*-
"""
What every resource of the JSON API shares: JSON answers and errors, the
JSON body read under a bound, the answer given later, L{JsonResource},
whose errors are JSON too, and L{withTorrent} for a torrent's children.
"""

import functools
import json
from typing import Any, Callable, Optional

from twisted.web.error import UnsupportedMethod
from twisted.web.resource import Resource
from twisted.web.server import Request

from bittwist.errors import JsonBodyError
from bittwist.torrent import Torrent

__all__ = [
    "JsonResource",
    "JsonError",
    "jsonBytes",
    "writeJson",
    "errorJson",
    "readJsonObject",
    "answerLater",
    "withTorrent",
    "MAX_JSON_SIZE",
]

MAX_JSON_SIZE = 64 * 2**10
"""
The largest JSON body (C{{"url": ...}}) we parse.
"""


def jsonBytes(value: Any) -> bytes:
    """
    @return: C{value} as compact UTF-8 JSON.
    """
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def writeJson(request: Request, value: Any, code: int = 200) -> bytes:
    """
    Set the code and content type of C{request} for a JSON answer.

    @return: the body to return from C{render}.
    """
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return jsonBytes(value)


def errorJson(request: Request, code: int, message: str) -> bytes:
    """
    @return: the body of a JSON error answer, C{{"error": message}}.
    """
    return writeJson(request, {"error": message}, code)


def readJsonObject(request: Request, usage: str) -> dict[str, Any]:
    """
    @param usage: what to send instead, for the error's message.
    @return: the request's body as a JSON object.
    @raise JsonBodyError: if it is longer than L{MAX_JSON_SIZE}, not JSON,
        or not an object (L{JsonResource} answers it).
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


def answerLater(
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


class JsonResource(Resource):
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


def withTorrent(
    render: Callable[[Any, Request, Torrent], bytes]
) -> Callable[[Any, Request], bytes]:
    """
    Decorate a C{render_*} method of a child of
    L{bittwist.web.api.torrent.TorrentResource} (held as C{self._parent})
    so it is called with the torrent, or answers 404 if the torrent was
    removed meanwhile.
    """

    @functools.wraps(render)
    def withTorrent(self: Any, request: Request) -> bytes:
        torrent = self._parent.torrent()
        if torrent is None:
            return self._parent.gone(request)
        return render(self, request, torrent)

    return withTorrent
