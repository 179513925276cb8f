# -*- test-case-name: tests.test_storage -*-
"""
Piece storage: where the blocks of a torrent go, and how pieces are checked.

L{IPieceStorage} is the contract the rest of bittwist codes against.
L{FileStorage} keeps the data in the torrent's files under a download folder;
all of its disk I/O and SHA-1 hashing run, in order, on the threads of a
L{bittwist.diskpool.DiskPool} shared by every torrent, so nothing blocks the
reactor and a L{IPieceStorage.verifyPiece} always sees the writes queued
before it.  A piece whose blocks were written in order from its start is
hashed as they are written, and verified without reading it back.  The one
exception is a read for upload while the storage has no job queued or
running: it is served on the reactor thread if the page cache holds it all
(C{RWF_NOWAIT}, which never waits for the disk), without a thread hop.
L{FileStorage} is a facade over parts with one job each, in
L{bittwist.filestorage}: the open files, the running hashes, the part file,
the reads and the writes.  L{MemoryStorage} keeps the data in a
C{bytearray}, for tests and small swarms.

Byte layout: a torrent is one byte stream cut into pieces; its files (BEP 47
pad files included) lie end to end in that stream.  A block may span several
files.  Pad bytes are dropped on write, read back as zeros, and pad files are
never created on disk.

Skipped files (L{IPieceStorage.skipFiles}) are not created either.  A piece
wanted for one file may hold bytes of a skipped one, and hashing it needs
them: like libtorrent, L{FileStorage} keeps a skipped file's bytes in one
hidden I{part file} per torrent, C{.<info hash>.parts} in the download
folder, at their offset in the torrent's byte stream.  The part file is
sparse: only the pieces downloaded take room on disk, in practice the one or
two pieces each skipped file shares with wanted ones.  A file wanted again
gets its bytes from the part file; the part file is deleted once no skipped
file uses it.
"""

import bisect
import hashlib
import os
from typing import Any, Callable, Iterable

from twisted.internet import defer, threads
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer

from bittwist.bitfield import Bitfield
from bittwist.diskpool import DiskPool, deliver, sharedPool
from bittwist.errors import StorageError
from bittwist.filestorage.fdbudget import DescriptorBudget, sharedBudget
from bittwist.filestorage.filecache import FileCache
from bittwist.filestorage.hashes import MAX_RUNNING_HASHES, RunningHashes
from bittwist.filestorage.partfile import PartFile
from bittwist.filestorage.reader import BlockReader
from bittwist.filestorage.removal import removeFiles
from bittwist.filestorage.shared import Absent, Span
from bittwist.filestorage.writer import VERIFY, BlockWriter
from bittwist.waiters import Waiters

__all__ = ["IPieceStorage", "FileStorage", "MemoryStorage", "MAX_RUNNING_HASHES"]

_MAX_PENDING_BYTES = 1024 * 1024
"""
Blocks queued for writing within one reactor turn go to the pool together,
up to this many bytes...
"""

_MAX_PENDING_WRITES = 64
"""
...and this many blocks (a C{pwritev} takes at most C{IOV_MAX}, 1024 on
Linux, buffers).
"""

