# -*- test-case-name: tests.test_web -*-
"""
The web status page as a C{twisted.web.server.Site}, its access guard, and
L{WebService}, which serves it while a L{bittwist.service.BitTorrentService}
runs.

Access rules (L{AccessGuard}):
  - Served on a loopback address, the page needs no token, but a request
    must name this machine in its C{Host} header (C{localhost} or a
    loopback address), so that a web site whose DNS name is rebound to
    127.0.0.1 cannot read or drive it.
  - Served on any other address, every request carries the token logged at
    start: C{Authorization: Bearer <token>}, or C{?token=<token>} (which
    also sets a C{SameSite=Strict} cookie, so the page's own requests carry
    it), or that cookie. Missing: 401; wrong: 403.
  - A request that changes something (anything but GET and HEAD) must carry
    the header C{X-Bittwist}, and its C{Origin}, if any, must be this
    server. A page on another origin cannot send a custom header without a
    CORS preflight, which this server never allows, so it cannot pause or
    remove torrents through the user's browser.

These rules are applied by the request's headers, before its body is read
(L{GuardedRequest}): a refused request costs no memory whatever body it
announces or sends, and a body over L{bittwist.web.api.MAX_BODY_SIZE} is
refused as soon as its length is known, or as soon as a chunked body passes
it.
"""

import hmac
import io
import os
import secrets
import socket
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IDelayedCall, IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel, parse_qs
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from bittwist.errors import WebListenError
from bittwist.ipaddr import ipAddress
from bittwist.waiters import Waiters
from bittwist.web.api import MAX_BODY_SIZE, ApiResource, JsonError

__all__ = [
    "AccessGuard",
    "GuardedRequest",
    "GuardedSite",
    "WebService",
    "makeWebSite",
    "isLoopback",
    "CSRF_HEADER",
    "DEFAULT_ENDPOINT",
    "LINGER_SECONDS",
]

DEFAULT_ENDPOINT = "tcp:8080:interface=127.0.0.1"
CSRF_HEADER = b"x-bittwist"
TOKEN_COOKIE = b"bittwist-token"
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_SAFE_METHODS = (b"GET", b"HEAD")

LINGER_SECONDS = 5.0
"""
After refusing a request whose body is still coming, we read and drop that
body for at most this long before closing the connection. Closing at once
would make the kernel reset the connection, and a client still sending
could lose our answer with it; reading on costs time, never memory.
"""

