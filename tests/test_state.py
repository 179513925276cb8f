# -*- test-case-name: tests.test_state -*-
"""
Tests for L{bittwist.state}: the state folder and fast resume decisions.
"""

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from bittwist import state
from bittwist.bitfield import Bitfield
from bittwist.metainfo import createTorrent, parse
from bittwist.state import (
    ResumeData,
    StateFolder,
    TorrentRecord,
    defaultStateDir,
    metainfoBytes,
    resumePlan,
    stampFiles,
)

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
            announce=False,
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
            (loaded.downloadDir, loaded.paused, loaded.addedAt, loaded.peers, loaded.announce),
            (self.root, True, 12.5, (("127.0.0.1", 6881),), False),
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
        Any bytes as a C{.json}: a record or L{state._Damaged}, nothing else.
        """
        try:
            state._decodeRecord(data, self.metainfo, self.data)
        except state._Damaged:
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
        record or L{state._Damaged}, nothing else.
        """
        document = {
            "version": 1, "infoHash": self.metainfo.infoHash.hex(), "downloadDir": "/x",
            "paused": False, "addedAt": 0, "peers": [], "announce": True, "resume": None,
        }
        document.update(changes)
        try:
            state._decodeRecord(json.dumps(document).encode(), self.metainfo, self.data)
        except state._Damaged:
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