class IPieceStorage(Interface):
    """
    The pieces of one torrent: blocks written as they arrive, pieces verified
    against the metainfo's hashes, verified blocks read back for upload.

    Every method returns a C{Deferred}; their results come back in the order
    the calls were made.  Failures are L{StorageError}.
    """

    metainfo = Attribute("the L{bittwist.metainfo.Metainfo} this storage holds")
    have = Attribute(
        "a L{bittwist.bitfield.Bitfield} of the pieces verified so far; "
        "callers only read it"
    )

    def check(trusted: Bitfield | None = None, rehash: Iterable[int] = ()) -> Deferred:
        """
        Resume: hash what is already stored and make C{have} exactly the
        pieces that match.  Missing or short files mean those pieces are
        absent, not an error.  Reads one piece at a time.

        With C{trusted}, a fast resume: the pieces in C{trusted} count as
        verified and every other piece as absent, without reading anything,
        except the pieces in C{rehash}, which are hashed as usual.

        @param trusted: pieces known to be stored intact (e.g. saved fast
            resume data whose files have not changed since), or C{None} to
            hash every piece.
        @param rehash: with C{trusted}, the pieces to hash all the same
            (those touching files changed since C{trusted} was saved).
        @return: a C{Deferred} firing with C{have}.
        """

    def writeBlock(index: int, begin: int, data: bytes) -> Deferred:
        """
        Store C{data} at offset C{begin} of piece C{index}.  C{data} must not
        be mutated until the C{Deferred} fires.

        @return: a C{Deferred} firing with C{None} once written, or failing
            with L{StorageError} (out of range, disk full, ...).
        """

    def queueWrite(
        index: int,
        begin: int,
        data: bytes,
        written: Callable[[int], None],
        failed: Callable[[Failure, int], None],
    ) -> None:
        """
        L{writeBlock}, reporting by plain calls instead of a C{Deferred}: for
        the download path, where a C{Deferred} per block cost more than the
        rest of queueing the write.  Ordered with every other call as
        L{writeBlock} is.  C{data} must not be mutated until reported.

        @param written: called with C{len(data)} once written; consecutive
            blocks queued with the same C{written} may be reported by one
            call, with the sum of their lengths.
        @param failed: called with a C{Failure} of L{StorageError} and
            C{len(data)} instead if the write failed (the length, so that a
            caller counting bytes on their way to disk can let them go).
            Either may be called before C{queueWrite} returns, and always on
            the reactor thread.
        """

    def queueVerify(
        index: int,
        verified: Callable[[int, bool], None],
        failed: Callable[[Failure], None],
    ) -> None:
        """
        L{verifyPiece}, reporting by a plain call instead of a C{Deferred}:
        for the download path, which verifies every piece (tens of thousands
        in flight with many torrents, each a C{Deferred} and its callbacks
        for the garbage collector to walk).  Ordered with every other call
        as L{verifyPiece} is.

        @param verified: called with C{index} and whether it matched its
            hash, once C{have} says so.
        @param failed: called with a C{Failure} of L{StorageError} instead
            if the piece could not be read.  Either may be called before
            C{queueVerify} returns, and always on the reactor thread.
        """

    def readBlock(index: int, begin: int, length: int) -> Deferred:
        """
        Read C{length} bytes at offset C{begin} of piece C{index}.  Callers
        serve only pieces in C{have}.

        @return: a C{Deferred} firing with the bytes (C{bytes} or a
            C{bytearray}, the caller's to keep), or failing with
            L{StorageError} if out of range or the data is not stored.
        """

    def verifyPiece(index: int) -> Deferred:
        """
        Hash piece C{index} as stored, after every write queued before this
        call, and compare it with the metainfo's hash; add it to C{have} on a
        match, remove it from C{have} otherwise.

        @return: a C{Deferred} firing with C{True} on a match, C{False} on a
            mismatch or missing data (the caller downloads it again).
        """

    def skipFiles(skipped: Iterable[int]) -> Deferred:
        """
        Do not create the files C{skipped}, and create the others when
        written to, from now on: the caller downloads only pieces holding
        bytes of files it wants.  Bytes of a skipped file that such a piece
        holds are still written and read back, kept aside; a skipped file
        already on disk keeps being used.  Ordered with every other call.

        @param skipped: indexes of files among the torrent's files but pad
            files (as L{bittwist.torrent.status.describeFiles} lists them).
        @return: a C{Deferred} firing with C{None} once applied, or failing
            with L{StorageError} (an index out of range, a failure moving
            kept bytes into a file wanted again).
        """

    def close() -> Deferred:
        """
        Finish the queued work, close the files, stop any worker.  Idempotent;
        every later call but C{close} fails with L{StorageError}.

        @return: a C{Deferred} firing with C{None} when done.
        """

    def removeData() -> Deferred:
        """
        L{close}, then delete the torrent's data: its files and the folders
        left empty by that, never anything else.

        @return: a C{Deferred} firing with C{None} when done, or failing with
            L{StorageError}.
        """


