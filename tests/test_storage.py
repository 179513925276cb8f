# -*- test-case-name: tests.test_storage -*-
"""
Tests for L{bittwist.storage}.
"""

import dataclasses
import errno
import hashlib
import os
import shutil
import tempfile
import threading

import bencodepy
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from bittwist import storage
from bittwist.bitfield import Bitfield
from bittwist.diskpool import DiskPool
from bittwist.errors import StorageError
from bittwist.filestorage.shared import osError
from bittwist.metainfo import FileEntry, createTorrent, parse
from bittwist.storage import FileStorage, IPieceStorage, MemoryStorage
from tests.fakes import HeldPool, ThreadlessReactor

__all__ = [
    "MemoryStorageTests", "FileStorageTests", "ReadNowTests", "LayoutTests", "OSErrorTests",
    "FastResumeTests",
]


def makeTorrent(name, files, pieceLength=16):
    """
    Build and parse a torrent.

    @param files: C{bytes} for a single-file torrent, or a list of
        C{(path tuple, bytes, isPad)} for a multi-file one.
    @return: C{(metainfo, stream)} where C{stream} is the torrent's whole
        byte stream, pad bytes as zeros.
    """
    info = {b"name": name.encode(), b"piece length": pieceLength}
    if isinstance(files, bytes):
        stream = files
        info[b"length"] = len(files)
    else:
        stream = b""
        info[b"files"] = []
        for path, data, pad in files:
            entry = {b"length": len(data), b"path": [c.encode() for c in path]}
            if pad:
                entry[b"attr"] = b"p"
                data = bytes(len(data))
            info[b"files"].append(entry)
            stream += data
    info[b"pieces"] = b"".join(
        hashlib.sha1(stream[i:i + pieceLength]).digest()
        for i in range(0, len(stream), pieceLength)
    )
    return parse(bencodepy.encode({b"info": info}), "<test>"), stream


def pieces(metainfo, stream):
    """
    @return: C{(index, bytes)} for every piece.
    """
    return [
        (i, stream[i * metainfo.pieceLength:i * metainfo.pieceLength + metainfo.pieceSize(i)])
        for i in range(metainfo.numPieces)
    ]


THREE_FILES = [
    (("a",), b"AAAAA", False),
    (("sub", "b"), b"BBB", False),
    (("sub", "deeper", "c"), b"CCCCCCC", False),
    (("d",), b"DDDDDDDDDDDDDDDDDDDDD", False),
]

WITH_PAD = [
    (("a",), b"0123456789", False),
    ((".pad", "6"), bytes(6), True),
    (("b",), b"abcdefghijklmnopqrst", False),
]


