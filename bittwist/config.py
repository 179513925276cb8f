# -*- test-case-name: tests.test_config -*-
"""
Configuration as data: what a torrent and a session are told to do.

Both are frozen dataclasses; change one with C{dataclasses.replace}.
"""

from dataclasses import dataclass, field
from typing import Optional

from bittwist.errors import UsageError
from bittwist.mse import Policy

__all__ = ["TorrentConfig", "SessionConfig", "FILE_PRIORITIES"]

FILE_PRIORITIES = (0, 1, 2)
"""
The priorities a file may have: skip, normal, high (see
L{bittwist.pieceorder}).
"""


@dataclass(frozen=True)
class TorrentConfig:
    """
    How one torrent behaves.

    @ivar maxPeers: the most peer connections at once.
    @ivar maxHalfOpen: the most outgoing connection attempts in progress.
    @ivar maxCandidates: the most peer addresses remembered (tracker answers,
        PEX, DHT): beyond it the oldest addresses never tried go first.
    @ivar uploadSlots: regular upload slots of the choker (the optimistic
        slot comes on top).
    @ivar seedRatio: stop seeding (state C{finished}) once we uploaded this
        many times the larger of the torrent's size and what we downloaded;
        C{None} never.
    @ivar seedTime: stop seeding after this many seconds of it; C{None}
        never, 0 as soon as the download is verified.
    @ivar announce: whether to use the torrent's trackers.
    @ivar sequential: download pieces in order, lowest first (to play a
        file while it downloads), instead of rarest first.
    @ivar maxUploadRate: bytes per second this torrent sends, within the
        session's limit; 0 for no limit of its own.
    @ivar maxDownloadRate: bytes per second this torrent receives, within
        the session's limit; 0 for no limit of its own.
    @ivar filePriorities: per file but pad files, in order: 0 to skip it
        (not downloaded, not created), 1 normal, 2 high (downloaded first);
        files beyond its end are normal.
    """

    maxPeers: int = 50
    maxHalfOpen: int = 8
    maxCandidates: int = 2000
    uploadSlots: int = 4
    seedRatio: Optional[float] = None
    seedTime: Optional[float] = None
    announce: bool = True
    sequential: bool = False
    maxUploadRate: int = 0
    maxDownloadRate: int = 0
    filePriorities: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        priorities = self.filePriorities
        if not isinstance(priorities, (tuple, list)) or any(
            type(p) is not int or p not in FILE_PRIORITIES for p in priorities
        ):
            raise UsageError(
                f"filePriorities must be a list of 0 (skip), 1 (normal) or 2 (high), "
                f"not {priorities!r:.100}"
            )
        # A list from JSON: kept as a tuple, the dataclass being frozen.
        object.__setattr__(self, "filePriorities", tuple(priorities))
        for name in ("maxPeers", "maxHalfOpen", "maxCandidates"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.uploadSlots < 0:
            raise UsageError(f"uploadSlots must not be negative, not {self.uploadSlots}")
        for name in ("maxUploadRate", "maxDownloadRate"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be 0 (no limit) or more, not {getattr(self, name)}")
        for name in ("seedRatio", "seedTime"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise UsageError(f"{name} must be 0 or more, not {value}")


@dataclass(frozen=True)
class SessionConfig:
    """
    What the torrents of a session share.

    @ivar torrent: the configuration of each torrent added.
    @ivar maxUploadRate: bytes per second sent by all torrents together; 0
        for unlimited.
    @ivar maxDownloadRate: bytes per second received by all torrents
        together; 0 for unlimited.
    @ivar encryption: MSE/PE for peer connections: C{prefer} (encrypt
        outgoing connections, falling back to plaintext; accept both),
        C{require} (encrypted only, both ways) or C{off} (plaintext only).
    @ivar maxCandidates: the most peer addresses all torrents remember
        together; each torrent gets an equal share of it (at least 100),
        and at most its own C{maxCandidates}.
    """

    torrent: TorrentConfig = field(default_factory=TorrentConfig)
    maxUploadRate: int = 0
    maxDownloadRate: int = 0
    encryption: Policy = Policy.PREFER
    maxCandidates: int = 50_000

    def __post_init__(self) -> None:
        if self.maxCandidates < 1:
            raise UsageError(f"maxCandidates must be at least 1, not {self.maxCandidates}")
        for name in ("maxUploadRate", "maxDownloadRate"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must not be negative, not {getattr(self, name)}")
