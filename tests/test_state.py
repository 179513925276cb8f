# -*- test-case-name: tests.test_state -*-
"""
Tests for L{bittwist.state}: the state folder and fast resume decisions.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys

import bencodepy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from bittwist.bitfield import Bitfield
from bittwist.errors import BittwistError, StateFolderError, StateFolderLocked
from bittwist.metainfo import createTorrent, parse
from bittwist.state import (
    FileStamp,
    ResumeData,
    StateFolder,
    TorrentRecord,
    defaultStateDir,
    describeRecords,
    metainfoBytes,
    missingData,
    resumePlan,
    stampFiles,
)
from bittwist.state import folder as stateFolder
from bittwist.state.files import DamagedFile, temporaryFile
from bittwist.state.lock import LOCK_NAME
from bittwist.state.records import (
    STATE_SIZE_RATIO,
    STATE_SIZE_SLACK,
    decodeRecord,
    encodeRecord,
    stateSizeLimit,
)
from bittwist.state.resume import dataFiles
from bittwist.state.settings import MAX_SETTINGS_SIZE, SETTINGS_NAME

PIECE = 16384


def makeTree(testCase: SynchronousTestCase) -> tuple[str, bytes]:
    """
    Make a two-file torrent's payload (C{pay/a.bin}, 3 pieces and a bit;
    C{pay/b.bin}, 2 pieces) and the torrent.

    @return: the folder holding C{pay}, and the torrent's bytes.
    """
    root = os.path.abspath(testCase.mktemp())
    os.makedirs(os.path.join(root, "pay"))
    with open(os.path.join(root, "pay", "a.bin"), "wb") as f:
        f.write(b"a" * (3 * PIECE + 100))
    with open(os.path.join(root, "pay", "b.bin"), "wb") as f:
        f.write(b"b" * (2 * PIECE))
    return root, createTorrent(
        os.path.join(root, "pay"), pieceLength=PIECE, trackers=[["http://t.example/announce"]]
    )


def makeRecord(torrentData: bytes, downloadDir: str, **kwargs: object) -> TorrentRecord:
    return TorrentRecord(
        metainfo=parse(torrentData), torrentData=torrentData, downloadDir=downloadDir, **kwargs
    )


class DefaultStateDirTests(SynchronousTestCase):
    """
    L{defaultStateDir} follows the XDG base directory specification.
    """

    def test_xdgStateHome(self) -> None:
        """
        An absolute C{XDG_STATE_HOME} is used.
        """
        self.patch(os, "environ", {"XDG_STATE_HOME": "/var/x", "HOME": "/home/u"})
        self.assertEqual(defaultStateDir(), "/var/x/bittwist")

    def test_fallback(self) -> None:
        """
        Without C{XDG_STATE_HOME}, or with a relative one (which the
        specification says to ignore), C{~/.local/state} is used.
        """
        self.patch(os, "environ", {"HOME": "/home/u"})
        self.assertEqual(defaultStateDir(), "/home/u/.local/state/bittwist")
        self.patch(os, "environ", {"HOME": "/home/u", "XDG_STATE_HOME": "rel"})
        self.assertEqual(defaultStateDir(), "/home/u/.local/state/bittwist")


class MetainfoBytesTests(SynchronousTestCase):
    """
    L{metainfoBytes} rebuilds a torrent from a L{Metainfo}.
    """

    def test_sameTorrent(self) -> None:
        """
        The rebuilt torrent has the same info hash, trackers and comment.
        """
        root, data = makeTree(self)
        original = parse(createTorrent(
            os.path.join(root, "pay"), pieceLength=PIECE, comment="hi",
            trackers=[["http://a/announce", "http://b/announce"], ["http://c/announce"]],
        ))
        rebuilt = parse(metainfoBytes(original))
        self.assertEqual(rebuilt.infoHash, original.infoHash)
        self.assertEqual(rebuilt.announceTiers, original.announceTiers)
        self.assertEqual(rebuilt.comment, "hi")


class ResumePlanTests(SynchronousTestCase):
    """
    L{resumePlan} trusts saved pieces of unchanged files.
    """

    def setUp(self) -> None:
        self.root, data = makeTree(self)
        self.metainfo = parse(data)
        self.saved = Bitfield(self.metainfo.numPieces, [0, 1, 4])

    def resume(self) -> ResumeData:
        return ResumeData(self.saved, stampFiles(self.metainfo, self.root))

    def test_noResumeData(self) -> None:
        """
        Without resume data, everything is checked.
        """
        self.assertIsNone(resumePlan(self.metainfo, self.root, None))

    def test_unchanged(self) -> None:
        """
        Files as saved: the saved pieces are trusted and nothing is hashed.
        """
        self.assertEqual(resumePlan(self.metainfo, self.root, self.resume()), (self.saved, []))

    def test_changedFile(self) -> None:
        """
        A file whose time changed has every piece touching it hashed; the
        other file's pieces are trusted.
        """
        resume = self.resume()
        path = os.path.join(self.root, "pay", "b.bin")
        info = os.stat(path)
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1))
        # b.bin starts in piece 3 (a.bin is 3 pieces and 100 bytes).
        self.assertEqual(resumePlan(self.metainfo, self.root, resume), (self.saved, [3, 4, 5]))

    def test_missingFile(self) -> None:
        """
        A file deleted since has its pieces hashed (and found absent).
        """
        resume = self.resume()
        os.unlink(os.path.join(self.root, "pay", "a.bin"))
        self.assertEqual(resumePlan(self.metainfo, self.root, resume), (self.saved, [0, 1, 2, 3]))

    def test_otherFiles(self) -> None:
        """
        Resume data listing other files or another piece count is not used.
        """
        stamps = stampFiles(self.metainfo, self.root)
        other = ResumeData(self.saved, stamps[:1])
        self.assertIsNone(resumePlan(self.metainfo, self.root, other))
        short = ResumeData(Bitfield(2), stamps)
        self.assertIsNone(resumePlan(self.metainfo, self.root, short))


class ManualStateFolder(StateFolder):
    """
    A L{StateFolder} whose writes wait for the test to run them.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, Clock())
        self.jobs: list[tuple[object, Deferred]] = []

    def _run(self, job):
        d: Deferred = Deferred()
        self.jobs.append((job, d))
        return d

    def runOne(self) -> None:
        job, d = self.jobs.pop(0)
        d.callback(job())