class MemoryStorageTests(SynchronousTestCase):
    """
    Tests for L{MemoryStorage}.
    """

    def test_providesInterface(self):
        """
        L{MemoryStorage} provides L{IPieceStorage}.
        """
        metainfo, _ = makeTorrent("x", b"hello world")
        self.assertTrue(verifyObject(IPieceStorage, MemoryStorage(metainfo)))

    def test_roundTrip(self):
        """
        Blocks written across file boundaries read back, and good pieces
        verify and land in C{have}.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES)
        store = MemoryStorage(metainfo)
        for index, data in pieces(metainfo, stream):
            self.successResultOf(store.writeBlock(index, 0, data))
            self.assertTrue(self.successResultOf(store.verifyPiece(index)))
        self.assertTrue(store.have.complete())
        self.assertEqual(self.successResultOf(store.readBlock(0, 2, 12)), stream[2:14])

    def test_badPiece(self):
        """
        A piece whose bytes do not match its hash verifies C{False} and
        leaves C{have}, even if it was verified before.
        """
        metainfo, stream = makeTorrent("x", b"0123456789abcdefXYZ")
        store = MemoryStorage(metainfo)
        store.writeBlock(0, 0, stream[:16])
        self.assertTrue(self.successResultOf(store.verifyPiece(0)))
        store.writeBlock(0, 3, b"!")
        self.assertFalse(self.successResultOf(store.verifyPiece(0)))
        self.assertNotIn(0, store.have)

    def test_queueWrite(self):
        """
        L{MemoryStorage.queueWrite} stores the block and calls C{written}
        with its length before returning; a block out of range calls
        C{failed} with a L{StorageError} instead.
        """
        metainfo, stream = makeTorrent("x", b"0123456789abcdefXYZ")
        store = MemoryStorage(metainfo)
        reports = []
        store.queueWrite(0, 0, stream[:16], reports.append, lambda *failed: reports.append(failed))
        self.assertEqual(reports, [16])
        self.assertTrue(self.successResultOf(store.verifyPiece(0)))
        store.queueWrite(1, 2, b"too long", reports.append, lambda *failed: reports.append(failed))
        self.assertEqual(len(reports), 2)
        failure, length = reports[1]
        self.assertEqual(length, 8)
        failure.trap(StorageError)

    def test_queueVerify(self):
        """
        L{MemoryStorage.queueVerify} reports a piece's check before
        returning, with C{have} updated; a piece out of range calls
        C{failed} with a L{StorageError} instead.
        """
        metainfo, stream = makeTorrent("x", b"0123456789abcdefXYZ")
        store = MemoryStorage(metainfo)
        store.writeBlock(0, 0, stream[:16])
        reports = []
        store.queueVerify(0, lambda index, ok: reports.append((index, ok, index in store.have)), self.fail)
        store.queueVerify(1, lambda index, ok: reports.append((index, ok, index in store.have)), self.fail)
        self.assertEqual(reports, [(0, True, True), (1, False, False)])
        store.queueVerify(2, self.fail, reports.append)
        reports[2].trap(StorageError)

    def test_padBytesDropped(self):
        """
        Bytes written over a pad file are dropped and read back as zeros.
        """
        metainfo, stream = makeTorrent("t", WITH_PAD)
        store = MemoryStorage(metainfo)
        store.writeBlock(0, 0, b"0123456789" + b"\xff" * 6)
        self.assertEqual(
            self.successResultOf(store.readBlock(0, 0, 16)), b"0123456789" + bytes(6)
        )
        self.assertTrue(self.successResultOf(store.verifyPiece(0)))

    def test_unwrittenPiece(self):
        """
        A piece never written is not stored: reading it fails, verifying it
        gives C{False}.
        """
        metainfo, _ = makeTorrent("x", b"0123456789abcdefXYZ")
        store = MemoryStorage(metainfo)
        self.failureResultOf(store.readBlock(1, 0, 3), StorageError)
        self.assertFalse(self.successResultOf(store.verifyPiece(1)))

    def test_initialData(self):
        """
        Storage made with the torrent's data checks complete: ready to seed.
        """
        metainfo, stream = makeTorrent("t", WITH_PAD)
        store = MemoryStorage(metainfo, data=stream)
        have = self.successResultOf(store.check())
        self.assertIs(have, store.have)
        self.assertTrue(have.complete())

    def test_initialDataWrongSize(self):
        """
        Initial data of the wrong size is refused.
        """
        metainfo, stream = makeTorrent("x", b"0123456789")
        self.assertRaises(StorageError, MemoryStorage, metainfo, data=stream + b"!")

    def test_outOfRange(self):
        """
        Blocks outside their piece, bad indexes and empty blocks fail with
        L{StorageError}.
        """
        metainfo, _ = makeTorrent("x", b"0123456789abcdefXYZ")
        store = MemoryStorage(metainfo)
        for index, begin, data in [
            (-1, 0, b"a"), (2, 0, b"a"), (0, -1, b"a"), (0, 15, b"ab"),
            (1, 2, b"ab"), (0, 0, b""),
        ]:
            self.failureResultOf(store.writeBlock(index, begin, data), StorageError)
        self.failureResultOf(store.readBlock(0, 0, 0), StorageError)
        self.failureResultOf(store.verifyPiece(2), StorageError)
        self.assertEqual(bytes(store.data), bytes(19))

    def test_closed(self):
        """
        After L{MemoryStorage.close}, every call but C{close} fails.
        """
        metainfo, _ = makeTorrent("x", b"0123456789")
        store = MemoryStorage(metainfo)
        self.successResultOf(store.close())
        self.successResultOf(store.close())
        self.failureResultOf(store.writeBlock(0, 0, b"a"), StorageError)
        self.failureResultOf(store.check(), StorageError)


class FileStorageTests(TestCase):
    """
    Tests for L{FileStorage}, on real files and the real reactor.
    """

    def setUp(self):
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)

    def makeStorage(self, metainfo, folder=None):
        store = FileStorage(metainfo, folder or self.folder)
        self.addCleanup(store.close)
        return store

    @defer.inlineCallbacks
    def writeAll(self, store, metainfo, stream, blockSize=16):
        """
        Write every piece in blocks, without waiting in between, then verify
        every piece.

        @return: the verification results, in piece order.
        """
        writes = []
        for index, data in pieces(metainfo, stream):
            for begin in range(0, len(data), blockSize):
                writes.append(store.writeBlock(index, begin, data[begin:begin + blockSize]))
        yield defer.gatherResults(writes)
        results = yield defer.gatherResults(
            [store.verifyPiece(i) for i in range(metainfo.numPieces)]
        )
        return results

    def readFile(self, *path):
        with open(os.path.join(self.folder, *path), "rb") as f:
            return f.read()

    @defer.inlineCallbacks
    def test_removeData(self):
        """
        L{FileStorage.removeData} deletes the torrent's files and the folders
        it leaves empty, and nothing else in the download folder.
        """
        metainfo, stream = makeTorrent(
            "multi",
            [(("a",), os.urandom(20), False), ((".pad", "12"), bytes(12), True),
             (("sub", "deep", "b"), os.urandom(30), False), (("empty",), b"", False)],
        )
        store = FileStorage(metainfo, self.folder)
        yield self.writeAll(store, metainfo, stream)
        with open(os.path.join(self.folder, "mine.txt"), "wb") as f:
            f.write(b"not the torrent's")
        os.makedirs(os.path.join(self.folder, "multi", "sub", "keep"))
        yield store.removeData()
        self.assertEqual(sorted(os.listdir(self.folder)), ["mine.txt", "multi"])
        remaining = [
            os.path.relpath(os.path.join(d, n), self.folder)
            for d, dirs, files in os.walk(self.folder) for n in dirs + files
        ]
        self.assertEqual(sorted(remaining), ["mine.txt", "multi", "multi/sub", "multi/sub/keep"])

    @defer.inlineCallbacks
    def test_removeDataNeverFollowsLinks(self):
        """
        A file of the torrent replaced by a symbolic link to a file outside
        the download folder: the link goes, the outside file stays.
        """
        metainfo, stream = makeTorrent("single.bin", os.urandom(40))
        outside = os.path.abspath(self.mktemp())
        with open(outside, "wb") as f:
            f.write(b"precious")
        os.symlink(outside, os.path.join(self.folder, "single.bin"))
        store = FileStorage(metainfo, self.folder)
        yield store.removeData()
        self.assertFalse(os.path.lexists(os.path.join(self.folder, "single.bin")))
        with open(outside, "rb") as f:
            self.assertEqual(f.read(), b"precious")

    def test_memoryRemoveData(self):
        """
        L{MemoryStorage.removeData} forgets every byte and verified piece.
        """
        metainfo, stream = makeTorrent("x", os.urandom(40))
        store = MemoryStorage(metainfo, stream)
        self.successResultOf(store.check())
        self.assertEqual(len(store.have), metainfo.numPieces)
        self.successResultOf(store.removeData())
        self.assertEqual(len(store.have), 0)
        self.assertEqual(bytes(store.data), bytes(len(stream)))

    def test_providesInterface(self):
        """
        L{FileStorage} provides L{IPieceStorage}.
        """
        metainfo, _ = makeTorrent("x", b"hello world")
        self.assertTrue(verifyObject(IPieceStorage, self.makeStorage(metainfo)))

    @defer.inlineCallbacks
    def test_singleFile(self):
        """
        A single-file torrent is stored in one file named after it, whose
        blocks read back; every good piece verifies.
        """
        metainfo, stream = makeTorrent("single.bin", os.urandom(100))
        store = self.makeStorage(metainfo)
        results = yield self.writeAll(store, metainfo, stream, blockSize=5)
        self.assertEqual(results, [True] * metainfo.numPieces)
        self.assertTrue(store.have.complete())
        self.assertEqual(self.readFile("single.bin"), stream)
        block = yield store.readBlock(6, 1, 3)
        self.assertEqual(block, stream[97:100])

    @defer.inlineCallbacks
    def test_blockSpansThreeFiles(self):
        """
        A block spanning three files of a multi-file torrent is cut at the
        file boundaries on write and put back together on read; folders are
        created as needed.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES)
        store = self.makeStorage(metainfo)
        # Bytes 2..16 of the stream: the end of a, all of b, the start of c.
        yield store.writeBlock(0, 2, stream[2:13])
        self.assertEqual(self.readFile("t", "a"), b"\0\0AAA")
        self.assertEqual(self.readFile("t", "sub", "b"), b"BBB")
        self.assertEqual(self.readFile("t", "sub", "deeper", "c"), b"CCCCC\0\0")
        block = yield store.readBlock(0, 2, 11)
        self.assertEqual(block, stream[2:13])

    @defer.inlineCallbacks
    def test_multiFile(self):
        """
        Every file of a multi-file torrent holds its bytes once all pieces
        are written, and all pieces verify.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES)
        store = self.makeStorage(metainfo)
        results = yield self.writeAll(store, metainfo, stream, blockSize=7)
        self.assertEqual(results, [True] * metainfo.numPieces)
        for path, data, _ in THREE_FILES:
            self.assertEqual(self.readFile("t", *path), data)

    @defer.inlineCallbacks
    def test_padFiles(self):
        """
        Pad files are never created; bytes written over them are dropped and
        read back as zeros, and the pieces holding them verify.
        """
        metainfo, stream = makeTorrent("t", WITH_PAD)
        store = self.makeStorage(metainfo)
        yield store.writeBlock(0, 0, b"0123456789" + b"\xff" * 6)
        block = yield store.readBlock(0, 8, 8)
        self.assertEqual(block, b"89" + bytes(6))
        results = yield self.writeAll(store, metainfo, stream)
        self.assertEqual(results, [True, True, True])
        self.assertFalse(os.path.exists(os.path.join(self.folder, "t", ".pad")))
        self.assertEqual(sorted(os.listdir(os.path.join(self.folder, "t"))), ["a", "b"])

    @defer.inlineCallbacks
    def test_emptyFileCreated(self):
        """
        A file of length 0, which no block covers, is created with the
        first write.
        """
        metainfo, stream = makeTorrent(
            "t", [(("empty",), b"", False), (("x", "data"), b"0123456789", False)]
        )
        store = self.makeStorage(metainfo)
        yield self.writeAll(store, metainfo, stream)
        self.assertEqual(self.readFile("t", "empty"), b"")

    @defer.inlineCallbacks
    def test_filesSparseAtFullLength(self):
        """
        A file is created at its final length on its first write.
        """
        metainfo, stream = makeTorrent("big", bytes(64 * 1024), pieceLength=16384)
        store = self.makeStorage(metainfo)
        yield store.writeBlock(0, 0, b"x")
        self.assertEqual(os.path.getsize(os.path.join(self.folder, "big")), 64 * 1024)

    @defer.inlineCallbacks
    def test_verifyBadPiece(self):
        """
        A corrupt piece verifies C{False} and is not in C{have}; good pieces
        around it verify; a piece verified before and then overwritten with
        bad bytes leaves C{have}.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES)
        bad = bytearray(stream)
        bad[20] ^= 1
        store = self.makeStorage(metainfo)
        results = yield self.writeAll(store, metainfo, bytes(bad))
        self.assertEqual(results, [True, False, True])
        self.assertEqual(list(store.have), [0, 2])
        yield store.writeBlock(0, 0, b"!")
        matched = yield store.verifyPiece(0)
        self.assertFalse(matched)
        self.assertEqual(list(store.have), [2])

    @defer.inlineCallbacks
    def test_verifyMissing(self):
        """
        A piece with no file on disk verifies C{False}, without error.
        """
        metainfo, _ = makeTorrent("t", THREE_FILES)
        store = self.makeStorage(metainfo)
        matched = yield store.verifyPiece(1)
        self.assertFalse(matched)

    @defer.inlineCallbacks
    def test_fifoOrdering(self):
        """
        A verification asked for right after writes, without waiting for
        them, sees them.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES)
        store = self.makeStorage(metainfo)
        store.writeBlock(1, 0, stream[16:32])
        matched = yield store.verifyPiece(1)
        self.assertTrue(matched)

    @defer.inlineCallbacks
    def test_resultsInOrder(self):
        """
        Results come back in the order the calls were made.
        """
        metainfo, stream = makeTorrent("x", os.urandom(1600))
        store = self.makeStorage(metainfo)
        fired = []
        calls = []
        for index, data in pieces(metainfo, stream):
            calls.append(store.writeBlock(index, 0, data).addCallback(
                lambda _, i=index: fired.append(("w", i))))
            calls.append(store.verifyPiece(index).addCallback(
                lambda ok, i=index: fired.append(("v", i, ok))))
        yield defer.gatherResults(calls)
        expected = []
        for i in range(100):
            expected += [("w", i), ("v", i, True)]
        self.assertEqual(fired, expected)

    @defer.inlineCallbacks
    def test_queueWriteInOrder(self):
        """
        L{FileStorage.queueWrite} reports each write with its length, in
        order with the other calls, and a verification queued after writes
        sees them.
        """
        metainfo, stream = makeTorrent("x", os.urandom(160))
        store = self.makeStorage(metainfo)
        fired = []
        verifications = []
        for index, data in pieces(metainfo, stream):
            for begin in (0, 8):
                store.queueWrite(
                    index, begin, data[begin:begin + 8],
                    lambda size, i=index: fired.append(("w", i, size)), self.fail,
                )
            verifications.append(store.verifyPiece(index).addCallback(
                lambda ok, i=index: fired.append(("v", i, ok))))
        yield defer.gatherResults(verifications)
        expected = []
        for i in range(10):
            expected += [("w", i, 8), ("w", i, 8), ("v", i, True)]
        self.assertEqual(fired, expected)

    @defer.inlineCallbacks
    def test_sharedPoolThreads(self):
        """
        Many storages share the threads of their L{DiskPool}: twenty
        torrents written and verified at once use at most its two threads.
        """
        pool = DiskPool(size=2)
        before = threading.active_count()
        work = []
        for n in range(20):
            metainfo, stream = makeTorrent(f"t{n}", os.urandom(64))
            store = FileStorage(metainfo, self.folder, pool=pool)
            self.addCleanup(store.close)
            for index, data in pieces(metainfo, stream):
                work.append(store.writeBlock(index, 0, data))
                work.append(store.verifyPiece(index))
        results = yield defer.gatherResults(work)
        self.assertEqual(results.count(True), 20 * 4)
        self.assertEqual(pool.threadCount(), 2)
        self.assertLessEqual(threading.active_count() - before, 2)

    def countReadBacks(self, store):
        """
        @return: a list that gets the index of every piece C{store} hashes
            by reading it back from disk.
        """
        readBacks = []
        original = store._hashMatches

        def counting(index):
            readBacks.append(index)
            return original(index)

        store._hashMatches = counting
        return readBacks

    @defer.inlineCallbacks
    def test_inOrderHashedAsWritten(self):
        """
        A piece written in order from its start is verified from the hash
        of its blocks as they were written, without reading it back; a
        wrong block makes it fail all the same.
        """
        metainfo, stream = makeTorrent("x", os.urandom(64), pieceLength=32)
        store = self.makeStorage(metainfo)
        readBacks = self.countReadBacks(store)
        good = stream[:32]
        for begin in range(0, 32, 8):
            yield store.writeBlock(0, begin, good[begin:begin + 8])
        bad = bytes(32)
        for begin in range(0, 32, 8):
            yield store.writeBlock(1, begin, bad[begin:begin + 8])
        self.assertEqual((yield store.verifyPiece(0)), True)
        self.assertEqual((yield store.verifyPiece(1)), False)
        self.assertEqual(readBacks, [])
        self.assertEqual(list(store.have), [0])

    @defer.inlineCallbacks
    def test_outOfOrderCaughtUp(self):
        """
        A piece whose blocks came out of order is verified without reading
        it back whole: once the gap is filled, the blocks written beyond it
        are read back and hashed then, and only those.
        """
        metainfo, stream = makeTorrent("x", os.urandom(64), pieceLength=32)
        store = self.makeStorage(metainfo)
        readBacks = self.countReadBacks(store)
        ranges = []
        original = store._reader.readChunks

        def counting(start, length, into):
            ranges.append((start, length))
            return original(start, length, into)

        store._hashes._readChunks = counting
        data = pieces(metainfo, stream)
        # Piece 0: its last two blocks first, then the first two.
        for begin in (16, 24, 0, 8):
            yield store.writeBlock(0, begin, data[0][1][begin:begin + 8])
        # Piece 1: wrong bytes, out of order: caught up, it fails as read
        # back it would.
        for begin in (8, 0, 16, 24):
            yield store.writeBlock(1, begin, bytes(8))
        results = yield defer.gatherResults([store.verifyPiece(i) for i in range(2)])
        self.assertEqual(results, [True, False])
        self.assertEqual(readBacks, [])
        self.assertEqual(ranges, [(16, 16), (40, 8)])

    @defer.inlineCallbacks
    def test_writtenOverReadBack(self):
        """
        A piece partly written over, or with a gap never filled, is verified
        by reading it back.
        """
        metainfo, stream = makeTorrent("x", os.urandom(96), pieceLength=32)
        store = self.makeStorage(metainfo)
        readBacks = self.countReadBacks(store)
        data = pieces(metainfo, stream)
        # Piece 0: its second half only, a gap never filled.
        yield store.writeBlock(0, 16, data[0][1][16:24])
        yield store.writeBlock(0, 24, data[0][1][24:])
        # Piece 1: in order, then its middle written again with other bytes
        # and then with the right ones.
        for begin in (0, 16):
            yield store.writeBlock(1, begin, data[1][1][begin:begin + 16])
        yield store.writeBlock(1, 8, bytes(8))
        yield store.writeBlock(1, 8, data[1][1][8:16])
        # Piece 2: wrong bytes, in order, then written again from the start.
        yield store.writeBlock(2, 0, bytes(32))
        yield store.writeBlock(2, 0, data[2][1][:16])
        yield store.writeBlock(2, 16, data[2][1][16:])
        results = yield defer.gatherResults([store.verifyPiece(i) for i in range(3)])
        self.assertEqual(results, [False, True, True])
        self.assertEqual(readBacks, [0, 1])

    @defer.inlineCallbacks
    def test_catchUpFailureReadBack(self):
        """
        If reading back the blocks beyond a filled gap fails, the piece is
        left to be read back whole at its check, which reports the error.
        """
        metainfo, stream = makeTorrent("x", os.urandom(32), pieceLength=32)
        store = self.makeStorage(metainfo)
        readBacks = self.countReadBacks(store)

        def failing(start, length, into):
            raise StorageError("cannot read", self.folder)

        store._hashes._readChunks = failing
        yield store.writeBlock(0, 16, stream[16:])
        yield store.writeBlock(0, 0, stream[:16])
        self.assertEqual((yield store.verifyPiece(0)), True)
        self.assertEqual(readBacks, [0])

    @defer.inlineCallbacks
    def test_padBytesHashedAsZeros(self):
        """
        The running hash takes pad bytes as the zeros they read back as,
        whatever a peer sent for them.
        """
        metainfo, stream = makeTorrent("multi", WITH_PAD)
        store = self.makeStorage(metainfo)
        readBacks = self.countReadBacks(store)
        piece = bytearray(stream[:16])
        piece[12] = 0xFF
        yield store.writeBlock(0, 0, bytes(piece[:8]))
        yield store.writeBlock(0, 8, bytes(piece[8:]))
        self.assertEqual((yield store.verifyPiece(0)), True)
        self.assertEqual(readBacks, [])

    @defer.inlineCallbacks
    def test_trailingPadNeverWritten(self):
        """
        A piece whose trailing pad bytes were never written (they are not
        downloaded) is verified from its running hash all the same, the pad
        taken as zeros.
        """
        metainfo, stream = makeTorrent("multi", WITH_PAD)
        store = self.makeStorage(metainfo)
        readBacks = self.countReadBacks(store)
        yield store.writeBlock(0, 0, stream[:10])
        self.assertEqual((yield store.verifyPiece(0)), True)
        self.assertEqual(readBacks, [])

    @defer.inlineCallbacks
    def test_failedWriteEndsRunningHash(self):
        """
        A write that fails leaves the piece to be read back: part of it may
        be on disk.
        """
        metainfo, stream = makeTorrent("x", os.urandom(32), pieceLength=32)
        store = self.makeStorage(metainfo)
        readBacks = self.countReadBacks(store)
        yield store.writeBlock(0, 0, stream[:16])
        yield store.writeBlock(0, 16, stream[16:])

        def pwrite(fd, data, offset):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self.patch(storage.os, "pwrite", pwrite)
        yield self.assertFailure(store.writeBlock(0, 0, bytes(16)), StorageError)
        self.assertEqual((yield store.verifyPiece(0)), True)
        self.assertEqual(readBacks, [0])

    @defer.inlineCallbacks
    def test_queuedWritesCoalesced(self):
        """
        Blocks queued with L{FileStorage.queueWrite} in one reactor turn
        that follow each other in a file are written with one C{pwritev};
        each is still reported with its length, in order.
        """
        metainfo, stream = makeTorrent("multi", THREE_FILES, pieceLength=8)
        store = self.makeStorage(metainfo)
        calls = []
        original = os.pwritev

        def pwritev(fd, buffers, offset):
            calls.append((offset, [bytes(b) for b in buffers]))
            return original(fd, buffers, offset)

        self.patch(storage.os, "pwritev", pwritev)
        reported = []
        done = defer.Deferred()
        blocks = []
        for index, data in pieces(metainfo, stream):
            blocks += [(index, begin, data[begin:begin + 4]) for begin in range(0, len(data), 4)]
        for n, (index, begin, data) in enumerate(blocks):
            last = n == len(blocks) - 1
            store.queueWrite(
                index, begin, data,
                lambda size, n=n, last=last: reported.append((n, size)) or (last and done.callback(None)),
                self.fail,
            )
        yield done
        self.assertEqual(reported, [(n, len(b[2])) for n, b in enumerate(blocks)])
        # File d (21 bytes from stream offset 15): blocks at 16, 20, 24, 28,
        # 32 in one call, the block holding its first byte on its own.
        self.assertIn((1, [stream[16:20], stream[20:24], stream[24:28], stream[28:32], stream[32:36]]), calls)
        self.assertEqual(self.readFile("multi", "d"), stream[15:])
        self.assertEqual(self.readFile("multi", "sub", "deeper", "c"), stream[8:15])
        results = yield defer.gatherResults([store.verifyPiece(i) for i in range(metainfo.numPieces)])
        self.assertEqual(results, [True] * metainfo.numPieces)

    @defer.inlineCallbacks
    def test_queueVerify(self):
        """
        L{FileStorage.queueVerify} reports a piece's check by a call with
        its index and whether it matched, after the writes queued before it
        and with C{have} already updated; a piece out of range is reported
        failed with a L{StorageError} at once.
        """
        metainfo, stream = makeTorrent("x", os.urandom(32), pieceLength=16)
        store = self.makeStorage(metainfo)
        fired = []
        done = defer.Deferred()

        def verified(index, ok):
            fired.append((index, ok, index in store.have))
            if index == 1:
                done.callback(None)

        store.queueWrite(0, 0, stream[:16], lambda size: fired.append(("w", size)), self.fail)
        store.queueVerify(0, verified, self.fail)
        store.queueWrite(1, 0, bytes(16), lambda size: fired.append(("w", size)), self.fail)
        store.queueVerify(1, verified, self.fail)
        failures = []
        store.queueVerify(2, self.fail, failures.append)
        failures[0].trap(StorageError)
        yield done
        self.assertEqual(fired, [("w", 16), (0, True, True), ("w", 16), (1, False, False)])

    @defer.inlineCallbacks
    def test_queuedBeforeCloseDoneBeforeClose(self):
        """
        Writes and checks queued in the reactor turn that closes the
        storage are done, and reported, before the close is.
        """
        metainfo, stream = makeTorrent("x", os.urandom(32), pieceLength=16)
        store = self.makeStorage(metainfo)
        fired = []
        store.queueWrite(0, 0, stream[:16], lambda size: fired.append(("w", size)), self.fail)
        store.queueVerify(0, lambda index, ok: fired.append(("v", index, ok)), self.fail)
        yield store.close().addCallback(lambda _: fired.append("closed"))
        self.assertEqual(fired, [("w", 16), ("v", 0, True), "closed"])

    @defer.inlineCallbacks
    def test_queuedWritesReportedTogether(self):
        """
        Consecutive blocks queued in one reactor turn with the same
        C{written} callback are reported by one call, with the sum of their
        lengths; a block with another callback between them splits the
        report.
        """
        metainfo, stream = makeTorrent("x", os.urandom(64), pieceLength=16)
        store = self.makeStorage(metainfo)
        reported = []

        def written(size):
            reported.append(("a", size))

        def other(size):
            reported.append(("b", size))

        for begin, callback in [(0, written), (8, written), (16, written), (24, other), (32, written)]:
            store.queueWrite(begin // 16, begin % 16, stream[begin:begin + 8], callback, self.fail)
        yield store.verifyPiece(0)
        self.assertEqual(reported, [("a", 24), ("b", 8), ("a", 8)])

    @defer.inlineCallbacks
    def test_coalescedWriteFails(self):
        """
        When a C{pwritev} of queued blocks fails, each of its blocks is
        reported failed with the L{StorageError}.
        """
        metainfo, stream = makeTorrent("x", os.urandom(32), pieceLength=16)

        def pwritev(fd, buffers, offset):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self.patch(storage.os, "pwritev", pwritev)
        store = self.makeStorage(metainfo)
        failures = []
        done = defer.Deferred()
        for begin in (0, 8):
            store.queueWrite(
                0, begin, stream[begin:begin + 8], self.fail,
                lambda f, n: failures.append((f, n)) or (len(failures) == 2 and done.callback(None)),
            )
        yield done
        self.assertEqual([n for _, n in failures], [8, 8])
        failures = [f for f, _ in failures]
        self.assertEqual([f.check(StorageError) for f in failures], [StorageError] * 2)
        self.assertIn("disk full", failures[0].getErrorMessage())

    @defer.inlineCallbacks
    def test_queueWriteFails(self):
        """
        A write queued with L{FileStorage.queueWrite} that fails calls
        C{failed} with the L{StorageError}, never C{written}; so does one
        out of range, at once.
        """
        def pwrite(fd, data, offset):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self.patch(storage.os, "pwrite", pwrite)
        metainfo, _ = makeTorrent("x", b"0123456789")
        store = self.makeStorage(metainfo)
        failures = []
        store.queueWrite(0, 8, b"abc", self.fail, lambda *failed: failures.append(failed))
        self.assertEqual(len(failures), 1)
        failures[0][0].trap(StorageError)
        self.assertEqual(failures[0][1], 3)
        failed = defer.Deferred()
        store.queueWrite(0, 0, b"abc", self.fail, lambda failure, _: failed.errback(failure))
        failure = yield self.assertFailure(failed, StorageError)
        self.assertIn("disk full writing", str(failure))

    @defer.inlineCallbacks
    def test_reportErrorLogged(self):
        """
        A C{written} callback that raises is logged, and the results after
        it in the same batch are still reported.
        """
        metainfo, stream = makeTorrent("x", os.urandom(32))
        store = self.makeStorage(metainfo)

        def written(size):
            raise ZeroDivisionError()

        store.queueWrite(0, 0, stream[:16], written, self.fail)
        matched = yield store.verifyPiece(0)
        self.assertTrue(matched)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    @defer.inlineCallbacks
    def test_resume(self):
        """
        A new storage on the same folder finds exactly the pieces that were
        good; a byte corrupted on disk un-verifies only its piece.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES + WITH_PAD[1:], pieceLength=8)
        bad = bytearray(stream)
        bad[9] ^= 0xFF  # piece 1
        store = self.makeStorage(metainfo)
        results = yield self.writeAll(store, metainfo, bytes(bad), blockSize=3)
        yield store.close()
        good = [i for i in range(metainfo.numPieces) if i != 1]
        self.assertEqual([i for i, ok in enumerate(results) if ok], good)

        again = self.makeStorage(metainfo)
        have = yield again.check()
        self.assertIs(have, again.have)
        self.assertEqual(have, Bitfield(metainfo.numPieces, good))
        yield again.close()

        # Byte 22 of the stream is byte 7 of file d: piece 2.
        path = os.path.join(self.folder, "t", "d")
        with open(path, "r+b") as f:
            f.seek(7)
            f.write(b"?")
        third = self.makeStorage(metainfo)
        have = yield third.check()
        self.assertEqual(have, Bitfield(metainfo.numPieces, [i for i in good if i != 2]))

    @defer.inlineCallbacks
    def test_checkMissingAndShortFiles(self):
        """
        Missing files make their pieces absent, a short file the pieces past
        its end; neither is an error and checking creates no file.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES, pieceLength=4)
        os.makedirs(os.path.join(self.folder, "t"))
        with open(os.path.join(self.folder, "t", "d"), "wb") as f:
            f.write(b"D" * 13)  # stream bytes 15..28: pieces 4, 5 and 6 whole
        store = self.makeStorage(metainfo)
        have = yield store.check()
        self.assertEqual(list(have), [4, 5, 6])
        self.assertEqual(os.listdir(os.path.join(self.folder, "t")), ["d"])

    @defer.inlineCallbacks
    def test_checkExistingData(self):
        """
        Storage over the folder a torrent was created from checks complete,
        ready to seed.
        """
        source = os.path.join(self.folder, "share")
        os.makedirs(os.path.join(source, "inner"))
        for name, size in [("one", 40000), ("inner/two", 3), ("three", 20000)]:
            with open(os.path.join(source, name), "wb") as f:
                f.write(os.urandom(size))
        metainfo = parse(createTorrent(source, pieceLength=16384))
        store = self.makeStorage(metainfo)
        have = yield store.check()
        self.assertTrue(have.complete())
        # Files are sorted by path: inner/two comes first.
        block = yield store.readBlock(0, 0, 3)
        with open(os.path.join(source, "inner", "two"), "rb") as f:
            self.assertEqual(block, f.read())

    @defer.inlineCallbacks
    def test_symlinkEscapeRefused(self):
        """
        A file whose path goes through a symbolic link pointing outside the
        download folder is refused, and nothing is written outside.
        """
        outside = os.path.abspath(self.mktemp())
        os.makedirs(outside)
        os.symlink(outside, os.path.join(self.folder, "t"))
        metainfo, stream = makeTorrent("t", THREE_FILES)
        store = self.makeStorage(metainfo)
        failure = yield self.assertFailure(store.writeBlock(0, 0, stream[:16]), StorageError)
        self.assertEqual(failure.path, os.path.join(self.folder, "t", "a"))
        self.assertIn("outside the download folder", str(failure))
        self.assertEqual(os.listdir(outside), [])
        yield self.assertFailure(store.readBlock(0, 0, 4), StorageError)

    @defer.inlineCallbacks
    def test_symlinkedFileRefused(self):
        """
        A file that is itself a symbolic link, even to a file inside the
        download folder, is neither written nor read through.
        """
        metainfo, stream = makeTorrent("x", b"0123456789")
        target = os.path.join(self.folder, "real")
        with open(target, "wb") as f:
            f.write(b"0123456789")
        os.symlink(target, os.path.join(self.folder, "x"))
        store = self.makeStorage(metainfo)
        yield self.assertFailure(store.writeBlock(0, 0, b"a"), StorageError)
        yield self.assertFailure(store.readBlock(0, 0, 1), StorageError)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"0123456789")

    def test_unsafePathRefused(self):
        """
        A metainfo whose file path would climb out of the download folder is
        refused when the storage is made.
        """
        metainfo, _ = makeTorrent("t", THREE_FILES)
        files = list(metainfo.files)
        files[1] = dataclasses.replace(files[1], path=("t", "..", "..", "b"))
        bad = dataclasses.replace(metainfo, files=tuple(files))
        self.assertRaises(StorageError, FileStorage, bad, self.folder)

    def test_layoutMismatchRefused(self):
        """
        A metainfo whose files do not add up is refused.
        """
        metainfo, _ = makeTorrent("t", THREE_FILES)
        files = metainfo.files[:-1] + (FileEntry(("t", "d"), 5, 15, False),)
        bad = dataclasses.replace(metainfo, files=files)
        self.assertRaises(StorageError, FileStorage, bad, self.folder)

    @defer.inlineCallbacks
    def test_outOfRange(self):
        """
        Bad indexes, blocks past their piece's end and empty blocks fail with
        L{StorageError} and write nothing.
        """
        metainfo, _ = makeTorrent("x", b"0123456789abcdefXYZ")
        store = self.makeStorage(metainfo)
        for index, begin, data in [
            (-1, 0, b"a"), (2, 0, b"a"), (0, -1, b"a"), (0, 15, b"ab"),
            (1, 2, b"ab"), (0, 0, b""),
        ]:
            yield self.assertFailure(store.writeBlock(index, begin, data), StorageError)
        yield self.assertFailure(store.readBlock(1, 0, 4), StorageError)
        yield self.assertFailure(store.readBlock(0, 0, 0), StorageError)
        yield self.assertFailure(store.verifyPiece(-1), StorageError)
        self.assertEqual(os.listdir(self.folder), [])

    @defer.inlineCallbacks
    def test_readAbsent(self):
        """
        Reading data that is not on disk fails with L{StorageError}.
        """
        metainfo, _ = makeTorrent("t", THREE_FILES)
        store = self.makeStorage(metainfo)
        yield self.assertFailure(store.readBlock(1, 0, 4), StorageError)

    @defer.inlineCallbacks
    def test_directoryInPlaceOfFile(self):
        """
        A folder where a file should be makes the write fail with a
        L{StorageError} naming it and saying what to do.
        """
        metainfo, stream = makeTorrent("t", THREE_FILES)
        path = os.path.join(self.folder, "t", "sub", "b")
        os.makedirs(path)
        store = self.makeStorage(metainfo)
        failure = yield self.assertFailure(store.writeBlock(0, 5, stream[5:8]), StorageError)
        self.assertEqual(failure.path, path)
        self.assertIn("is a folder where the torrent has a file", str(failure))
        # The storage is still usable for the other files.
        yield store.writeBlock(0, 0, stream[:5])
        self.assertEqual(self.readFile("t", "a"), stream[:5])

    @defer.inlineCallbacks
    def test_diskFull(self):
        """
        A full disk fails the write with a L{StorageError} naming the file
        and the remedy.
        """
        def pwrite(fd, data, offset):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self.patch(storage.os, "pwrite", pwrite)
        metainfo, _ = makeTorrent("x", b"0123456789")
        store = self.makeStorage(metainfo)
        failure = yield self.assertFailure(store.writeBlock(0, 0, b"abc"), StorageError)
        self.assertEqual(failure.path, os.path.join(self.folder, "x"))
        self.assertIn("disk full writing", str(failure))
        self.assertIn("verified pieces are kept", str(failure))

    @defer.inlineCallbacks
    def test_close(self):
        """
        C{close} is idempotent and fires after queued writes are done; later
        calls fail with L{StorageError}.
        """
        metainfo, stream = makeTorrent("x", b"0123456789")
        store = self.makeStorage(metainfo)
        write = store.writeBlock(0, 0, stream)
        first = store.close()
        second = store.close()
        yield first
        self.assertTrue(write.called)
        yield second
        yield store.close()
        yield self.assertFailure(store.writeBlock(0, 0, b"a"), StorageError)
        yield self.assertFailure(store.check(), StorageError)
        self.assertEqual(self.readFile("x"), stream)

    def test_closeUnused(self):
        """
        Closing a storage never used fires at once.
        """
        metainfo, _ = makeTorrent("x", b"0123456789")
        store = FileStorage(metainfo, self.folder)
        self.successResultOf(store.close())


layouts = st.tuples(
    st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=1, max_size=6),
    st.integers(1, 48),
).filter(lambda layout: sum(length for length, _ in layout[0]) > 0)

blocks = st.lists(
    st.tuples(st.integers(-1, 50), st.integers(-2, 50), st.integers(0, 50)), max_size=12
)


def randomTorrent(layout):
    files, pieceLength = layout
    return makeTorrent(
        "t",
        [
            ((".pad", str(length)) if pad else ("f%d" % i,), os.urandom(length), pad)
            for i, (length, pad) in enumerate(files)
        ],
        pieceLength,
    )


class ReadNowTests(SynchronousTestCase):
    """
    L{FileStorage.readBlock} reads on the calling thread what the page cache
    holds while no job is queued or running, and leaves the rest to the
    pool.
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.metainfo, self.stream = makeTorrent("multi", WITH_PAD)
        self.pool = HeldPool()
        self.reactor = ThreadlessReactor()

    def makeStorage(self) -> FileStorage:
        store = FileStorage(self.metainfo, self.folder, reactor=self.reactor, pool=self.pool)
        self.addCleanup(self.pool.runJobs)
        self.addCleanup(store.close)
        return store

    def written(self) -> FileStorage:
        """
        @return: a storage that wrote and verified every piece, its jobs
            done.
        """
        store = self.makeStorage()
        results = []
        for index, data in pieces(self.metainfo, self.stream):
            store.writeBlock(index, 0, data).addCallback(results.append)
        self.reactor.advance(0)
        self.pool.runJobs()
        for index in range(self.metainfo.numPieces):
            store.verifyPiece(index).addCallback(results.append)
        self.pool.runJobs()
        self.assertEqual(results[-self.metainfo.numPieces:], [True] * self.metainfo.numPieces)
        if not store._reader.readsNow:
            raise SkipTest("no reads without waiting (RWF_NOWAIT) here")
        return store

    def test_readNowWhenIdle(self) -> None:
        """
        With no job queued or running and the files open, a read the page
        cache holds (bytes just written) is done at once, across files and
        pad files, without a job.
        """
        store = self.written()
        self.assertEqual(self.successResultOf(store.readBlock(0, 0, 16)), self.stream[:16])
        self.assertEqual(self.successResultOf(store.readBlock(1, 4, 12)), self.stream[20:32])
        self.assertEqual(self.pool.waiting, [])

    def test_readBehindJobs(self) -> None:
        """
        A read while a job is queued waits its turn in the pool, and sees
        the writes queued before it.
        """
        store = self.written()
        store.writeBlock(0, 0, b"X" * 16)
        d = store.readBlock(0, 0, 16)
        self.assertNoResult(d)
        self.pool.runJobs()
        # Pad bytes are not written: they read as zeros.
        self.assertEqual(self.successResultOf(d), b"X" * 10 + bytes(6))

    def test_unopenedFileReadByPool(self) -> None:
        """
        A file not yet open is opened and read by the pool (opening may wait
        for the disk); once open, it is read at once.
        """
        self.written()
        store = self.makeStorage()
        d = store.readBlock(0, 0, 8)
        self.assertNoResult(d)
        self.pool.runJobs()
        self.assertEqual(self.successResultOf(d), self.stream[:8])
        self.assertEqual(self.successResultOf(store.readBlock(0, 0, 8)), self.stream[:8])

    def test_uncachedReadByPool(self) -> None:
        """
        A read the page cache cannot serve without waiting (EAGAIN) is left
        to the pool.
        """
        store = self.written()
        preadv = os.preadv

        def notCached(fd, buffers, offset, *flags):
            if flags:
                raise BlockingIOError(errno.EAGAIN, "would wait")
            return preadv(fd, buffers, offset)

        self.patch(os, "preadv", notCached)
        d = store.readBlock(0, 0, 16)
        self.assertNoResult(d)
        self.pool.runJobs()
        self.assertEqual(self.successResultOf(d), self.stream[:16])
        self.assertTrue(store._reader.readsNow)

    def test_unsupportedReadNow(self) -> None:
        """
        Where reads without waiting are not supported, every read goes to
        the pool from then on.
        """
        store = self.written()
        preadv = os.preadv

        def unsupported(fd, buffers, offset, *flags):
            if flags:
                raise OSError(errno.EOPNOTSUPP, "not supported")
            return preadv(fd, buffers, offset)

        self.patch(os, "preadv", unsupported)
        d = store.readBlock(0, 0, 16)
        self.pool.runJobs()
        self.assertEqual(self.successResultOf(d), self.stream[:16])
        self.assertFalse(store._reader.readsNow)


