# -*- test-case-name: tests.test_filecache,tests.test_storage -*-
"""
L{FileCache}: the open files of one L{bittwist.storage.FileStorage}, created
and sized on their first write, never outside the download folder.
"""

import collections
import os
from typing import Any, Iterable

from bittwist.errors import StorageError
from bittwist.filestorage.fdbudget import MIN_OPEN_FILES, DescriptorBudget
from bittwist.filestorage.shared import Span, osError

__all__ = ["FileCache"]


class FileCache:
    """
    The descriptors of a torrent's files, opened as needed; the least
    recently used are closed while the L{DescriptorBudget} it shares with
    the process's other storages is spent.  Used on the pool thread running
    the storage's jobs, or on the reactor thread while none is queued or
    running (L{fds}, to read at once).

    Every file is opened without following a symbolic link in its last
    component, in a folder checked once, when first used, to resolve
    inside the download folder (and created then, for writing): not every
    path resolved on every open, which cost more than the writes with
    thousands of files.

    @ivar downloadDir: the download folder, absolute.
    @ivar fds: span index to its descriptor and whether it is writable,
        least recently used first.
    @ivar emptiesMade: whether the torrent's empty files were created since
        the files skipped last changed.
    """

    def __init__(self, downloadDir: str, budget: DescriptorBudget) -> None:
        """
        @param downloadDir: the download folder, absolute.
        @param budget: the open files this storage shares with others.
        """
        self.downloadDir = downloadDir
        self.fds: collections.OrderedDict[int, tuple[int, bool]] = collections.OrderedDict()
        self.emptiesMade = False
        self._budget = budget
        self._sized: set[int] = set()
        self._root: str | None = None
        # Folders found to resolve inside the download folder, and to
        # exist.
        self._folders: set[str] = set()

    def _rootDir(self) -> str:
        if self._root is None:
            self._root = os.path.realpath(self.downloadDir)
        return self._root

    def _checkInside(self, folder: str, path: str) -> None:
        """
        @raise StorageError: if C{folder}, symbolic links resolved, is not
            the download folder or inside it.
        """
        root = self._rootDir()
        real = os.path.realpath(folder)
        if real != root and os.path.commonpath([root, real]) != root:
            raise StorageError(
                f"{path} resolves to {os.path.join(real, os.path.basename(path))}, "
                f"outside the download folder {self.downloadDir}: refusing to use "
                f"it; remove the symbolic link in the way",
                path,
            )

    def _folderChecked(self, path: str, create: bool) -> None:
        """
        Check the folder of C{path} once: it resolves inside the download
        folder; with C{create}, make it if missing.

        @raise StorageError: if it resolves outside.
        @raise OSError: if it cannot be made.
        """
        folder = os.path.dirname(path)
        if folder in self._folders:
            return
        self._checkInside(folder, path)
        if create:
            os.makedirs(folder, exist_ok=True)
            # makedirs follows links in the folders; look again.
            self._checkInside(folder, path)
        elif not os.path.isdir(folder):
            # Nothing there yet: checked again when it is.
            return
        self._folders.add(folder)

    def _open(self, path: str, write: bool) -> int:
        """
        Open C{path}, never through a symbolic link; for writing, create it
        and its folder.

        @raise FileNotFoundError: if reading a missing file.
        @raise StorageError: if the path leaves the download folder.
        @raise OSError: if it cannot be opened or created.
        """
        self._folderChecked(path, write)
        if not write:
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(path, flags, 0o666)
        except FileNotFoundError:
            # The folder went away since it was checked: make it again.
            self._folders.discard(os.path.dirname(path))
            self._folderChecked(path, True)
            return os.open(path, flags, 0o666)

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
            self._budget.closed()
        path = span.path
        try:
            fd = self._open(path, write)
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
        if self._budget.opened():
            self._shed()
        return fd

    def _shed(self) -> None:
        """
        Close our least recently used files while the budget is over its
        limit, keeping L{MIN_OPEN_FILES}.
        """
        fds = self.fds
        over = True
        while over and len(fds) > MIN_OPEN_FILES:
            _, (oldFd, _) = fds.popitem(last=False)
            try:
                os.close(oldFd)
            finally:
                over = self._budget.closed()

    def close(self, span: Span) -> None:
        """
        Close C{span}'s file if it is open.
        """
        entry = self.fds.pop(span.index, None)
        if entry is not None:
            self._budget.closed()
            os.close(entry[0])

    def closeAll(self) -> None:
        """
        Close every file.

        @raise OSError: the first error closing one, once all are closed.
        """
        entries = list(self.fds.values())
        self.fds.clear()
        self._budget.closed(len(entries))
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
                    os.close(self._open(path, True))
                except OSError as e:
                    raise osError(e, "writing", path) from None
        self.emptiesMade = True
