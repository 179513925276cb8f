# -*- test-case-name: tests.test_peer -*-
"""
What a peer connection tells its torrent: L{IPeerEvents}, which
L{bittwist.peer.PeerProtocol} calls and a torrent's
L{bittwist.torrent.peerdispatch.PeerDispatch} implements.
"""

from typing import TYPE_CHECKING, Any, Optional, Protocol as TypingProtocol, Sequence

from bittwist import wire
from bittwist.bitfield import Bitfield

if TYPE_CHECKING:  # pragma: no cover
    from bittwist.peer import PeerProtocol

__all__ = ["IPeerEvents"]


class IPeerEvents(TypingProtocol):
    """
    What a L{bittwist.peer.PeerProtocol} tells its torrent. A torrent's
    L{bittwist.torrent.peerdispatch.PeerDispatch} implements it, and so does
    a L{bittwist.torrent.magnet.MagnetTorrent}; tests may use a recorder.
    """

    infoHash: bytes
    numPieces: Optional[int]

    def peerHandshaked(self, peer: "PeerProtocol") -> bool: ...
    def ourBitfield(self) -> Optional[Bitfield]: ...
    def peerBitfield(self, peer: "PeerProtocol") -> None: ...
    def peerHave(self, peer: "PeerProtocol", index: int) -> None: ...
    def peerChoked(self, peer: "PeerProtocol", requests: list[tuple[int, int]]) -> None: ...
    def peerUnchoked(self, peer: "PeerProtocol") -> None: ...
    def peerInterestChanged(self, peer: "PeerProtocol") -> None: ...
    def blocksReceived(self, peer: "PeerProtocol", blocks: list[wire.Piece]) -> None: ...
    def requestsReceived(self, peer: "PeerProtocol", requests: list[tuple[int, int, int]]) -> None:
        """
        The peer queued requests, C{(index, begin, length)} each, in
        order: check them (L{bittwist.peersender.PeerSender.rejectRequest}
        or L{bittwist.peer.PeerProtocol.drop} for those not to be served).
        """

    def requestsQueued(self, peer: "PeerProtocol") -> None:
        """
        The requests of one read from the peer are queued, each reported to
        L{requestsReceived} first: serve them (once per read, not per
        request).
        """

    def peerWritable(self, peer: "PeerProtocol") -> None: ...
    def peerDisconnected(self, peer: "PeerProtocol", reason: str) -> None: ...

    # The extension protocol (BEP 10) and the DHT's port message (BEP 5).

    def extendedHandshakeFields(self) -> tuple[Sequence[str], dict[str, Any]]:
        """
        @return: the names of the extensions we speak on this torrent, and
            the other fields of our extended handshake (C{listenPort},
            C{metadataSize}: see
            L{bittwist.extensions.handshake.ExtendedHandshake}).
        """

    def peerExtended(self, peer: "PeerProtocol") -> None:
        """
        The peer sent its extended handshake (again):
        L{bittwist.peer.PeerProtocol.extendedHandshake} and
        L{bittwist.peer.PeerProtocol.supports} say what it speaks.
        """

    def extensionMessage(self, peer: "PeerProtocol", name: str, payload: bytes) -> None:
        """
        The peer sent a message of extension C{name}, one we announced.

        @raise bittwist.errors.ExtensionError: if the payload is bad (the
            peer is dropped).
        """

    def peerPort(self, peer: "PeerProtocol", port: int) -> None:
        """
        The peer runs a DHT node on UDP port C{port} (BEP 5).
        """

    def dhtPort(self) -> Optional[int]:
        """
        @return: the UDP port of our DHT node, if this torrent uses the DHT:
            our handshake then says so, and peers that run one too hear the
            port (BEP 5).
        """

    # The fast extension (BEP 6).

    def requestRejected(self, peer: "PeerProtocol", index: int, begin: int) -> None:
        """
        The peer will not answer our request for the block at C{begin} of
        piece C{index}: it is ours to ask again.
        """

    def peerAllowedFast(self, peer: "PeerProtocol", index: int) -> None:
        """
        The peer lets us request piece C{index} while it chokes us.
        """
