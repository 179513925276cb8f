# -*- test-case-name: tests.test_peer -*-
"""
The peer wire protocol over a Twisted transport.

L{PeerProtocol} is glue: it feeds bytes to the sans-IO L{bittwist.wire}
decoder, keeps the per-peer state BEP 3 defines (choked and interested, both
ways; the peer's pieces; requests in flight), writes messages, keeps the
connection alive, and hands every event to its torrent, which decides policy.
"""

from collections import deque
from typing import Callable, Iterable, Optional, Protocol as TypingProtocol

from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.errors import ProtocolError
from bittwist.rate import RateMeter

__all__ = ["PeerProtocol", "IPeerEvents"]

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

MAX_QUEUED_REQUESTS = 512
"""
How many block requests a peer may have waiting for our answer. Beyond that
it is flooding us, and is dropped: this bounds the memory a peer can make us
spend.
"""

READ_SIZE = 2**18
"""
How many bytes to read from a peer's socket at once.
"""

_TIMER_PERIOD = 5.0


class IPeerEvents(TypingProtocol):
    """
    What a L{PeerProtocol} tells its torrent. L{bittwist.torrent.Torrent}
    implements it; tests may use a recorder.
    """

    infoHash: bytes
    numPieces: int

    def peerHandshaked(self, peer: "PeerProtocol") -> bool: ...
    def ourBitfield(self) -> Optional[Bitfield]: ...
    def peerBitfield(self, peer: "PeerProtocol") -> None: ...
    def peerHave(self, peer: "PeerProtocol", index: int) -> None: ...
    def peerChoked(self, peer: "PeerProtocol", requests: list[tuple[int, int]]) -> None: ...
    def peerUnchoked(self, peer: "PeerProtocol") -> None: ...
    def peerInterestChanged(self, peer: "PeerProtocol") -> None: ...
    def blockReceived(self, peer: "PeerProtocol", index: int, begin: int, block: bytes) -> None: ...
    def requestReceived(self, peer: "PeerProtocol", index: int, begin: int, length: int) -> None: ...
    def peerWritable(self, peer: "PeerProtocol") -> None: ...
    def peerDisconnected(self, peer: "PeerProtocol", reason: str) -> None: ...


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
    @ivar pieces: the pieces the remote peer has, once handshaken.
    @ivar amChoking: whether we choke the peer.
    @ivar amInterested: whether we told the peer we are interested.
    @ivar peerChoking: whether the peer chokes us.
    @ivar peerInterested: whether the peer is interested in us.
    @ivar requested: our requests in flight to the peer, (index, begin) to
        length, in the order sent.
    @ivar requestsIn: the peer's requests waiting for our answer.
    @ivar serving: the peer's requests taken by L{nextRequest} and not yet
        sent (being read, or waiting for upload tokens).
    @ivar writePaused: whether the transport asked us to stop producing.
    @ivar downloadRate: payload bytes per second from the peer.
    @ivar uploadRate: payload bytes per second to the peer.
    @ivar lastBlockAt: when the peer last sent a block (or when we first
        asked it for one), for snub detection.
    @ivar requestDepth: how many requests we keep in flight to the peer.
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        ourPeerId: bytes,
        torrent: Optional[IPeerEvents] = None,
        lookup: Optional[Callable[[bytes], Optional[IPeerEvents]]] = None,
    ) -> None:
        """
        @param reactor: provides time and C{callLater}.
        @param ourPeerId: our 20-byte peer id.
        @param torrent: for outgoing connections, the torrent.
        @param lookup: for incoming connections, finds a torrent by info_hash.
        """
        self._reactor = reactor
        self._ourPeerId = ourPeerId
        self.torrent = torrent
        self._lookup = lookup
        self.outgoing = torrent is not None
        self._decoder = wire.Decoder(expectHandshake=True)
        self.peerId: Optional[bytes] = None
        self.reserved = bytes(8)
        self.pieces: Optional[Bitfield] = None
        self.handshaked = False
        self.amChoking = True
        self.amInterested = False
        self.peerChoking = True
        self.peerInterested = False
        self.snubbed = False
        self.requested: dict[tuple[int, int], int] = {}
        self.requestsIn: deque[tuple[int, int, int]] = deque()
        self.serving: list[tuple[int, int, int]] = []
        self.writePaused = False
        self.downloadRate = RateMeter(reactor)
        self.uploadRate = RateMeter(reactor)
        self.requestDepth = 64
        self.address: Optional[tuple[str, int]] = None
        self._messagesSeen = 0
        self._disconnecting = False
        self._lastReceived = self._lastSent = self.lastBlockAt = reactor.seconds()
        self._connectedAt = reactor.seconds()
        self._timer = None

    def __repr__(self) -> str:
        host = f"{self.address[0]}:{self.address[1]}" if self.address else "?"
        return f"<Peer {host}>"

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
            self._write(wire.encode(wire.Handshake(self.torrent.infoHash, self._ourPeerId)))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # Nothing is written or received any more (sendBlock answers False
        # to a block read after the peer left).
        self._disconnecting = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.handshaked and self.torrent is not None:
            self.torrent.peerDisconnected(self, reason.getErrorMessage())

    def drop(self, why: str) -> None:
        """
        Close the connection because of C{why}, discarding what the peer sent
        after.
        """
        if self._disconnecting:
            return
        self._disconnecting = True
        self.log.debug("Dropping {peer}: {why}", peer=self, why=why)
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
            for message in messages:
                if self._disconnecting:
                    return
                self._dispatch[type(message)](self, message)
        except ProtocolError as e:
            self.drop(str(e))

    def _receiveHandshake(self, message: wire.Handshake) -> None:
        if self.handshaked:
            raise ProtocolError("second handshake")
        if self.torrent is None:
            assert self._lookup is not None
            self.torrent = self._lookup(message.infoHash)
            if self.torrent is None:
                raise ProtocolError("handshake for a torrent we do not serve")
            self._write(wire.encode(wire.Handshake(message.infoHash, self._ourPeerId)))
        elif message.infoHash != self.torrent.infoHash:
            raise ProtocolError("handshake for another torrent")
        if message.peerId == self._ourPeerId:
            raise ProtocolError("connected to ourselves")
        self.peerId = message.peerId
        self.reserved = message.reserved
        numPieces = self.torrent.numPieces
        self._decoder.setMaxBitfieldPieces(numPieces)
        self.pieces = Bitfield(numPieces)
        self.handshaked = True
        if not self.torrent.peerHandshaked(self):
            self.drop("refused by torrent")
            return
        ours = self.torrent.ourBitfield()
        if ours is not None and len(ours):
            self.sendMessage(wire.Bitfield(ours.toBytes()))

    def _expectHandshaken(self) -> None:
        if not self.handshaked:
            raise ProtocolError("message before handshake")
        self._messagesSeen += 1

    def _receiveKeepAlive(self, message: wire.KeepAlive) -> None:
        self._expectHandshaken()
        self._messagesSeen -= 1

    def _receiveChoke(self, message: wire.Choke) -> None:
        self._expectHandshaken()
        if self.peerChoking:
            return
        self.peerChoking = True
        # BEP 3: a choke discards every request in flight.
        dropped = list(self.requested)
        self.requested.clear()
        assert self.torrent is not None
        self.torrent.peerChoked(self, dropped)

    def _receiveUnchoke(self, message: wire.Unchoke) -> None:
        self._expectHandshaken()
        if not self.peerChoking:
            return
        self.peerChoking = False
        self.lastBlockAt = self._reactor.seconds()
        assert self.torrent is not None
        self.torrent.peerUnchoked(self)

    def _receiveInterested(self, message: wire.Interested) -> None:
        self._expectHandshaken()
        if not self.peerInterested:
            self.peerInterested = True
            assert self.torrent is not None
            self.torrent.peerInterestChanged(self)

    def _receiveNotInterested(self, message: wire.NotInterested) -> None:
        self._expectHandshaken()
        if self.peerInterested:
            self.peerInterested = False
            assert self.torrent is not None
            self.torrent.peerInterestChanged(self)

    def _receiveHave(self, message: wire.Have) -> None:
        self._expectHandshaken()
        assert self.pieces is not None and self.torrent is not None
        if not 0 <= message.index < self.pieces.length:
            raise ProtocolError(f"have for piece {message.index} of {self.pieces.length}")
        if self.pieces.add(message.index):
            self.torrent.peerHave(self, message.index)

    def _receiveBitfield(self, message: wire.Bitfield) -> None:
        self._expectHandshaken()
        assert self.pieces is not None and self.torrent is not None
        if self._messagesSeen != 1:
            raise ProtocolError("bitfield after the first message")
        try:
            self.pieces = Bitfield.fromBytes(self.pieces.length, message.payload)
        except ValueError as e:
            raise ProtocolError(str(e)) from None
        self.torrent.peerBitfield(self)

    def _receiveRequest(self, message: wire.Request) -> None:
        self._expectHandshaken()
        if self.amChoking:
            # Requests racing our choke are expected; ignore them (BEP 3).
            return
        if len(self.requestsIn) >= MAX_QUEUED_REQUESTS:
            raise ProtocolError(f"more than {MAX_QUEUED_REQUESTS} requests queued")
        assert self.torrent is not None
        self.requestsIn.append((message.index, message.begin, message.length))
        self.torrent.requestReceived(self, message.index, message.begin, message.length)

    def _receiveCancel(self, message: wire.Cancel) -> None:
        self._expectHandshaken()
        request = (message.index, message.begin, message.length)
        try:
            self.requestsIn.remove(request)
        except ValueError:
            # Being read: the block is dropped when it comes.
            try:
                self.serving.remove(request)
            except ValueError:
                pass

    def _receivePiece(self, message: wire.Piece) -> None:
        self._expectHandshaken()
        key = (message.index, message.begin)
        length = self.requested.pop(key, None)
        size = len(message.block)
        if length is not None and length != size:
            raise ProtocolError(f"block {key} is {size} bytes, asked for {length}")
        self.lastBlockAt = self._reactor.seconds()
        self.snubbed = False
        self.downloadRate.add(size)
        assert self.torrent is not None
        self.torrent.blockReceived(self, message.index, message.begin, message.block)

    def _receiveIgnored(self, message: object) -> None:
        # Port (DHT) and messages of extensions we did not negotiate.
        self._expectHandshaken()

    _dispatch = {
        wire.Handshake: _receiveHandshake,
        wire.KeepAlive: _receiveKeepAlive,
        wire.Choke: _receiveChoke,
        wire.Unchoke: _receiveUnchoke,
        wire.Interested: _receiveInterested,
        wire.NotInterested: _receiveNotInterested,
        wire.Have: _receiveHave,
        wire.Bitfield: _receiveBitfield,
        wire.Request: _receiveRequest,
        wire.Cancel: _receiveCancel,
        wire.Piece: _receivePiece,
        wire.Port: _receiveIgnored,
        wire.UnknownMessage: _receiveIgnored,
    }

    # Sending.

    def _write(self, data: bytes) -> None:
        self._lastSent = self._reactor.seconds()
        self.transport.write(data)

    def sendMessage(self, message: wire.Message) -> None:
        """
        Send one message.
        """
        if not self._disconnecting:
            self._write(wire.encode(message))

    def setInterested(self, interested: bool) -> None:
        """
        Tell the peer whether we want anything it has (only on change).
        """
        if interested != self.amInterested:
            self.amInterested = interested
            self.sendMessage(wire.Interested() if interested else wire.NotInterested())

    def setChoking(self, choking: bool) -> None:
        """
        Choke or unchoke the peer (only on change). Choking discards its
        queued requests, as BEP 3 says.
        """
        if choking != self.amChoking:
            self.amChoking = choking
            if choking:
                self.requestsIn.clear()
                del self.serving[:]
            self.sendMessage(wire.Choke() if choking else wire.Unchoke())

    def sendRequests(self, blocks: Iterable[tuple[int, int, int]]) -> None:
        """
        Request blocks, in one write, and remember them as in flight.
        """
        if self._disconnecting:
            return
        requested = self.requested
        if not requested:
            self.lastBlockAt = self._reactor.seconds()
        out = []
        encodeRequest = wire.encodeRequest
        for index, begin, length in blocks:
            requested[(index, begin)] = length
            out.append(encodeRequest(index, begin, length))
        if out:
            self._write(b"".join(out))

    def cancelRequest(self, index: int, begin: int) -> None:
        """
        Cancel a request in flight, if it is.
        """
        length = self.requested.pop((index, begin), None)
        if length is not None:
            self.sendMessage(wire.Cancel(index, begin, length))

    # Serving: the torrent takes requests with nextRequest, reads them, and
    # answers with sendBlock.

    def nextRequest(self, maxServing: int) -> Optional[tuple[int, int, int]]:
        """
        Take the oldest queued request to serve, if the peer may have one
        now: we do not choke it, its transport is not paused, and fewer than
        C{maxServing} of its requests are being served.

        @return: C{(index, begin, length)}, now in L{serving}, or C{None}.
        """
        if (
            not self.requestsIn
            or self.writePaused
            or self.amChoking
            or self._disconnecting
            or len(self.serving) >= maxServing
        ):
            return None
        request = self.requestsIn.popleft()
        self.serving.append(request)
        return request

    def wants(self, request: tuple[int, int, int]) -> bool:
        """
        @return: whether a request taken by L{nextRequest} is still to be
            answered (not cancelled, not discarded by a choke, still
            connected).
        """
        return request in self.serving and not self._disconnecting

    def sendBlock(self, index: int, begin: int, block: bytes) -> bool:
        """
        Answer a request taken by L{nextRequest}, unless it was cancelled or
        we choked since.

        @return: whether the block was sent.
        """
        try:
            self.serving.remove((index, begin, len(block)))
        except ValueError:
            return False
        if self._disconnecting or self.amChoking:
            return False
        self._lastSent = self._reactor.seconds()
        self.transport.writeSequence(
            [wire.encodePieceHeader(index, begin, len(block)), block]
        )
        self.uploadRate.add(len(block))
        return True

    # IPushProducer: the transport tells us when its buffer is full.

    def pauseProducing(self) -> None:
        self.writePaused = True

    def resumeProducing(self) -> None:
        self.writePaused = False
        if self.handshaked and self.torrent is not None and not self._disconnecting:
            self.torrent.peerWritable(self)

    def stopProducing(self) -> None:
        self.writePaused = True
