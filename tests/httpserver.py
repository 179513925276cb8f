"""
A real C{twisted.web} server on 127.0.0.1 serving C{.torrent} files and
misbehaving answers, for fetching torrents by URL in tests.
"""

from typing import Any

from twisted.internet.interfaces import IListeningPort
from twisted.web.resource import NoResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from twisted.web.util import Redirect

__all__ = ["TorrentFileServer"]


class _Bytes(Resource):
    isLeaf = True

    def __init__(self, data: bytes, contentType: bytes = b"application/x-bittorrent") -> None:
        super().__init__()
        self._data = data
        self._contentType = contentType

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", self._contentType)
        return self._data


class _Announced(Resource):
    """
    Announces a body of C{length} bytes, sends a little of it, never ends.
    """

    isLeaf = True

    def __init__(self, length: int) -> None:
        super().__init__()
        self._length = length

    def render_GET(self, request: Request) -> Any:
        request.setHeader(b"content-length", b"%d" % self._length)
        request.write(b"d" * 100)
        return NOT_DONE_YET


class _Endless(Resource):
    """
    Streams a body without a length, 1,000 bytes a turn, until the client
    closes the connection.

    @ivar closedByClient: how many requests the client closed early.
    """

    isLeaf = True

    def __init__(self, reactor: Any) -> None:
        super().__init__()
        self._reactor = reactor
        self.closedByClient = 0

    def render_GET(self, request: Request) -> Any:
        gone: list[object] = []

        def closed(reason: object) -> None:
            gone.append(reason)
            self.closedByClient += 1

        request.notifyFinish().addErrback(closed)

        def more() -> None:
            if not gone:
                request.write(b"x" * 1000)
                self._reactor.callLater(0, more)

        more()
        return NOT_DONE_YET


class _Silent(Resource):
    """
    Never answers.

    @ivar asked: how many requests came.
    """

    isLeaf = True
    asked = 0

    def render_GET(self, request: Request) -> Any:
        self.asked += 1
        request.notifyFinish().addErrback(lambda _: None)
        return NOT_DONE_YET


class TorrentFileServer:
    """
    Serves, on 127.0.0.1:
      - C{/<name>.torrent}: each torrent given to L{add};
      - C{/redirect/<name>.torrent}: a redirect to it;
      - each redirect given to L{addRedirect};
      - C{/page.html}: a web page, not a torrent;
      - C{/huge.torrent}: announces 1 GiB, sends 100 bytes, never ends;
      - C{/endless.torrent}: a body without a length that never ends;
      - C{/silent.torrent}: no answer at all;
      - anything else: 404.

    @ivar endless: the resource of C{/endless.torrent}.
    @ivar silent: the resource of C{/silent.torrent}.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._root = Resource()
        self._root.putChild(b"page.html", _Bytes(b"<html><body>Not here</body></html>", b"text/html"))
        self._root.putChild(b"huge.torrent", _Announced(2**30))
        self.endless = _Endless(reactor)
        self._root.putChild(b"endless.torrent", self.endless)
        self.silent = _Silent()
        self._root.putChild(b"silent.torrent", self.silent)
        self._redirects = Resource()
        self._root.putChild(b"redirect", self._redirects)
        self._port: IListeningPort | None = None
        self.base = ""

    def add(self, name: str, data: bytes) -> str:
        """
        Serve C{data} as C{/<name>}.

        @return: its address.
        """
        self._root.putChild(name.encode("ascii"), _Bytes(data))
        self._redirects.putChild(name.encode("ascii"), Redirect(f"/{name}".encode("ascii")))
        return f"{self.base}/{name}"

    def addRedirect(self, name: str, location: str) -> str:
        """
        Serve C{/<name>} as a redirect to C{location}, any address.

        @return: its address.
        """
        self._root.putChild(name.encode("ascii"), Redirect(location.encode("ascii")))
        return f"{self.base}/{name}"

    def start(self) -> str:
        """
        Listen on a free port of 127.0.0.1.

        @return: the base address, C{http://127.0.0.1:<port>}.
        """
        self._root.putChild(b"", NoResource())
        site = Site(self._root)
        site.noisy = False
        self._port = self._reactor.listenTCP(0, site, interface="127.0.0.1")
        self.base = f"http://127.0.0.1:{self._port.getHost().port}"
        return self.base

    def stop(self) -> Any:
        assert self._port is not None
        return self._port.stopListening()
