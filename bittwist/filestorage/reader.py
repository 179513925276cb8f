# -*- test-case-name: tests.test_storage -*-
"""
L{BlockReader}: a torrent's byte ranges read from its files, on the pool
thread running the storage's jobs, or at once on the reactor thread from the
page cache (C{RWF_NOWAIT}), never waiting for the disk there.
"""

import errno
import os
from typing import Any, Callable, Iterator

from bittwist.filestorage.filecache import FileCache
from bittwist.filestorage.partfile import PartFile
from bittwist.filestorage.shared import HASH_CHUNK, ZEROS, Absent, Span, osError, readBuffer

__all__ = ["READ_NOW_FLAGS", "BlockReader"]

READ_NOW_FLAGS = getattr(os, "RWF_NOWAIT", None)
"""
C{preadv}'s flag for a read that fails at once rather than wait for the
disk (Linux 4.14 and later), or C{None} where there is none.
"""


class BlockReader:
    """
    Reads byte ranges of the torrent's stream across its files (pad bytes
    as zeros, skipped files' bytes from the part file).

    @ivar readsNow: whether reads may be tried on the reactor thread, from
        the page cache (not where the system cannot read without waiting).
    """

    def __init__(
        self,
        segments: Callable[[int, int], Iterator[tuple[Span, int, int]]],
        files: FileCache,
        part: PartFile,
    ) -> None:
        """
        @param segments: cuts a byte range of the stream at file boundaries
            (see L{bittwist.storage._StorageBase._segments}).
        @param files: the storage's open files.
        @param part: the storage's part file.
        """
        self._segments = segments
        self._files = files
        # Held for the per-read paths; both are changed in place only.
        self._fds = files.fds
        self._inPart = part.inPart
        self._partSpan = part.span
        self.readsNow = READ_NOW_FLAGS is not None

    def readChunks(self, start: int, length: int, into: Callable[[Any], None]) -> None:
        """
        Read a byte range in chunks of at most L{HASH_CHUNK} bytes, passing
        each to C{into} (a view valid only during the call).

        @raise Absent: if part of it is not on disk.
        """
        for span, offset, size in self._segments(start, length):
            if span.pad:
                while size:
                    n = min(size, HASH_CHUNK)
                    into(ZEROS[:n])
                    size -= n
                continue
            if span.index in self._inPart:
                span, offset = self._partSpan, span.offset + offset
            fd = self._files.fd(span, False)
            if fd is None:
                raise Absent()
            buffer = readBuffer()
            while size:
                n = min(size, len(buffer))
                try:
                    got = os.preadv(fd, [buffer[:n]], offset)
                except OSError as e:
                    raise osError(e, "reading", span.path) from None
                if got <= 0:
                    raise Absent()
                into(buffer[:got])
                offset += got
                size -= got

    def readRange(self, start: int, length: int, now: bool) -> bytearray | None:
        """
        Read a byte range into a new buffer, straight from the files (no
        copy through a shared buffer): on a pool thread, or with C{now} on
        the reactor thread while no job is queued or running.

        @param now: read only from files already open, and only what the
            page cache holds, never waiting for the disk.
        @return: the bytes; C{None} if C{now} and that was not possible
            (the pool is to read them).
        @raise Absent: if part of the range is not on disk (not with
            C{now}).
        @raise StorageError: if reading fails (not with C{now}).
        """
        data = bytearray(length)
        position = 0
        with memoryview(data) as view:
            for span, offset, size in self._segments(start, length):
                if span.pad:
                    # Zeros already.
                    position += size
                    continue
                if span.index in self._inPart:
                    span, offset = self._partSpan, span.offset + offset
                if now:
                    entry = self._fds.get(span.index)
                    # Opening a file may wait on the disk: the pool does it.
                    fd = entry[0] if entry is not None else None
                else:
                    fd = self._files.fd(span, False)
                if fd is None:
                    if now:
                        return None
                    raise Absent()
                end = position + size
                while position < end:
                    try:
                        if now:
                            got = os.preadv(fd, [view[position:end]], offset, READ_NOW_FLAGS)
                        else:
                            got = os.preadv(fd, [view[position:end]], offset)
                    except OSError as e:
                        if not now:
                            raise osError(e, "reading", span.path) from None
                        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                            # Not here (an old kernel, another file system).
                            self.readsNow = False
                        # Not in the page cache (EAGAIN), or an error for
                        # the pool to report.
                        return None
                    if got <= 0:
                        if now:
                            return None
                        raise Absent()
                    if now and got < end - position:
                        # Partly cached: the pool reads it all.
                        return None
                    position += got
                    offset += got
        return data
