# -*- test-case-name: tests.test_service -*-
"""
L{TorrentStarter}: a service's torrent started, from its fast resume data
when the state folder has some, and its completion logged.
"""

import os
from typing import Any, Optional

from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist.errors import BittwistError
from bittwist.persistence import TorrentPersistence
from bittwist.progress import formatRate, formatSize
from bittwist.safetext import printable
from bittwist.state import StateFolder, resumePlan
from bittwist.torrent import Torrent, TorrentState
from bittwist.torrent.magnet import MagnetTorrent

__all__ = ["TorrentStarter"]


class TorrentStarter:
    """
    Starts torrents as their records say (paused or not, which pieces to
    trust), and logs each one's completion with where its files are.
    """

    log = Logger()

    def __init__(
        self, reactor: Any, persistence: TorrentPersistence, state: Optional[StateFolder]
    ) -> None:
        """
        @param reactor: gives the time, for the average rate logged.
        @param persistence: the torrents' records.
        @param state: the state folder, or C{None} (then no fast resume).
        """
        self._reactor = reactor
        self._persistence = persistence
        self._state = state

    def start(self, torrent: Torrent) -> None:
        """
        Start C{torrent}; nothing if it is in error since added (its data
        is missing): it waits for the user to resume or remove it.
        """
        if isinstance(torrent, MagnetTorrent):
            torrent.start()
            return
        if torrent.state is not TorrentState.STOPPED:
            return
        started = self._reactor.seconds()
        record = self._persistence.record(torrent.infoHash)
        plan = None
        if record is not None and self._state is not None:
            plan = resumePlan(torrent.metainfo, record.downloadDir, record.resume)
        if plan is None:
            torrent.start(paused=record is not None and record.paused)
        else:
            trusted, rehash = plan
            self.log.info(
                "{name}: fast resume: {trusted} pieces trusted, {rehashed} to hash "
                "(in files changed since saved)",
                name=printable(torrent.metainfo.name),
                trusted=len(trusted),
                rehashed=len(rehash),
            )
            torrent.start(paused=record.paused, trusted=trusted, rehash=rehash)
        torrent.whenComplete().addCallbacks(
            self._complete, self._failed, callbackArgs=(torrent, started), errbackArgs=(torrent,)
        )

    def _complete(self, _: None, torrent: Torrent, started: float) -> None:
        status = torrent.status()
        folder = getattr(torrent.storage, "downloadDir", None)
        # Where a user finds the files: the file, or the folder holding
        # them, named for the torrent.
        path = "memory" if folder is None else os.path.join(folder, torrent.metainfo.name)
        if not status.downloaded:
            self.log.info(
                "{name}: all {size} already here and verified, in {path}; seeding",
                name=printable(status.name),
                size=formatSize(status.totalLength),
                path=path,
                folder=folder,
            )
            return
        elapsed = max(self._reactor.seconds() - started, 1e-6)
        self.log.info(
            "{name}: complete and verified: {size} in {elapsed:.1f} s "
            "({rate} average) from {peersUsed} peers; the files are in {path}",
            name=printable(status.name),
            size=formatSize(status.totalLength),
            elapsed=elapsed,
            rate=formatRate(status.downloaded / elapsed),
            peersUsed=status.peersUsed,
            path=path,
            folder=folder,
        )

    def _failed(self, failure: Failure, torrent: Torrent) -> None:
        if not failure.check(BittwistError):
            self.log.failure("{name} failed", failure, name=printable(torrent.metainfo.name))
