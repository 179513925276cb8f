# -*- test-case-name: tests.test_service -*-
"""
Tests for L{bittwist.service}.
"""

import os

from twisted.application.service import IService, MultiService, Service
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.internet.testing import EventLoggingObserver
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist import session as sessionModule
from bittwist.errors import MetainfoError
from bittwist.metainfo import Metainfo, createTorrent, parse
from bittwist.service import BitTorrentService
from bittwist.storage import MemoryStorage


def makeTorrentBytes(testCase: SynchronousTestCase, name: str = "payload.bin") -> bytes:
    """
    @return: the bytes of a two-piece torrent of a file in a temporary
        folder.
    """
    folder = os.path.abspath(testCase.mktemp())
    os.makedirs(folder)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(name.encode("ascii") * 2000)
    return createTorrent(path, pieceLength=16384)


class RefusingEndpoint:
    """
    A server endpoint that cannot listen.
    """

    def listen(self, factory: object) -> Deferred:
        return fail(CannotListenError("", 6881, OSError("address in use")))


class BitTorrentServiceTests(SynchronousTestCase):
    """
    Tests for L{BitTorrentService} on a L{MemoryReactorClock}, with torrents
    in memory.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.storages: list[MemoryStorage] = []

        def memoryStorage(metainfo: Metainfo, folder: str, reactor: object = None) -> MemoryStorage:
            storage = MemoryStorage(metainfo)
            self.storages.append(storage)
            return storage

        self.patch(sessionModule, "FileStorage", memoryStorage)

    def makeService(self, endpoint: object = "tcp:6881", **kwargs: object) -> BitTorrentService:
        kwargs.setdefault("progressInterval", None)
        return BitTorrentService(endpoint, reactor=self.clock, httpClient=object(), **kwargs)

    def test_interface(self) -> None:
        """
        L{BitTorrentService} provides L{IService}.
        """
        self.assertTrue(verifyObject(IService, self.makeService()))

    def test_startListensAndStartsTorrents(self) -> None:
        """
        C{startService} listens on the endpoint described and starts the
        torrents added before.
        """
        service = self.makeService("tcp:6999")
        torrent = service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        self.assertEqual(torrent.state, "stopped")
        self.assertEqual(self.clock.tcpServers, [])
        service.startService()
        self.assertTrue(service.running)
        self.assertEqual([s[0] for s in self.clock.tcpServers], [6999])
        self.assertEqual(torrent.state, "downloading")
        self.assertEqual(torrent.port, 6999)

    def test_addTorrentWhileRunning(self) -> None:
        """
        A torrent added to a running service starts at once.
        """
        service = self.makeService()
        service.startService()
        torrent = service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        self.assertEqual(torrent.state, "downloading")

    def test_addTorrentForms(self) -> None:
        """
        A torrent can be given parsed, as bytes, or as a path; a bad one
        raises L{MetainfoError}.
        """
        service = self.makeService()
        data = makeTorrentBytes(self, "one.bin")
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(makeTorrentBytes(self, "two.bin"))
        parsed = parse(makeTorrentBytes(self, "three.bin"))
        names = [service.addTorrent(t, "d").metainfo.name for t in (data, path, parsed)]
        self.assertEqual(names, ["one.bin", "two.bin", "three.bin"])
        self.assertRaises(MetainfoError, service.addTorrent, b"not a torrent", "d")
        self.assertRaises(MetainfoError, service.addTorrent, path + ".missing", "d")

    def test_stopStopsEverything(self) -> None:
        """
        C{stopService} returns a Deferred firing when every torrent is
        stopped and its storage closed.
        """
        service = self.makeService()
        torrent = service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        service.startService()
        d = service.stopService()
        self.assertIsInstance(d, Deferred)
        self.assertIsNone(self.successResultOf(d))
        self.assertFalse(service.running)
        self.assertEqual(torrent.state, "stopped")
        self.assertTrue(self.storages[0]._closed)

    def test_inMultiService(self) -> None:
        """
        In a L{MultiService} with another service, the service starts and
        stops with its parent, which waits for it.
        """
        parent = MultiService()
        service = self.makeService()
        service.setServiceParent(parent)
        other = Service()
        other.setServiceParent(parent)
        torrent = service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        parent.startService()
        self.assertTrue(service.running and other.running)
        self.assertEqual(torrent.state, "downloading")
        self.successResultOf(parent.stopService())
        self.assertFalse(service.running or other.running)
        self.assertEqual(torrent.state, "stopped")

    def test_cannotListen(self) -> None:
        """
        When the endpoint cannot listen, the error is logged and the torrents
        still start, for outgoing connections.
        """
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        service = self.makeService(RefusingEndpoint())
        torrent = service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        service.startService()
        self.assertEqual(torrent.state, "downloading")
        errors = [e for e in observer if e["log_level"] == LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertIn("address in use", errors[0]["error"])

    def test_progressLogged(self) -> None:
        """
        While running, a progress line per torrent is logged every
        C{progressInterval} seconds.
        """
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        service = self.makeService(progressInterval=5.0)
        torrent = service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        service.startService()

        def progress() -> list:
            return [e for e in observer if "status" in e and e.get("name") == torrent.metainfo.name]

        self.clock.advance(4)
        self.assertEqual(progress(), [])
        self.clock.advance(1)
        self.assertEqual(len(progress()), 1)
        self.assertEqual(progress()[0]["state"], "downloading")
        self.successResultOf(service.stopService())
        self.clock.advance(10)
        self.assertEqual(len(progress()), 1)


class FakePort:
    """
    A listening port, for L{SlowEndpoint}.
    """

    stopped = False

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "0.0.0.0", 6881)

    def stopListening(self) -> None:
        self.stopped = True


class SlowEndpoint:
    """
    A server endpoint whose C{listen} fires when the test says.
    """

    def __init__(self) -> None:
        self.listening: Deferred = Deferred()

    def listen(self, factory: object) -> Deferred:
        return self.listening


class SlowListenTests(SynchronousTestCase):
    """
    Torrents added while the service waits for its endpoint.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.patch(sessionModule, "FileStorage", lambda metainfo, folder, reactor=None: MemoryStorage(metainfo))
        self.endpoint = SlowEndpoint()
        self.service = BitTorrentService(
            self.endpoint, reactor=self.clock, httpClient=object(), progressInterval=None
        )

    def test_addedWhileListeningStartsOnce(self) -> None:
        """
        A torrent added after C{startService} but before the endpoint
        listens is started once, when it listens.
        """
        self.service.startService()
        torrent = self.service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        self.assertEqual(torrent.state, "stopped")
        self.endpoint.listening.callback(FakePort())
        self.assertEqual(torrent.state, "downloading")

    def test_stoppedBeforeListening(self) -> None:
        """
        A service stopped before its endpoint listens does not start its
        torrents when it does.
        """
        torrent = self.service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        self.service.startService()
        self.successResultOf(self.service.stopService())
        self.endpoint.listening.callback(FakePort())
        self.assertEqual(torrent.state, "stopped")