def _discard(result: object) -> None:
    return None


class _StorageBase:
    """
    What both storages share: the layout, range checks and C{have}.
    """

    @property
    def closed(self) -> bool:
        """
        Whether C{close} (or C{removeData}) was called: nothing more is read
        or written.
        """
        return self._closed

    def __init__(self, metainfo: Any) -> None:
        self.metainfo = metainfo
        self.have = Bitfield(metainfo.numPieces)
        self._closed = False
        self._pieceLength = metainfo.pieceLength
        # Pieces before the last one are all full-size.
        self._fullPieces = max(0, metainfo.numPieces - 1)
        self._spans: list[Span] = []
        self._starts: list[int] = []
        offset = 0
        # Per file but pad files: its span, or None if it is empty.
        self._fileSpans: list[Span | None] = []
        for entry in metainfo.files:
            if entry.offset != offset:
                raise StorageError(
                    f"{metainfo.name}: file {'/'.join(entry.path)!r} starts at "
                    f"{entry.offset}, expected {offset}; the torrent is damaged"
                )
            offset += entry.length
            span = None
            if entry.length:
                self._starts.append(entry.offset)
                span = Span(entry.offset, entry.length, entry.pad,
                             self._diskPath(entry), len(self._spans))
                self._spans.append(span)
            if not entry.pad:
                self._fileSpans.append(span)
        if offset != metainfo.totalLength:
            raise StorageError(
                f"{metainfo.name}: files add up to {offset} bytes, not "
                f"{metainfo.totalLength}; the torrent is damaged"
            )

    def _diskPath(self, entry: Any) -> str | None:
        return None

    def _segments(self, start: int, length: int):
        """
        Cut the byte range C{[start, start + length)} of the stream at file
        boundaries.

        @return: an iterator of C{(span, offsetInFile, size)}.
        """
        end = start + length
        i = bisect.bisect_right(self._starts, start) - 1
        spans = self._spans
        while start < end:
            span = spans[i]
            size = min(end, span.offset + span.length) - start
            yield span, start - span.offset, size
            start += size
            i += 1

    def _checkFiles(self, skipped: Iterable[int]) -> frozenset[int]:
        """
        @return: C{skipped}, checked.
        @raise StorageError: if an index is not that of a file.
        """
        self._checkOpen()
        indexes = frozenset(skipped)
        count = len(self._fileSpans)
        for index in indexes:
            if type(index) is not int or not 0 <= index < count:
                raise StorageError(
                    f"file {index!r} is out of range 0..{count - 1} of {self.metainfo.name}"
                )
        return indexes

    def _checkOpen(self) -> None:
        if self._closed:
            raise StorageError(f"storage of {self.metainfo.name} is closed")

    def _pieceChecked(self, index: int, failed: Callable[[Failure], None]) -> bool:
        """
        Check piece C{index} for L{IPieceStorage.queueVerify}: a bad index
        goes to C{failed} (its L{StorageError}), not to the caller.

        @return: whether the piece is there to verify.
        """
        try:
            self._checkPiece(index)
        except StorageError:
            failed(Failure())
            return False
        return True

    def _checkPiece(self, index: int) -> int:
        """
        @return: the stream offset of piece C{index}.
        @raise StorageError: if there is no such piece.
        """
        self._checkOpen()
        if not isinstance(index, int) or not 0 <= index < self.metainfo.numPieces:
            raise StorageError(
                f"piece {index!r} is out of range 0..{self.metainfo.numPieces - 1} "
                f"of {self.metainfo.name}"
            )
        return index * self._pieceLength

    def _checkRange(self, index: int, begin: int, length: int) -> int:
        """
        @return: the stream offset of byte C{begin} of piece C{index}.
        @raise StorageError: unless C{length} bytes at C{begin} lie inside
            the piece and C{length} is positive.
        """
        if (
            type(index) is int and type(begin) is int and type(length) is int
            and 0 <= index < self._fullPieces and begin >= 0 and length > 0
            and begin + length <= self._pieceLength and not self._closed
        ):
            # A block of a full-size piece, which every block received is
            # but the last piece's: one test instead of three calls.
            return index * self._pieceLength + begin
        start = self._checkPiece(index)
        size = self.metainfo.pieceSize(index)
        if (
            not isinstance(begin, int) or not isinstance(length, int)
            or begin < 0 or length <= 0 or begin + length > size
        ):
            raise StorageError(
                f"block at {begin!r}+{length!r} is out of range of piece {index} "
                f"({size} bytes) of {self.metainfo.name}"
            )
        return start + begin

    def _verified(self, matched: bool, index: int) -> bool:
        if matched:
            self.have.add(index)
        else:
            self.have.discard(index)
        return matched

    def _toHash(self, trusted: Bitfield | None, rehash: Iterable[int]) -> list[int]:
        """
        @return: the pieces L{IPieceStorage.check} must read and hash.
        """
        if trusted is None:
            return list(range(self.metainfo.numPieces))
        numPieces = self.metainfo.numPieces
        return sorted({i for i in rehash if 0 <= i < numPieces})

    def _trustedPieces(self, trusted: Bitfield | None, rehash: Iterable[int]) -> list[int]:
        """
        @return: the pieces L{IPieceStorage.check} takes as verified unread.
        @raise StorageError: if C{trusted} is not sized for this torrent.
        """
        if trusted is None:
            return []
        if trusted.length != self.metainfo.numPieces:
            raise StorageError(
                f"fast resume data of {self.metainfo.name} has {trusted.length} "
                f"pieces, the torrent {self.metainfo.numPieces}"
            )
        skip = set(rehash)
        return [i for i in trusted if i not in skip]

    def _checked(self, found: list[int]) -> Bitfield:
        have = self.have
        for index in list(have):
            have.discard(index)
        for index in found:
            have.add(index)
        return have


