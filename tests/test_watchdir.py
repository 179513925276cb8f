# -*- test-case-name: tests.test_watchdir -*-
"""
Tests for L{bittwist.watchdir}, on a L{Clock}, with real files.
"""

import os
from typing import Any

from twisted.application.service import IService
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from bittwist.errors import UsageError
from bittwist.metainfo import Metainfo, parse
from bittwist.service import BitTorrentService
from bittwist.watchdir import WatchFolder
from tests.fakes import MemoryStorageFactory
from tests.test_service import makeTorrentBytes


class FakeTorrent:
    def __init__(self, metainfo: Metainfo) -> None:
        self.metainfo = metainfo


class RecordingService:
    """
    Adds torrents as L{BitTorrentService.addTorrent} does, remembering
    what was added.

    @ivar added: C{(downloadDir, name)} of each torrent added.
    """

    def __init__(self) -> None:
        self.added: list[tuple[str, str]] = []

    def addTorrent(self, data: bytes, downloadDir: str) -> FakeTorrent:
        metainfo = parse(data)
        if any(name == metainfo.name for _, name in self.added):
            raise UsageError(f"{metainfo.name}: this torrent is already added")
        self.added.append((downloadDir, metainfo.name))
        return FakeTorrent(metainfo)


class WatchFolderTests(SynchronousTestCase):
    """
    Tests for L{WatchFolder}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.downloads = os.path.abspath(self.mktemp())
        self.service = RecordingService()
        self.watch = WatchFolder(
            self.folder, self.service, self.downloads, self.clock, interval=3.0, maxPerPoll=2
        )
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def start(self) -> None:
        self.watch.startService()
        self.addCleanup(self.watch.stopService)

    def drop(self, name: str, data: bytes) -> str:
        path = os.path.join(self.folder, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def listing(self) -> list[str]:
        return sorted(os.listdir(self.folder))

    def test_interface(self) -> None:
        """
        A L{WatchFolder} is an L{IService}.
        """
        self.assertTrue(verifyObject(IService, self.watch))

    def test_addedAfterTwoPollsThenRenamed(self) -> None:
        """
        A C{.torrent} dropped in the folder is added, into the download
        folder given, once two polls saw it unchanged; it is then renamed
        C{X.torrent.added}.
        """
        self.start()
        self.drop("one.torrent", makeTorrentBytes(self, "one.bin"))
        self.clock.advance(3)
        self.assertEqual(self.service.added, [])
        self.clock.advance(3)
        self.assertEqual(self.service.added, [(self.downloads, "one.bin")])
        self.assertEqual(self.listing(), ["one.torrent.added"])
        self.clock.advance(30)
        self.assertEqual(len(self.service.added), 1)
        [event] = [e for e in self.events if "Added" in formatEvent(e)]
        self.assertIn(self.downloads, formatEvent(event))

    def test_presentAtStart(self) -> None:
        """
        Files already there are looked at when the service starts, and
        added at the next poll.
        """
        self.drop("one.torrent", makeTorrentBytes(self, "one.bin"))
        self.start()
        self.assertEqual(self.service.added, [])
        self.clock.advance(3)
        self.assertEqual([name for _, name in self.service.added], ["one.bin"])

    def test_stillBeingWritten(self) -> None:
        """
        A file whose size changes between polls is left alone until it
        stays the same.
        """
        self.start()
        data = makeTorrentBytes(self, "one.bin")
        path = self.drop("one.torrent", data[:100])
        self.clock.advance(3)
        with open(path, "ab") as f:
            f.write(data[100:200])
        self.clock.advance(3)
        self.assertEqual(self.service.added, [])
        self.assertEqual(self.listing(), ["one.torrent"])
        self.drop("one.torrent", data)
        self.clock.advance(3)
        self.assertEqual(self.service.added, [])
        self.clock.advance(3)
        self.assertEqual(len(self.service.added), 1)

    def test_invalid(self) -> None:
        """
        A file that is not a torrent is renamed C{X.torrent.invalid}, with
        the reason logged as an error, and not tried again.
        """
        self.start()
        self.drop("broken.torrent", b"not a torrent")
        self.clock.pump([3, 3, 3, 3])
        self.assertEqual(self.service.added, [])
        self.assertEqual(self.listing(), ["broken.torrent.invalid"])
        errors = [e for e in self.events if e["log_level"] is LogLevel.error]
        self.assertEqual(len(errors), 1)
        text = formatEvent(errors[0])
        self.assertIn(os.path.join(self.folder, "broken.torrent"), text)
        self.assertIn("broken.torrent.invalid", text)

    def test_alreadyAdded(self) -> None:
        """
        A torrent already added is renamed C{.added} too, and said so.
        """
        self.start()
        data = makeTorrentBytes(self, "one.bin")
        self.drop("one.torrent", data)
        self.drop("again.torrent", data)
        self.clock.pump([3, 3])
        self.assertEqual(len(self.service.added), 1)
        self.assertEqual(self.listing(), ["again.torrent.added", "one.torrent.added"])
        self.assertTrue(any("already added" in formatEvent(e) for e in self.events))

    def test_boundedPerPoll(self) -> None:
        """
        One poll adds at most C{maxPerPoll} torrents; the rest come at the
        next polls.
        """
        self.start()
        for i in range(5):
            self.drop(f"t{i}.torrent", makeTorrentBytes(self, f"t{i}.bin"))
        self.clock.advance(3)
        self.clock.advance(3)
        self.assertEqual(len(self.service.added), 2)
        self.clock.advance(3)
        self.assertEqual(len(self.service.added), 4)
        self.clock.advance(3)
        self.assertEqual(len(self.service.added), 5)
        self.assertEqual(self.listing(), [f"t{i}.torrent.added" for i in range(5)])

    def test_othersIgnored(self) -> None:
        """
        Files not named C{.torrent}, the renamed ones, and folders are left
        alone; the suffix is matched in any case.
        """
        self.start()
        self.drop("notes.txt", b"hello")
        self.drop("old.torrent.added", b"x")
        os.makedirs(os.path.join(self.folder, "dir.torrent"))
        self.drop("UPPER.TORRENT", makeTorrentBytes(self, "upper.bin"))
        self.clock.pump([3, 3, 3])
        self.assertEqual([name for _, name in self.service.added], ["upper.bin"])
        self.assertEqual(
            self.listing(), ["UPPER.TORRENT.added", "dir.torrent", "notes.txt", "old.torrent.added"]
        )

    def test_folderGone(self) -> None:
        """
        A folder that cannot be read is logged once, not at every poll;
        polling goes on and picks up once it is back.
        """
        os.rmdir(self.folder)
        self.start()
        self.clock.pump([3, 3, 3])
        errors = [e for e in self.events if e["log_level"] is LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertIn(self.folder, formatEvent(errors[0]))
        os.makedirs(self.folder)
        self.drop("one.torrent", makeTorrentBytes(self, "one.bin"))
        self.clock.pump([3, 3])
        self.assertEqual(len(self.service.added), 1)

    def test_cannotRename(self) -> None:
        """
        A file that cannot be renamed is logged and left alone, not added
        again at each poll.
        """
        self.start()
        self.drop("one.torrent", makeTorrentBytes(self, "one.bin"))
        self.patch(os, "replace", self.failReplace)
        self.clock.pump([3] * 10)
        self.assertEqual(len(self.service.added), 1)
        errors = [e for e in self.events if e["log_level"] is LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertIn("Cannot rename", formatEvent(errors[0]))

    def failReplace(self, source: str, target: str) -> None:
        raise PermissionError(13, "Permission denied")

    def test_stop(self) -> None:
        """
        Once stopped, the folder is no longer polled and no call is left
        pending.
        """
        self.start()
        self.watch.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.drop("one.torrent", makeTorrentBytes(self, "one.bin"))
        self.clock.pump([3, 3])
        self.assertEqual(self.service.added, [])


@implementer(IReactorThreads)
class HandRunThreadsClock(Clock):
    """
    A clock whose thread pool runs its jobs when the test says.

    @ivar jobs: the jobs waiting, as C{(onResult, f, args)}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[tuple[Any, Any, tuple[Any, ...]]] = []

    def getThreadPool(self) -> "HandRunThreadsClock":
        return self

    def callInThreadWithCallback(self, onResult: Any, f: Any, *args: Any) -> None:
        self.jobs.append((onResult, f, args))

    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)

    def runJob(self) -> None:
        onResult, f, args = self.jobs.pop(0)
        try:
            result = f(*args)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)


