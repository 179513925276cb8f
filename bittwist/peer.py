# -*- test-case-name: tests.test_peer -*-
"""
The peer wire protocol over a Twisted transport.

L{PeerProtocol} is glue: it feeds bytes to the sans-IO L{bittwist.wire}
decoder, drives the sans-IO L{bittwist.peerstate.PeerState} (choked and
interested both ways, the peer's pieces, requests in flight both ways),
writes what it says to send, keeps the connection alive, and hands every
event to its torrent, which decides policy. Nothing else writes to a peer's
transport. Two parts of it live in modules of their own: the fast
extension's policy (L{bittwist.fastpolicy.FastPolicy}) and the extension
protocol's session (L{bittwist.extendedsession.ExtendedSession}).
"""

from typing import Any, Callable, Iterable, Optional, Protocol as TypingProtocol, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.clientname import describeClient
from bittwist.errors import ProtocolError
from bittwist.fastpolicy import ALLOWED_FAST_SET_SIZE, FastPolicy
from bittwist.extendedsession import CLIENT_NAME, ExtendedSession
from bittwist.extensions.handshake import ExtendedHandshake, ExtensionRegistry
from bittwist.peerstate import MAX_QUEUED_REQUESTS, PeerState
from bittwist.rate import RateMeter
from bittwist.safetext import printable
from bittwist.waiters import Waiters

__all__ = [
    "PeerProtocol",
    "IPeerEvents",
    "MAX_QUEUED_REQUESTS",
    "OUR_RESERVED",
    "CLIENT_NAME",
    "ALLOWED_FAST_SET_SIZE",
]

OUR_RESERVED = wire.makeReserved(wire.ReservedBit.EXTENSION_PROTOCOL, wire.ReservedBit.FAST)
"""
The reserved bytes of our handshake: we speak the extension protocol
(BEP 10) and the fast extension (BEP 6). Each is used on a connection only
when the peer's handshake announces it too.
"""

KEEPALIVE_INTERVAL = 120.0
"""
Send a keep-alive after this many seconds of sending nothing (BEP 3 peers
drop connections silent for two minutes or more).
"""

IDLE_TIMEOUT = 240.0
"""
Drop a peer that sent nothing at all for this long.
"""

HANDSHAKE_TIMEOUT = 30.0
"""
Drop a connection whose handshake has not completed within this long.
"""

READ_SIZE = 2**18
"""
How many bytes to read from a peer's socket at once.
"""

_TIMER_PERIOD = 5.0