@implementer(IPieceStorage)
class MemoryStorage(_StorageBase):
    """
    An L{IPieceStorage} in memory; its C{Deferred}s have fired on return.

    A piece that no write ever touched is not stored: reading it fails and
    checking finds it absent.

    @ivar data: the torrent's whole byte stream, pad bytes included (zero).
    """

    def __init__(self, metainfo: Any, data: bytes | None = None) -> None:
        """
        @param metainfo: the torrent.
        @param data: optionally the torrent's whole byte stream (pad bytes
            included) to start with, e.g. to seed in a test; every piece then
            counts as stored (call C{check} to fill C{have}).
        @raise StorageError: if C{data} is not C{totalLength} bytes.
        """
        super().__init__(metainfo)
        self.data = bytearray(metainfo.totalLength)
        self._touched: set[int] = set()
        if data is not None:
            if len(data) != metainfo.totalLength:
                raise StorageError(
                    f"initial data is {len(data)} bytes, {metainfo.name} has "
                    f"{metainfo.totalLength}"
                )
            for span in self._spans:
                if not span.pad:
                    end = span.offset + span.length
                    self.data[span.offset:end] = data[span.offset:end]
            self._touched.update(range(metainfo.numPieces))

    def _hashMatches(self, index: int) -> bool:
        if index not in self._touched:
            return False
        start = index * self._pieceLength
        piece = memoryview(self.data)[start:start + self.metainfo.pieceSize(index)]
        return hashlib.sha1(piece).digest() == self.metainfo.hashOf(index)

    def check(self, trusted: Bitfield | None = None, rehash: Iterable[int] = ()) -> Deferred:
        try:
            self._checkOpen()
            kept = self._trustedPieces(trusted, rehash)
        except StorageError:
            return defer.fail()
        found = [i for i in self._toHash(trusted, rehash) if self._hashMatches(i)]
        return defer.succeed(self._checked(found + kept))

    def writeBlock(self, index: int, begin: int, data: bytes) -> Deferred:
        d: Deferred = Deferred()
        self.queueWrite(
            index, begin, data, lambda _: d.callback(None), lambda failure, _: d.errback(failure)
        )
        return d

    def queueWrite(
        self,
        index: int,
        begin: int,
        data: bytes,
        written: Callable[[int], None],
        failed: Callable[[Failure, int], None],
    ) -> None:
        try:
            start = self._checkRange(index, begin, len(data))
        except StorageError:
            failed(Failure(), len(data))
            return
        view = memoryview(data)
        position = 0
        for span, _, size in self._segments(start, len(data)):
            if not span.pad:
                at = start + position
                self.data[at:at + size] = view[position:position + size]
            position += size
        self._touched.add(index)
        written(len(data))

    def readBlock(self, index: int, begin: int, length: int) -> Deferred:
        try:
            start = self._checkRange(index, begin, length)
            if index not in self._touched:
                raise StorageError(
                    f"piece {index} of {self.metainfo.name} is not stored"
                )
        except StorageError:
            return defer.fail()
        return defer.succeed(bytes(self.data[start:start + length]))

    def verifyPiece(self, index: int) -> Deferred:
        try:
            self._checkPiece(index)
        except StorageError:
            return defer.fail()
        return defer.succeed(self._verified(self._hashMatches(index), index))

    def queueVerify(
        self,
        index: int,
        verified: Callable[[int, bool], None],
        failed: Callable[[Failure], None],
    ) -> None:
        if self._pieceChecked(index, failed):
            verified(index, self._verified(self._hashMatches(index), index))

    def skipFiles(self, skipped: Iterable[int]) -> Deferred:
        # Nothing is created in memory: skipped bytes are kept as others.
        try:
            self._checkFiles(skipped)
        except StorageError:
            return defer.fail()
        return defer.succeed(None)

    def close(self) -> Deferred:
        self._closed = True
        return defer.succeed(None)

    def removeData(self) -> Deferred:
        self._closed = True
        self.data = bytearray(len(self.data))
        self.have = Bitfield(self.metainfo.numPieces)
        return defer.succeed(None)