class StateFolderTests(SynchronousTestCase):
    """
    Tests for L{StateFolder} on a reactor without threads (writes at once).
    """

    def setUp(self) -> None:
        self.root, self.data = makeTree(self)
        self.metainfo = parse(self.data)
        self.path = os.path.abspath(self.mktemp())
        self.folder = StateFolder(self.path, Clock())
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def errors(self) -> list[dict]:
        return [e for e in self.log if e["log_level"] in (LogLevel.error, LogLevel.critical)]

    def test_roundTrip(self) -> None:
        """
        A saved record reads back the same, its C{.torrent} byte for byte,
        and its resume data made of the pieces given and the files as they
        are; no temporary file is left.
        """
        record = makeRecord(
            self.data, self.root, paused=True, addedAt=12.5, peers=(("127.0.0.1", 6881),),
            announce=False, options={"sequential": True, "seedRatio": 1.5},
        )
        pieces = Bitfield(self.metainfo.numPieces, [1, 2])
        resume = self.successResultOf(self.folder.save(record, pieces))
        self.assertEqual(resume, ResumeData(pieces, stampFiles(self.metainfo, self.root)))
        hexHash = self.metainfo.infoHash.hex()
        self.assertEqual(sorted(os.listdir(self.path)), [hexHash + ".json", hexHash + ".torrent"])
        with open(os.path.join(self.path, hexHash + ".torrent"), "rb") as f:
            self.assertEqual(f.read(), self.data)
        loaded = self.folder.read(self.metainfo.infoHash)
        self.assertEqual(
            (loaded.downloadDir, loaded.paused, loaded.addedAt, loaded.peers, loaded.announce,
             loaded.options),
            (self.root, True, 12.5, (("127.0.0.1", 6881),), False, {"sequential": True, "seedRatio": 1.5}),
        )
        self.assertEqual(loaded.resume, resume)
        self.assertEqual(loaded.torrentData, self.data)
        self.assertEqual([r.infoHash for r in self.folder.records()], [self.metainfo.infoHash])

    def test_saveKeepsResume(self) -> None:
        """
        Saved without pieces, a record keeps the resume data it holds.
        """
        resume = ResumeData(Bitfield(self.metainfo.numPieces, [0]), ())
        record = makeRecord(self.data, self.root, resume=resume)
        self.assertEqual(self.successResultOf(self.folder.save(record)), resume)
        self.assertEqual(self.folder.read(self.metainfo.infoHash).resume, resume)

    def test_remove(self) -> None:
        """
        L{StateFolder.remove} deletes both files of the torrent.
        """
        self.successResultOf(self.folder.save(makeRecord(self.data, self.root)))
        self.successResultOf(self.folder.remove(self.metainfo.infoHash))
        self.assertEqual(os.listdir(self.path), [])
        self.assertEqual(self.folder.records(), [])

    def test_missingFolder(self) -> None:
        """
        A folder that does not exist yet holds no records.
        """
        self.assertEqual(self.folder.records(), [])
        self.assertIsNone(self.folder.read(self.metainfo.infoHash))

    def damage(self, change) -> str:
        """
        Save a record, then change its C{.json} document with C{change}.

        @return: the path of the C{.json}.
        """
        self.successResultOf(self.folder.save(
            makeRecord(self.data, self.root), Bitfield(self.metainfo.numPieces, [0])
        ))
        path = os.path.join(self.path, self.metainfo.infoHash.hex() + ".json")
        with open(path) as f:
            document = json.load(f)
        with open(path, "w") as f:
            f.write(change(document))
        return path

    def assertSkipped(self, path: str, reason: str) -> None:
        """
        The damaged record is skipped with one error naming its file and
        saying why; the download folder is untouched.
        """
        self.assertEqual(self.folder.records(), [])
        [error] = self.errors()
        self.assertEqual(error["path"], path)
        self.assertIn(reason, error["reason"])
        self.assertTrue(os.path.exists(os.path.join(self.root, "pay", "a.bin")))

    def test_notJson(self) -> None:
        """
        A C{.json} that is not JSON is skipped and logged.
        """
        path = self.damage(lambda d: json.dumps(d)[:-5])
        self.assertSkipped(path, "not JSON")

    def test_badPieces(self) -> None:
        """
        Resume pieces of the wrong size are damage.
        """
        def change(document: dict) -> str:
            document["resume"]["pieces"] = "AAAAAAAA"
            return json.dumps(document)

        self.assertSkipped(self.damage(change), "resume.pieces")

    def test_wrongTypes(self) -> None:
        """
        A field of the wrong type is damage.
        """
        def change(document: dict) -> str:
            document["paused"] = "yes"
            return json.dumps(document)

        self.assertSkipped(self.damage(change), "paused")

    def test_badOptions(self) -> None:
        """
        An unknown option, or one of the wrong type, is damage.
        """
        def change(document: dict) -> str:
            document["options"] = {"maxPeers": "lots"}
            return json.dumps(document)

        self.assertSkipped(self.damage(change), "maxPeers")

    def test_badFilePriorities(self) -> None:
        """
        File priorities other than 0, 1 and 2 are damage.
        """
        def change(document: dict) -> str:
            document["options"] = {"filePriorities": [1, 5]}
            return json.dumps(document)

        self.assertSkipped(self.damage(change), "file priorities")

    def test_missingTorrent(self) -> None:
        """
        A C{.json} without its C{.torrent} is damage.
        """
        path = self.damage(json.dumps)
        os.unlink(path[: -len(".json")] + ".torrent")
        self.assertSkipped(path, "cannot be read")

    def test_otherTorrent(self) -> None:
        """
        A C{.torrent} of another torrent is damage.
        """
        path = self.damage(json.dumps)
        with open(path[: -len(".json")] + ".torrent", "wb") as f:
            f.write(createTorrent(os.path.join(self.root, "pay", "b.bin"), pieceLength=PIECE))
        self.assertSkipped(path, "info hash")

    def test_deepPathTorrent(self) -> None:
        """
        A remembered C{.torrent} beyond the metainfo limits (a file path of
        40,000 components) is damage, skipped with the limit named, not
        parsed at length at every start.
        """
        path = self.damage(json.dumps)
        with open(path[: -len(".json")] + ".torrent", "wb") as f:
            f.write(bencodepy.encode({b"info": {
                b"files": [{b"length": 1, b"path": [b"a"] * 40000}],
                b"name": b"deep", b"piece length": 16384, b"pieces": b"x" * 20,
            }}))
        self.assertSkipped(path, "over the limit of 256")

    def test_damagedDoesNotHideOthers(self) -> None:
        """
        A damaged record does not keep the others from loading.
        """
        self.damage(lambda d: "{")
        otherRoot, otherData = makeTree(self)
        other = parse(createTorrent(os.path.join(otherRoot, "pay", "a.bin"), pieceLength=PIECE))
        self.successResultOf(self.folder.save(makeRecord(metainfoBytes(other), otherRoot)))
        self.assertEqual([r.infoHash for r in self.folder.records()], [other.infoHash])
        self.assertEqual(len(self.errors()), 1)

    def test_writeFailureLogged(self) -> None:
        """
        A state folder that cannot be written logs the error and the save
        fires all the same, with C{None}.
        """
        with open(self.path, "w") as f:
            f.write("a file in the way")
        result = self.successResultOf(self.folder.save(makeRecord(self.data, self.root)))
        self.assertIsNone(result)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300))
    def test_anyBytes(self, data: bytes) -> None:
        """
        Any bytes as a C{.json}: a record or L{DamagedFile}, nothing else.
        """
        try:
            decodeRecord(data, self.metainfo, self.data)
        except DamagedFile:
            pass

    @settings(max_examples=200, deadline=None)
    @given(
        st.dictionaries(
            st.sampled_from(
                ["version", "infoHash", "downloadDir", "paused", "addedAt", "peers",
                 "announce", "resume"]
            ),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                lambda inner: st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(["pieces", "files", "path", "size", "mtimeNs"]), inner, max_size=3),
                max_leaves=10,
            ),
        )
    )
    def test_anyFields(self, changes: dict) -> None:
        """
        A valid document with any fields changed to any JSON values: a
        record or L{DamagedFile}, nothing else.
        """
        document = {
            "version": 1, "infoHash": self.metainfo.infoHash.hex(), "downloadDir": "/x",
            "paused": False, "addedAt": 0, "peers": [], "announce": True, "resume": None,
        }
        document.update(changes)
        try:
            decodeRecord(json.dumps(document).encode(), self.metainfo, self.data)
        except DamagedFile:
            pass


