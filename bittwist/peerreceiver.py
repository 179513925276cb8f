# -*- test-case-name: tests.test_peerreceiver -*-
"""
What one peer sends after its handshake, checked and reported.

L{PeerReceiver} is a part of L{bittwist.peer.PeerProtocol}: the protocol
decodes what the peer sent and hands each message to the handler L{DISPATCH}
names for its type (the blocks of one read together, to L{receiveBlocks}).
Each handler checks the message against the connection's
L{bittwist.peerstate.PeerState} or L{bittwist.incomingrequests.IncomingRequests}
and tells the torrent (L{bittwist.peerevents.IPeerEvents}); a message that
breaks the protocol raises L{ProtocolError}, and the protocol drops the peer.
"""

from typing import TYPE_CHECKING, Any, Callable

from bittwist import wire
from bittwist.errors import ProtocolError
from bittwist.peerstate import PeerState

if TYPE_CHECKING:  # pragma: no cover
    from bittwist.peer import PeerProtocol

__all__ = ["PeerReceiver", "DISPATCH"]


class PeerReceiver:
    """
    The receiving side of one connection.

    @ivar requestsQueued: whether requests were queued since the protocol
        last had them served (once per read).
    """

    __slots__ = ("_peer", "requestsQueued")

    def __init__(self, peer: "PeerProtocol") -> None:
        """
        @param peer: the connection: its torrent, state and parts.
        """
        self._peer = peer
        self.requestsQueued = False

    def _receiveHandshake(self, message: wire.Handshake) -> None:
        self._peer._receiveHandshake(message)

    def _receiveKeepAlive(self, message: wire.KeepAlive) -> None:
        self._peer._handshaken()

    def _receiveChoke(self, message: wire.Choke) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        peer.state.received()
        if not peer.state.peerChoking:
            torrent.peerChoked(peer, peer.state.peerChoked())

    def _receiveUnchoke(self, message: wire.Unchoke) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        peer.state.received()
        if peer.state.peerUnchoked():
            torrent.peerUnchoked(peer)

    def _receiveInterested(self, message: wire.Interested) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        peer.state.received()
        if peer.state.peerInterest(True):
            torrent.peerInterestChanged(peer)

    def _receiveNotInterested(self, message: wire.NotInterested) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        peer.state.received()
        if peer.state.peerInterest(False):
            torrent.peerInterestChanged(peer)

    def _receiveHave(self, message: wire.Have) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        peer.state.received()
        if peer.state.peerHas(message.index):
            torrent.peerHave(peer, message.index)

    def _receiveBitfield(self, message: wire.Bitfield) -> None:
        self._receivePieces(PeerState.peerBitfield, message.payload)

    def _receiveHaveAll(self, message: wire.HaveAll) -> None:
        self._receivePieces(PeerState.peerHaveAll)

    def _receiveHaveNone(self, message: wire.HaveNone) -> None:
        self._receivePieces(PeerState.peerHaveNone)

    def _receivePieces(self, record: Callable[..., None], *args: Any) -> None:
        """
        The peer's first message says which pieces it has: a bitfield, or
        (BEP 6) have all or have none.

        @param record: the L{PeerState} method taking it, called with the
            state and C{args}.
        """
        peer = self._peer
        torrent = peer._handshaken()
        peer.state.received()
        record(peer.state, *args)
        peer._fastPolicy.allowFast()
        torrent.peerBitfield(peer)

    # The fast extension's messages go to its part.

    def _receiveRejectRequest(self, message: wire.RejectRequest) -> None:
        self._peer._fastPolicy.receiveRejectRequest(message)

    def _receiveAllowedFast(self, message: wire.AllowedFast) -> None:
        self._peer._fastPolicy.receiveAllowedFast(message)

    def _receiveSuggestPiece(self, message: wire.SuggestPiece) -> None:
        self._peer._fastPolicy.receiveSuggestPiece(message)

    def _receiveRequests(self, message: wire.Requests) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        # What counts is whether any message came before the bitfield.
        peer.state.received()
        requests = message.requests
        refused = peer.requestsIn.peerRequestedMany(requests)
        if refused:
            peer._fastPolicy.reject(refused)
            requests = [request for request in requests if request not in refused]
            if not requests:
                return
        torrent.requestsReceived(peer, requests)
        self.requestsQueued = True

    def _receiveCancel(self, message: wire.Cancel) -> None:
        peer = self._peer
        peer._handshaken()
        peer.state.received()
        request = (message.index, message.begin, message.length)
        if peer.requestsIn.peerCancelled(request):
            # BEP 6: even a cancelled request gets its answer.
            peer._fastPolicy.reject((request,))

    def receiveBlocks(self, blocks: list[wire.Piece]) -> None:
        """
        Blocks arrived, one after the other: check each was asked for and
        hand them to the torrent together.

        @raise ProtocolError: for a block we did not ask for, or not of the
            size asked; the blocks before it are handed on first, so that
            none is left counted as requested from a peer about to go.
        """
        peer = self._peer
        torrent = peer._handshaken()
        state = peer.state
        state.received()
        arrived = state.blockArrived
        total = accepted = 0
        try:
            for message in blocks:
                size = len(message.block)
                arrived(message.index, message.begin, size)
                total += size
                accepted += 1
        except ProtocolError:
            if accepted:
                peer.downloadRate.add(total)
                torrent.blocksReceived(peer, blocks[:accepted])
            raise
        peer.downloadRate.add(total)
        torrent.blocksReceived(peer, blocks)

    def _receivePort(self, message: wire.Port) -> None:
        peer = self._peer
        torrent = peer._handshaken()
        # Sent after the bitfield by some clients, before it by others.
        peer.state.received(countsAsMessage=False)
        torrent.peerPort(peer, message.port)

    def _receiveExtended(self, message: wire.Extended) -> None:
        self._peer._extended.receive(message)

    def _receiveIgnored(self, message: wire.UnknownMessage) -> None:
        # Messages of extensions we do not speak.
        peer = self._peer
        peer._handshaken()
        if message.messageId in wire.FAST_MESSAGE_IDS:
            raise ProtocolError(
                f"fast extension message {message.messageId} without the fast extension"
            )
        peer.state.received()


DISPATCH: dict[type, Callable[[PeerReceiver, Any], None]] = {
    # Not wire.Piece: the protocol batches blocks for receiveBlocks.
    wire.Handshake: PeerReceiver._receiveHandshake,
    wire.KeepAlive: PeerReceiver._receiveKeepAlive,
    wire.Choke: PeerReceiver._receiveChoke,
    wire.Unchoke: PeerReceiver._receiveUnchoke,
    wire.Interested: PeerReceiver._receiveInterested,
    wire.NotInterested: PeerReceiver._receiveNotInterested,
    wire.Have: PeerReceiver._receiveHave,
    wire.Bitfield: PeerReceiver._receiveBitfield,
    wire.Requests: PeerReceiver._receiveRequests,
    wire.Cancel: PeerReceiver._receiveCancel,
    wire.Port: PeerReceiver._receivePort,
    wire.HaveAll: PeerReceiver._receiveHaveAll,
    wire.HaveNone: PeerReceiver._receiveHaveNone,
    wire.RejectRequest: PeerReceiver._receiveRejectRequest,
    wire.AllowedFast: PeerReceiver._receiveAllowedFast,
    wire.SuggestPiece: PeerReceiver._receiveSuggestPiece,
    wire.Extended: PeerReceiver._receiveExtended,
    wire.UnknownMessage: PeerReceiver._receiveIgnored,
}
"""
Each message type's handler, called with the receiver and the message.
"""