@implementer(IPieceStorage)
class FileStorage(_StorageBase):
    """
    An L{IPieceStorage} in the torrent's files under a download folder.

    Files are created (sparse, at their final length) on their first write,
    folders as needed; pad files never.  Every folder is resolved before
    its first use and files are opened without following a symbolic link:
    anything that would leave the download folder, including through a
    symbolic link already on disk, is refused.  The files open at once are
    bounded by a L{DescriptorBudget} shared with the process's other
    storages.  Disk I/O and hashing run in order on the threads of a
    L{DiskPool}.
    """

    log = Logger()

    def __init__(
        self,
        metainfo: Any,
        downloadDir: str,
        reactor: Any = None,
        pool: DiskPool | None = None,
        budget: DescriptorBudget | None = None,
    ) -> None:
        """
        @param metainfo: the torrent.
        @param downloadDir: the folder the torrent's files go in; it need
            not exist yet.
        @param reactor: the reactor to deliver results on; the global one by
            default.
        @param pool: the threads to do the disk work on; the process's
            shared L{sharedPool} by default.
        @param budget: the open files to share with other storages; the
            process's L{sharedBudget} by default.
        @raise StorageError: if a file path of C{metainfo} is unsafe.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        self.downloadDir = os.path.abspath(downloadDir)
        super().__init__(metainfo)
        self._files = FileCache(self.downloadDir, budget or sharedBudget())
        self.partPath = os.path.join(self.downloadDir, f".{metainfo.infoHash.hex()}.parts")
        self._part = PartFile(self.partPath, self._files, self._spans, self._fileSpans)
        self._reader = BlockReader(self._segments, self._files, self._part)
        self._hashes = RunningHashes(self._pieceLength, self._segments, self._reader.readChunks)
        # The writer holds _deliverVerified bound once, not once per piece
        # verified.
        self._writer = BlockWriter(
            metainfo, self._spans, self._starts, self._segments,
            self._files, self._part, self._hashes, self._verifyStored, self._deliverVerified,
        )
        self._jobs = (pool or sharedPool()).queue(reactor)
        # Writes queued by queueWrite, not yet handed to the pool: those of
        # one reactor turn go as one job (see _flushWrites).
        self._pendingWrites: list[tuple[int, bytes, Callable, Callable]] = []
        self._pendingBytes = 0
        self._closing: Deferred | None = None
        self._closeWaiters: Waiters[None] = Waiters()
        self._trigger = None

    def _diskPath(self, entry: Any) -> str | None:
        if entry.pad:
            return None
        for component in entry.path:
            if (
                not isinstance(component, str) or component in ("", ".", "..")
                or "/" in component or "\0" in component
                or (os.altsep and os.altsep in component)
            ):
                raise StorageError(
                    f"{self.metainfo.name}: file path {'/'.join(entry.path)!r} "
                    f"would leave the download folder; refusing it",
                    os.path.join(self.downloadDir, *map(str, entry.path)),
                )
        return os.path.join(self.downloadDir, *entry.path)

    # Reactor thread.

    def _submit(self, function: Callable[..., Any], *args: Any) -> Deferred:
        d = Deferred()
        self._call(d.callback, d.errback, function, *args)
        return d

    def _call(
        self,
        callback: Callable[[Any], None],
        errback: Callable[[Failure], None],
        function: Callable[..., Any],
        *args: Any,
    ) -> None:
        if self._trigger is None and self._closing is None:
            self._trigger = self._reactor.addSystemEventTrigger(
                "before", "shutdown", self._shutdown
            )
        if self._pendingWrites:
            self._flushWrites()
        self._jobs.call(callback, errback, function, *args)

    def check(self, trusted: Bitfield | None = None, rehash: Iterable[int] = ()) -> Deferred:
        try:
            self._checkOpen()
            kept = self._trustedPieces(trusted, rehash)
        except StorageError:
            return defer.fail()
        d = self._submit(self._checkAll, self._toHash(trusted, rehash))
        return d.addCallback(lambda found: self._checked(found + kept))

    def writeBlock(self, index: int, begin: int, data: bytes) -> Deferred:
        try:
            start = self._checkRange(index, begin, len(data))
        except StorageError:
            return defer.fail()
        return self._submit(self._writer.write, start, data).addCallback(_discard)

    def queueWrite(
        self,
        index: int,
        begin: int,
        data: bytes,
        written: Callable[[int], None],
        failed: Callable[[Failure, int], None],
    ) -> None:
        try:
            start = self._checkRange(index, begin, len(data))
        except StorageError:
            failed(Failure(), len(data))
            return
        pending = self._pendingWrites
        pending.append((start, data, written, failed))
        self._pendingBytes += len(data)
        if len(pending) == 1:
            self._reactor.callLater(0, self._flushWrites)
        elif self._pendingBytes >= _MAX_PENDING_BYTES or len(pending) >= _MAX_PENDING_WRITES:
            self._flushWrites()

    def queueVerify(
        self,
        index: int,
        verified: Callable[[int, bool], None],
        failed: Callable[[Failure], None],
    ) -> None:
        if not self._pieceChecked(index, failed):
            return
        # Queued with the writes of this reactor turn, in their job: the
        # piece's last blocks and its check cost one thread hop.
        pending = self._pendingWrites
        pending.append((index, VERIFY, verified, failed))
        if len(pending) == 1:
            self._reactor.callLater(0, self._flushWrites)

    def _flushWrites(self) -> None:
        """
        Hand the writes queued so far to the pool as one job: one thread hop
        for the blocks of a reactor turn, and adjacent ones written with one
        system call.
        """
        writes = self._pendingWrites
        if not writes:
            return
        self._pendingWrites = []
        self._pendingBytes = 0

        def failedAll(failure: Failure) -> None:
            for _, data, _, failed in writes:
                if data is VERIFY:
                    failed(failure)
                else:
                    failed(failure, len(data))

        self._call(deliver, failedAll, self._writer.writeMany, writes)

    def readBlock(self, index: int, begin: int, length: int) -> Deferred:
        try:
            start = self._checkRange(index, begin, length)
        except StorageError:
            return defer.fail()
        if self._reader.readsNow and not self._pendingWrites and self._jobs.idle:
            # No pool thread is using our files: read on this thread, if
            # that takes no waiting for the disk (a seed's hot blocks),
            # sparing two thread hops per read.
            data = self._reader.readRange(start, length, now=True)
            if data is not None:
                return defer.succeed(data)
        return self._submit(self._read, start, length)

    def verifyPiece(self, index: int) -> Deferred:
        try:
            self._checkPiece(index)
        except StorageError:
            return defer.fail()
        return self._submit(self._verifyStored, index).addCallback(self._verified, index)

    def skipFiles(self, skipped: Iterable[int]) -> Deferred:
        try:
            indexes = self._checkFiles(skipped)
        except StorageError:
            return defer.fail()
        return self._submit(self._part.apply, indexes).addCallback(_discard)

    def close(self) -> Deferred:
        if self._closing is None:
            # Blocks and checks queued in this reactor turn go before the
            # files close, as every other job does.
            self._flushWrites()
            self._closed = True
            if self._trigger is not None:
                self._reactor.removeSystemEventTrigger(self._trigger)
                self._trigger = None
            d = self._closeWaiters.wait()
            self._closing = self._jobs.stop(self._files.closeAll)
            self._closing.addBoth(self._closeDone)
            return d
        if self._closing.called:
            return defer.succeed(None)
        return self._closeWaiters.wait()

    def removeData(self) -> Deferred:
        def remove(_: object) -> Deferred:
            return threads.deferToThreadPool(
                self._reactor, self._reactor.getThreadPool(),
                removeFiles, self.downloadDir, self.metainfo, self._spans, self._part,
            )

        return self.close().addCallback(remove)

    def _closeDone(self, result: Any) -> None:
        if isinstance(result, Failure):
            self.log.failure("Closing storage of {name}", result, name=self.metainfo.name)
        self._closeWaiters.fire(None)

    def _shutdown(self) -> Deferred:
        self._trigger = None
        return self.close()

    def _deliverVerified(self, result: tuple[Callable[[int, bool], None], int, bool]) -> None:
        verified, index, matched = result
        verified(index, self._verified(matched, index))

    # Worker thread.

    def _read(self, start: int, length: int) -> bytearray:
        try:
            data = self._reader.readRange(start, length, now=False)
        except Absent:
            index = start // self._pieceLength
            raise StorageError(
                f"piece {index} of {self.metainfo.name} is not on disk in "
                f"{self.downloadDir}",
                self.downloadDir,
            ) from None
        assert data is not None
        return data

    def _hashMatches(self, index: int) -> bool:
        sha1 = hashlib.sha1()
        try:
            self._reader.readChunks(
                index * self._pieceLength, self.metainfo.pieceSize(index), sha1.update
            )
        except Absent:
            return False
        return sha1.digest() == self.metainfo.hashOf(index)

    def _verifyStored(self, index: int) -> bool:
        """
        Hash piece C{index}: from its running hash if that covers it all,
        else by reading it back.
        """
        digest = self._hashes.take(index, self.metainfo.pieceSize(index))
        if digest is None:
            return self._hashMatches(index)
        return digest == self.metainfo.hashOf(index)

    def _checkAll(self, indexes: Iterable[int]) -> list[int]:
        found = []
        for index in indexes:
            if self._closed:
                break
            if self._hashMatches(index):
                found.append(index)
        return found
