# -*- test-case-name: tests.test_service -*-
"""
L{TorrentPersistence}: a service's torrents kept in its state folder as they
change.
"""

from typing import Any, Callable, Iterable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from bittwist import events
from bittwist.errors import BittwistError, StorageError
from bittwist.safetext import printable
from bittwist.session import Session
from bittwist.state import StateFolder, TorrentRecord, describeRecords, missingData
from bittwist.torrent import Torrent, TorrentState
from bittwist.torrent.lifecycle import ACTIVE

__all__ = ["TorrentPersistence", "SAVE_INTERVAL", "SAVE_EVERY_PIECES"]

SAVE_INTERVAL = 30.0
"""
Seconds between saves of the state of a torrent that verified pieces since
its last save.
"""

SAVE_EVERY_PIECES = 256
"""
A downloading torrent's state is also saved each time it verified this many
more pieces.
"""


class TorrentPersistence:
    """
    Observes a session's torrents and saves each one's L{TorrentRecord}
    when it changes in a way worth remembering: added, paused, resumed,
    completed, its options changed, every L{SAVE_INTERVAL} seconds and
    every L{SAVE_EVERY_PIECES} pieces while it downloads, and once more
    when the session has stopped.  Without a state folder it only keeps
    the records, which the service reads (whether a torrent was paused,
    its options).
    """

    log = Logger()

    def __init__(self, state: Optional[StateFolder], session: Session, reactor: Any) -> None:
        """
        @param state: the state folder, or C{None} to save nothing.
        @param session: whose torrents are saved.
        @param reactor: the clock of the periodic save.
        """
        self.state = state
        self._session = session
        self._records: dict[bytes, TorrentRecord] = {}
        self._ephemeral: set[bytes] = set()
        self._unsaved: dict[bytes, int] = {}
        self._saver = LoopingCall(self._savePeriodically)
        self._saver.clock = reactor

    def record(self, infoHash: bytes) -> Optional[TorrentRecord]:
        """
        @return: the record of a tracked torrent, or C{None}.
        """
        return self._records.get(infoHash)

    def track(
        self, torrent: Torrent, record: TorrentRecord, save: bool = True, remember: bool = True
    ) -> None:
        """
        Keep C{record} for C{torrent} and save it as the torrent changes.

        @param save: whether to save it now.
        @param remember: whether it goes in the state folder at all (a
            throwaway torrent, like the demo's, does not).
        """
        if not remember:
            self._ephemeral.add(torrent.infoHash)
        self._records[torrent.infoHash] = record
        self._unsaved[torrent.infoHash] = 0
        torrent.addObserver(self._observe)
        if save:
            self.save(torrent)

    def forget(self, infoHash: bytes, torrent: Optional[Torrent]) -> Deferred[None]:
        """
        Stop saving a torrent, and delete its state files.

        @param torrent: the torrent, if still known, to stop observing.
        @return: fires when its files are deleted; never fails.
        """
        if torrent is not None:
            torrent.removeObserver(self._observe)
        self._records.pop(infoHash, None)
        self._unsaved.pop(infoHash, None)
        if self.state is None:
            return succeed(None)
        return self.state.remove(infoHash)

    def setPaused(self, torrent: Torrent, paused: bool) -> None:
        """
        Remember whether a torrent is paused (it stays so across restarts).
        """
        record = self._records[torrent.infoHash]
        if record.paused != paused:
            record.paused = paused
            self.save(torrent)

    def setOptions(self, torrent: Torrent, options: dict[str, Any]) -> None:
        """
        Remember a torrent's own settings, changed while it runs.
        """
        record = self._records[torrent.infoHash]
        record.options = {**record.options, **options}
        self.save(torrent)

    def _observe(self, event: events.TorrentEvent) -> None:
        """
        Save a torrent's state when it changes in a way worth remembering;
        this also catches L{Torrent.pause} and L{Torrent.resume} called
        directly.
        """
        torrent = event.torrent
        if torrent.infoHash not in self._records:
            return
        if isinstance(event, events.PieceVerified):
            self._unsaved[torrent.infoHash] += 1
            if self._unsaved[torrent.infoHash] >= SAVE_EVERY_PIECES:
                self.save(torrent)
        elif isinstance(event, events.Completed):
            self.save(torrent)
        elif isinstance(event, events.StateChanged):
            if event.state is TorrentState.PAUSED:
                self.setPaused(torrent, True)
            elif event.state in ACTIVE:
                self.setPaused(torrent, False)

    def save(self, torrent: Torrent) -> Deferred[None]:
        """
        Save a torrent's state, with its verified pieces once it has been
        checked.

        @return: fires when written; never fails.
        """
        if self.state is None or torrent.infoHash in self._ephemeral:
            return succeed(None)
        record = self._records[torrent.infoHash]
        self._unsaved[torrent.infoHash] = 0

        def saved(resume: Any) -> None:
            if resume is not None:
                record.resume = resume

        return self.state.save(record, torrent.verifiedPieces()).addCallback(saved)

    def _savePeriodically(self) -> None:
        for infoHash, count in list(self._unsaved.items()):
            torrent = self._session.torrents.get(infoHash)
            if count and torrent is not None:
                self.save(torrent)

    def restore(
        self, addTorrent: Callable[[TorrentRecord], Torrent]
    ) -> list[TorrentRecord]:
        """
        Add again every torrent the state folder remembers (but those the
        session already has), then save them periodically.  A torrent whose
        data is gone is failed: downloading again into a recreated folder
        would hide the loss.

        @param addTorrent: adds a record's torrent to the session.
        @return: the records added again.
        """
        if self.state is None:
            return []
        restored = []
        for record in self.state.records():
            if record.infoHash in self._session.torrents:
                continue
            try:
                torrent = addTorrent(record)
            except BittwistError as e:
                self.log.error(
                    "Cannot add {name} again from the state folder {path}: {error}",
                    name=printable(record.metainfo.name),
                    path=self.state.path,
                    error=str(e),
                )
                continue
            self.track(torrent, record, save=False)
            restored.append(record)
            problem = missingData(record)
            if problem is not None:
                # Wait for the user to restore or remove it.
                torrent.fail(StorageError(problem, record.downloadDir))
        if restored:
            self.log.info(
                "Resumed {count} torrents from {path}: {names}",
                count=len(restored),
                path=self.state.path,
                names=describeRecords(restored),
            )
        self._saver.start(SAVE_INTERVAL, now=False)
        return restored

    def stop(self) -> None:
        """
        Stop the periodic saves.
        """
        if self._saver.running:
            self._saver.stop()

    def saveAll(self, torrents: Iterable[Torrent]) -> Deferred[None]:
        """
        Save every tracked torrent of C{torrents} a last time (once their
        storage is closed, so the files' times cover every piece), then
        close the state folder.

        @return: fires when written and closed.
        """
        state = self.state
        if state is None:
            return succeed(None)
        for torrent in torrents:
            if torrent.infoHash in self._records:
                self.save(torrent)
        return state.whenIdle().addCallback(lambda _: state.close())
