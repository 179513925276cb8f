# -*- test-case-name: tests.test_watchdir -*-
"""
A watch folder: C{.torrent} files dropped in a folder are added to a
L{bittwist.service.BitTorrentService}.

The folder is polled on the reactor's clock (no inotify: it works the same
on every platform and on network folders). A file is added once its size
and modification time are the same at two polls in a row, so one still
being written or copied is left alone. Then it is renamed C{X.torrent.added}
(or C{X.torrent.invalid} when it cannot be added, with the reason logged),
so that it is not added again and the user sees what became of it.
Listing the folder, reading the files and renaming them run in the
reactor's thread pool, never on the reactor thread.
"""

import os
from typing import TYPE_CHECKING, Any, Optional, Union

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist.errors import BittwistError, UsageError
from bittwist.metainfo import MAX_METAINFO_SIZE
from bittwist.offthread import runOffThread
from bittwist.safetext import printable

if TYPE_CHECKING:
    from bittwist.service import BitTorrentService

__all__ = ["WatchFolder", "ADDED_SUFFIX", "INVALID_SUFFIX"]

ADDED_SUFFIX = ".added"
"""
Appended to the name of a file once its torrent is added.
"""

INVALID_SUFFIX = ".invalid"
"""
Appended to the name of a file whose torrent could not be added.
"""

MAX_PENDING = 1000
"""
The most files remembered between polls while waiting for their size to
settle: a folder holding more C{.torrent} files gets to the rest later.
"""


