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
"""

import os
from typing import TYPE_CHECKING, Any, Optional, Union

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from bittwist.errors import BittwistError, UsageError

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
        @param reactor: the clock (the global reactor by default).
        @param interval: seconds between polls.
        @param maxPerPoll: the most torrents added by one poll, so that a
            folder filled at once does not hold the reactor for long.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
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

    def poll(self) -> None:
        """
        Look at the folder once: add the torrents whose files are the same
        as at the last poll (up to the bound), remember the others.
        """
        try:
            candidates = self._candidates()
        except OSError as e:
            message = f"cannot read the watch folder {self.folder}: {e.strerror or e}"
            if message != self._listError:
                # Once per cause, not every few seconds.
                self.log.error("{problem}", problem=message)
                self._listError = message
            return
        self._listError = None
        seen: dict[str, tuple[int, int]] = {}
        added = 0
        for name, signature in candidates:
            if self._seen.get(name) == signature and added < self._maxPerPoll:
                added += 1
                self._add(name)
            elif len(seen) < MAX_PENDING:
                seen[name] = signature
        self._seen = seen
        self._stuck &= {name for name, _ in candidates}

    def _candidates(self) -> list[tuple[str, tuple[int, int]]]:
        """
        @return: the C{.torrent} files in the folder, with their size and
            modification time, in name order.
        @raise OSError: if the folder cannot be read.
        """
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not entry.name.lower().endswith(".torrent") or entry.name in self._stuck:
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

    def _add(self, name: str) -> None:
        path = os.path.join(self.folder, name)
        try:
            torrent = self._service.addTorrent(path, self.downloadDir)
        except UsageError as e:
            # Already added: the file has done its job.
            self.log.info("{path}: {error}", path=path, error=str(e))
            self._rename(name, ADDED_SUFFIX)
        except BittwistError as e:
            self.log.error(
                "{path}: cannot add it ({error}); renamed to {name}{suffix}",
                path=path,
                error=str(e),
                name=name,
                suffix=INVALID_SUFFIX,
            )
            self._rename(name, INVALID_SUFFIX)
        else:
            self.log.info(
                "Added {name} from {path}; its files go in {folder}",
                name=torrent.metainfo.name,
                path=path,
                folder=self.downloadDir,
            )
            self._rename(name, ADDED_SUFFIX)

    def _rename(self, name: str, suffix: str) -> None:
        path = os.path.join(self.folder, name)
        try:
            os.replace(path, path + suffix)
        except OSError as e:
            self._stuck.add(name)
            self.log.error(
                "Cannot rename {path} to {suffix} ({error}); it is left alone "
                "until it is moved or removed",
                path=path,
                suffix=name + suffix,
                error=e.strerror or str(e),
            )
