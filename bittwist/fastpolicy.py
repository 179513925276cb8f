# -*- test-case-name: tests.test_peer_fast -*-
"""
The fast extension's policy on one connection (BEP 6).

L{FastPolicy} is a part of L{bittwist.peer.PeerProtocol}: it allows a new
peer its allowed fast set, takes the peer's C{reject request}, C{allowed
fast} and C{suggest piece}, and rejects the requests we will not serve.
It keeps no state of its own (that is the connection's
L{bittwist.peerstate.PeerState} and
L{bittwist.incomingrequests.IncomingRequests}) and writes only through the
protocol's sender.
"""

from typing import TYPE_CHECKING, Iterable

from bittwist import wire
from bittwist.fast import allowedFastSet

if TYPE_CHECKING:  # pragma: no cover
    from bittwist.peer import PeerProtocol

__all__ = ["FastPolicy", "ALLOWED_FAST_SET_SIZE"]

ALLOWED_FAST_SET_SIZE = 10
"""
How many pieces we allow a peer fast (BEP 6's k).
"""


class FastPolicy:
    """
    What one connection does about the fast extension. The sending methods
    do nothing unless both sides announced it (the protocol's C{fast}); the
    peer's fast messages reach the receiving ones only then.
    """

    __slots__ = ("_peer",)

    def __init__(self, peer: "PeerProtocol") -> None:
        """
        @param peer: the connection, handshaken before any method is called.
        """
        self._peer = peer

    def allowFast(self) -> None:
        """
        Allow the peer fast the pieces of its allowed fast set (BEP 6's
        algorithm) that we have and it lacks, so that a new peer can get
        started before we unchoke it. Called once its pieces are known.
        """
        peer = self._peer
        # A peer with every piece is allowed nothing fast.
        if not peer.fast or peer.state.pieces.complete() or peer.address is None:
            return
        torrent = peer.torrent
        assert torrent is not None
        ours = torrent.ourBitfield()
        if ours is None or not len(ours):
            return
        try:
            indices = allowedFastSet(
                peer.address[0], torrent.infoHash, torrent.numPieces, ALLOWED_FAST_SET_SIZE
            )
        except ValueError:
            # Not an IP address (a test transport, say): nothing allowed.
            return
        pieces = peer.state.pieces
        allowed = peer.requestsIn.allowedFastOut
        for index in indices:
            if index in ours and index not in pieces:
                allowed.add(index)
                peer.sender.sendMessage(wire.AllowedFast(index))

    def reject(self, requests: Iterable[tuple[int, int, int]]) -> bool:
        """
        Tell the peer we will not answer C{requests}.

        @return: whether it was told (C{False}: no fast extension).
        """
        peer = self._peer
        if not peer.fast:
            return False
        for request in requests:
            peer.sender.sendMessage(wire.RejectRequest(*request))
        return True

    def choked(self) -> None:
        """
        We choked the peer: reject its queued requests, but those for pieces
        we allowed it fast (a choke without the fast extension discards them
        silently, as BEP 3 says).
        """
        peer = self._peer
        if peer.fast:
            self.reject(peer.requestsIn.rejectUnallowed())

    def receiveRejectRequest(self, message: wire.RejectRequest) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        peer.state.received()
        if peer.state.peerRejected((message.index, message.begin, message.length)):
            torrent.requestRejected(peer, message.index, message.begin)

    def receiveAllowedFast(self, message: wire.AllowedFast) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        # libtorrent sends these right after its bitfield, some clients
        # before it.
        peer.state.received(countsAsMessage=False)
        if peer.state.peerAllowedFast(message.index):
            torrent.peerAllowedFast(peer, message.index)

    def receiveSuggestPiece(self, message: wire.SuggestPiece) -> None:
        peer = self._peer
        peer._handshaken()
        peer.state.received(countsAsMessage=False)
        peer.state.peerSuggested(message.index)