_SECURITY_HEADERS = {
    b"content-security-policy": (
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    # The token may be in the page's address: never send it elsewhere.
    b"referrer-policy": b"no-referrer",
    b"cache-control": b"no-cache",
}


def isLoopback(host: str) -> bool:
    """
    @return: whether C{host} (an IP address or a name) is this machine's
        loopback: C{localhost}, C{127.0.0.0/8} (also IPv4-mapped, as a
        dual-stack socket reports it: C{::ffff:127.0.0.1}) or C{::1}.
    """
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipAddress(host).is_loopback
    except ValueError:
        return False


class _Asset(Resource):
    """
    One file of the page, read when asked for (they are a few kilobytes).
    """

    isLeaf = True

    def __init__(self, name: str, contentType: bytes) -> None:
        super().__init__()
        self._path = os.path.join(STATIC_DIR, name)
        self._contentType = contentType

    def render_GET(self, request: Request) -> bytes:
        if request.postpath and request.postpath != [b""]:
            return JsonError(404, "no such file").render(request)
        request.setHeader(b"content-type", self._contentType)
        with open(self._path, "rb") as f:
            return f.read()


_ASSETS = {
    b"index.html": b"text/html; charset=utf-8",
    b"app.js": b"text/javascript; charset=utf-8",
    b"style.css": b"text/css; charset=utf-8",
}


class _NotFound(Resource):
    """
    Holds children; anything else under it is a JSON 404.
    """

    def getChild(self, path: bytes, request: Request) -> Resource:
        return JsonError(404, "no such file")

    def render(self, request: Request) -> bytes:
        return JsonError(404, "no such file").render(request)


class AccessGuard(Resource):
    """
    Wraps the site's root resource; decides whether each request may reach
    it (see the module docstring for the rules).

    @ivar token: the secret that requests carry when L{requireToken}.
    @ivar requireToken: whether requests need the token (C{True} unless
        served on loopback only).
    """

    def __init__(self, wrapped: Resource, token: str, requireToken: bool = True) -> None:
        super().__init__()
        self._wrapped = wrapped
        self.token = token
        self.requireToken = requireToken

    def getChildWithDefault(self, path: bytes, request: Request) -> Resource:
        self.setSecurityHeaders(request)
        denied = self.check(request)
        if denied is not None:
            return denied
        return self._wrapped.getChildWithDefault(path, request)

    def render(self, request: Request) -> Any:
        # Only reached for a request with an empty path, which HTTP forbids.
        return JsonError(404, "no such resource").render(request)

    def setSecurityHeaders(self, request: Request) -> None:
        """
        Set the headers every answer carries (content security policy and
        the like).
        """
        for name, value in _SECURITY_HEADERS.items():
            request.setHeader(name, value)

    def check(self, request: Request, remember: bool = True) -> Optional[JsonError]:
        """
        @param remember: whether a token given in the query sets the cookie
            that carries it from then on.
        @return: C{None} if C{request} may proceed, else the error resource
            that answers it.
        """
        host = request.getHeader(b"host")
        hostText = host.decode("ascii", "replace") if host else ""
        if self.requireToken:
            denied = self._checkToken(request, remember)
            if denied is not None:
                return denied
        else:
            # Without a Host header (HTTP/1.0) it is no browser: no rebinding.
            if hostText and not isLoopback(urlsplit("//" + hostText).hostname or ""):
                return JsonError(
                    403, f"Host {hostText!r} is not this machine; open the page at http://127.0.0.1 "
                    "or http://localhost with its port"
                )
        if request.method not in _SAFE_METHODS:
            if not request.getHeader(CSRF_HEADER):
                return JsonError(
                    403, "a request that changes something needs the header 'X-Bittwist: 1' "
                    "(protection against cross-site requests)"
                )
            origin = request.getHeader(b"origin")
            if origin is not None and origin != "null":
                if urlsplit(origin.decode("ascii", "replace")).netloc != hostText:
                    return JsonError(
                        403, f"Origin {origin.decode('ascii', 'replace')!r} is not this server; "
                        "cross-site requests are refused"
                    )
            if request.getHeader(b"sec-fetch-site") in (b"cross-site", b"same-site"):
                return JsonError(403, "cross-site requests are refused")
        return None

    def _checkToken(self, request: Request, remember: bool) -> Optional[JsonError]:
        given: Optional[bytes] = None
        fromQuery = False
        authorization = request.getHeader(b"authorization")
        if authorization is not None:
            scheme, _, value = authorization.partition(b" ")
            if scheme.lower() == b"bearer":
                given = value.strip()
        if given is None and b"token" in request.args:
            given = request.args[b"token"][0]
            fromQuery = True
        if given is None:
            given = request.getCookie(TOKEN_COOKIE)
        if given is None:
            return JsonError(
                401, "this server needs its token: open the address logged at start, with "
                "?token=..., or send 'Authorization: Bearer <token>'",
                {b"www-authenticate": b'Bearer realm="bittwist"'},
            )
        if not hmac.compare_digest(given, self.token.encode("ascii")):
            return JsonError(403, "wrong token; use the one logged when bittwist started")
        if fromQuery and remember:
            request.addCookie(
                TOKEN_COOKIE,
                self.token.encode("ascii"),
                path=b"/",
                httpOnly=True,
                sameSite="strict",
                secure=request.isSecure() or None,
            )
        return None


class GuardedRequest(Request):
    """
    A request judged by its headers before its body is read.

    Twisted's C{Request} reads the whole body (into memory, or a temporary
    file past 100 kB) before anything looks at it, and the C{Site} then
    parses form uploads in memory several times over. Here, as soon as the
    headers are in (L{gotLength}), the site's L{AccessGuard} and the body
    limit decide; a refused request is answered at once, its body is
    dropped as it arrives, and its connection closed when the body ends or
    after L{GuardedSite.lingerSeconds}. An accepted body is counted as it
    arrives and refused (413) as soon as it passes the limit, chunked or
    not.
    """

    _refused = False
    _received = 0
    _linger: Optional[IDelayedCall] = None

    def gotLength(self, length: Optional[int]) -> None:
        """
        The headers are in: refuse the request now if the guard does, or if
        its body is announced larger than the site's limit.

        @param length: the C{Content-Length}, or C{None} for a chunked body.
        """
        super().gotLength(length)
        if length == 0:
            return
        self._takeRequestLine()
        # Request.site is set only when processing starts.
        site = self.channel.site
        denied = site.resource.check(self, remember=False)
        if denied is None and length is not None and length > site.maxBodySize:
            denied = _tooLarge(site.maxBodySize)
        if denied is not None:
            self._refuseEarly(denied)

    def _takeRequestLine(self) -> None:
        """
        Take the method, address and version the channel parsed (and
        validated) from the request line: C{Request} learns them only in
        C{requestReceived}, once the body is in, and the guard needs them
        now (the query may carry the token).  The query is read as
        C{requestReceived} reads it.
        """
        channel = self.channel
        self.method, self.uri, self.clientproto = channel._command, channel._path, channel._version
        self.path, _, query = self.uri.partition(b"?")
        self.args = parse_qs(query, 1)

    def handleContentChunk(self, data: bytes) -> None:
        """
        Keep C{data} unless the request is refused; refuse it if the body
        passes the site's limit.
        """
        if self._refused:
            return
        self._received += len(data)
        limit = self.channel.site.maxBodySize
        if self._received > limit:
            self._refuseEarly(_tooLarge(limit))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """
        The body is in: process the request, or, if it was refused, end
        the answer already sent.
        """
        if not self._refused:
            super().requestReceived(command, path, version)
            return
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        if not self.finished:
            self.finish()

    def _refuseEarly(self, answer: JsonError) -> None:
        """
        Send C{answer} now, drop the body from here on, and close the
        connection once the answer is sent and the body ended (or after
        L{GuardedSite.lingerSeconds}).
        """
        self._refused = True
        # The channel would otherwise invite the body with '100 Continue'
        # after our final answer (RFC 9110 allows answering instead).
        self.requestHeaders.removeHeader(b"expect")
        self.content.close()
        self.content = io.BytesIO()
        # What follows the body cannot be parsed as a next request.
        self.channel.persistent = False
        site = self.channel.site
        site.resource.setSecurityHeaders(self)
        body = answer.render(self)
        self.setHeader(b"content-length", b"%d" % len(body))
        self.setHeader(b"connection", b"close")
        self.write(body)
        self._linger = site.reactor.callLater(site.lingerSeconds, self._stopLingering)

    def _stopLingering(self) -> None:
        if not self.finished:
            self.finish()

    def connectionLost(self, reason: Failure) -> None:
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        super().connectionLost(reason)


def _tooLarge(limit: int) -> JsonError:
    return JsonError(
        413, f"the request body is larger than {limit} bytes; a .torrent file is smaller than that"
    )


class GuardedSite(Site):
    """
    The page's C{Site}: its requests are L{GuardedRequest}s, judged by the
    L{AccessGuard} (its C{resource}) before their bodies are read; bodies
    are kept as they are (forms are parsed by the API, bounded, not by
    Twisted in memory). Only HTTP/1.1 is spoken, so every request passes
    through that guard. Its access log keeps only failed requests: the page
    asks for updates every second, which would bury the progress lines.

    @ivar maxBodySize: the most bytes a request body may have.
    @ivar lingerSeconds: how long the body of a refused request is read
        and dropped before its connection is closed (L{LINGER_SECONDS}).
    """

    requestFactory = GuardedRequest
    # Not the default, which may speak HTTP/2 over TLS: its streams give
    # their requests no request line before the body.
    protocol = HTTPChannel
    lingerSeconds = LINGER_SECONDS

    def __init__(self, resource: "AccessGuard", reactor: Any, maxBodySize: int = MAX_BODY_SIZE) -> None:
        super().__init__(resource, reactor=reactor, parsePOSTFormSubmission=False)
        self.maxBodySize = maxBodySize

    def log(self, request: Any) -> None:
        if request.code >= 400:
            super().log(request)


def makeWebSite(
    service: Any,
    downloadDir: str,
    token: Optional[str] = None,
    requireToken: bool = True,
    reactor: Any = None,
    interval: float = 1.0,
) -> Site:
    """
    Make the status page and its API for C{service}.

    @param service: the L{bittwist.service.BitTorrentService} shown.
    @param downloadDir: where torrents added on the page download to.
    @param token: the access token (a fresh random one by default).
    @param requireToken: whether every request needs the token; set it
        C{False} only when served on a loopback address.
    @param reactor: for timers (the global one by default).
    @param interval: seconds between live updates of the page.
    @return: the site; its C{resource} is the L{AccessGuard}, its C{api}
        the L{bittwist.web.api.ApiResource}.
    """
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    root = Resource()
    api = ApiResource(service, downloadDir, reactor, interval)
    static = _NotFound()
    for name, contentType in _ASSETS.items():
        static.putChild(name, _Asset(name.decode("ascii"), contentType))
    root.putChild(b"", _Asset("index.html", _ASSETS[b"index.html"]))
    root.putChild(b"static", static)
    root.putChild(b"api", api)
    guard = AccessGuard(root, token or secrets.token_urlsafe(24), requireToken)
    site = GuardedSite(guard, reactor)
    site.displayTracebacks = False
    site.api = api  # type: ignore[attr-defined]
    return site


class WebService(Service):
    """
    Serves the status page of a L{bittwist.service.BitTorrentService} while
    running, and logs its address (with the token, when one is needed).

    @ivar site: the C{twisted.web.server.Site}.
    @ivar url: the page's address, once listening.
    """

    log = Logger()

    def __init__(
        self,
        endpoint: Union[str, IStreamServerEndpoint],
        torrentService: Any,
        downloadDir: str,
        reactor: Any = None,
        token: Optional[str] = None,
        interval: float = 1.0,
    ) -> None:
        """
        @param endpoint: where to serve: an endpoint or its description
            (L{DEFAULT_ENDPOINT} is 127.0.0.1 port 8080).
        @param torrentService: the service shown.
        @param downloadDir: where torrents added on the page download to.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        self._secure = isinstance(endpoint, str) and endpoint.split(":", 1)[0] in ("ssl", "tls")
        self._endpointDescription = endpoint if isinstance(endpoint, str) else "the endpoint given"
        if isinstance(endpoint, str):
            endpoint = serverFromString(reactor, endpoint)
        self._endpoint = endpoint
        # Until we know where we listen, the token is needed.
        self.site = makeWebSite(torrentService, downloadDir, token, True, reactor, interval)
        self.url: Optional[str] = None
        self._port: Optional[IListeningPort] = None
        self._waiting: Waiters[str] = Waiters()
        self._listenError: Optional[WebListenError] = None

    @property
    def token(self) -> str:
        return self.site.resource.token

    def whenListening(self) -> Deferred[str]:
        """
        @return: fires with L{url} once listening, or fails with
            L{WebListenError} if it cannot.
        """
        if self.url is not None:
            return succeed(self.url)
        if self._listenError is not None:
            return fail(self._listenError)
        return self._waiting.wait()

    def startService(self) -> None:
        super().startService()
        self._listenError = None
        self._endpoint.listen(self.site).addCallbacks(self._listening, self._cannotListen)

    def _listening(self, port: IListeningPort) -> None:
        if not self.running:
            port.stopListening()
            return
        self._port = port
        address = port.getHost()
        host = getattr(address, "host", None)
        guard = self.site.resource
        guard.requireToken = host is None or not isLoopback(host)
        scheme = "https" if self._secure else "http"
        if host is None:
            self.url = f"{address}"
        else:
            if ipAddress(host).is_unspecified:
                host = socket.gethostname()
            elif ":" in host:
                host = f"[{host}]"
            self.url = f"{scheme}://{host}:{address.port}/"
        if guard.requireToken:
            self.url += f"?token={guard.token}"
            self.log.info(
                "Web status page at {url} (served beyond this machine: every request needs the "
                "token; use an ssl: endpoint to keep it secret on the network)",
                url=self.url,
            )
        else:
            self.log.info("Web status page at {url}", url=self.url)
        self._waiting.fire(self.url)

    def _cannotListen(self, failure: Failure) -> None:
        self._listenError = WebListenError(self._endpointDescription, failure.getErrorMessage())
        self.log.error("{error}", error=str(self._listenError))
        self._waiting.fail(self._listenError)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        self.site.api.events.closeAll()
        port, self._port = self._port, None
        if port is None:
            return succeed(None)
        return maybeDeferred(port.stopListening)
