# -*- test-case-name: tests.test_torrent -*-
"""
What a torrent tells its observers, as data.

Add an observer with L{bittwist.torrent.Torrent.addObserver}; it is called
with one of these on the reactor thread. An observer that raises is logged
and does not disturb the torrent or other observers.
"""

from dataclasses import dataclass
from typing import Any

__all__ = [
    "TorrentEvent",
    "StateChanged",
    "PieceVerified",
    "Completed",
    "PeerConnected",
    "PeerDisconnected",
]


@dataclass(frozen=True)
class TorrentEvent:
    """
    Base of every event.

    @ivar torrent: the L{bittwist.torrent.Torrent} it happened to.
    """

    torrent: Any


@dataclass(frozen=True)
class StateChanged(TorrentEvent):
    """
    The torrent moved to C{state} (C{checking}, C{downloading}, C{seeding},
    C{paused}, C{stopped}, C{error}).
    """

    state: str


@dataclass(frozen=True)
class PieceVerified(TorrentEvent):
    """
    Piece C{index} was downloaded and passed its hash check.
    """

    index: int


@dataclass(frozen=True)
class Completed(TorrentEvent):
    """
    Every piece is downloaded and verified.
    """


@dataclass(frozen=True)
class PeerConnected(TorrentEvent):
    """
    A peer at C{address} completed the handshake.
    """

    address: tuple[str, int]
    peerId: bytes


@dataclass(frozen=True)
class PeerDisconnected(TorrentEvent):
    """
    The connection to the peer at C{address} closed, for C{reason}.
    """

    address: tuple[str, int]
    reason: str