class QueueTests(SynchronousTestCase):
    """
    Writes run one at a time, in order; a write waiting for a torrent that
    gets another is replaced by it.
    """

    def test_replacedWhileWaiting(self) -> None:
        """
        A save and then a remove queued behind a running write run as one
        job: the remove; every caller hears when it is done.
        """
        root, data = makeTree(self)
        folder = ManualStateFolder(os.path.abspath(self.mktemp()))
        record = makeRecord(data, root)
        first = folder.save(record)
        second = folder.save(record)
        removed = folder.remove(record.infoHash)
        idle = folder.whenIdle()
        self.assertEqual(len(folder.jobs), 1)
        folder.runOne()
        self.successResultOf(first)
        self.assertNoResult(second)
        self.assertEqual(len(folder.jobs), 1)
        folder.runOne()
        self.successResultOf(second)
        self.successResultOf(removed)
        self.successResultOf(idle)
        self.assertEqual(os.listdir(folder.path), [])


def temporaryFor(path: str) -> str:
    """
    Leave behind a temporary file as an interrupted write of C{path} would.

    @return: its path.
    """
    fd, temporary = temporaryFile(path)
    os.write(fd, b"half")
    os.close(fd)
    return temporary


def readLock(folder: str) -> bytes:
    with open(os.path.join(folder, LOCK_NAME), "rb") as f:
        return f.read()


