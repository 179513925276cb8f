# -*- test-case-name: tests.test_peerstate -*-
"""
The state BEP 3 gives one peer connection, as a sans-IO object.

L{PeerState} knows whether the peer chokes us, who is interested, which
pieces the peer has, and which of our requests are in flight. It never
touches a transport: its methods take what arrived and return what to send
(a message, or C{None}), and L{bittwist.peer.PeerProtocol} writes it. The
peer's requests of us, and our choke of it, are
L{bittwist.incomingrequests.IncomingRequests}'.
"""

from typing import Iterable, Optional

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.errors import ProtocolError

__all__ = ["PeerState", "MAX_CANCELLED_REMEMBERED", "MAX_ALLOWED_FAST_KEPT"]

MAX_CANCELLED_REMEMBERED = 1024
"""
How many of our requests withdrawn from a peer (cancelled, or discarded by
its choke) we remember. A block for one of them may still arrive, since it
was on its way when we withdrew it: it is not an offence, merely waste. Any
other block we did not ask for is, and drops the peer.
"""

MAX_ALLOWED_FAST_KEPT = 64
"""
How many pieces a peer may allow us fast (BEP 6) that we remember; others
are ignored. Clients allow about ten.
"""

Key = tuple[int, int]
Request = tuple[int, int, int]


class PeerState:
    """
    The peer's choke, interest both ways, the peer's pieces and our requests
    of one connection.

    @ivar amInterested: whether we told the peer we are interested.
    @ivar peerChoking: whether the peer chokes us.
    @ivar peerInterested: whether the peer is interested in us.
    @ivar pieces: the pieces the peer has.
    @ivar requested: our requests in flight to the peer, C{(index, begin)} to
        length, in the order sent.
    @ivar fast: whether both sides speak the fast extension (BEP 6): the
        peer's choke then discards no request, each is answered or rejected.
    @ivar allowedFastIn: the pieces the peer lets us request while it
        chokes us.
    """

    def __init__(self, numPieces: Optional[int], fast: bool = False) -> None:
        """
        @param numPieces: how many pieces the torrent has, or C{None} while
            its metadata is being fetched (a magnet link): the peer's
            bitfield and haves are then checked for order only, and ignored.
        @param fast: see L{fast}.
        """
        self.piecesKnown = numPieces is not None
        self.fast = fast
        self.allowedFastIn: set[int] = set()
        self.amInterested = False
        self.peerChoking = True
        self.peerInterested = False
        self.pieces = Bitfield(numPieces or 0)
        self.requested: dict[Key, int] = {}
        # Withdrawn requests, each with how many late answers may still come.
        self._withdrawn: dict[Key, int] = {}
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
        if self.fast:
            # BEP 6: each request is still answered, by a block or a reject.
            return []
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
        self._checkIndex(index, "have")
        return self.pieces.add(index)

    def _checkFirst(self, what: str) -> None:
        if self._messages != 1:
            raise ProtocolError(f"{what} after the first message")

    def peerHaveAll(self) -> None:
        """
        The peer has every piece (BEP 6, in place of a bitfield).

        @raise ProtocolError: if it is not the first message.
        """
        self._checkFirst("have all")
        self.pieces = Bitfield(self.pieces.length, range(self.pieces.length))

    def peerHaveNone(self) -> None:
        """
        The peer has no piece (BEP 6, in place of a bitfield).

        @raise ProtocolError: if it is not the first message.
        """
        self._checkFirst("have none")

    def peerAllowedFast(self, index: int) -> bool:
        """
        The peer lets us request piece C{index} while it chokes us.

        @return: whether this is new (at most L{MAX_ALLOWED_FAST_KEPT} are
            kept).
        @raise ProtocolError: for a piece out of range.
        """
        if not self.piecesKnown:
            return False
        self._checkIndex(index, "allowed fast")
        if index in self.allowedFastIn or len(self.allowedFastIn) >= MAX_ALLOWED_FAST_KEPT:
            return False
        self.allowedFastIn.add(index)
        return True

    def peerSuggested(self, index: int) -> None:
        """
        The peer suggests piece C{index} (BEP 6): a hint we take no action on.

        @raise ProtocolError: for a piece out of range.
        """
        if self.piecesKnown:
            self._checkIndex(index, "suggest piece")

    def _checkIndex(self, index: int, what: str) -> None:
        if not 0 <= index < self.pieces.length:
            raise ProtocolError(f"{what} for piece {index} of {self.pieces.length}")

    def peerRejected(self, request: Request) -> bool:
        """
        The peer will not answer our request (BEP 6).

        @return: whether the request was in flight (C{False}: we had
            withdrawn it already).
        @raise ProtocolError: if we never made the request.
        """
        index, begin, length = request
        key = (index, begin)
        if self.requested.get(key) == length:
            del self.requested[key]
            if self.peerChoking:
                # It will not serve this piece while choking after all: do
                # not ask for it again until unchoked.
                self.allowedFastIn.discard(index)
            return True
        if self._lateAnswer(key):
            return False
        raise ProtocolError(f"rejected request {request}, which we did not make")

    def peerBitfield(self, payload: bytes) -> None:
        """
        @raise ProtocolError: if the bitfield is not the first message, or
            malformed.
        """
        self._checkFirst("bitfield")
        if not self.piecesKnown:
            return
        try:
            self.pieces = Bitfield.fromBytes(self.pieces.length, payload)
        except ValueError as e:
            raise ProtocolError(str(e)) from None

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
            if not self._lateAnswer(key):
                raise ProtocolError(f"sent block {key}, which we did not ask for")
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

    def _lateAnswer(self, key: Key) -> bool:
        """
        @return: whether an answer for C{key} may be a late one to a request
            we withdrew (then one fewer may come).
        """
        count = self._withdrawn.get(key)
        if count is None:
            return False
        if count > 1:
            self._withdrawn[key] = count - 1
        else:
            del self._withdrawn[key]
        return True

    def _withdraw(self, key: Key) -> None:
        # A block asked for, withdrawn and asked for again may come twice.
        withdrawn = self._withdrawn
        withdrawn[key] = withdrawn.get(key, 0) + 1
        if len(withdrawn) > MAX_CANCELLED_REMEMBERED:
            del withdrawn[next(iter(withdrawn))]

    def progress(self) -> float:
        """
        @return: the fraction of the torrent the peer has.
        """
        length = self.pieces.length
        return len(self.pieces) / length if length else 0.0
