# -*- test-case-name: tests.test_incomingrequests -*-
"""
The requests a peer made of us on one connection, as a sans-IO object.

L{IncomingRequests} queues the peer's block requests, hands them out to be
served, forgets those it cancels or that our choke discards, and says which
to reject under the fast extension (BEP 6). Our choke of the peer lives here,
since it is what decides whether its requests are served. It never touches a
transport: L{bittwist.peer.PeerProtocol} feeds it what the peer sent, and the
torrent's upload part takes requests to serve from it.
"""

from collections import deque
from typing import Optional

from bittwist import wire
from bittwist.errors import ProtocolError

__all__ = ["IncomingRequests", "MAX_QUEUED_REQUESTS"]

MAX_QUEUED_REQUESTS = 512
"""
How many block requests a peer may have waiting for our answer. Beyond that
it is flooding us, and is dropped: this bounds the memory a peer can make us
spend.
"""

Request = tuple[int, int, int]


class IncomingRequests:
    """
    The peer's requests of one connection, from queued to answered.

    @ivar amChoking: whether we choke the peer.
    @ivar fast: whether both sides speak the fast extension (BEP 6): a
        choke then discards no request, each is answered or rejected.
    @ivar allowedFastOut: the pieces we let the peer request while we choke
        it.
    @ivar queued: the peer's requests waiting for our answer.
    @ivar serving: the peer's requests taken by L{nextRequest} or
        L{nextRun} and not yet answered (being read, or waiting for upload
        tokens).
    """

    __slots__ = ("fast", "amChoking", "allowedFastOut", "queued", "serving")

    def __init__(self, fast: bool = False) -> None:
        """
        @param fast: see L{fast}.
        """
        self.fast = fast
        self.amChoking = True
        self.allowedFastOut: set[int] = set()
        self.queued: deque[Request] = deque()
        self.serving: list[Request] = []

    # What the peer sent.

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
        if len(self.queued) >= MAX_QUEUED_REQUESTS:
            raise ProtocolError(f"more than {MAX_QUEUED_REQUESTS} requests queued")
        self.queued.append(request)
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
        queued = self.queued
        room = MAX_QUEUED_REQUESTS - len(queued)
        if len(requests) > room:
            queued.extend(requests[:room])
            raise ProtocolError(f"more than {MAX_QUEUED_REQUESTS} requests queued")
        queued.extend(requests)
        return []

    def peerCancelled(self, request: Request) -> bool:
        """
        The peer withdrew a request; a block being read for it is dropped when
        it comes.

        @return: whether the request was still to be answered (BEP 6 then
            has us reject it).
        """
        return self.unqueue(request)

    # What we decide.

    def unqueue(self, request: Request) -> bool:
        """
        Forget a request of the peer that is queued or being served.

        @return: whether it was.
        """
        try:
            self.queued.remove(request)
        except ValueError:
            try:
                self.serving.remove(request)
            except ValueError:
                return False
        return True

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
            self.queued.clear()
            del self.serving[:]
        return wire.Choke() if choking else wire.Unchoke()

    def rejectUnallowed(self) -> list[Request]:
        """
        We choke the peer under the fast extension: take back its requests
        but those for pieces we allowed fast.

        @return: the requests taken back, to reject.
        """
        allowed = self.allowedFastOut
        rejected = [r for r in self.serving if r[0] not in allowed]
        rejected.extend(r for r in self.queued if r[0] not in allowed)
        self.serving = [r for r in self.serving if r[0] in allowed]
        self.queued = deque(r for r in self.queued if r[0] in allowed)
        return rejected

    # Serving.

    def nextRequest(self, maxServing: int) -> Optional[Request]:
        """
        Take the oldest queued request to serve, if we do not choke the peer
        and fewer than C{maxServing} of its requests are being served.

        @return: C{(index, begin, length)}, now in L{serving}, or C{None}.
        """
        if not self.queued or len(self.serving) >= maxServing:
            return None
        if self.amChoking and self.queued[0][0] not in self.allowedFastOut:
            return None
        request = self.queued.popleft()
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
        queued = self.queued
        room = maxServing - len(self.serving)
        if not queued or room <= 0:
            return []
        index, begin, length = queued[0]
        if self.amChoking and index not in self.allowedFastOut:
            return []
        run = [queued.popleft()]
        end = begin + length
        while len(run) < room and queued:
            following = queued[0]
            if following[0] != index or following[1] != end:
                break
            run.append(queued.popleft())
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
