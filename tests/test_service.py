# -*- test-case-name: tests.test_service -*-
"""
Tests for L{bittwist.service}.
"""

import json
import os
import shutil

from twisted.application.service import IService, MultiService, Service
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.internet.testing import EventLoggingObserver
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist import events
from bittwist import service as serviceModule
from bittwist.errors import ListenError, MetainfoError, StateFolderLocked, UsageError
from bittwist.metainfo import createTorrent, parse
from bittwist.config import SessionConfig
from bittwist.service import BitTorrentService
from tests.fakes import MemoryStorageFactory


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
        self.storageFactory = MemoryStorageFactory()

    def makeService(self, endpoint: object = "tcp:6881", **kwargs: object) -> BitTorrentService:
        kwargs.setdefault("progressInterval", None)
        return BitTorrentService(
            endpoint, reactor=self.clock, httpClient=object(), storageFactory=self.storageFactory, **kwargs
        )

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
        self.assertTrue(self.storageFactory.made[0][0]._closed)

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
        When the endpoint cannot listen, the error is logged, C{whenListening}
        fails with L{ListenError} saying what to do, and no torrent starts
        (it would announce port 0).
        """
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        service = self.makeService(RefusingEndpoint())
        torrent = service.addTorrent(makeTorrentBytes(self), "downloads", announce=False)
        service.startService()
        self.assertEqual(torrent.state, "stopped")
        error = self.failureResultOf(service.whenListening(), ListenError).value
        self.assertIn("address in use", str(error))
        self.assertIn("--port", str(error))
        errors = [e for e in observer if e["log_level"] == LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertIn("address in use", errors[0]["error"])

    def test_whenListening(self) -> None:
        """
        C{whenListening} fires with the port number once listening, whether
        asked before or after.
        """
        service = self.makeService("6999")
        before = service.whenListening()
        self.assertNoResult(before)
        service.startService()
        self.assertEqual(self.successResultOf(before), 6999)
        self.assertEqual(self.successResultOf(service.whenListening()), 6999)
        self.assertEqual(self.clock.tcpServers[0][0], 6999)

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
        self.endpoint = SlowEndpoint()
        self.service = BitTorrentService(
            self.endpoint, reactor=self.clock, httpClient=object(), progressInterval=None,
            storageFactory=MemoryStorageFactory(),
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


class StateFolderTests(SynchronousTestCase):
    """
    L{BitTorrentService} with a state folder, on a L{MemoryReactorClock}
    (no threads: state is written at once), torrents in memory.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.stateDir = os.path.abspath(self.mktemp())
        self.data = makeTorrentBytes(self)
        self.infoHash = parse(self.data).infoHash

    def makeService(self) -> BitTorrentService:
        return BitTorrentService(
            "tcp:6881", reactor=self.clock, httpClient=object(), progressInterval=None,
            stateDir=self.stateDir, storageFactory=MemoryStorageFactory(),
        )

    def saved(self) -> dict:
        with open(os.path.join(self.stateDir, self.infoHash.hex() + ".json")) as f:
            return json.load(f)

    def verifyPiece(self, torrent: object, index: int) -> None:
        """
        Make C{torrent} verify piece C{index}, as a download would.
        """
        torrent.download.picker.pieceVerified(index)
        torrent.observers.emit(events.PieceVerified(torrent, index))

    def test_addWrites(self) -> None:
        """
        Adding a torrent writes its exact bytes and its record.
        """
        service = self.makeService()
        service.addTorrent(self.data, "downloads", peers=[("10.0.0.1", 1)], announce=False)
        with open(os.path.join(self.stateDir, self.infoHash.hex() + ".torrent"), "rb") as f:
            self.assertEqual(f.read(), self.data)
        saved = self.saved()
        self.assertEqual(
            (saved["downloadDir"], saved["paused"], saved["peers"], saved["announce"]),
            (os.path.abspath("downloads"), False, [["10.0.0.1", 1]], False),
        )

    def test_restart(self) -> None:
        """
        A new service on the folder adds the torrent again on start, trusting
        the pieces verified when the first one stopped.
        """
        self.writeData("downloads")
        service = self.makeService()
        torrent = service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        self.verifyPiece(torrent, 1)
        self.successResultOf(service.stopService())
        again = self.makeService()
        self.assertEqual(again.session.torrents, {})
        again.startService()
        [resumed] = again.session.torrents.values()
        self.assertEqual(resumed.state, "downloading")
        self.assertEqual(list(resumed.pieces()), [1])

    def writeData(self, folder: str) -> None:
        """
        Put the torrent's file in C{folder}, as a download would have.
        """
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "payload.bin"), "wb") as f:
            f.write(b"x" * parse(self.data).totalLength)

    def test_dataMissing(self) -> None:
        """
        A remembered torrent whose download folder is gone waits in error,
        saying where its data was and what to do, instead of downloading
        again into a new folder; resuming it checks the data again.
        """
        self.writeData("downloads")
        service = self.makeService()
        torrent = service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        self.verifyPiece(torrent, 1)
        self.successResultOf(service.stopService())
        shutil.rmtree("downloads")
        again = self.makeService()
        again.startService()
        [resumed] = again.session.torrents.values()
        self.assertEqual(resumed.state, "error")
        self.assertIn(os.path.abspath("downloads"), resumed.status().error)
        self.assertIn("restore it or remove the torrent", resumed.status().error)
        self.assertFalse(os.path.exists("downloads"))
        again.resumeTorrent(resumed.infoHash)
        self.assertEqual(resumed.state, "downloading")
        self.successResultOf(again.stopService())

    def test_secondServiceRefused(self) -> None:
        """
        A second service on a state folder in use fails to start with
        L{StateFolderLocked}, naming the folder.
        """
        first = self.makeService()
        first.startService()
        second = self.makeService()
        error = self.assertRaises(StateFolderLocked, second.startService)
        self.assertIn(self.stateDir, str(error))
        self.successResultOf(first.stopService())

    def test_periodicSave(self) -> None:
        """
        Pieces verified are saved every L{service.SAVE_INTERVAL} seconds.
        """
        service = self.makeService()
        torrent = service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        self.verifyPiece(torrent, 0)
        self.assertEqual(self.saved()["resume"], None)
        self.clock.advance(serviceModule.SAVE_INTERVAL)
        self.assertIsNotNone(self.saved()["resume"])
        self.assertEqual(self.saved()["resume"]["pieces"], "gA==")

    def test_pauseRemembered(self) -> None:
        """
        A torrent paused through the service stays paused in a new service;
        resumed, it downloads again there.
        """
        service = self.makeService()
        service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        self.successResultOf(service.pauseTorrent(self.infoHash))
        self.assertTrue(self.saved()["paused"])
        self.successResultOf(service.stopService())
        again = self.makeService()
        again.startService()
        torrent = again.session.torrents[self.infoHash]
        self.assertEqual(torrent.state, "paused")
        again.resumeTorrent(self.infoHash)
        self.assertEqual(torrent.state, "downloading")
        self.assertFalse(self.saved()["paused"])

    def test_optionsRemembered(self) -> None:
        """
        A torrent's own settings (in order, max peers, seed goals) apply at
        once and stay in a new service; a refused value changes nothing.
        """
        service = self.makeService()
        torrent = service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        service.setSequential(self.infoHash, True)
        service.setTorrentOptions(
            self.infoHash, maxPeers=7, seedRatio=2.5, seedTime=None, maxDownloadRate=50_000
        )
        self.assertEqual(
            (torrent.config.maxPeers, torrent.upload.seedRatio, torrent.download.picker.order.sequential),
            (7, 2.5, True),
        )
        self.assertEqual(torrent.ownDownloadLimit.rate, 50_000)
        self.assertRaises(UsageError, service.setTorrentOptions, self.infoHash, maxPeers=0)
        self.assertRaises(UsageError, service.setTorrentOptions, self.infoHash, uploadSlots=9)
        self.assertEqual(torrent.config.maxPeers, 7)
        self.assertEqual(
            self.saved()["options"],
            {"sequential": True, "maxPeers": 7, "seedRatio": 2.5, "seedTime": None, "maxDownloadRate": 50_000},
        )
        self.successResultOf(service.stopService())
        again = self.makeService()
        again.startService()
        torrent = again.session.torrents[self.infoHash]
        self.assertTrue(torrent.status().sequential)
        self.assertTrue(torrent.download.picker.order.sequential)
        self.assertEqual((torrent.config.maxPeers, torrent.config.seedRatio), (7, 2.5))
        self.assertEqual(torrent.ownDownloadLimit.rate, 50_000)

    def test_filePrioritiesRemembered(self) -> None:
        """
        File priorities set through the service apply at once and stay in a
        new service; a wrong count is refused and changes nothing.
        """
        service = self.makeService()
        torrent = service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        service.setFilePriorities(self.infoHash, [0])
        self.assertEqual(torrent.state, "seeding")
        self.assertRaises(UsageError, service.setFilePriorities, self.infoHash, [1, 1])
        self.assertEqual(self.saved()["options"], {"filePriorities": [0]})
        self.successResultOf(service.stopService())
        again = self.makeService()
        again.startService()
        torrent = again.session.torrents[self.infoHash]
        self.assertEqual([f.priority for f in torrent.fileStatuses()], [0])
        self.assertEqual(torrent.state, "seeding")

    def test_rateLimitsRemembered(self) -> None:
        """
        Rate limits set while running apply at once and in a new service,
        unless that one is given its own limit.
        """
        service = self.makeService()
        service.startService()
        service.setRateLimits(maxDownloadRate=100_000)
        self.assertEqual(service.session.downloadLimit.rate, 100_000)
        self.assertRaises(UsageError, service.setRateLimits, maxUploadRate=-1)
        self.successResultOf(service.state.whenIdle())
        self.successResultOf(service.stopService())
        again = self.makeService()
        again.startService()
        self.assertEqual(
            (again.session.config.maxDownloadRate, again.session.downloadLimit.rate), (100_000, 100_000)
        )
        self.successResultOf(again.stopService())
        given = BitTorrentService(
            "tcp:6881", reactor=self.clock, httpClient=object(), progressInterval=None,
            stateDir=self.stateDir, storageFactory=MemoryStorageFactory(),
            config=SessionConfig(maxDownloadRate=5_000),
        )
        given.startService()
        self.addCleanup(given.stopService)
        self.assertEqual(given.session.downloadLimit.rate, 5_000)

    def test_directPauseRemembered(self) -> None:
        """
        L{Torrent.pause} called directly is remembered too.
        """
        service = self.makeService()
        torrent = service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        torrent.pause()
        self.assertTrue(self.saved()["paused"])

    def test_removeForgets(self) -> None:
        """
        A removed torrent's state files are deleted; unknown ones raise
        L{UsageError}.
        """
        service = self.makeService()
        service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        self.successResultOf(service.removeTorrent(self.infoHash))
        # Only the lock file stays (see StateFolder.open).
        self.assertEqual(os.listdir(self.stateDir), ["lock"])
        self.assertRaises(UsageError, service.removeTorrent, self.infoHash)
        self.assertRaises(UsageError, service.pauseTorrent, self.infoHash)

    def test_damagedSkipped(self) -> None:
        """
        A damaged state file is logged and its torrent skipped; the service
        starts with the others.
        """
        first = self.makeService()
        first.addTorrent(self.data, "downloads", announce=False)
        other = parse(makeTorrentBytes(self, "other.bin"))
        first.addTorrent(other, "downloads", announce=False)
        with open(os.path.join(self.stateDir, self.infoHash.hex() + ".json"), "w") as f:
            f.write("{")
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        service = self.makeService()
        service.startService()
        self.assertEqual(list(service.session.torrents), [other.infoHash])
        errors = [e for e in observer if e["log_level"] == LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertIn(self.infoHash.hex() + ".json", errors[0]["path"])

    def test_addedAgainKeepsState(self) -> None:
        """
        A torrent added again by the application before start (as a program
        adding its torrents at every run does) keeps its saved pieces and
        paused state.
        """
        service = self.makeService()
        torrent = service.addTorrent(self.data, "downloads", announce=False)
        service.startService()
        self.verifyPiece(torrent, 0)
        self.successResultOf(service.pauseTorrent(self.infoHash))
        self.successResultOf(service.stopService())
        again = self.makeService()
        torrent = again.addTorrent(self.data, "downloads", announce=False)
        again.startService()
        self.assertEqual(torrent.state, "paused")
        self.assertEqual(list(torrent.pieces()), [0])