class IPeerEvents(TypingProtocol):
    """
    What a L{PeerProtocol} tells its torrent. A torrent's
    L{bittwist.torrent.peerevents.PeerEvents} implements it, and so does a
    L{bittwist.torrent.magnet.MagnetTorrent}; tests may use a recorder.
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
        order: check them (L{PeerProtocol.rejectRequest} or
        L{PeerProtocol.drop} for those not to be served).
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
            C{metadataSize}: see L{ExtendedHandshake}).
        """

    def peerExtended(self, peer: "PeerProtocol") -> None:
        """
        The peer sent its extended handshake (again):
        L{PeerProtocol.extendedHandshake} and L{PeerProtocol.supports} say
        what it speaks.
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


_PIECE = wire.Piece


@implementer(IPushProducer)
class PeerProtocol(Protocol):
    """
    One connection to one peer.

    An outgoing connection knows its torrent from the start and sends its
    handshake at once; an incoming one waits for the peer's handshake and
    looks the torrent up by its info_hash.

    It is a streaming producer on its transport: while the transport's
    buffer is full (the peer does not read), L{nextRequest} hands out no
    request, so no more blocks are read for the peer.

    @ivar torrent: the torrent this connection serves, once known.
    @ivar peerId: the remote peer id, once handshaken.
    @ivar reserved: the reserved bytes of the peer's handshake.
    @ivar extensions: the extension ids of the connection, once handshaken
        if both sides speak the extension protocol (BEP 10), else C{None}.
    @ivar extendedHandshake: the peer's latest extended handshake, if any.
    @ivar state: the BEP 3 state of the connection, once handshaken (a
        L{PeerState}; read it, change it through this protocol's methods).
    @ivar outgoing: whether we dialled the peer.
    @ivar dialed: the address we dialled, for an outgoing connection.
    @ivar source: where the peer's address came from (C{"tracker"},
        C{"manual"}, ...; C{"incoming"} for a connection we accepted).
    @ivar writePaused: whether the transport asked us to stop producing.
    @ivar downloadRate: payload bytes per second from the peer.
    @ivar uploadRate: payload bytes per second to the peer.
    @ivar lostReason: why the connection closed, once it has.
    """

    log = Logger()
    state: PeerState

    def __init__(
        self,
        reactor: IReactorTime,
        ourPeerId: bytes,
        torrent: Optional[IPeerEvents] = None,
        lookup: Optional[Callable[[bytes], Optional[IPeerEvents]]] = None,
        dialed: Optional[tuple[str, int]] = None,
        source: str = "incoming",
    ) -> None:
        """
        @param reactor: provides time and C{callLater}.
        @param ourPeerId: our 20-byte peer id.
        @param torrent: for outgoing connections, the torrent.
        @param lookup: for incoming connections, finds a torrent by info_hash.
        @param dialed: for outgoing connections, the address dialled.
        @param source: where the address came from.
        """
        self._reactor = reactor
        self._ourPeerId = ourPeerId
        self.torrent = torrent
        self._lookup = lookup
        self.outgoing = torrent is not None
        self.dialed = dialed
        self.source = source
        self._decoder = wire.Decoder(
            expectHandshake=True, reserved=OUR_RESERVED, batchRequests=True
        )
        self.peerId: Optional[bytes] = None
        self.reserved = bytes(8)
        self.handshaked = False
        self.writePaused = False
        self.downloadRate = RateMeter(reactor)
        self.uploadRate = RateMeter(reactor)
        self.address: Optional[tuple[str, int]] = None
        self._disconnecting = False
        self._lastReceived = self._lastSent = reactor.seconds()
        self._connectedAt = reactor.seconds()
        self._timer = None
        self._closed: Waiters[bool] = Waiters()
        self._isClosed = False
        self._requestsQueued = False
        self._fastPolicy = FastPolicy(self)
        self._extended = ExtendedSession(self)
        self.lostReason: Optional[Failure] = None

    def __repr__(self) -> str:
        host = f"{self.address[0]}:{self.address[1]}" if self.address else "?"
        return f"<Peer {host}>"

    # Read-only views of the state the choker and status pages read.

    @property
    def amChoking(self) -> bool:
        return self.state.amChoking if self.handshaked else True

    @property
    def peerInterested(self) -> bool:
        return self.state.peerInterested if self.handshaked else False

    @property
    def extensionProtocol(self) -> bool:
        """
        Whether both sides announced the extension protocol (BEP 10).
        """
        return self._decoder.extensionProtocol

    @property
    def fast(self) -> bool:
        """
        Whether both sides announced the fast extension (BEP 6).
        """
        return self._decoder.fast

    @property
    def extensions(self) -> Optional[ExtensionRegistry]:
        """
        The extension ids of the connection, once handshaken if both sides
        speak the extension protocol (BEP 10), else C{None}.
        """
        return self._extended.registry

    @property
    def extendedHandshake(self) -> Optional[ExtendedHandshake]:
        """
        The peer's latest extended handshake, if any.
        """
        return self._extended.handshake

    def supports(self, name: str) -> bool:
        """
        @return: whether the peer announced extension C{name} (one of ours)
            in its extended handshake.
        """
        return self._extended.supports(name)

    @property
    def clientName(self) -> str:
        """
        The peer's client, from the C{v} of its extended handshake if it sent
        one, else from its peer id.
        """
        handshake = self.extendedHandshake
        return describeClient(self.peerId or b"", handshake.client if handshake else None)

    @property
    def requestQueueLimit(self) -> Optional[int]:
        """
        How many of our requests the peer queues (the C{reqq} of its extended
        handshake), or C{None} if it did not say.
        """
        handshake = self.extendedHandshake
        return handshake.requestQueue if handshake else None

    @property
    def listenAddress(self) -> Optional[tuple[str, int]]:
        """
        Where the peer accepts connections: the address we dialled, or for an
        incoming peer its host and the port of its extended handshake's
        C{p}; C{None} if unknown.
        """
        if self.outgoing:
            return self.dialed
        handshake = self.extendedHandshake
        if self.address is None or handshake is None or handshake.listenPort is None:
            return None
        return (self.address[0], handshake.listenPort)

    # Connection life.

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.address = (getattr(peer, "host", "?"), getattr(peer, "port", 0))
        self._connectedAt = self._lastReceived = self._lastSent = self._reactor.seconds()
        self._timer = self._reactor.callLater(_TIMER_PERIOD, self._checkTimers)
        if hasattr(self.transport, "bufferSize"):
            # Twisted reads 64 KiB at a time; a fast peer sends far more per
            # reactor turn, and each read costs a decode call and a wake-up.
            self.transport.bufferSize = READ_SIZE
        self.transport.registerProducer(self, True)
        if self.outgoing:
            assert self.torrent is not None
            self._write(
                wire.encode(wire.Handshake(self.torrent.infoHash, self._ourPeerId, self._ourReserved()))
            )

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # Nothing is written or received any more (sendBlock answers False
        # to a block read after the peer left).
        self._disconnecting = True
        self._isClosed = True
        self.lostReason = reason
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.handshaked and self.torrent is not None:
            self.torrent.peerDisconnected(self, reason.getErrorMessage())
        self._closed.fire(self.handshaked)

    def whenClosed(self) -> Deferred[bool]:
        """
        @return: fires when the connection has closed, with whether it got
            through the handshake.
        """
        if self._isClosed:
            return succeed(self.handshaked)
        return self._closed.wait()

    def drop(self, why: str) -> None:
        """
        Close the connection because of C{why}, discarding what the peer sent
        after.
        """
        if self._disconnecting:
            return
        self._disconnecting = True
        # C{why} may quote what the peer sent.
        self.log.debug("Dropping {peer}: {why}", peer=self, why=printable(why))
        # A registered producer keeps loseConnection from closing.
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def _checkTimers(self) -> None:
        self._timer = None
        if self._disconnecting:
            # Dropped a timer period ago and still open: loseConnection waits
            # for our writes to drain, and a peer that does not read would
            # hold the connection forever.
            self.transport.abortConnection()
            return
        now = self._reactor.seconds()
        if not self.handshaked and now - self._connectedAt >= HANDSHAKE_TIMEOUT:
            self.drop("no handshake in time")
        elif now - self._lastReceived >= IDLE_TIMEOUT:
            self.drop(f"silent for {IDLE_TIMEOUT:.0f} seconds")
        elif self.handshaked and now - self._lastSent >= KEEPALIVE_INTERVAL:
            self.sendMessage(wire.KeepAlive())
        self._timer = self._reactor.callLater(_TIMER_PERIOD, self._checkTimers)

    # Receiving.

    def dataReceived(self, data: bytes) -> None:
        if self._disconnecting:
            return
        self._lastReceived = self._reactor.seconds()
        try:
            messages = self._decoder.receiveData(data)
            # The blocks that follow each other go to the torrent as one
            # batch: a fast peer sends a dozen or more per read, and their
            # bookkeeping is cheaper done once than per block.
            blocks: list[wire.Piece] = []
            dispatch = self._dispatch
            for message in messages:
                if self._disconnecting:
                    return
                if type(message) is _PIECE:
                    blocks.append(message)
                    continue
                if blocks:
                    self._receiveBlocks(blocks)
                    blocks = []
                    if self._disconnecting:
                        return
                dispatch[type(message)](self, message)
            if blocks:
                self._receiveBlocks(blocks)
        except ProtocolError as e:
            self.drop(str(e))
        if self._requestsQueued:
            # One serving pass for every request of this read.
            self._requestsQueued = False
            if not self._disconnecting:
                assert self.torrent is not None
                self.torrent.requestsQueued(self)

    def _receiveHandshake(self, message: wire.Handshake) -> None:
        if self.handshaked:
            raise ProtocolError("second handshake")
        if self.torrent is None:
            assert self._lookup is not None
            self.torrent = self._lookup(message.infoHash)
            if self.torrent is None:
                raise ProtocolError("handshake for a torrent we do not serve")
            self._write(
                wire.encode(wire.Handshake(message.infoHash, self._ourPeerId, self._ourReserved()))
            )
        elif message.infoHash != self.torrent.infoHash:
            raise ProtocolError("handshake for another torrent")
        # Kept even when it is ours, so that whoever dialled can tell.
        self.peerId = message.peerId
        if message.peerId == self._ourPeerId:
            raise ProtocolError("connected to ourselves")
        self.reserved = message.reserved
        numPieces = self.torrent.numPieces
        if numPieces is not None:
            # Otherwise (fetching the metadata) the message length bound holds.
            self._decoder.setMaxBitfieldPieces(numPieces)
        self.state = PeerState(numPieces, fast=self.fast)
        self.handshaked = True
        if not self.torrent.peerHandshaked(self):
            self.drop("refused by torrent")
            return
        ours = self.torrent.ourBitfield()
        if self.fast:
            # BEP 6: the first message is a bitfield, have all or have none.
            if ours is None or not len(ours):
                self.sendMessage(wire.HaveNone())
            elif ours.complete():
                self.sendMessage(wire.HaveAll())
            else:
                self.sendMessage(wire.Bitfield(ours.toBytes()))
        elif ours is not None and len(ours):
            self.sendMessage(wire.Bitfield(ours.toBytes()))
        if self.extensionProtocol:
            self._extended.start()
        dhtPort = self.torrent.dhtPort()
        if dhtPort is not None and wire.hasReservedBit(self.reserved, wire.ReservedBit.DHT):
            self.sendMessage(wire.Port(dhtPort))

    def _ourReserved(self) -> bytes:
        """
        @return: the reserved bytes of our handshake: L{OUR_RESERVED}, and
            the DHT bit if the torrent uses our DHT node.
        """
        assert self.torrent is not None
        if self.torrent.dhtPort() is None:
            return OUR_RESERVED
        return wire.setReservedBit(OUR_RESERVED, wire.ReservedBit.DHT)

    def _handshaken(self) -> IPeerEvents:
        if not self.handshaked:
            raise ProtocolError("message before handshake")
        assert self.torrent is not None
        return self.torrent

    def _receiveKeepAlive(self, message: wire.KeepAlive) -> None:
        self._handshaken()

    def _receiveChoke(self, message: wire.Choke) -> None:
        torrent = self._handshaken()
        self.state.received()
        if not self.state.peerChoking:
            torrent.peerChoked(self, self.state.peerChoked())

    def _receiveUnchoke(self, message: wire.Unchoke) -> None:
        torrent = self._handshaken()
        self.state.received()
        if self.state.peerUnchoked():
            torrent.peerUnchoked(self)

    def _receiveInterested(self, message: wire.Interested) -> None:
        torrent = self._handshaken()
        self.state.received()
        if self.state.peerInterest(True):
            torrent.peerInterestChanged(self)

    def _receiveNotInterested(self, message: wire.NotInterested) -> None:
        torrent = self._handshaken()
        self.state.received()
        if self.state.peerInterest(False):
            torrent.peerInterestChanged(self)

    def _receiveHave(self, message: wire.Have) -> None:
        torrent = self._handshaken()
        self.state.received()
        if self.state.peerHas(message.index):
            torrent.peerHave(self, message.index)

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
        torrent = self._handshaken()
        self.state.received()
        record(self.state, *args)
        self._fastPolicy.allowFast()
        torrent.peerBitfield(self)

    # The fast extension's messages go to its part.

    def _receiveRejectRequest(self, message: wire.RejectRequest) -> None:
        self._fastPolicy.receiveRejectRequest(message)

    def _receiveAllowedFast(self, message: wire.AllowedFast) -> None:
        self._fastPolicy.receiveAllowedFast(message)

    def _receiveSuggestPiece(self, message: wire.SuggestPiece) -> None:
        self._fastPolicy.receiveSuggestPiece(message)

    def _receiveRequests(self, message: wire.Requests) -> None:
        torrent = self._handshaken()
        state = self.state
        # What counts is whether any message came before the bitfield.
        state.received()
        requests = message.requests
        refused = state.peerRequestedMany(requests)
        if refused:
            self._fastPolicy.reject(refused)
            requests = [request for request in requests if request not in refused]
            if not requests:
                return
        torrent.requestsReceived(self, requests)
        self._requestsQueued = True

    def _receiveCancel(self, message: wire.Cancel) -> None:
        self._handshaken()
        self.state.received()
        request = (message.index, message.begin, message.length)
        if self.state.peerCancelled(request):
            # BEP 6: even a cancelled request gets its answer.
            self._fastPolicy.reject((request,))

    def _receiveBlocks(self, blocks: list[wire.Piece]) -> None:
        """
        Blocks arrived, one after the other: check each was asked for and
        hand them to the torrent together.

        @raise ProtocolError: for a block we did not ask for, or not of the
            size asked; the blocks before it are handed on first, so that
            none is left counted as requested from a peer about to go.
        """
        torrent = self._handshaken()
        state = self.state
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
                self.downloadRate.add(total)
                torrent.blocksReceived(self, blocks[:accepted])
            raise
        self.downloadRate.add(total)
        torrent.blocksReceived(self, blocks)

    def _receivePort(self, message: wire.Port) -> None:
        torrent = self._handshaken()
        # Sent after the bitfield by some clients, before it by others.
        self.state.received(countsAsMessage=False)
        torrent.peerPort(self, message.port)

    def _receiveExtended(self, message: wire.Extended) -> None:
        self._extended.receive(message)

    def _receiveIgnored(self, message: wire.UnknownMessage) -> None:
        # Messages of extensions we do not speak.
        self._handshaken()
        if message.messageId in wire.FAST_MESSAGE_IDS:
            raise ProtocolError(
                f"fast extension message {message.messageId} without the fast extension"
            )
        self.state.received()

    # Not wire.Piece: dataReceived batches blocks for _receiveBlocks.
    _dispatch = {
        wire.Handshake: _receiveHandshake,
        wire.KeepAlive: _receiveKeepAlive,
        wire.Choke: _receiveChoke,
        wire.Unchoke: _receiveUnchoke,
        wire.Interested: _receiveInterested,
        wire.NotInterested: _receiveNotInterested,
        wire.Have: _receiveHave,
        wire.Bitfield: _receiveBitfield,
        wire.Requests: _receiveRequests,
        wire.Cancel: _receiveCancel,
        wire.Port: _receivePort,
        wire.HaveAll: _receiveHaveAll,
        wire.HaveNone: _receiveHaveNone,
        wire.RejectRequest: _receiveRejectRequest,
        wire.AllowedFast: _receiveAllowedFast,
        wire.SuggestPiece: _receiveSuggestPiece,
        wire.Extended: _receiveExtended,
        wire.UnknownMessage: _receiveIgnored,
    }

    # Sending: every byte to the peer goes through _write.

    def _write(self, data: bytes | list[bytes]) -> None:
        self._lastSent = self._reactor.seconds()
        if isinstance(data, list):
            self.transport.writeSequence(data)
        else:
            self.transport.write(data)

    def sendMessage(self, message: Optional[wire.Message]) -> None:
        """
        Send one message (nothing if C{None}, or once dropping).
        """
        if message is not None and not self._disconnecting:
            self._write(wire.encode(message))

    def sendExtended(self, name: str, payload: bytes) -> bool:
        """
        Send a message of extension C{name}, if the peer speaks it.

        @return: whether it was sent.
        """
        if self._disconnecting:
            return False
        return self._extended.send(name, payload)

    def setInterested(self, interested: bool) -> None:
        """
        Tell the peer whether we want anything it has (only on change).
        """
        self.sendMessage(self.state.setInterested(interested))

    def setChoking(self, choking: bool) -> None:
        """
        Choke or unchoke the peer (only on change). Choking discards its
        queued requests, as BEP 3 says; under the fast extension it rejects
        each, but those for pieces we allowed it fast.
        """
        message = self.state.setChoking(choking)
        self.sendMessage(message)
        if message is not None and choking:
            self._fastPolicy.choked()

    def rejectRequest(self, index: int, begin: int, length: int) -> bool:
        """
        Refuse a queued request of the peer (one for a piece we lack, say):
        under the fast extension it is told with a reject.

        @return: whether the peer was told (C{False}: it does not speak the
            fast extension, and a request we will not serve is its fault).
        """
        self.state.unqueue((index, begin, length))
        return self._fastPolicy.reject(((index, begin, length),))

    def sendHave(self, index: int) -> None:
        """
        Tell the peer we now have piece C{index}.
        """
        if self.handshaked:
            self.sendMessage(wire.Have(index))

    def sendRequests(self, blocks: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """
        Request blocks, in one write, and remember them as in flight.

        @return: the requests sent (none once the connection is being
            dropped).
        """
        if self._disconnecting:
            return []
        sent = self.state.addRequests(blocks)
        if sent:
            encodeRequest = wire.encodeRequest
            self._write(b"".join([encodeRequest(i, b, n) for i, b, n in sent]))
        return sent

    def cancelRequest(self, index: int, begin: int) -> None:
        """
        Cancel a request in flight, if it is.
        """
        self.sendMessage(self.state.cancelRequest(index, begin))

    # Serving: the torrent takes requests with nextRun (or nextRequest),
    # reads them, and answers with sendRun (or sendBlock).

    def nextRequest(self, maxServing: int) -> Optional[tuple[int, int, int]]:
        """
        Take the oldest queued request to serve, if the peer may have one
        now: we do not choke it, its transport is not paused, and fewer than
        C{maxServing} of its requests are being served.

        @return: C{(index, begin, length)}, or C{None}.
        """
        if self.writePaused or self._disconnecting or not self.handshaked:
            return None
        return self.state.nextRequest(maxServing)

    def nextRun(self, maxServing: int) -> list[tuple[int, int, int]]:
        """
        Take the oldest queued requests that follow one another in one
        piece, as many as L{nextRequest} would hand out now.

        @return: the requests, in order; empty if none may be served now.
        """
        if self.writePaused or self._disconnecting or not self.handshaked:
            return []
        return self.state.nextRun(maxServing)

    def wants(self, request: tuple[int, int, int]) -> bool:
        """
        @return: whether a request taken by L{nextRequest} is still to be
            answered (not cancelled, not discarded by a choke, still
            connected).
        """
        return not self._disconnecting and self.state.wants(request)

    def sendBlock(self, index: int, begin: int, block: bytes) -> bool:
        """
        Answer a request taken by L{nextRequest}, unless it was cancelled or
        we choked since.

        @return: whether the block was sent.
        """
        return self.sendRun([(index, begin, len(block))], block) > 0

    def sendRun(self, run: Sequence[tuple[int, int, int]], data: bytes | bytearray) -> int:
        """
        Answer requests taken by L{nextRun} or L{nextRequest}, those not
        cancelled or choked since, in one write.

        @param run: C{(index, begin, length)} of each request.
        @param data: their blocks end to end (one read of a run).
        @return: the bytes of the blocks sent.
        """
        parts: list[Any] = []
        offset = sent = 0
        answered = self.state.answered
        header = wire.encodePieceHeader
        with memoryview(data) as view:
            for request in run:
                index, begin, length = request
                if answered(request):
                    parts += (header(index, begin, length), view[offset:offset + length])
                    sent += length
                offset += length
            if not sent or self._disconnecting:
                return 0
            # One copy, into the bytes the transport wants: the blocks are
            # views of the read, not slices of it.
            message = b"".join(parts)
            del parts
        self._write(message)
        self.uploadRate.add(sent)
        return sent

    # IPushProducer: the transport tells us when its buffer is full.

    def pauseProducing(self) -> None:
        self.writePaused = True

    def resumeProducing(self) -> None:
        self.writePaused = False
        if self.handshaked and self.torrent is not None and not self._disconnecting:
            self.torrent.peerWritable(self)

    def stopProducing(self) -> None:
        self.writePaused = True
