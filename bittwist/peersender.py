# -*- test-case-name: tests.test_peersender -*-
"""
What we send one peer, and the blocks we serve it.

L{PeerSender} is a part of L{bittwist.peer.PeerProtocol}, and what the
torrent sends through: every byte to the peer goes out through its L{write}.
It tells the peer our choke and interest, our requests and cancels, the
pieces we got; hands out the peer's requests to serve while its transport
takes more; and sends the blocks read for them, a run in one write.
"""

from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from bittwist import wire

if TYPE_CHECKING:  # pragma: no cover
    from bittwist.peer import PeerProtocol
    from bittwist.peertimers import ConnectionTimers

__all__ = ["PeerSender"]


class PeerSender:
    """
    The sending side of one connection. Once the connection is being
    dropped, nothing is sent and no request handed out.
    """

    __slots__ = ("_peer", "_timers")

    def __init__(self, peer: "PeerProtocol", timers: "ConnectionTimers") -> None:
        """
        @param peer: the connection: its transport, state and requests.
        @param timers: its timers, told when we last wrote.
        """
        self._peer = peer
        self._timers = timers

    def write(self, data: bytes | list[bytes]) -> None:
        """
        Write C{data} to the transport (a list: in one C{writeSequence}).
        """
        peer = self._peer
        self._timers.lastSent = peer._reactor.seconds()
        if isinstance(data, list):
            peer.transport.writeSequence(data)
        else:
            peer.transport.write(data)

    def sendMessage(self, message: Optional[wire.Message]) -> None:
        """
        Send one message (nothing if C{None}, or once dropping).
        """
        if message is not None and not self._peer._disconnecting:
            self.write(wire.encode(message))

    def sendExtended(self, name: str, payload: bytes) -> bool:
        """
        Send a message of extension C{name}, if the peer speaks it.

        @return: whether it was sent.
        """
        peer = self._peer
        if peer._disconnecting:
            return False
        return peer._extended.send(name, payload)

    def setInterested(self, interested: bool) -> None:
        """
        Tell the peer whether we want anything it has (only on change).
        """
        self.sendMessage(self._peer.state.setInterested(interested))

    def setChoking(self, choking: bool) -> None:
        """
        Choke or unchoke the peer (only on change). Choking discards its
        queued requests, as BEP 3 says; under the fast extension it rejects
        each, but those for pieces we allowed it fast.
        """
        peer = self._peer
        message = peer.requestsIn.setChoking(choking)
        self.sendMessage(message)
        if message is not None and choking:
            peer._fastPolicy.choked()

    def rejectRequest(self, index: int, begin: int, length: int) -> bool:
        """
        Refuse a queued request of the peer (one for a piece we lack, say):
        under the fast extension it is told with a reject.

        @return: whether the peer was told (C{False}: it does not speak the
            fast extension, and a request we will not serve is its fault).
        """
        peer = self._peer
        peer.requestsIn.unqueue((index, begin, length))
        return peer._fastPolicy.reject(((index, begin, length),))

    def sendHave(self, index: int) -> None:
        """
        Tell the peer we now have piece C{index}.
        """
        if self._peer.handshaked:
            self.sendMessage(wire.Have(index))

    def sendRequests(self, blocks: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """
        Request blocks, in one write, and remember them as in flight.

        @return: the requests sent (none once the connection is being
            dropped).
        """
        peer = self._peer
        if peer._disconnecting:
            return []
        sent = peer.state.addRequests(blocks)
        if sent:
            encodeRequest = wire.encodeRequest
            self.write(b"".join([encodeRequest(i, b, n) for i, b, n in sent]))
        return sent

    def cancelRequest(self, index: int, begin: int) -> None:
        """
        Cancel a request in flight, if it is.
        """
        self.sendMessage(self._peer.state.cancelRequest(index, begin))

    # Serving: the torrent takes requests with nextRun (or nextRequest),
    # reads them, and answers with sendRun (or sendBlock).

    def nextRequest(self, maxServing: int) -> Optional[tuple[int, int, int]]:
        """
        Take the oldest queued request to serve, if the peer may have one
        now: we do not choke it, its transport is not paused, and fewer than
        C{maxServing} of its requests are being served.

        @return: C{(index, begin, length)}, or C{None}.
        """
        peer = self._peer
        if peer.writePaused or peer._disconnecting or not peer.handshaked:
            return None
        return peer.requestsIn.nextRequest(maxServing)

    def nextRun(self, maxServing: int) -> list[tuple[int, int, int]]:
        """
        Take the oldest queued requests that follow one another in one
        piece, as many as L{nextRequest} would hand out now.

        @return: the requests, in order; empty if none may be served now.
        """
        peer = self._peer
        if peer.writePaused or peer._disconnecting or not peer.handshaked:
            return []
        return peer.requestsIn.nextRun(maxServing)

    def wants(self, request: tuple[int, int, int]) -> bool:
        """
        @return: whether a request taken by L{nextRequest} is still to be
            answered (not cancelled, not discarded by a choke, still
            connected).
        """
        peer = self._peer
        return not peer._disconnecting and peer.requestsIn.wants(request)

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
        peer = self._peer
        parts: list[Any] = []
        offset = sent = 0
        answered = peer.requestsIn.answered
        header = wire.encodePieceHeader
        with memoryview(data) as view:
            for request in run:
                index, begin, length = request
                if answered(request):
                    parts += (header(index, begin, length), view[offset:offset + length])
                    sent += length
                offset += length
            if not sent or peer._disconnecting:
                return 0
            # One copy, into the bytes the transport wants: the blocks are
            # views of the read, not slices of it.
            message = b"".join(parts)
            del parts
        self.write(message)
        peer.uploadRate.add(sent)
        return sent
