# -*- test-case-name: tests.test_peerdispatch,tests.test_torrent -*-
"""
L{PeerDispatch}: what a torrent's peer connections report
(L{bittwist.peerevents.IPeerEvents}), each event handed to the part of the
torrent it concerns.

The swarm admits and forgets connections, the download hears what peers
have and send, the upload serves what they ask for, and the extension
table and peer sources hear the extension protocol and DHT ports (through
L{ExtensionEvents}). A torrent's peers hold this object, not the torrent:
an event per block or read costs one call here and one in the part.
"""

from typing import TYPE_CHECKING, Optional

from twisted.logger import Logger

from bittwist import events, wire
from bittwist.bitfield import Bitfield
from bittwist.extensions.table import ExtensionTable
from bittwist.peer import PeerProtocol
from bittwist.torrent.extensionevents import ExtensionEvents
from bittwist.torrent.lifecycle import ACTIVE, TorrentState
from bittwist.torrent.peersources import PeerSources

if TYPE_CHECKING:
    from bittwist.torrent.facade import Torrent

__all__ = ["PeerDispatch"]

_SEEDING = TorrentState.SEEDING


class PeerDispatch(ExtensionEvents):
    """
    The events of one torrent's peers (see L{bittwist.peerevents.IPeerEvents}).

    @ivar infoHash: the torrent's info hash.
    @ivar numPieces: how many pieces it has.
    """

    log = Logger()

    def __init__(self, torrent: "Torrent") -> None:
        """
        @param torrent: the torrent whose parts hear the events; its
            C{lifecycle} is made before this, its other parts are read as
            events come.
        """
        self._torrent = torrent
        self._lifecycle = torrent.lifecycle
        self._metainfo = torrent.metainfo
        self.infoHash = torrent.infoHash
        self.numPieces: Optional[int] = torrent.numPieces

    def __repr__(self) -> str:
        return f"<PeerDispatch of {self._torrent!r}>"

    # What ExtensionEvents hands the extension events to: the torrent's.

    @property  # type: ignore[override]
    def extensions(self) -> ExtensionTable:
        return self._torrent.extensions

    @property  # type: ignore[override]
    def sources(self) -> PeerSources:
        return self._torrent.sources

    @property  # type: ignore[override]
    def port(self) -> int:
        return self._torrent.port

    # Connections.

    def peerHandshaked(self, peer: PeerProtocol) -> bool:
        torrent = self._torrent
        if self._lifecycle.state not in ACTIVE or not torrent.swarm.admit(peer):
            return False
        torrent.download.peerJoined(peer)
        torrent.periodic.wake()
        assert peer.address is not None and peer.peerId is not None
        torrent.observers.emit(events.PeerConnected(torrent, peer.address, peer.peerId))
        self.log.debug("Connected to {peer}", peer=peer)
        return True

    def peerDisconnected(self, peer: PeerProtocol, reason: str) -> None:
        torrent = self._torrent
        if not torrent.swarm.removed(peer):
            return
        assert peer.address is not None
        torrent.observers.emit(events.PeerDisconnected(torrent, peer.address, reason))
        self.log.debug("Disconnected from {peer}: {reason}", peer=peer, reason=reason)
        torrent.download.peerLeft(peer)
        torrent.extensions.peerGone(peer)
        torrent.periodic.choke()

    # What peers have, and whether they let us ask.

    def ourBitfield(self) -> Optional[Bitfield]:
        return self._torrent.download.verifiedPieces()

    def peerBitfield(self, peer: PeerProtocol) -> None:
        if self._lifecycle.state is _SEEDING and peer.state.pieces.complete():
            peer.drop("both seeding")
            return
        self._torrent.download.peerBitfield(peer)

    def peerHave(self, peer: PeerProtocol, index: int) -> None:
        self._torrent.download.peerHave(peer, index)
        if self._lifecycle.state is _SEEDING and peer.state.pieces.complete():
            peer.drop("both seeding")

    def peerChoked(self, peer: PeerProtocol, requests: list[tuple[int, int]]) -> None:
        self._torrent.download.peerChoked(peer, requests)

    def peerUnchoked(self, peer: PeerProtocol) -> None:
        self._torrent.download.peerUnchoked(peer)

    def peerInterestChanged(self, peer: PeerProtocol) -> None:
        self._torrent.periodic.choke()

    # Blocks in, requests served.

    def blocksReceived(self, peer: PeerProtocol, blocks: list[wire.Piece]) -> None:
        self._torrent.download.blocksReceived(peer, blocks)

    def requestsReceived(self, peer: PeerProtocol, requests: list[tuple[int, int, int]]) -> None:
        verified = self._torrent.download.verifiedPieces()
        pieceSize = self._metainfo.pieceSize
        for index, begin, length in requests:
            if verified is None or index not in verified:
                if not peer.sender.rejectRequest(index, begin, length):
                    peer.drop(f"requested piece {index}, which we do not have")
                    return
            elif begin + length > pieceSize(index):
                peer.drop(f"requested past the end of piece {index}")
                return

    def requestsQueued(self, peer: PeerProtocol) -> None:
        self._torrent.upload.serve(peer)

    def peerWritable(self, peer: PeerProtocol) -> None:
        self._torrent.upload.serve(peer)

    # The fast extension (BEP 6).

    def requestRejected(self, peer: PeerProtocol, index: int, begin: int) -> None:
        self._torrent.download.requestRejected(peer, index, begin)

    def peerAllowedFast(self, peer: PeerProtocol, index: int) -> None:
        self._torrent.download.fill(peer)
