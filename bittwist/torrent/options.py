# -*- test-case-name: tests.test_torrent -*-
"""
L{TorrentOptions}: a running torrent's L{TorrentConfig}, changed while it
runs.

A change is checked whole before any of it applies, then handed to the
parts it concerns: the order of pieces and which of them are wanted to the
download, the connection limits to the swarm, the seed goals to the upload,
the torrent's own rate limits to its buckets, and the files skipped to
storage.
"""

import dataclasses
from typing import Any, Callable, Sequence

from twisted.python.failure import Failure

from bittwist.config import TorrentConfig
from bittwist.errors import UsageError
from bittwist.metainfo import Metainfo
from bittwist.pieceorder import NORMAL, SKIP, piecePriorities
from bittwist.ratelimit import TokenBucket

__all__ = ["TorrentOptions", "CHANGEABLE"]

CHANGEABLE = frozenset(
    {
        "sequential",
        "maxPeers",
        "seedRatio",
        "seedTime",
        "maxUploadRate",
        "maxDownloadRate",
        "filePriorities",
    }
)
"""
The options of L{TorrentConfig} a running torrent may change.
"""


class TorrentOptions:
    """
    The options of one torrent, and the parts they are handed to.

    @ivar config: the options now.
    @ivar numFiles: how many files the torrent has, pad files aside: the
        length of C{config.filePriorities} when given.
    """

    def __init__(
        self,
        metainfo: Metainfo,
        config: TorrentConfig,
        storage: Any,
        download: Any,
        upload: Any,
        swarm: Any,
        limits: tuple[TokenBucket, TokenBucket],
        fail: Callable[[Failure], None],
    ) -> None:
        """
        Hand C{config} to the parts.

        @param metainfo: the torrent.
        @param config: its options when it is made.
        @param storage: its L{bittwist.storage.IPieceStorage}.
        @param download: its L{bittwist.torrent.download.Download}.
        @param upload: its L{bittwist.torrent.upload.Upload}.
        @param swarm: its L{bittwist.torrent.swarm.Swarm}.
        @param limits: its own upload and download buckets.
        @param fail: called when storage cannot skip files.
        """
        self._metainfo = metainfo
        self._storage = storage
        self._download = download
        self._upload = upload
        self._swarm = swarm
        self._uploadLimit, self._downloadLimit = limits
        self._fail = fail
        self.numFiles = sum(1 for entry in metainfo.files if not entry.pad)
        if config.filePriorities:
            # Saved with the record: extra entries (a damaged record) go.
            config = dataclasses.replace(config, filePriorities=config.filePriorities[: self.numFiles])
        self.config = config
        download.setSequential(config.sequential)
        if config.filePriorities:
            self._applyFilePriorities()

    def change(self, changes: dict[str, Any]) -> bool:
        """
        Check C{changes} to the options, then hand them to the parts.

        @return: whether the file priorities changed (the wanted pieces
            may have).
        @raise bittwist.errors.UsageError: for an option not in
            L{CHANGEABLE}, a value L{TorrentConfig} refuses, or file
            priorities not one per file.
        """
        unknown = set(changes) - CHANGEABLE
        if unknown:
            raise UsageError(f"cannot change {', '.join(sorted(unknown))} of a running torrent")
        old = self.config
        config = dataclasses.replace(old, **changes)
        if "filePriorities" in changes and len(config.filePriorities) != self.numFiles:
            raise UsageError(
                f"{self._metainfo.name} has {self.numFiles} file(s): give one priority "
                f"(0 skip, 1 normal, 2 high) for each, not {len(config.filePriorities)}"
            )
        self.config = config
        self._download.setSequential(config.sequential)
        self._swarm.setConfig(config)
        self._upload.seedRatio = config.seedRatio
        self._upload.seedTime = config.seedTime
        self._uploadLimit.setRate(config.maxUploadRate)
        self._downloadLimit.setRate(config.maxDownloadRate)
        if config.filePriorities == old.filePriorities:
            return False
        self._applyFilePriorities()
        return True

    def _applyFilePriorities(self) -> None:
        """
        Tell storage which files not to create, and the download which
        pieces to get.
        """
        priorities: Sequence[int] = self.config.filePriorities
        skipped = [i for i, p in enumerate(priorities) if p == SKIP]
        self._storage.skipFiles(skipped).addErrback(self._fail)
        pieces = None
        if any(p != NORMAL for p in priorities):
            pieces = piecePriorities(self._metainfo, priorities)
        self._download.setPriorities(pieces)
