# -*- test-case-name: tests.test_storage -*-
"""
L{BlockWriter}: the blocks of a storage's write job written, a run of blocks
that follow each other in one file in one C{pwritev}, and the pieces checked
in the same job; on the pool thread running the storage's jobs.
"""

import bisect
import os
from typing import Any, Callable, Iterator

from twisted.python.failure import Failure

from bittwist.filestorage.filecache import FileCache
from bittwist.filestorage.hashes import RunningHashes
from bittwist.filestorage.partfile import PartFile
from bittwist.filestorage.shared import Span, osError, pwriteAll

__all__ = ["VERIFY", "BlockWriter", "reportFailedWrite"]

VERIFY = object()
"""
In L{bittwist.storage.FileStorage}'s queue of writes, in place of a block: a piece to verify.
"""


def reportFailedWrite(report: tuple[Callable[[Failure, int], None], Failure, int]) -> None:
    """
    Call a block's C{failed} callback with the failure and the block's
    length (a storage's reports are C{(callback, value)} pairs, called with
    one value).
    """
    failed, failure, length = report
    failed(failure, length)



class BlockWriter:
    """
    Writes blocks into the files they span (pad bytes dropped, skipped
    files' bytes into the part file), keeping the running hashes.
    """

    def __init__(
        self,
        metainfo: Any,
        spans: Any,
        starts: Any,
        segments: Callable[[int, int], Iterator[tuple[Span, int, int]]],
        files: FileCache,
        part: PartFile,
        hashes: RunningHashes,
        verifyStored: Callable[[int], bool],
        deliverVerified: Callable[[tuple[Callable[[int, bool], None], int, bool]], None],
    ) -> None:
        """
        @param metainfo: the torrent's metainfo.
        @param spans: the storage's file spans, in stream order.
        @param starts: where each span starts in the stream.
        @param segments: the storage's C{_segments}: the spans a byte range
            covers.
        @param files: its open files.
        @param part: its part file.
        @param hashes: its running hashes.
        @param verifyStored: hashes a piece as stored, and tells whether it
            matched.
        @param deliverVerified: reports a piece verified, on the reactor
            thread.
        """
        self._metainfo = metainfo
        self._pieceLength = metainfo.pieceLength
        self._spans = spans
        self._starts = starts
        self._segments = segments
        self._files = files
        self._part = part
        # Held for the per-block paths; both are changed in place only.
        self._inPart = part.inPart
        self._partSpan = part.span
        self._hashes = hashes
        self._verifyStored = verifyStored
        self._deliverVerified = deliverVerified

    def write(self, start: int, data: bytes) -> int:
        """
        Write one block (L{bittwist.storage.IPieceStorage.writeBlock}).

        @return: how many bytes were written: all of C{data}.
        """
        if not self._files.emptiesMade:
            self._files.makeEmptyFiles(self._metainfo, self._part.skipped)
        try:
            padded = self._writeSpans(start, data)
        except BaseException:
            # Part of it may be on disk: the piece's running hash is no more.
            self._hashes.forget(start // self._pieceLength)
            raise
        self._hashes.written(start, data, padded)
        return len(data)

    def writeMany(self, writes: list[tuple[int, bytes, Callable, Callable]]) -> list:
        """
        Write blocks queued by L{bittwist.storage.FileStorage.queueWrite},
        in order; a run of blocks that follow each other in one file goes in
        one C{pwritev}.

        @return: for each block, its C{written} callback and length (one
            for consecutive blocks with the same callback, with the sum of
            their lengths), or, for a block that failed, L{reportFailedWrite}
            with its C{failed} callback, the failure and its length.
        """
        reports = []
        run: list[tuple[int, bytes, Callable, Callable]] = []
        runSpan: Span | None = None
        runEnd = -1
        for write in writes:
            start, data = write[0], write[1]
            if data is VERIFY:
                if run:
                    self._writeRun(runSpan, run, reports)
                    run = []
                self._verifyQueued(write, reports)
                continue
            end = start + len(data)
            span = self._spans[bisect.bisect_right(self._starts, start) - 1]
            inOneFile = (
                not span.pad and end <= span.offset + span.length
                and span.index not in self._inPart
            )
            if run and inOneFile and span is runSpan and start == runEnd:
                run.append(write)
                runEnd = end
                continue
            if run:
                self._writeRun(runSpan, run, reports)
                run = []
            if inOneFile:
                run, runSpan, runEnd = [write], span, end
            else:
                self._writeOne(write, reports)
        if run:
            self._writeRun(runSpan, run, reports)
        # One report for the consecutive blocks written for one callback
        # (a download's: all of its blocks), not one call per block on the
        # reactor thread.
        merged: list = []
        for report, value in reports:
            if (
                merged and type(value) is int and merged[-1][0] is report
                and type(merged[-1][1]) is int
            ):
                merged[-1] = (report, merged[-1][1] + value)
            else:
                merged.append((report, value))
        return merged

    def _verifyQueued(self, verify: tuple[int, object, Callable, Callable], reports: list) -> None:
        """
        Verify a piece queued by L{bittwist.storage.FileStorage.queueVerify},
        adding how it went to C{reports}: the answer goes through
        C{deliverVerified}, which updates C{have} on the reactor thread
        first.
        """
        index, _, verified, failed = verify
        try:
            reports.append((self._deliverVerified, (verified, index, self._verifyStored(index))))
        except BaseException:
            reports.append((failed, Failure()))

    def _writeOne(self, write: tuple[int, bytes, Callable, Callable], reports: list) -> None:
        """
        Write one block queued by L{bittwist.storage.FileStorage.queueWrite},
        adding how it went to C{reports}.
        """
        start, data, written, failed = write
        try:
            reports.append((written, self.write(start, data)))
        except BaseException:
            reports.append((reportFailedWrite, (failed, Failure(), len(data))))

    def _writeRun(self, span: Span, run: list, reports: list) -> None:
        """
        Write blocks that follow each other in the file of C{span}, adding
        how each went to C{reports}.
        """
        if len(run) == 1:
            self._writeOne(run[0], reports)
            return
        if not self._files.emptiesMade:
            self._files.makeEmptyFiles(self._metainfo, self._part.skipped)
        first = run[0][0]
        offset = first - span.offset
        buffers = [memoryview(data) for _, data, _, _ in run]
        try:
            try:
                fd = self._files.fd(span, True)
                total = sum(len(b) for b in buffers)
                done = os.pwritev(fd, buffers, offset)
                while done < total:
                    # A short write: the rest one buffer at a time.
                    skip = done
                    for b in buffers:
                        if skip >= len(b):
                            skip -= len(b)
                            continue
                        done += os.pwrite(fd, b[skip:], offset + done)
                        break
            except OSError as e:
                raise osError(e, "writing", span.path) from None
        except BaseException:
            failure = Failure()
            for start, data, _, failed in run:
                self._hashes.forget(start // self._pieceLength)
                reports.append((reportFailedWrite, (failed, failure, len(data))))
            return
        for start, data, written, _ in run:
            self._hashes.written(start, data, False)
            reports.append((written, len(data)))

    def _writeSpans(self, start: int, data: bytes) -> bool:
        """
        Write C{data} at stream offset C{start} into the files it spans.

        @return: whether it spans pad bytes (dropped).
        """
        view = memoryview(data)
        position = 0
        padded = False
        for span, offset, size in self._segments(start, len(data)):
            padded = padded or span.pad
            if not span.pad:
                if span.index in self._inPart:
                    span, offset = self._partSpan, span.offset + offset
                try:
                    fd = self._files.fd(span, True)
                    pwriteAll(fd, view[position:position + size], offset)
                except OSError as e:
                    raise osError(e, "writing", span.path) from None
            position += size
        return padded
