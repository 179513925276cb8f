# -*- test-case-name: tests.test_fetch -*-
"""
Tests for L{bittwist.fetch} and L{BitTorrentService.addTorrentFromURL},
against a real C{twisted.web} server on 127.0.0.1.
"""

import os
from typing import Any, Optional

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from bittwist.addressguard import PublicEndpointFactory
from bittwist.errors import TorrentFetchError, UsageError
from bittwist.fetch import fetchTorrent
from bittwist.metainfo import createTorrent
from bittwist.service import BitTorrentService
from tests.fakes import MemoryStorageFactory
from tests.httpserver import TorrentFileServer


def nonPersistentClient() -> HTTPClient:
    """
    @return: a treq client that leaves no connection open after a test.
    """
    return HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))


def torrentBytes(testCase: TestCase, name: str = "fetched.bin") -> bytes:
    folder = os.path.abspath(testCase.mktemp())
    os.makedirs(folder)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(b"fetched" * 5000)
    return createTorrent(path, pieceLength=16384)


class FetchTests(TestCase):
    """
    Tests for L{fetchTorrent}.
    """

    timeout = 20

    def setUp(self) -> None:
        self.server = TorrentFileServer(reactor)
        self.base = self.server.start()
        self.addCleanup(self.server.stop)
        self.data = torrentBytes(self)
        self.url = self.server.add("good.torrent", self.data)
        self.client = nonPersistentClient()

    @inlineCallbacks
    def assertFetchError(self, url: str, kind: str, text: str, **kwargs: Any) -> Any:
        kwargs.setdefault("allowPrivate", True)
        error = yield self.assertFailure(fetchTorrent(url, self.client, **kwargs), TorrentFetchError)
        self.assertEqual(error.kind, kind, str(error))
        self.assertIn(text, str(error))
        return error

    @inlineCallbacks
    def test_fetch(self) -> Any:
        """
        A C{.torrent} served over HTTP is fetched and parsed; its info hash
        is that of the file served.
        """
        metainfo = yield fetchTorrent(self.url, self.client, allowPrivate=True)
        self.assertEqual(metainfo.name, "fetched.bin")
        self.assertIn(metainfo.infoBytes, self.data)

    @inlineCallbacks
    def test_redirect(self) -> Any:
        """
        A redirect to the C{.torrent} is followed.
        """
        metainfo = yield fetchTorrent(self.base + "/redirect/good.torrent", self.client, allowPrivate=True)
        self.assertEqual(metainfo.name, "fetched.bin")

    @inlineCallbacks
    def test_notFound(self) -> Any:
        """
        A 404 is a L{TorrentFetchError} saying what the server answered.
        """
        yield self.assertFetchError(self.base + "/nothing.torrent", "status", "the server answered 404")

    @inlineCallbacks
    def test_notATorrent(self) -> Any:
        """
        A web page instead of a torrent is a L{TorrentFetchError} saying it
        is no .torrent file.
        """
        yield self.assertFetchError(self.base + "/page.html", "metainfo", "not a .torrent file")

    @inlineCallbacks
    def test_announcedTooLarge(self) -> Any:
        """
        An answer announcing more than the limit is refused at once, by its
        C{Content-Length}, without reading its body.
        """
        yield self.assertFetchError(self.base + "/huge.torrent", "size", "larger than 10485760 bytes")

    @inlineCallbacks
    def test_streamStoppedPastLimit(self) -> Any:
        """
        A body without a length is read up to the limit, then the
        connection is closed: an endless body ends the fetch.
        """
        yield self.assertFetchError(
            self.base + "/endless.torrent", "size", "larger than 5000 bytes", maxSize=5000
        )
        while not self.server.endless.closedByClient:
            yield deferLater(reactor, 0.01, lambda: None)

    @inlineCallbacks
    def test_timeout(self) -> Any:
        """
        A server that does not answer within the timeout is a
        L{TorrentFetchError} saying so; the connection is closed.
        """
        clock = Clock()
        d = fetchTorrent(
            self.base + "/silent.torrent", self.client, reactor=clock, timeout=30, allowPrivate=True
        )
        while not self.server.silent.asked:
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertNoResult(d)
        clock.advance(30)
        failure = self.failureResultOf(d, TorrentFetchError)
        self.assertEqual(failure.value.kind, "timeout")
        self.assertIn("no complete answer within 30 seconds", str(failure.value))

    @inlineCallbacks
    def test_onlyHTTP(self) -> Any:
        """
        Only C{http://} and C{https://} addresses are fetched; anything else
        fails at once.
        """
        magnet = "magnet:?xt=urn:btih:" + "a" * 40
        for url in ("file:///etc/passwd", "ftp://127.0.0.1/x.torrent", magnet, "http://"):
            yield self.assertFetchError(url, "url", "only http:// and https://")
        yield self.assertFetchError("http://x/" + "a" * 5000, "url", "longer than 4096")

    @inlineCallbacks
    def test_unreachable(self) -> Any:
        """
        A server that refuses the connection is a L{TorrentFetchError}.
        """
        port = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
        url = f"http://127.0.0.1:{port.getHost().port}/x.torrent"
        yield port.stopListening()
        yield self.assertFetchError(url, "network", "could not fetch it")