class LayoutTests(SynchronousTestCase):
    """
    Property tests of the mapping of blocks onto files: any index, begin and
    length a peer may send either fails with L{StorageError} or lands where
    the byte stream says.
    """

    def check(self, store, write, read, metainfo, stream, requests):
        model = bytearray(len(stream))
        for index, begin, length in requests:
            # The stream's own bytes at that place: pad bytes are zero there,
            # as a real peer sends them.
            offset = max(index * metainfo.pieceLength + begin, 0)
            data = (stream * 2)[offset:offset + length]
            length = len(data)
            inRange = (
                0 <= index < metainfo.numPieces and begin >= 0 and length > 0
                and begin + length <= metainfo.pieceSize(index)
            )
            try:
                write(store, index, begin, data)
            except StorageError:
                self.assertFalse(inRange)
                continue
            self.assertTrue(inRange)
            start = index * metainfo.pieceLength + begin
            model[start:start + length] = data
            self.assertEqual(read(store, index, begin, length), bytes(model[start:start + length]))
        for entry in metainfo.files:
            if entry.pad:
                self.assertEqual(model[entry.offset:entry.offset + entry.length],
                                 bytes(entry.length))

    @given(layouts, blocks)
    @settings(max_examples=150, deadline=None)
    def test_memoryStorage(self, layout, requests):
        """
        L{MemoryStorage} keeps exactly the bytes written, outside pads.
        """
        metainfo, stream = randomTorrent(layout)

        def write(store, index, begin, data):
            result = []
            store.writeBlock(index, begin, data).addBoth(result.append)
            if isinstance(result[0], Failure):
                result[0].raiseException()

        def read(store, index, begin, length):
            return self.successResultOf(store.readBlock(index, begin, length))

        self.check(MemoryStorage(metainfo), write, read, metainfo, stream, requests)

    @given(layouts, blocks)
    @settings(max_examples=100, deadline=None)
    def test_fileStorage(self, layout, requests):
        """
        L{FileStorage}'s worker-side write and read (called directly, without
        a thread) put each byte in its file and pad bytes nowhere.
        """
        metainfo, stream = randomTorrent(layout)
        folder = tempfile.mkdtemp()
        store = FileStorage(metainfo, folder, reactor=object())

        def write(store, index, begin, data):
            start = store._checkRange(index, begin, len(data))
            store._writer.write(start, data)

        def read(store, index, begin, length):
            return store._read(store._checkRange(index, begin, length), length)

        try:
            self.check(store, write, read, metainfo, stream, requests)
            self.assertFalse(os.path.exists(os.path.join(folder, "t", ".pad")))
        finally:
            store._files.closeAll()
            shutil.rmtree(folder)


