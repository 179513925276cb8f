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

__all__ = ["PeerState", "MAX_QUEUED_REQUESTS", "MAX_CANCELLED_REMEMBERED", "MAX_ALLOWED_FAST_KEPT"]

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

MAX_ALLOWED_FAST_KEPT = 64
"""
How many pieces a peer may allow us fast (BEP 6) that we remember; others
are ignored. Clients allow about ten.
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
    @ivar fast: whether both sides speak the fast extension (BEP 6): a
        choke then discards no request, each is answered or rejected.
    @ivar allowedFastIn: the pieces the peer lets us request while it
        chokes us.
    @ivar allowedFastOut: the pieces we let the peer request while we choke
        it.
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
        self.allowedFastOut: set[int] = set()
        self.amChoking = True
        self.amInterested = False
        self.peerChoking = True
        self.peerInterested = False
        self.pieces = Bitfield(numPieces or 0)
        self.requested: dict[Key, int] = {}
        self.requestsIn: deque[Request] = deque()
        self.serving: list[Request] = []
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

    def peerRequested(self, request: Request) -> bool:
        """
        The peer asked for a block.

        @return: whether it is queued (a request racing our choke is not:
            BEP 3 lets us ignore it, BEP 6 has us reject it, unless it is
            for a piece we allowed fast).
        @raise ProtocolError: if the peer has too many queued.
        """
        if self.amChoking and not (self.fast and request[0] in self.allowedFastOut):
            return False
        if len(self.requestsIn) >= MAX_QUEUED_REQUESTS:
            raise ProtocolError(f"more than {MAX_QUEUED_REQUESTS} requests queued")
        self.requestsIn.append(request)
        return True

    def peerRequestedMany(self, requests: list[Request]) -> list[Request]:
        """
        The peer asked for blocks (a burst of requests): L{peerRequested}
        for each, in order, without a call per request while we do not
        choke it.

        @return: those not queued (racing our choke), in order.
        @raise ProtocolError: if the peer has too many queued (those that
            fit are queued).
        """
        if self.amChoking:
            return [request for request in requests if not self.peerRequested(request)]
        requestsIn = self.requestsIn
        room = MAX_QUEUED_REQUESTS - len(requestsIn)
        if len(requests) > room:
            requestsIn.extend(requests[:room])
            raise ProtocolError(f"more than {MAX_QUEUED_REQUESTS} requests queued")
        requestsIn.extend(requests)
        return []

    def peerCancelled(self, request: Request) -> bool:
        """
        The peer withdrew a request; a block being read for it is dropped when
        it comes.

        @return: whether the request was still to be answered (BEP 6 then
            has us reject it).
        """
        return self.unqueue(request)

    def unqueue(self, request: Request) -> bool:
        """
        Forget a request of the peer that is queued or being served.

        @return: whether it was.
        """
        try:
            self.requestsIn.remove(request)
        except ValueError:
            try:
                self.serving.remove(request)
            except ValueError:
                return False
        return True

    def rejectUnallowed(self) -> list[Request]:
        """
        We choke the peer under the fast extension: take back its requests
        but those for pieces we allowed fast.

        @return: the requests taken back, to reject.
        """
        allowed = self.allowedFastOut
        rejected = [r for r in self.serving if r[0] not in allowed]
        rejected.extend(r for r in self.requestsIn if r[0] not in allowed)
        self.serving = [r for r in self.serving if r[0] in allowed]
        self.requestsIn = deque(r for r in self.requestsIn if r[0] in allowed)
        return rejected

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

    def setChoking(self, choking: bool) -> Optional[wire.Message]:
        """
        Choke or unchoke the peer; choking discards its queued requests, as
        BEP 3 says (under the fast extension, see L{rejectUnallowed}).

        @return: the message telling the peer, if it changed.
        """
        if choking == self.amChoking:
            return None
        self.amChoking = choking
        if choking and not self.fast:
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

    # Serving the peer's requests.

    def nextRequest(self, maxServing: int) -> Optional[Request]:
        """
        Take the oldest queued request to serve, if we do not choke the peer
        and fewer than C{maxServing} of its requests are being served.

        @return: C{(index, begin, length)}, now in L{serving}, or C{None}.
        """
        if not self.requestsIn or len(self.serving) >= maxServing:
            return None
        if self.amChoking and self.requestsIn[0][0] not in self.allowedFastOut:
            return None
        request = self.requestsIn.popleft()
        self.serving.append(request)
        return request

    def nextRun(self, maxServing: int) -> list[Request]:
        """
        Take the oldest queued requests to serve that follow one another in
        one piece (a run read as one read), as L{nextRequest} would take
        them one by one.

        @return: the requests, now in L{serving}, in order; empty if none
            may be served now.
        """
        requestsIn = self.requestsIn
        room = maxServing - len(self.serving)
        if not requestsIn or room <= 0:
            return []
        index, begin, length = requestsIn[0]
        if self.amChoking and index not in self.allowedFastOut:
            return []
        run = [requestsIn.popleft()]
        end = begin + length
        while len(run) < room and requestsIn:
            following = requestsIn[0]
            if following[0] != index or following[1] != end:
                break
            run.append(requestsIn.popleft())
            end += following[2]
        self.serving += run
        return run

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
        return not self.amChoking or request[0] in self.allowedFastOut

    def progress(self) -> float:
        """
        @return: the fraction of the torrent the peer has.
        """
        length = self.pieces.length
        return len(self.pieces) / length if length else 0.0