class PublicOnlyFetchTests(TestCase):
    """
    L{fetchTorrent} from public addresses only, against a real server on
    127.0.0.1.
    """

    timeout = 20

    def setUp(self) -> None:
        self.server = TorrentFileServer(reactor)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.url = self.server.add("good.torrent", torrentBytes(self))

    @inlineCallbacks
    def test_loopbackRefused(self) -> Any:
        """
        By default a loopback address is not fetched from: the error, of
        kind C{"address"}, says why and how to allow it.
        """
        for client in (None, nonPersistentClient()):
            failure = yield self.assertFailure(fetchTorrent(self.url, client), TorrentFetchError)
            self.assertEqual(failure.kind, "address")
            self.assertIn("127.0.0.1 is a loopback address", str(failure))
            self.assertIn("--allow-private-urls", str(failure))

    @inlineCallbacks
    def test_allowed(self) -> Any:
        """
        With C{allowPrivate}, the default client fetches from the loopback.
        """
        metainfo = yield fetchTorrent(self.url, allowPrivate=True)
        self.assertEqual(metainfo.name, "fetched.bin")

    @inlineCallbacks
    def test_redirectChecked(self) -> Any:
        """
        A redirect is a new connection, checked like the first: a client
        whose line puts 127.0.0.2 beyond the public (and 127.0.0.1 within)
        follows a redirect there into an C{"address"} error, without
        connecting.
        """

        def kindOf(address: str) -> Optional[str]:
            return "loopback" if address == "127.0.0.2" else None

        port = self.url.rsplit(":", 1)[1].split("/")[0]
        url = self.server.addRedirect("away.torrent", f"http://127.0.0.2:{port}/good.torrent")
        agent = Agent.usingEndpointFactory(
            reactor, PublicEndpointFactory(reactor, kindOf=kindOf),
            pool=HTTPConnectionPool(reactor, persistent=False),
        )
        failure = yield self.assertFailure(
            fetchTorrent(url, HTTPClient(agent), allowPrivate=True), TorrentFetchError
        )
        self.assertEqual(failure.kind, "address")
        self.assertIn("127.0.0.2 is a loopback address", str(failure))


class ServiceFetchTests(TestCase):
    """
    Tests for L{BitTorrentService.addTorrentFromURL}.
    """

    timeout = 20

    def setUp(self) -> None:
        self.server = TorrentFileServer(reactor)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.storageFactory = MemoryStorageFactory()
        # The server is on 127.0.0.1.
        self.service = BitTorrentService(
            "tcp:6881", reactor=Clock(), httpClient=nonPersistentClient(), progressInterval=None,
            storageFactory=self.storageFactory, allowPrivateURLs=True,
        )

    @inlineCallbacks
    def test_addFromURL(self) -> Any:
        """
        The torrent at the address is added, downloading into the folder
        given.
        """
        url = self.server.add("good.torrent", torrentBytes(self))
        torrent = yield self.service.addTorrentFromURL(url, "downloads")
        self.assertEqual(torrent.metainfo.name, "fetched.bin")
        self.assertIs(self.service.session.torrents[torrent.infoHash], torrent)
        self.assertEqual(self.storageFactory.made[-1][1], os.path.abspath("downloads"))

    @inlineCallbacks
    def test_privateRefusedByDefault(self) -> Any:
        """
        A service made without C{allowPrivateURLs} does not fetch from the
        loopback; nothing is added.
        """
        service = BitTorrentService(
            "tcp:6881", reactor=reactor, progressInterval=None, storageFactory=self.storageFactory
        )
        url = self.server.add("good.torrent", torrentBytes(self))
        failure = yield self.assertFailure(service.addTorrentFromURL(url, "downloads"), TorrentFetchError)
        self.assertEqual(failure.kind, "address")
        self.assertEqual(service.session.torrents, {})

    @inlineCallbacks
    def test_alreadyAdded(self) -> Any:
        """
        A torrent already added fails with L{UsageError}.
        """
        url = self.server.add("good.torrent", torrentBytes(self))
        yield self.service.addTorrentFromURL(url, "downloads")
        yield self.assertFailure(self.service.addTorrentFromURL(url, "downloads"), UsageError)

    @inlineCallbacks
    def test_fetchError(self) -> Any:
        """
        An address that gives no torrent fails with L{TorrentFetchError};
        nothing is added.
        """
        url = self.server.base + "/page.html"
        yield self.assertFailure(self.service.addTorrentFromURL(url, "downloads"), TorrentFetchError)
        self.assertEqual(self.service.session.torrents, {})