class OSErrorTests(SynchronousTestCase):
    """
    Tests for the messages made of operating system errors.
    """

    def test_messages(self):
        """
        Each common error names the file and a remedy.
        """
        for code, words in [
            (errno.ENOSPC, "free some space"),
            (errno.EACCES, "writable"),
            (errno.EROFS, "another download folder"),
            (errno.ENOTDIR, "move it out of the way"),
            (errno.EMFILE, "ulimit -n"),
            (errno.EIO, os.strerror(errno.EIO)),
        ]:
            error = osError(OSError(code, os.strerror(code)), "writing", "/d/f")
            self.assertIsInstance(error, StorageError)
            self.assertEqual(error.path, "/d/f")
            self.assertIn("/d/f", str(error))
            self.assertIn(words, str(error))


class FastResumeTests(TestCase):
    """
    L{IPieceStorage.check} with C{trusted} pieces: those are taken as
    verified unread, others as absent, but C{rehash} pieces are hashed.
    """

    def setUp(self):
        self.metainfo, self.stream = makeTorrent("t", bytes(range(64)), pieceLength=16)

    def test_memory(self):
        """
        L{MemoryStorage}: a trusted piece counts though its data is wrong;
        a rehashed piece counts only if it matches; the rest are absent.
        """
        storage = MemoryStorage(self.metainfo, self.stream)
        storage.data[0:16] = bytes(16)
        storage.data[16:32] = bytes(16)
        trusted = Bitfield(4, [0, 1])
        have = self.successResultOf(storage.check(trusted, rehash=[1, 2]))
        self.assertEqual(list(have), [0, 2])

    def test_wrongSize(self):
        """
        A trusted bitfield of another size fails with L{StorageError}.
        """
        storage = MemoryStorage(self.metainfo, self.stream)
        self.failureResultOf(storage.check(Bitfield(5, [0])), StorageError)

    @defer.inlineCallbacks
    def test_fileNotRead(self):
        """
        L{FileStorage}: trusted pieces are not read (their file need not
        even exist); only the pieces to rehash are.
        """
        folder = os.path.abspath(self.mktemp())
        storage = FileStorage(self.metainfo, folder)
        self.addCleanup(storage.close)
        yield storage.writeBlock(3, 0, self.stream[48:64])
        hashed = []
        original = storage._hashMatches

        def counting(index):
            hashed.append(index)
            return original(index)

        storage._hashMatches = counting
        have = yield storage.check(Bitfield(4, [0, 1]), rehash=[3])
        self.assertEqual(list(have), [0, 1, 3])
        self.assertEqual(hashed, [3])