class WatchFolder(Service):
    """
    Polls a folder every C{interval} seconds while running and adds the
    C{.torrent} files that stopped changing to a L{BitTorrentService}, at
    most C{maxPerPoll} per poll.

    @ivar folder: the folder watched.
    @ivar downloadDir: the folder the added torrents' files go in.
    """

    log = Logger()

    def __init__(
        self,
        folder: Union[str, "os.PathLike[str]"],
        service: "BitTorrentService",
        downloadDir: Union[str, "os.PathLike[str]"],
        reactor: Any = None,
        interval: float = 3.0,
        maxPerPoll: int = 10,
    ) -> None:
        """
        @param folder: the folder to watch.
        @param service: where torrents are added (its C{addTorrent}).
        @param downloadDir: the folder the torrents' files go in.
        @param reactor: the clock, whose thread pool reads the folder (the
            global reactor by default).
        @param interval: seconds between polls.
        @param maxPerPoll: the most torrents added by one poll, so that a
            folder filled at once does not hold the reactor for long.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        self.folder = os.path.abspath(folder)
        self.downloadDir = os.path.abspath(downloadDir)
        self._service = service
        self._maxPerPoll = maxPerPoll
        self._interval = interval
        self._loop = LoopingCall(self.poll)
        self._loop.clock = reactor
        # name -> (size, mtime) at the last poll, for files not yet stable.
        self._seen: dict[str, tuple[int, int]] = {}
        # Files that could not be renamed: not tried again while present.
        self._stuck: set[str] = set()
        self._listError: Optional[str] = None

    def startService(self) -> None:
        super().startService()
        self.log.info("Watching {folder} for .torrent files", folder=self.folder)
        self._loop.start(self._interval, now=True)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()

    def poll(self) -> "Deferred[None]":
        """
        Look at the folder once: add the torrents whose files are the same
        as at the last poll (up to the bound), remember the others.  The
        folder is listed, and the files read and renamed, off the reactor
        thread (a slow or network folder must not hold it); the torrents
        are added on it.

        @return: fires when done; never fails (problems are logged).  The
            next poll waits for it.
        """
        d = runOffThread(self._reactor, self._candidates)
        d.addCallbacks(self._listed, self._cannotList)
        d.addErrback(
            lambda failure: self.log.failure("Polling {folder} failed", failure, folder=self.folder)
        )
        return d

    def _cannotList(self, failure: Failure) -> None:
        failure.trap(OSError)
        error = failure.value
        message = f"cannot read the watch folder {self.folder}: {error.strerror or error}"
        if message != self._listError:
            # Once per cause, not every few seconds.
            self.log.error("{problem}", problem=message)
            self._listError = message

    def _listed(self, candidates: list[tuple[str, tuple[int, int]]]) -> "Deferred[None]":
        self._listError = None
        # A file that could not be renamed is left alone while it is there.
        self._stuck &= {name for name, _ in candidates}
        seen: dict[str, tuple[int, int]] = {}
        stable = []
        for name, signature in candidates:
            if name in self._stuck:
                continue
            if self._seen.get(name) == signature and len(stable) < self._maxPerPoll:
                stable.append(name)
            elif len(seen) < MAX_PENDING:
                seen[name] = signature
        self._seen = seen
        if not stable:
            return succeed(None)
        d = runOffThread(self._reactor, self._readAll, stable)
        d.addCallback(self._addAll)
        d.addCallback(lambda renames: runOffThread(self._reactor, self._renameAll, renames))
        d.addCallback(self._renamed)
        return d

    def _candidates(self) -> list[tuple[str, tuple[int, int]]]:
        """
        @return: the C{.torrent} files in the folder, with their size and
            modification time, in name order.
        @raise OSError: if the folder cannot be read.
        """
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not entry.name.lower().endswith(".torrent"):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    stat = entry.stat()
                except OSError:
                    # Gone since listed.
                    continue
                found.append((entry.name, (stat.st_size, stat.st_mtime_ns)))
        found.sort()
        return found

    def _readAll(self, names: list[str]) -> list[tuple[str, Union[bytes, str]]]:
        """
        @return: each file's bytes (at most one byte past the largest
            torrent accepted), or why it could not be read.
        """
        read: list[tuple[str, Union[bytes, str]]] = []
        for name in names:
            try:
                with open(os.path.join(self.folder, name), "rb") as f:
                    read.append((name, f.read(MAX_METAINFO_SIZE + 1)))
            except OSError as e:
                read.append((name, e.strerror or str(e)))
        return read

    def _addAll(self, read: list[tuple[str, Union[bytes, str]]]) -> list[tuple[str, str]]:
        """
        @return: the name and new suffix of each file to rename.
        """
        renames: list[tuple[str, str]] = []
        if not self.running:
            # Stopped while the files were read: they wait for the next start.
            return renames
        for name, data in read:
            if isinstance(data, str):
                # Gone or unreadable since listed: looked at again next time.
                self.log.warn(
                    "Cannot read {path} ({error}); trying again later",
                    path=os.path.join(self.folder, name),
                    error=data,
                )
                continue
            renames.append((name, self._add(name, data)))
        return renames

    def _add(self, name: str, data: bytes) -> str:
        """
        Add the torrent of file C{name}, whose bytes are C{data}.

        @return: the suffix its file gets: L{ADDED_SUFFIX} or
            L{INVALID_SUFFIX}.
        """
        path = os.path.join(self.folder, name)
        try:
            torrent = self._service.addTorrent(data, self.downloadDir)
        except UsageError as e:
            # Already added: the file has done its job.
            self.log.info("{path}: {error}", path=path, error=str(e))
            return ADDED_SUFFIX
        except BittwistError as e:
            self.log.error(
                "{path}: cannot add it ({error}); renamed to {name}{suffix}",
                path=path,
                error=str(e),
                name=name,
                suffix=INVALID_SUFFIX,
            )
            return INVALID_SUFFIX
        self.log.info(
            "Added {name} from {path}; its files go in {folder}",
            name=printable(torrent.metainfo.name),
            path=path,
            folder=self.downloadDir,
        )
        return ADDED_SUFFIX

    def _renameAll(self, renames: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """
        @return: the name, suffix and error of each file that could not be
            renamed.
        """
        failed = []
        for name, suffix in renames:
            path = os.path.join(self.folder, name)
            try:
                os.replace(path, path + suffix)
            except OSError as e:
                failed.append((name, suffix, e.strerror or str(e)))
        return failed

    def _renamed(self, failed: list[tuple[str, str, str]]) -> None:
        for name, suffix, error in failed:
            self._stuck.add(name)
            self.log.error(
                "Cannot rename {path} to {suffix} ({error}); it is left alone "
                "until it is moved or removed",
                path=os.path.join(self.folder, name),
                suffix=name + suffix,
                error=error,
            )