class OffThreadTests(SynchronousTestCase):
    """
    L{WatchFolder} touches the disk only in the reactor's thread pool.
    """

    def test_ioInThreadPool(self) -> None:
        """
        Listing the folder, reading a file and renaming it are each a job of
        the thread pool: none happens until the pool runs it, and the next
        poll waits for them.
        """
        clock = HandRunThreadsClock()
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        service = RecordingService()
        watch = WatchFolder(folder, service, "downloads", clock, interval=3.0)
        watch.startService()
        self.addCleanup(watch.stopService)
        with open(os.path.join(folder, "one.torrent"), "wb") as f:
            f.write(makeTorrentBytes(self, "one.bin"))
        clock.runJob()  # the listing at start
        clock.advance(3)
        self.assertEqual(len(clock.jobs), 1)
        clock.runJob()  # the listing: the file is stable; it is to be read
        self.assertEqual(service.added, [])
        clock.advance(3)
        self.assertEqual(len(clock.jobs), 1, "a poll started before the last one ended")
        clock.runJob()  # the reading; the torrent is added at once
        self.assertEqual([name for _, name in service.added], ["one.bin"])
        self.assertEqual(os.listdir(folder), ["one.torrent"])
        clock.runJob()  # the renaming
        self.assertEqual(os.listdir(folder), ["one.torrent.added"])
        self.assertEqual(clock.jobs, [])


class WithServiceTests(SynchronousTestCase):
    """
    L{WatchFolder} adding to a real L{BitTorrentService}.
    """

    def test_addsToService(self) -> None:
        """
        The torrent dropped is in the service's session, its files going
        in the download folder given.
        """
        clock = MemoryReactorClock()
        service = BitTorrentService(
            "tcp:6881", reactor=clock, httpClient=object(),
            storageFactory=MemoryStorageFactory(), progressInterval=None,
        )
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        downloads = os.path.abspath(self.mktemp())
        data = makeTorrentBytes(self, "one.bin")
        with open(os.path.join(folder, "one.torrent"), "wb") as f:
            f.write(data)
        watch = WatchFolder(folder, service, downloads, clock)
        watch.setServiceParent(service)
        watch.startService()
        self.addCleanup(watch.stopService)
        clock.advance(3)
        [torrent] = service.session.torrents.values()
        self.assertEqual(torrent.infoHash, parse(data).infoHash)
        self.assertEqual(service.session.torrents, {torrent.infoHash: torrent})
        self.assertEqual(os.listdir(folder), ["one.torrent.added"])
