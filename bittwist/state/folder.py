# -*- test-case-name: tests.test_state -*-
"""
L{StateFolder}: a service's state files in one folder, locked by one
process, written one at a time off the reactor thread.
"""

import os
from dataclasses import replace
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist.bitfield import Bitfield
from bittwist.offthread import runOffThread
from bittwist.state import settings as _settings
from bittwist.state.files import DamagedFile, removeTemporaries, writeAtomically
from bittwist.state.lock import FolderLock
from bittwist.state.records import TorrentRecord, encodeRecord, readRecord
from bittwist.state.resume import ResumeData, stampFiles
from bittwist.state.writequeue import KeyedWriteQueue

__all__ = ["StateFolder", "defaultStateDir"]

_CLEANUP = b"cleanup"
"""
The write queue's key for removing stale temporary files (no info hash has
7 bytes).
"""

_SETTINGS_QUEUE = b"settings"


def defaultStateDir() -> str:
    """
    @return: C{$XDG_STATE_HOME/bittwist}, or C{~/.local/state/bittwist}
        when C{XDG_STATE_HOME} is unset or not absolute (as the XDG base
        directory specification says).
    """
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "bittwist")


class StateFolder:
    """
    The state files of a service's torrents in one folder.

    A service calls L{open} before it writes (it raises if another process
    uses the folder) and L{close} when its last write is done (after
    L{whenIdle}).  Reads and writes also work without L{open}, but then
    nothing keeps two processes from undoing each other's saves.

    Reads (L{read}, L{records}, L{readSettings}) happen at once: they are
    small and happen at start.  Writes (L{save}, L{remove},
    L{saveSettings}) go through a L{KeyedWriteQueue}, in the reactor's
    thread pool (at once on a reactor without threads, such as a test's
    clock).

    @ivar path: the folder.
    """

    log = Logger()

    def __init__(self, path: str, reactor: Any) -> None:
        """
        Touches nothing on disk: see L{open}.

        @param path: the folder; created, private to this user, by L{open}
            or the first write.
        @param reactor: runs the writes in its thread pool, if it has one.
        """
        self.path = os.path.abspath(path)
        self._reactor = reactor
        self._lock = FolderLock(self.path)
        # Through a lambda: a subclass may replace _run.
        self._writes = KeyedWriteQueue(lambda job: self._run(job), self._writeFailed)

    # Owning the folder.

    @property
    def isOpen(self) -> bool:
        """
        Whether L{open} has taken the folder (and L{close} not released it).
        """
        return self._lock.held

    def open(self) -> Deferred[int]:
        """
        Take the folder for this process (see L{FolderLock.acquire}), then
        remove the temporary files an interrupted write left (queued behind
        any write already waiting, so none of ours is cut short).  The lock
        lasts until L{close} or the end of the process, however it ends: a
        lock file left by a crash does not block.

        @raise bittwist.errors.StateFolderLocked: if another L{StateFolder},
            in this process or another, has the folder open.
        @raise bittwist.errors.StateFolderError: if the folder or its lock
            file cannot be created or opened.
        @return: fires with how many stale temporary files were removed (0
            if already open); never fails (errors are logged).
        """
        if self._lock.held:
            self._lock.acquire()
            return succeed(0)
        self._lock.acquire()

        def removed(result: Optional[tuple[int, list[tuple[str, str]]]]) -> int:
            if result is None:
                return 0
            count, failures = result
            if count:
                self.log.info(
                    "Removed {count} temporary file(s) left in the state folder "
                    "{path} by an interrupted write",
                    count=count,
                    path=self.path,
                )
            for path, error in failures:
                self.log.warn(
                    "Cannot remove the stale temporary file {path}: {error}; "
                    "delete it by hand",
                    path=path,
                    error=error,
                )
            return count

        return self._writes.queue(_CLEANUP, lambda: removeTemporaries(self.path)).addCallback(
            removed
        )

    def close(self) -> None:
        """
        Release the folder for another process; call it once L{whenIdle}
        has fired.  Does nothing if not open.
        """
        self._lock.release()

    def _paths(self, infoHash: bytes) -> tuple[str, str]:
        base = os.path.join(self.path, infoHash.hex())
        return base + ".torrent", base + ".json"

    # Reading.

    def read(self, infoHash: bytes) -> Optional[TorrentRecord]:
        """
        @return: the record of a torrent, or C{None} if there is none or it
            is damaged (which is logged).
        """
        torrentPath, jsonPath = self._paths(infoHash)
        if not os.path.exists(jsonPath):
            return None
        try:
            return readRecord(infoHash, torrentPath, jsonPath)
        except DamagedFile as e:
            self.log.error(
                "Damaged state file {path}: {reason}. Skipping that torrent; its "
                "downloaded files are untouched. Delete {path} (and its .torrent) "
                "to forget it, or add the torrent again.",
                path=jsonPath,
                reason=str(e),
            )
            return None
        except Exception:
            # A bug, not damage; still, one torrent must not keep the
            # others (and the service) from starting.
            self.log.failure(
                "Cannot read the state file {path}; skipping that torrent", path=jsonPath
            )
            return None

    def readSettings(self) -> dict[str, int]:
        """
        @return: the session's settings saved by L{saveSettings}
            (C{maxUploadRate}, C{maxDownloadRate}), or none; a damaged file
            (or a FIFO, a huge file) is logged and ignored.
        """
        path = os.path.join(self.path, _settings.SETTINGS_NAME)
        try:
            return _settings.readSettings(path)
        except DamagedFile as e:
            self.log.error(
                "Ignoring the damaged settings file {path}: {error}; delete it to "
                "start from the defaults",
                path=path,
                error=str(e),
            )
            return {}

    def records(self) -> list[TorrentRecord]:
        """
        @return: every torrent's record that can be read, oldest first;
            damaged ones are logged and left out.
        """
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return []
        except OSError as e:
            self.log.error(
                "Cannot read the state folder {path}: {error}; starting without "
                "the torrents saved there",
                path=self.path,
                error=e.strerror or str(e),
            )
            return []
        found = []
        for name in names:
            stem, dot, ext = name.partition(".")
            if ext != "json" or len(stem) != 40:
                continue
            try:
                infoHash = bytes.fromhex(stem)
            except ValueError:
                continue
            record = self.read(infoHash)
            if record is not None:
                found.append(record)
        found.sort(key=lambda record: record.addedAt)
        return found

    # Writing.

    def saveSettings(self, settings: dict[str, int]) -> Deferred[None]:
        """
        Remember the session's settings (see L{readSettings}).

        @return: fires when written; never fails (errors are logged).
        """
        data = _settings.encodeSettings(settings)

        def write() -> None:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            writeAtomically(os.path.join(self.path, _settings.SETTINGS_NAME), data)

        return self._writes.queue(_SETTINGS_QUEUE, write)

    def save(
        self,
        record: TorrentRecord,
        pieces: Optional[Bitfield] = None,
    ) -> Deferred[Optional[ResumeData]]:
        """
        Write a torrent's C{.torrent} (unless there) and C{.json}.

        @param record: what to write; read now, so it may change after.
        @param pieces: the pieces verified now: fast resume data is made of
            them and the files' sizes and times, read when the state is
            written, after the pieces' data.  Without it, C{record.resume}
            is written as it is.
        @return: fires with the resume data written; never fails (errors
            are logged: downloads go on without saved state).
        """
        snapshot = replace(record, peers=tuple(record.peers))
        if pieces is not None:
            pieces = Bitfield.fromBytes(pieces.length, pieces.toBytes())

        def write() -> Optional[ResumeData]:
            resume = snapshot.resume
            if pieces is not None:
                resume = ResumeData(pieces, stampFiles(snapshot.metainfo, snapshot.downloadDir))
            torrentPath, jsonPath = self._paths(snapshot.infoHash)
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            if not os.path.exists(torrentPath):
                writeAtomically(torrentPath, snapshot.torrentData)
            writeAtomically(jsonPath, encodeRecord(replace(snapshot, resume=resume)))
            return resume

        return self._writes.queue(record.infoHash, write)

    def remove(self, infoHash: bytes) -> Deferred[None]:
        """
        Delete a torrent's state files (a save waiting for it is dropped).

        @return: fires when done; never fails (errors are logged).
        """
        torrentPath, jsonPath = self._paths(infoHash)

        def delete() -> None:
            # The .json first: a .torrent alone is ignored, a .json alone
            # would be reported as damaged.
            for path in (jsonPath, torrentPath):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

        return self._writes.queue(infoHash, delete)

    def whenIdle(self) -> Deferred[None]:
        """
        @return: fires once every write queued so far is done.
        """
        return self._writes.whenIdle()

    def _run(self, job: Any) -> Deferred[Any]:
        return runOffThread(self._reactor, job)

    def _writeFailed(self, key: bytes, failure: Failure) -> None:
        if key == _SETTINGS_QUEUE:
            self.log.failure(
                "Cannot write the settings in {path}; they will be the defaults "
                "when restarted",
                failure,
                path=self.path,
            )
            return
        self.log.failure(
            "Cannot write the state of torrent {infoHash} in {path}; "
            "it will be checked in full when restarted",
            failure,
            infoHash=key.hex(),
            path=self.path,
        )
