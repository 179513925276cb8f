# -*- test-case-name: tests.test_storage -*-
"""
L{PartFile}: the bytes of skipped files that wanted pieces hold, kept aside
in one sparse hidden file per torrent, as libtorrent keeps them.
"""

import os

from bittwist.filestorage.filecache import FileCache
from bittwist.filestorage.shared import Span, osError, pwriteAll, readBuffer, unlink

__all__ = ["PartFile"]


class PartFile:
    """
    The part file, C{.<info hash>.parts} in the download folder: a skipped
    file's bytes at their offset in the torrent's byte stream.  Sparse, it
    takes room only for the pieces written, in practice the one or two each
    skipped file shares with wanted ones.  Used on the pool thread running
    the storage's jobs, or (as are the open files) on the reactor thread
    while none is queued or running.

    @ivar path: its path.
    @ivar span: its span, as the open files know it (never sized: it stays
        sparse).
    @ivar inPart: the indexes of the spans whose bytes live in it; changed
        in place, never replaced, so that readers may hold it.
    @ivar skipped: the indexes of the files skipped (among the torrent's
        files but pad files).
    """

    def __init__(
        self,
        path: str,
        files: FileCache,
        spans: list[Span],
        fileSpans: list[Span | None],
    ) -> None:
        """
        @param path: where it goes.
        @param files: the storage's open files.
        @param spans: the layout's spans.
        @param fileSpans: per file but pad files, its span, or C{None} if
            it is empty.
        """
        self.path = path
        # Length 0: never sized, it stays sparse.
        self.span = Span(0, 0, False, path, -1)
        self.inPart: set[int] = set()
        self.skipped: frozenset[int] = frozenset()
        self._files = files
        self._spans = spans
        self._fileSpans = fileSpans

    def apply(self, skipped: frozenset[int]) -> None:
        """
        Skip the files C{skipped} from now on: a newly skipped file not on
        disk gets its bytes kept in the part file; a file wanted again gets
        its bytes out of it.  The part file goes once nothing uses it.

        @raise StorageError: if moving bytes out of it failed.
        """
        spans = self._fileSpans
        inPart = self.inPart
        skippedSpans = {spans[i].index for i in skipped if spans[i] is not None}
        for index in sorted(inPart - skippedSpans):
            self._export(self._spans[index])
            inPart.discard(index)
        for index in skippedSpans - inPart:
            span = self._spans[index]
            if span.index not in self._files.fds and not os.path.lexists(span.path):
                inPart.add(index)
        self.skipped = skipped
        # Empty files wanted again are made on the next write.
        self._files.emptiesMade = False
        if not inPart:
            self.drop()

    def _export(self, span: Span) -> None:
        """
        Copy the bytes of C{span} kept in the part file into its own file,
        leaving holes where the part file has only zeros (never written).
        """
        part = self._files.fd(self.span, False)
        if part is None:
            return
        buffer = readBuffer()
        done = 0
        while done < span.length:
            n = min(span.length - done, len(buffer))
            try:
                got = os.preadv(part, [buffer[:n]], span.offset + done)
            except OSError as e:
                raise osError(e, "reading", self.path) from None
            if got <= 0:
                break
            chunk = buffer[:got]
            if bytes(chunk).count(0) != got:
                fd = self._files.fd(span, True)
                try:
                    pwriteAll(fd, chunk, done)
                except OSError as e:
                    raise osError(e, "writing", span.path) from None
            done += got

    def drop(self) -> None:
        """
        Close and delete the part file, if any.

        @raise StorageError: if it cannot be deleted.
        """
        self._files.close(self.span)
        unlink(self.path)