class LockTests(SynchronousTestCase):
    """
    L{StateFolder.open} gives the folder to one L{StateFolder} at a time,
    in this process or any other, until L{StateFolder.close} or the end of
    the process.
    """

    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())

    def openFolder(self) -> StateFolder:
        folder = StateFolder(self.path, Clock())
        self.assertEqual(self.successResultOf(folder.open()), 0)
        self.addCleanup(folder.close)
        return folder

    def test_openCreatesPrivateFolder(self) -> None:
        """
        C{open} creates the folder, readable by this user only, and a lock
        file holding this process's pid.
        """
        folder = StateFolder(self.path, Clock())
        self.assertFalse(os.path.exists(self.path))
        self.assertFalse(folder.isOpen)
        self.successResultOf(folder.open())
        self.addCleanup(folder.close)
        self.assertTrue(folder.isOpen)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o700)
        self.assertEqual(readLock(self.path), b"%d\n" % os.getpid())

    def test_secondFolderLocked(self) -> None:
        """
        A second L{StateFolder} on the same folder in this process cannot
        open it: L{StateFolderLocked} names the folder, the owner's pid and
        what to do.
        """
        self.openFolder()
        other = StateFolder(self.path, Clock())
        error = self.assertRaises(StateFolderLocked, other.open)
        self.assertIsInstance(error, StateFolderError)
        self.assertIsInstance(error, BittwistError)
        self.assertEqual((error.path, error.pid), (self.path, os.getpid()))
        self.assertEqual(
            str(error),
            f"state folder {self.path} is in use by another bittwist "
            f"(pid {os.getpid()}); stop it or choose another --state-dir",
        )
        self.assertFalse(other.isOpen)

    def test_pidUnknown(self) -> None:
        """
        A lock file not holding a pid gives a message without one.
        """
        folder = self.openFolder()
        self.assertTrue(folder.isOpen)
        os.truncate(os.path.join(self.path, LOCK_NAME), 0)
        error = self.assertRaises(StateFolderLocked, StateFolder(self.path, Clock()).open)
        self.assertIsNone(error.pid)
        self.assertIn("(pid unknown)", str(error))

    def test_closeReleases(self) -> None:
        """
        After C{close}, another L{StateFolder} opens the folder; the lock
        file stays, emptied of the pid.
        """
        folder = StateFolder(self.path, Clock())
        self.successResultOf(folder.open())
        folder.close()
        self.assertFalse(folder.isOpen)
        self.assertEqual(readLock(self.path), b"")
        folder.close()
        self.openFolder()

    def test_openAgain(self) -> None:
        """
        C{open} on an open folder writes the pid again (a daemon that forked
        since has a new one) and removes nothing.
        """
        folder = self.openFolder()
        self.patch(os, "getpid", lambda: 4242)
        self.assertEqual(self.successResultOf(folder.open()), 0)
        self.assertEqual(readLock(self.path), b"4242\n")

    def test_otherProcess(self) -> None:
        """
        A folder open in another process cannot be opened, the error naming
        that process; once it is killed (no chance to clean up), the folder
        opens.
        """
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        child = subprocess.Popen(
            [
                sys.executable, "-c",
                "import sys\n"
                "from bittwist.state import StateFolder\n"
                "StateFolder(sys.argv[1], None).open()\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n",
                self.path,
            ],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )

        def reap() -> None:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdin.close()
            child.stdout.close()

        self.addCleanup(reap)
        self.assertEqual(child.stdout.readline(), b"locked\n")
        folder = StateFolder(self.path, Clock())
        error = self.assertRaises(StateFolderLocked, folder.open)
        self.assertEqual(error.pid, child.pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        self.assertEqual(readLock(self.path), b"%d\n" % child.pid)
        self.successResultOf(folder.open())
        folder.close()

    def test_folderIsAFile(self) -> None:
        """
        A file where the folder should be is a L{StateFolderError} naming it.
        """
        with open(self.path, "w") as f:
            f.write("in the way")
        error = self.assertRaises(StateFolderError, StateFolder(self.path, Clock()).open)
        self.assertEqual(error.path, self.path)
        self.assertIn("--state-dir", str(error))

    def test_lockIsASymlink(self) -> None:
        """
        A symbolic link in place of the lock file is not followed.
        """
        os.makedirs(self.path)
        target = os.path.abspath(self.mktemp())
        with open(target, "w") as f:
            f.write("precious")
        os.symlink(target, os.path.join(self.path, LOCK_NAME))
        self.assertRaises(StateFolderError, StateFolder(self.path, Clock()).open)
        with open(target) as f:
            self.assertEqual(f.read(), "precious")


class CleanupTests(SynchronousTestCase):
    """
    C{open} removes the temporary files interrupted writes left, and only
    those.
    """

    def setUp(self) -> None:
        self.root, self.data = makeTree(self)
        self.path = os.path.abspath(self.mktemp())
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def test_staleRemoved(self) -> None:
        """
        Temporary files of both a C{.json} and a C{.torrent} are removed and
        counted in the log; records, the lock and other files, even with
        similar names, stay.
        """
        writer = StateFolder(self.path, Clock())
        record = makeRecord(self.data, self.root)
        self.successResultOf(writer.save(record))
        base = os.path.join(self.path, record.infoHash.hex())
        stale = [temporaryFor(base + ".json"), temporaryFor(base + ".torrent")]
        kept = [
            ".x.json12345678.tmp", base + ".json.tmp", "notes.tmp",
            os.path.basename(stale[0]).upper(), os.path.basename(stale[0])[:-4],
        ]
        for name in kept:
            with open(os.path.join(self.path, name), "w") as f:
                f.write("mine")
        # A folder or link with such a name is not one of ours.
        os.mkdir(base + ".jsonaaaaaaaa.tmp")
        os.symlink(self.root, base + ".jsonbbbbbbbb.tmp")
        folder = StateFolder(self.path, Clock())
        self.assertEqual(self.successResultOf(folder.open()), 2)
        self.addCleanup(folder.close)
        for path in stale:
            self.assertFalse(os.path.exists(path))
        for name in kept:
            self.assertTrue(os.path.exists(os.path.join(self.path, name)))
        self.assertTrue(os.path.isdir(base + ".jsonaaaaaaaa.tmp"))
        self.assertTrue(os.path.islink(base + ".jsonbbbbbbbb.tmp"))
        self.assertEqual([r.infoHash for r in folder.records()], [record.infoHash])
        [event] = [e for e in self.log if "count" in e]
        self.assertEqual((event["count"], event["path"]), (2, self.path))

    def test_nothingStale(self) -> None:
        """
        With nothing to remove, nothing is logged.
        """
        folder = StateFolder(self.path, Clock())
        self.assertEqual(self.successResultOf(folder.open()), 0)
        folder.close()
        self.assertEqual([e for e in self.log if "count" in e], [])

    def test_afterQueuedWrites(self) -> None:
        """
        The cleanup waits for writes queued before it, so that it never
        removes the temporary file of a write under way.
        """
        os.makedirs(self.path)
        stale = temporaryFor(os.path.join(self.path, "0" * 40 + ".json"))
        folder = ManualStateFolder(self.path)
        saved = folder.save(makeRecord(self.data, self.root))
        opened = folder.open()
        self.addCleanup(folder.close)
        self.assertTrue(os.path.exists(stale))
        folder.runOne()
        self.successResultOf(saved)
        self.assertNoResult(opened)
        self.assertTrue(os.path.exists(stale))
        folder.runOne()
        self.assertEqual(self.successResultOf(opened), 1)
        self.assertFalse(os.path.exists(stale))


class MissingDataTests(SynchronousTestCase):
    """
    L{missingData} tells data gone from data not downloaded yet.
    """

    def setUp(self) -> None:
        self.root, self.data = makeTree(self)
        self.metainfo = parse(self.data)

    def record(self, pieces=(), stamps=None, resume=True) -> TorrentRecord:
        """
        @param pieces: the pieces the resume data says were verified.
        @param stamps: its file stamps; the files as they are by default.
        @param resume: whether the record has resume data at all.
        """
        if not resume:
            return makeRecord(self.data, self.root)
        if stamps is None:
            stamps = stampFiles(self.metainfo, self.root)
        return makeRecord(
            self.data, self.root,
            resume=ResumeData(Bitfield(self.metainfo.numPieces, pieces), stamps),
        )

    def test_allThere(self) -> None:
        """
        Verified pieces whose files are there: nothing missing.
        """
        self.assertIsNone(missingData(self.record([0, 1, 2, 3, 4, 5])))

    def test_neverDownloaded(self) -> None:
        """
        A torrent added and never started, or started and not one piece
        verified, its folder and files not there yet, misses nothing.
        """
        shutil.rmtree(self.root)
        self.assertIsNone(missingData(self.record(resume=False)))
        nothing = tuple(FileStamp(e.path, None, None) for e in dataFiles(self.metainfo))
        self.assertIsNone(missingData(self.record([], nothing)))
        os.makedirs(self.root)
        self.assertIsNone(missingData(self.record([], nothing)))

    def test_folderGone(self) -> None:
        """
        A download folder gone, that held verified pieces, is missing data;
        the message names the folder and what to do.
        """
        record = self.record([0])
        shutil.rmtree(self.root)
        self.assertEqual(
            missingData(record),
            f"data missing at {self.root} (the download folder is gone; is its "
            f"disk mounted?): restore it or remove the torrent",
        )

    def test_fileInPlaceOfFolder(self) -> None:
        """
        A file where the download folder was is missing data too.
        """
        record = self.record([0])
        shutil.rmtree(self.root)
        with open(self.root, "w") as f:
            f.write("not the data")
        self.assertIn("the download folder is gone", missingData(record))

    def test_folderGoneFilesWere(self) -> None:
        """
        A download folder gone whose files the resume data saw is missing,
        even with no piece verified.
        """
        record = self.record([])
        shutil.rmtree(self.root)
        self.assertIn(self.root, missingData(record))

    def test_fileDeleted(self) -> None:
        """
        The folder is there but a file holding a verified piece is gone:
        missing, naming the file.
        """
        record = self.record([0])
        path = os.path.join(self.root, "pay", "a.bin")
        os.unlink(path)
        self.assertEqual(
            missingData(record), f"data missing at {path}: restore it or remove the torrent"
        )

    def test_everyFileDeleted(self) -> None:
        """
        Several files gone: the first is named, the others counted.
        """
        record = self.record([0, 5])
        shutil.rmtree(os.path.join(self.root, "pay"))
        self.assertEqual(
            missingData(record),
            f"data missing at {os.path.join(self.root, 'pay', 'a.bin')} (and 1 other "
            f"file): restore it or remove the torrent",
        )

    def test_fileWithoutVerifiedPieces(self) -> None:
        """
        A file gone that held no verified piece is not missing: it is
        downloaded.  (Piece 3 is shared by both files, so only pieces 0-2
        are in C{a.bin} alone.)
        """
        record = self.record([0, 1, 2])
        os.unlink(os.path.join(self.root, "pay", "b.bin"))
        self.assertIsNone(missingData(record))
        record = self.record([3])
        os.unlink(os.path.join(self.root, "pay", "a.bin"))
        self.assertIn("a.bin", missingData(record))

    def test_resumeOfAnotherTorrent(self) -> None:
        """
        Resume data that does not fit the torrent is not evidence of its
        pieces (it is checked in full anyway).
        """
        record = makeRecord(self.data, self.root, resume=ResumeData(Bitfield(2, [0]), ()))
        os.unlink(os.path.join(self.root, "pay", "a.bin"))
        self.assertIsNone(missingData(record))


class DescribeRecordsTests(SynchronousTestCase):
    """
    L{describeRecords} names torrents for a log line, bounded.
    """

    def records(self, *names: str) -> list:
        return [
            makeRecord(metainfoBytes(parse(createTorrent(self.file(name), pieceLength=PIECE))), "/")
            for name in names
        ]

    def file(self, name: str) -> str:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(b"x")
        return path

    def test_none(self) -> None:
        """
        No torrent: C{"none"}.
        """
        self.assertEqual(describeRecords([]), "none")

    def test_some(self) -> None:
        """
        Up to the limit, every name; past it, a count of the others.
        """
        records = self.records("a", "b", "c")
        self.assertEqual(describeRecords(records), "a, b, c")
        self.assertEqual(describeRecords(records, limit=1), "a and 2 more")

    def test_strangeNames(self) -> None:
        """
        Long names are cut; characters that are not printable are shown as
        C{?}.
        """
        [long, odd] = self.records("x" * 100, "a\tb\x1bc")
        self.assertEqual(describeRecords([long, odd]), "x" * 60 + "..., a?b?c")


class BoundedReadTests(SynchronousTestCase):
    """
    Hostile or damaged state files are skipped in bounded time and memory.
    """

    def setUp(self) -> None:
        self.root, self.data = makeTree(self)
        self.metainfo = parse(self.data)
        self.path = os.path.abspath(self.mktemp())
        self.folder = StateFolder(self.path, Clock())
        self.successResultOf(self.folder.save(makeRecord(self.data, self.root)))
        base = os.path.join(self.path, self.metainfo.infoHash.hex())
        self.jsonPath, self.torrentPath = base + ".json", base + ".torrent"
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def errors(self) -> list[dict]:
        return [e for e in self.log if e["log_level"] in (LogLevel.error, LogLevel.critical)]

    def write(self, path: str, data: bytes) -> None:
        os.unlink(path)
        with open(path, "wb") as f:
            f.write(data)

    def assertSkipped(self, reason: str) -> None:
        self.assertEqual(self.folder.records(), [])
        [error] = self.errors()
        self.assertEqual(error["path"], self.jsonPath)
        self.assertIn(reason, error["reason"])

    def test_deeplyNested(self) -> None:
        """
        JSON nested deeper than Python can parse is damage, not a crash.
        """
        self.write(self.jsonPath, b"[" * 100000)
        self.assertSkipped("nested too deeply")

    def test_tooBigForItsTorrent(self) -> None:
        """
        A C{.json} bigger than its C{.torrent} can explain is not parsed.
        """
        limit = STATE_SIZE_SLACK + STATE_SIZE_RATIO * len(self.data)
        self.write(self.jsonPath, b" " * (limit + 1))
        self.assertSkipped(f"over {limit} bytes")

    def test_bigTorrentFits(self) -> None:
        """
        The record of a torrent of many small files, with long non-ASCII
        names (escaped in JSON), fits its bound with room to spare.
        """
        folder = os.path.abspath(self.mktemp())
        name = "\U0001F600" * 20
        os.makedirs(os.path.join(folder, name, name))
        for i in range(300):
            with open(os.path.join(folder, name, name, f"{name}{i}"), "wb") as f:
                f.write(b"x")
        data = createTorrent(folder, pieceLength=PIECE)
        metainfo = parse(data)
        stamps = tuple(
            FileStamp(e.path, 2**40, 2**61) for e in dataFiles(metainfo)
        )
        record = TorrentRecord(
            metainfo, data, "/" + name * 50, peers=(("127.0.0.1", 1),) * 1000,
            resume=ResumeData(Bitfield(metainfo.numPieces, [0]), stamps),
        )
        self.assertLess(len(encodeRecord(record)) * 2, stateSizeLimit(data))

    def test_fifo(self) -> None:
        """
        A FIFO in place of a C{.json} is skipped at once, not read.
        """
        os.unlink(self.jsonPath)
        os.mkfifo(self.jsonPath)
        self.assertSkipped("not a regular file")

    def test_notFinite(self) -> None:
        """
        An C{addedAt} that is not a finite number is damage.
        """
        with open(self.jsonPath) as f:
            document = json.load(f)
        document["addedAt"] = float("nan")
        self.write(self.jsonPath, json.dumps(document).encode())
        self.assertSkipped("addedAt")

    def test_unexpectedError(self) -> None:
        """
        An unexpected error reading one record is logged with its path, and
        that torrent skipped, not the service's start.
        """
        def broken(*args: object) -> None:
            raise TypeError("a bug")

        self.patch(stateFolder, "readRecord", broken)
        self.assertEqual(self.folder.records(), [])
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def checkSkipped(self, path: str, data: bytes, mayLoad: bool = False) -> None:
        """
        With C{data} in the file at C{path}, the record is skipped and one
        error logged naming the C{.json}: never a crash.

        @param mayLoad: whether C{data} may also be a valid record, which
            then loads without an error.
        """
        before = len(self.errors())
        self.write(path, data)
        records = self.folder.records()
        errors = self.errors()[before:]
        if mayLoad and records:
            self.assertEqual(([r.infoHash for r in records], errors), ([self.metainfo.infoHash], []))
        else:
            self.assertEqual(records, [])
            self.assertEqual([e["path"] for e in errors], [self.jsonPath])

    @settings(
        max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.data())
    def test_anyBytesAsRecordFile(self, data: st.DataObject) -> None:
        """
        Any bytes as a C{.json} file: random ones and valid records cut
        short are skipped and logged; a valid record with bytes changed is
        skipped and logged, or loads if still valid: nothing else.
        """
        valid = encodeRecord(
            makeRecord(self.data, self.root, resume=ResumeData(
                Bitfield(self.metainfo.numPieces, [1]), stampFiles(self.metainfo, self.root)
            ))
        )
        choice = data.draw(st.sampled_from(["random", "cut", "changed"]))
        if choice == "random":
            self.checkSkipped(self.jsonPath, data.draw(st.binary(max_size=2000)))
        elif choice == "cut":
            self.checkSkipped(self.jsonPath, valid[: data.draw(st.integers(0, len(valid) - 1))])
        else:
            start = data.draw(st.integers(0, len(valid) - 1))
            end = data.draw(st.integers(start, min(len(valid), start + 8)))
            replacement = data.draw(st.binary(max_size=8))
            self.checkSkipped(self.jsonPath, valid[:start] + replacement + valid[end:], mayLoad=True)

    @settings(
        max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.binary(max_size=2000))
    def test_anyBytesAsTorrentFile(self, content: bytes) -> None:
        """
        Any bytes as the C{.torrent} beside a valid C{.json}: skipped and
        logged, nothing else.
        """
        self.checkSkipped(self.torrentPath, content)


class SettingsTests(SynchronousTestCase):
    """
    Tests for L{StateFolder.saveSettings} and L{StateFolder.readSettings}.
    """

    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())
        self.folder = StateFolder(self.path, Clock())
        self.settingsPath = os.path.join(self.path, SETTINGS_NAME)
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def errors(self) -> list[dict]:
        return [e for e in self.log if e["log_level"] in (LogLevel.error, LogLevel.critical)]

    def test_roundTrip(self) -> None:
        """
        Settings saved are read back.
        """
        settings = {"maxUploadRate": 1000, "maxDownloadRate": 0}
        self.successResultOf(self.folder.saveSettings(settings))
        self.assertEqual(self.folder.readSettings(), settings)

    def test_missing(self) -> None:
        """
        No settings file is no settings, and no error.
        """
        self.assertEqual(self.folder.readSettings(), {})
        self.assertEqual(self.errors(), [])

    def test_fifo(self) -> None:
        """
        A FIFO in place of the settings file is ignored at once, not read
        (reading it would block the start until something wrote to it).
        """
        os.makedirs(self.path)
        os.mkfifo(self.settingsPath)
        self.assertEqual(self.folder.readSettings(), {})
        [error] = self.errors()
        self.assertIn("not a regular file", error["error"])

    def test_huge(self) -> None:
        """
        A settings file over L{MAX_SETTINGS_SIZE} is ignored as damaged,
        however big, after reading one byte past the bound.
        """
        os.makedirs(self.path)
        with open(self.settingsPath, "wb") as f:
            f.truncate(2**40)
        self.assertEqual(self.folder.readSettings(), {})
        [error] = self.errors()
        self.assertIn(f"over {MAX_SETTINGS_SIZE} bytes", error["error"])

    def test_damaged(self) -> None:
        """
        A settings file that is not an object of known rates is ignored,
        the error naming the file.
        """
        os.makedirs(self.path)
        for data in (b"[1]", b"{nope", b'{"maxUploadRate": -1}', b'{"colour": 1}'):
            with open(self.settingsPath, "wb") as f:
                f.write(data)
            self.assertEqual(self.folder.readSettings(), {}, data)
        self.assertEqual(len(self.errors()), 4)
        self.assertEqual({e["path"] for e in self.errors()}, {self.settingsPath})
