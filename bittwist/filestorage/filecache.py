# -*- test-case-name: tests.test_storage -*-
"""
L{FileCache}: the open files of one L{bittwist.storage.FileStorage}, created
and sized on their first write, never outside the download folder.
"""

import collections
import os
from typing import Any, Iterable

from bittwist.errors import StorageError
from bittwist.filestorage.shared import Span, osError

__all__ = ["MAX_OPEN_FILES", "FileCache"]

MAX_OPEN_FILES = 256
"""
How many file descriptors one L{bittwist.storage.FileStorage} keeps open at
most; beyond that the least recently used is closed.  A torrent may have
many thousands of files, more than the process's open-files limit.
"""


class FileCache:
    """
    The descriptors of a torrent's files, opened as needed, the least
    recently used closed beyond L{MAX_OPEN_FILES}.  Used on the pool thread
    running the storage's jobs, or on the reactor thread while none is
    queued or running (L{fds}, to read at once).

    @ivar downloadDir: the download folder, absolute.
    @ivar fds: span index to its descriptor and whether it is writable,
        least recently used first.
    @ivar emptiesMade: whether the torrent's empty files were created since
        the files skipped last changed.
    """

    def __init__(self, downloadDir: str) -> None:
        """
        @param downloadDir: the download folder, absolute.
        """
        self.downloadDir = downloadDir
        self.fds: collections.OrderedDict[int, tuple[int, bool]] = collections.OrderedDict()
        self.emptiesMade = False
        self._sized: set[int] = set()
        self._root: str | None = None

    def _rootDir(self) -> str:
        if self._root is None:
            self._root = os.path.realpath(self.downloadDir)
        return self._root

    def checkInside(self, path: str) -> None:
        """
        @raise StorageError: if C{path}, symbolic links resolved, is not
            inside the download folder.
        """
        root = self._rootDir()
        real = os.path.realpath(path)
        if real == root or os.path.commonpath([root, real]) != root:
            raise StorageError(
                f"{path} resolves to {real}, outside the download folder "
                f"{self.downloadDir}: refusing to use it; remove the symbolic "
                f"link in the way",
                path,
            )

    def fd(self, span: Span, write: bool) -> int | None:
        """
        The descriptor of C{span}'s file, opened (and for writing created
        and sized) as needed.

        @return: the descriptor, or C{None} if reading a missing file.
        @raise StorageError: if it cannot be opened, created or sized.
        """
        fds = self.fds
        entry = fds.get(span.index)
        if entry is not None:
            fd, writable = entry
            if writable or not write:
                fds.move_to_end(span.index)
                return fd
            del fds[span.index]
            os.close(fd)
        path = span.path
        self.checkInside(path)
        try:
            if write:
                folder = os.path.dirname(path)
                os.makedirs(folder, exist_ok=True)
                # makedirs follows links in the folders; look again.
                self.checkInside(path)
                fd = os.open(
                    path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666
                )
            else:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            if write:
                raise
            return None
        except OSError as e:
            raise osError(e, "writing" if write else "reading", path) from None
        if write and span.index not in self._sized:
            try:
                if os.fstat(fd).st_size < span.length:
                    os.ftruncate(fd, span.length)
            except OSError as e:
                os.close(fd)
                raise osError(e, "writing", path) from None
            self._sized.add(span.index)
        fds[span.index] = (fd, write)
        while len(fds) > MAX_OPEN_FILES:
            _, (oldFd, _) = fds.popitem(last=False)
            os.close(oldFd)
        return fd

    def close(self, span: Span) -> None:
        """
        Close C{span}'s file if it is open.
        """
        entry = self.fds.pop(span.index, None)
        if entry is not None:
            os.close(entry[0])

    def closeAll(self) -> None:
        """
        Close every file.

        @raise OSError: the first error closing one, once all are closed.
        """
        entries = list(self.fds.values())
        self.fds.clear()
        errors = []
        for fd, _ in entries:
            try:
                os.close(fd)
            except OSError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def makeEmptyFiles(self, metainfo: Any, skipped: Iterable[int]) -> None:
        """
        Create the torrent's empty files, which no write would otherwise
        create, but those skipped.

        @param skipped: indexes of files among the torrent's files but pad
            files.
        """
        files = (entry for entry in metainfo.files if not entry.pad)
        for index, entry in enumerate(files):
            if entry.length == 0 and index not in skipped:
                path = os.path.join(self.downloadDir, *entry.path)
                try:
                    self.checkInside(path)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    self.checkInside(path)
                    os.close(os.open(
                        path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666
                    ))
                except OSError as e:
                    raise osError(e, "writing", path) from None
        self.emptiesMade = True