class SkippedFileTests(TestCase):
    """
    Tests for L{IPieceStorage.skipFiles} on L{FileStorage}: a skipped file is
    not created; bytes of it that wanted pieces hold are kept in the part
    file, and go to the file if it is wanted again.
    """

    def setUp(self):
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        # Pieces of 16 bytes: piece 0 holds a, b, c and the start of d.
        self.metainfo, self.stream = makeTorrent(
            "t", THREE_FILES + [(("empty",), b"", False)]
        )

    def makeStorage(self):
        store = FileStorage(self.metainfo, self.folder)
        self.addCleanup(store.close)
        return store

    def path(self, *path):
        return os.path.join(self.folder, "t", *path)

    @defer.inlineCallbacks
    def writeAll(self, store):
        for index, data in pieces(self.metainfo, self.stream):
            yield store.writeBlock(index, 0, data)
        results = yield defer.gatherResults(
            [store.verifyPiece(i) for i in range(self.metainfo.numPieces)]
        )
        return results

    @defer.inlineCallbacks
    def test_skippedNotCreated(self):
        """
        A skipped file is never created, nor a skipped empty file; the piece
        it shares with wanted files is written, verified and read back,
        its bytes kept in the hidden part file.
        """
        store = self.makeStorage()
        yield store.skipFiles([2, 4])
        results = yield self.writeAll(store)
        self.assertEqual(results, [True, True, True])
        self.assertFalse(os.path.lexists(self.path("sub", "deeper", "c")))
        self.assertFalse(os.path.lexists(self.path("empty")))
        self.assertEqual(open(self.path("a"), "rb").read(), b"AAAAA")
        self.assertEqual(open(self.path("d"), "rb").read(), b"D" * 21)
        self.assertTrue(os.path.exists(store.partPath))
        self.assertEqual(os.path.dirname(store.partPath), self.folder)
        self.assertTrue(os.path.basename(store.partPath).startswith("."))
        block = yield store.readBlock(0, 0, 16)
        self.assertEqual(block, self.stream[:16])

    @defer.inlineCallbacks
    def test_wantedAgain(self):
        """
        A file wanted again gets the bytes kept for it, and the part file,
        no longer used, is deleted.
        """
        store = self.makeStorage()
        yield store.skipFiles([2])
        yield self.writeAll(store)
        yield store.skipFiles([])
        self.assertEqual(open(self.path("sub", "deeper", "c"), "rb").read(), b"CCCCCCC")
        self.assertFalse(os.path.exists(store.partPath))
        ok = yield store.verifyPiece(0)
        self.assertTrue(ok)

    @defer.inlineCallbacks
    def test_resumeSkipped(self):
        """
        A new storage told the same skipped files finds every piece kept in
        the part file when it checks.
        """
        store = self.makeStorage()
        yield store.skipFiles([2])
        yield self.writeAll(store)
        yield store.close()
        again = self.makeStorage()
        yield again.skipFiles([2])
        have = yield again.check()
        self.assertEqual(list(have), [0, 1, 2])
        self.assertFalse(os.path.lexists(self.path("sub", "deeper", "c")))

    @defer.inlineCallbacks
    def test_skippedOnDiskKept(self):
        """
        A file skipped once on disk stays in use: no part file is made, and
        its pieces still verify.
        """
        store = self.makeStorage()
        yield self.writeAll(store)
        yield store.skipFiles([2])
        ok = yield store.verifyPiece(0)
        self.assertTrue(ok)
        self.assertTrue(os.path.exists(self.path("sub", "deeper", "c")))
        self.assertFalse(os.path.exists(store.partPath))

    @defer.inlineCallbacks
    def test_removeDataDeletesPartFile(self):
        """
        L{FileStorage.removeData} deletes the part file too.
        """
        store = self.makeStorage()
        yield store.skipFiles([2])
        yield self.writeAll(store)
        yield store.removeData()
        self.assertFalse(os.path.exists(store.partPath))
        self.assertEqual(os.listdir(self.folder), [])

    @defer.inlineCallbacks
    def test_outOfRange(self):
        """
        Skipping a file the torrent does not have fails with
        L{StorageError}, for both storages.
        """
        store = self.makeStorage()
        yield self.assertFailure(store.skipFiles([5]), StorageError)
        yield self.assertFailure(MemoryStorage(self.metainfo).skipFiles([-1]), StorageError)
        yield MemoryStorage(self.metainfo).skipFiles([0, 4])
