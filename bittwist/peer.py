# -*- test-case-name: tests.test_peer -*-
"""
The peer wire protocol over a Twisted transport.

L{PeerProtocol} is glue: it owns the transport, does the handshake, feeds
bytes to the sans-IO L{bittwist.wire} decoder, drives the sans-IO
L{bittwist.peerstate.PeerState} (the peer's choke, interest both ways, its
pieces, our requests in flight) and
L{bittwist.incomingrequests.IncomingRequests} (its requests, our choke), and
hands every event to its torrent (L{bittwist.peerevents.IPeerEvents}), which
decides policy. Its parts live in modules of their own: what the peer sends
(L{bittwist.peerreceiver.PeerReceiver}); what we send it, every byte through
one write (L{bittwist.peersender.PeerSender}, the protocol's C{sender}); the
timeouts and keep-alives (L{bittwist.peertimers.ConnectionTimers}); the fast
extension's policy (L{bittwist.fastpolicy.FastPolicy}); the extension
protocol's session (L{bittwist.extendedsession.ExtendedSession}).
"""

from typing import Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist import wire
from bittwist.clientname import describeClient
from bittwist.errors import ProtocolError
from bittwist.fastpolicy import ALLOWED_FAST_SET_SIZE, FastPolicy
from bittwist.extendedsession import CLIENT_NAME, ExtendedSession
from bittwist.extensions.handshake import ExtendedHandshake, ExtensionRegistry
from bittwist.incomingrequests import MAX_QUEUED_REQUESTS, IncomingRequests
from bittwist.peerevents import IPeerEvents
from bittwist.peerreceiver import DISPATCH, PeerReceiver
from bittwist.peersender import PeerSender
from bittwist.peerstate import PeerState
from bittwist.peertimers import ConnectionTimers
from bittwist.rate import RateMeter
from bittwist.readpacer import ReadPacer
from bittwist.safetext import printable
from bittwist.waiters import Waiters

