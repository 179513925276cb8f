# -*- test-case-name: tests.test_peerstate -*-
"""
The state BEP 3 gives one peer connection, as a sans-IO object.

L{PeerState} knows who chokes whom, who is interested, which pieces the peer
has, and which requests are in flight both ways. It never touches a
transport: its methods take what arrived and return what to send (a message,
or C{None}), and L{bittwist.peer.PeerProtocol} writes it.
"""

from collections import deque
from typing import Iterable, Optional

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.errors import ProtocolError

__all__ = ["PeerState", "MAX_QUEUED_REQUESTS", "MAX_CANCELLED_REMEMBERED"]

MAX_QUEUED_REQUESTS = 512
"""
How many block requests a peer may have waiting for our answer. Beyond that
it is flooding us, and is dropped: this bounds the memory a peer can make us
spend.
"""

MAX_CANCELLED_REMEMBERED = 1024
"""
How many of our requests withdrawn from a peer (cancelled, or discarded by
its choke) we remember. A block for one of them may still arrive, since it
was on its way when we withdrew it: it is not an offence, merely waste. Any
other block we did not ask for is, and drops the peer.
"""

Key = tuple[int, int]
Request = tuple[int, int, int]


class PeerState:
    """
    Choking, interest, pieces and requests of one connection, both ways.

    @ivar amChoking: whether we choke the peer.
    @ivar amInterested: whether we told the peer we are interested.
    @ivar peerChoking: whether the peer chokes us.
    @ivar peerInterested: whether the peer is interested in us.
    @ivar pieces: the pieces the peer has.
    @ivar requested: our requests in flight to the peer, C{(index, begin)} to
        length, in the order sent.
    @ivar requestsIn: the peer's requests waiting for our answer.
    @ivar serving: the peer's requests taken by L{nextRequest} and not yet
        answered (being read, or waiting for upload tokens).
    """

    def __init__(self, numPieces: Optional[int]) -> None:
        """
        @param numPieces: how many pieces the torrent has, or C{None} while
            its metadata is being fetched (a magnet link): the peer's
            bitfield and haves are then checked for order only, and ignored.
        """
        self.piecesKnown = numPieces is not None
        self.amChoking = True
        self.amInterested = False
        self.peerChoking = True
        self.peerInterested = False
        self.pieces = Bitfield(numPieces or 0)
        self.requested: dict[Key, int] = {}
        self.requestsIn: deque[Request] = deque()
        self.serving: list[Request] = []
        self._withdrawn: dict[Key, None] = {}
        self._messages = 0

    # What the peer sent. Each returns what the torrent needs to hear.

    def received(self, countsAsMessage: bool = True) -> None:
        """
        Count a message after the handshake (the bitfield must be the first).
        """
        if countsAsMessage:
            self._messages += 1

    def peerChoked(self) -> list[Key]:
        """
        The peer choked us: BEP 3 says it discards our requests.

        @return: the requests it discarded (empty if it already choked us).
        """
        if self.peerChoking:
            return []
        self.peerChoking = True
        dropped = list(self.requested)
        for key in dropped:
            self._withdraw(key)
        self.requested.clear()
        return dropped

    def peerUnchoked(self) -> bool:
        """
        @return: whether this changes anything.
        """
        if not self.peerChoking:
            return False
        self.peerChoking = False
        return True

    def peerInterest(self, interested: bool) -> bool:
        """
        @return: whether the peer's interest changed.
        """
        if interested == self.peerInterested:
            return False
        self.peerInterested = interested
        return True

    def peerHas(self, index: int) -> bool:
        """
        @return: whether the piece is new to the peer.
        @raise ProtocolError: for a piece out of range.
        """
        if not self.piecesKnown:
            return False
        if not 0 <= index < self.pieces.length:
            raise ProtocolError(f"have for piece {index} of {self.pieces.length}")
        return self.pieces.add(index)

    def peerBitfield(self, payload: bytes) -> None:
        """
        @raise ProtocolError: if the bitfield is not the first message, or
            malformed.
        """
        if self._messages != 1:
            raise ProtocolError("bitfield after the first message")
        if not self.piecesKnown:
            return
        try:
            self.pieces = Bitfield.fromBytes(self.pieces.length, payload)
        except ValueError as e:
            raise ProtocolError(str(e)) from None

    def peerRequested(self, request: Request) -> bool:
        """
        The peer asked for a block.

        @return: whether it is queued (a request racing our choke is not:
            BEP 3 lets us ignore it).
        @raise ProtocolError: if the peer has too many queued.
        """
        if self.amChoking:
            return False
        if len(self.requestsIn) >= MAX_QUEUED_REQUESTS:
            raise ProtocolError(f"more than {MAX_QUEUED_REQUESTS} requests queued")
        self.requestsIn.append(request)
        return True

    def peerCancelled(self, request: Request) -> None:
        """
        The peer withdrew a request; a block being read for it is dropped when
        it comes.
        """
        try:
            self.requestsIn.remove(request)
        except ValueError:
            try:
                self.serving.remove(request)
            except ValueError:
                pass

    def blockArrived(self, index: int, begin: int, size: int) -> bool:
        """
        A block came.

        @return: whether we had asked for it and not withdrawn the request
            (C{False}: a late block of a withdrawn request, to be discarded).
        @raise ProtocolError: if it is not the size we asked for, or we never
            asked the peer for it.
        """
        key = (index, begin)
        length = self.requested.pop(key, None)
        if length is None:
            if key not in self._withdrawn:
                raise ProtocolError(f"sent block {key}, which we did not ask for")
            del self._withdrawn[key]
            return False
        if length != size:
            raise ProtocolError(f"block {key} is {size} bytes, asked for {length}")
        return True

    # What we decide. Each returns the message to send, or None.

    def setInterested(self, interested: bool) -> Optional[wire.Message]:
        """
        @return: the message telling the peer, if our interest changed.
        """
        if interested == self.amInterested:
            return None
        self.amInterested = interested
        return wire.Interested() if interested else wire.NotInterested()

    def setChoking(self, choking: bool) -> Optional[wire.Message]:
        """
        Choke or unchoke the peer; choking discards its queued requests, as
        BEP 3 says.

        @return: the message telling the peer, if it changed.
        """
        if choking == self.amChoking:
            return None
        self.amChoking = choking
        if choking:
            self.requestsIn.clear()
            del self.serving[:]
        return wire.Choke() if choking else wire.Unchoke()

    def addRequests(self, blocks: Iterable[Request]) -> list[Request]:
        """
        Record our requests as in flight.

        @return: the requests to send (those not already in flight).
        """
        requested = self.requested
        out = []
        for index, begin, length in blocks:
            if (index, begin) not in requested:
                requested[(index, begin)] = length
                out.append((index, begin, length))
        return out

    def cancelRequest(self, index: int, begin: int) -> Optional[wire.Message]:
        """
        Withdraw a request in flight, if it is.

        @return: the cancel to send, or C{None}.
        """
        key = (index, begin)
        length = self.requested.pop(key, None)
        if length is None:
            return None
        self._withdraw(key)
        return wire.Cancel(index, begin, length)

    def _withdraw(self, key: Key) -> None:
        withdrawn = self._withdrawn
        withdrawn[key] = None
        if len(withdrawn) > MAX_CANCELLED_REMEMBERED:
            del withdrawn[next(iter(withdrawn))]

    # Serving the peer's requests.

    def nextRequest(self, maxServing: int) -> Optional[Request]:
        """
        Take the oldest queued request to serve, if we do not choke the peer
        and fewer than C{maxServing} of its requests are being served.

        @return: C{(index, begin, length)}, now in L{serving}, or C{None}.
        """
        if not self.requestsIn or self.amChoking or len(self.serving) >= maxServing:
            return None
        request = self.requestsIn.popleft()
        self.serving.append(request)
        return request

    def wants(self, request: Request) -> bool:
        """
        @return: whether a request taken by L{nextRequest} is still to be
            answered (not cancelled, not discarded by a choke).
        """
        return request in self.serving

    def answered(self, request: Request) -> bool:
        """
        A block read for C{request} is ready to go.

        @return: whether to send it (it is still wanted and we do not choke).
        """
        try:
            self.serving.remove(request)
        except ValueError:
            return False
        return not self.amChoking

    def progress(self) -> float:
        """
        @return: the fraction of the torrent the peer has.
        """
        length = self.pieces.length
        return len(self.pieces) / length if length else 0.0