__all__ = [
    "PeerProtocol",
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

READ_SIZE = 2**18
"""
How many bytes to read from a peer's socket at once.
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
    buffer is full (the peer does not read), its sender hands out no request
    to serve, so no more blocks are read for the peer.

    @ivar torrent: the torrent this connection serves, once known.
    @ivar peerId: the remote peer id, once handshaken.
    @ivar reserved: the reserved bytes of the peer's handshake.
    @ivar extensions: the extension ids of the connection, once handshaken
        if both sides speak the extension protocol (BEP 10), else C{None}.
    @ivar extendedHandshake: the peer's latest extended handshake, if any.
    @ivar state: the BEP 3 state of the connection, once handshaken (a
        L{PeerState}; read it, change it through the sender).
    @ivar requestsIn: the peer's requests of us and our choke of it, once
        handshaken (an L{IncomingRequests}; read it, change it through the
        sender).
    @ivar sender: sends to the peer and serves its requests (a
        L{PeerSender}).
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
    requestsIn: IncomingRequests

    def __init__(
        self,
        reactor: IReactorTime,
        ourPeerId: bytes,
        torrent: Optional[IPeerEvents] = None,
        lookup: Optional[Callable[[bytes], Optional[IPeerEvents]]] = None,
        dialed: Optional[tuple[str, int]] = None,
        source: str = "incoming",
        pacer: Optional[ReadPacer] = None,
    ) -> None:
        """
        @param reactor: provides time and C{callLater}.
        @param ourPeerId: our 20-byte peer id.
        @param torrent: for outgoing connections, the torrent.
        @param lookup: for incoming connections, finds a torrent by info_hash.
        @param dialed: for outgoing connections, the address dialled.
        @param source: where the address came from.
        @param pacer: bounds the reads of a reactor turn, its session's.
        """
        self._reactor = reactor
        self._pacer = pacer
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
        self._timers = ConnectionTimers(reactor, self)
        self._closed: Waiters[bool] = Waiters()
        self._isClosed = False
        self._fastPolicy = FastPolicy(self)
        self._extended = ExtendedSession(self)
        self._receiver = PeerReceiver(self)
        self.sender = PeerSender(self, self._timers)
        self.lostReason: Optional[Failure] = None

    def __repr__(self) -> str:
        host = f"{self.address[0]}:{self.address[1]}" if self.address else "?"
        return f"<Peer {host}>"

    # Read-only views of the state the choker and status pages read.

    @property
    def amChoking(self) -> bool:
        return self.requestsIn.amChoking if self.handshaked else True

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
        self._timers.start()
        if hasattr(self.transport, "bufferSize"):
            # Twisted reads 64 KiB at a time; a fast peer sends far more per
            # reactor turn, and each read costs a decode call and a wake-up.
            self.transport.bufferSize = READ_SIZE
        self.transport.registerProducer(self, True)
        if self.outgoing:
            assert self.torrent is not None
            self.sender.write(
                wire.encode(wire.Handshake(self.torrent.infoHash, self._ourPeerId, self._ourReserved()))
            )

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # Nothing is written or received any more (the sender's sendRun
        # sends nothing of a block read after the peer left).
        self._disconnecting = True
        self._isClosed = True
        self.lostReason = reason
        self._timers.stop()
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

    # Receiving.

    def dataReceived(self, data: bytes) -> None:
        if self._disconnecting:
            return
        self._timers.lastReceived = self._reactor.seconds()
        receiver = self._receiver
        try:
            messages = self._decoder.receiveData(data)
            # The blocks that follow each other go to the torrent as one
            # batch: a fast peer sends a dozen or more per read, and their
            # bookkeeping is cheaper done once than per block.
            blocks: list[wire.Piece] = []
            dispatch = DISPATCH
            for message in messages:
                if self._disconnecting:
                    return
                if type(message) is _PIECE:
                    blocks.append(message)
                    continue
                if blocks:
                    receiver.receiveBlocks(blocks)
                    blocks = []
                    if self._disconnecting:
                        return
                dispatch[type(message)](receiver, message)
            if blocks:
                receiver.receiveBlocks(blocks)
        except ProtocolError as e:
            self.drop(str(e))
        if receiver.requestsQueued:
            # One serving pass for every request of this read.
            receiver.requestsQueued = False
            if not self._disconnecting:
                assert self.torrent is not None
                self.torrent.requestsQueued(self)
        if self._pacer is not None and not self._disconnecting:
            self._pacer.read(self.transport)

    def _receiveHandshake(self, message: wire.Handshake) -> None:
        if self.handshaked:
            raise ProtocolError("second handshake")
        if self.torrent is None:
            assert self._lookup is not None
            self.torrent = self._lookup(message.infoHash)
            if self.torrent is None:
                raise ProtocolError("handshake for a torrent we do not serve")
            self.sender.write(
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
        self.requestsIn = IncomingRequests(fast=self.fast)
        self.handshaked = True
        if not self.torrent.peerHandshaked(self):
            self.drop("refused by torrent")
            return
        ours = self.torrent.ourBitfield()
        if self.fast:
            # BEP 6: the first message is a bitfield, have all or have none.
            if ours is None or not len(ours):
                self.sender.sendMessage(wire.HaveNone())
            elif ours.complete():
                self.sender.sendMessage(wire.HaveAll())
            else:
                self.sender.sendMessage(wire.Bitfield(ours.toBytes()))
        elif ours is not None and len(ours):
            self.sender.sendMessage(wire.Bitfield(ours.toBytes()))
        if self.extensionProtocol:
            self._extended.start()
        dhtPort = self.torrent.dhtPort()
        if dhtPort is not None and wire.hasReservedBit(self.reserved, wire.ReservedBit.DHT):
            self.sender.sendMessage(wire.Port(dhtPort))

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

    # IPushProducer: the transport tells us when its buffer is full.

    def pauseProducing(self) -> None:
        self.writePaused = True

    def resumeProducing(self) -> None:
        self.writePaused = False
        if self.handshaked and self.torrent is not None and not self._disconnecting:
            self.torrent.peerWritable(self)

    def stopProducing(self) -> None:
        self.writePaused = True
