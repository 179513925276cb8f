# -*- test-case-name: tests.test_blocktable -*-
"""
The blocks of the pieces in progress: each block's state, whom it is
requested from and since when, who started and who sent each piece, and
the endgame's duplicate requests.

Pure bookkeeping: no I/O, no reactor.  L{bittwist.picker.PiecePicker}
decides which pieces to take blocks of; this table records them.
"""

from typing import Any, Callable, Hashable, Iterable

from bittwist.bitfield import Bitfield
from bittwist.wire import BLOCK_SIZE

__all__ = ["BlockTable", "Block", "MISSING", "REQUESTED", "RECEIVED"]

Block = tuple[int, int, int]
"""
A block to request: (piece index, offset in the piece, length).
"""

MISSING = 0
"""A block's state: neither requested nor received."""
REQUESTED = 1
"""A block's state: requested, not received yet."""
RECEIVED = 2
"""A block's state: received."""

# What received answers in the common case: no one else to cancel, the
# piece not complete yet; one tuple for every such block.
_NOTHING_ELSE: tuple[tuple[Hashable, ...], bool] = ((), False)

# A block's key in the tables of requests: its piece index shifted left by
# this, plus its number in the piece. Plain integers, so that those tables
# hold no object the garbage collector walks (a piece of 2**20 blocks would
# be 16 GiB).
_BLOCK_BITS = 20


class BlockTable:
    """
    The state of every block of the pieces started and not yet verified.

    @ivar partial: per piece in progress, its blocks' states, one byte each
        (L{MISSING}, L{REQUESTED}, L{RECEIVED}).
    @ivar starters: per piece in progress, the peer that started it, while
        it has not given any of its requests back.
    @ivar filled: the pieces whose every block arrived, waiting for their
        hash check.
    @ivar unrequested: how many blocks of the wanted pieces (and of the
        pieces in progress) are not requested; L{bittwist.picker.PiecePicker}
        counts the pieces not started in it.
    """

    def __init__(
        self,
        pieceSize: Callable[[int], int],
        blockSize: int = BLOCK_SIZE,
        maxDuplicates: int = 2,
        endgameDelay: float = 0.0,
    ) -> None:
        """
        @param pieceSize: the size in bytes to request of a piece, by index.
        @param blockSize: the size of a block request.
        @param maxDuplicates: in endgame, how many peers beyond the first a
            block may be requested from.
        @param endgameDelay: in endgame, how long a block must have been
            waited for before it is requested again from another peer.
        """
        self._pieceSize = pieceSize
        self._blockSize = blockSize
        self._maxDuplicates = maxDuplicates
        self._endgameDelay = endgameDelay
        self.unrequested = 0
        # A fast link, or many torrents, have tens of thousands of pieces in
        # flight, and every garbage collection walks every object they
        # hold: a bytearray is not one it walks, and neither is this dict
        # while it holds only them. Who each block is requested from is in
        # _requesters; who sent a piece's blocks, in _contributors (the
        # peer, or a set of them if several did).
        self.partial: dict[int, bytearray] = {}
        self._contributors: dict[int, Any] = {}
        # A peer finishes its own pieces, then starts new ones, and joins
        # another's only when none is left: a piece shared by several peers
        # gets its blocks interleaved, out of order, and its running hash in
        # storage is lost (it is read back to be verified). A piece whose
        # starter gave requests back (choked, gone, too slow, rejected) is
        # anyone's.
        self.starters: dict[int, Hashable] = {}
        # Per block requested (key: see _BLOCK_BITS), the peer it is
        # requested from, or a set of them in endgame; and when it was
        # last requested.
        self._requesters: dict[int, Any] = {}
        self._requestedAt: dict[int, float] = {}
        self.filled: set[int] = set()

    def numBlocks(self, index: int) -> int:
        """
        @return: how many blocks piece C{index} is requested in.
        """
        return -(-self._pieceSize(index) // self._blockSize)

    def blockLength(self, index: int, begin: int) -> int:
        """
        @return: the length of the block starting at C{begin} of piece
            C{index}, as we request it.
        """
        return min(self._blockSize, self._pieceSize(index) - begin)

    def start(
        self, peer: Hashable, index: int, picked: list[Block], count: int, now: float
    ) -> None:
        """
        Start piece C{index} for C{peer}: take its first blocks.

        @param picked: the blocks taken so far, appended to.
        @param count: how long C{picked} may grow.
        @param now: the time the blocks are requested.
        """
        states = self.partial[index] = bytearray(-(-self._pieceSize(index) // self._blockSize))
        self.starters[index] = peer
        self.takeMissing(peer, index, states, picked, count, now)

    def takeMissing(
        self,
        peer: Hashable,
        index: int,
        states: bytearray,
        picked: list[Block],
        count: int,
        now: float,
    ) -> None:
        """
        Record blocks of piece C{index} not requested yet as requested from
        C{peer}, in order, until C{picked} holds C{count}.

        @param states: the piece's block states, from L{partial}.
        @param picked: the blocks taken so far, appended to.
        @param now: the time the blocks are requested.
        """
        requesters = self._requesters
        requestedAt = self._requestedAt
        first = index << _BLOCK_BITS
        blockSize = self._blockSize
        size = self._pieceSize(index)
        block = states.find(MISSING)
        while block >= 0 and len(picked) < count:
            states[block] = REQUESTED
            requesters[first + block] = peer
            requestedAt[first + block] = now
            self.unrequested -= 1
            begin = block * blockSize
            picked.append((index, begin, min(blockSize, size - begin)))
            block = states.find(MISSING, block + 1)

    def takeDuplicates(
        self, peer: Hashable, pieces: Bitfield, picked: list[Block], count: int, now: float
    ) -> None:
        """
        In endgame, record blocks of C{pieces} requested from others, for
        long enough, as requested from C{peer} too, until C{picked} holds
        C{count}.
        """
        limit = 1 + self._maxDuplicates
        blockSize = self._blockSize
        for index, states in self.partial.items():
            if index not in pieces:
                continue
            for block, state in enumerate(states):
                if state != REQUESTED:
                    continue
                key = (index << _BLOCK_BITS) + block
                requesters = self._requesters[key]
                if isinstance(requesters, set):
                    if peer in requesters or len(requesters) >= limit:
                        continue
                elif requesters == peer or limit < 2:
                    continue
                if now - self._requestedAt[key] < self._endgameDelay:
                    continue
                if isinstance(requesters, set):
                    requesters.add(peer)
                else:
                    self._requesters[key] = {requesters, peer}
                begin = block * blockSize
                picked.append((index, begin, self.blockLength(index, begin)))
                if len(picked) >= count:
                    return

    def received(
        self, peer: Hashable, index: int, begin: int, length: int
    ) -> tuple[tuple[Hashable, ...], bool] | None:
        """
        Record a block that arrived from C{peer}.

        @return: C{None} if the block is not wanted (unknown, already received,
            or of the wrong size): the caller drops it. Otherwise the other
            peers it was also requested from (to cancel), and whether the
            piece is now complete and ready for its hash check.
        """
        states = self.partial.get(index)
        if states is None or begin < 0 or begin % self._blockSize:
            return None
        blockSize = self._blockSize
        block = begin // blockSize
        if block >= len(states) or length != min(blockSize, self._pieceSize(index) - begin):
            return None
        state = states[block]
        if state == RECEIVED:
            return None
        if state == MISSING:
            self.unrequested -= 1
        key = (index << _BLOCK_BITS) + block
        requesters = self._requesters.pop(key, None)
        self._requestedAt.pop(key, None)
        # Outside endgame the block was asked of this peer alone: spare the
        # common case building a list of the others.
        if isinstance(requesters, set):
            others: tuple[Hashable, ...] = tuple(p for p in requesters if p != peer)
        elif requesters is None or requesters == peer:
            others = ()
        else:
            others = (requesters,)
        states[block] = RECEIVED
        contributors = self._contributors.get(index)
        if contributors is None:
            self._contributors[index] = peer
        elif isinstance(contributors, set):
            contributors.add(peer)
        elif contributors != peer:
            self._contributors[index] = {contributors, peer}
        if MISSING in states or REQUESTED in states:
            return (others, False) if others else _NOTHING_ELSE
        self.filled.add(index)
        return others, True

    def abandon(self, peer: Hashable, blocks: Iterable[tuple[int, int]]) -> list[int]:
        """
        Forget requests to C{peer} that will not be answered, so that other
        peers can be asked; the pieces they were of are no longer its own.

        @param blocks: (index, begin) of each request.
        @return: the pieces dropped as untouched: nothing requested, nothing
            received.
        """
        starters = self.starters
        dropped: list[int] = []
        for index, begin in blocks:
            states = self.partial.get(index)
            if states is None or begin < 0 or begin % self._blockSize:
                continue
            if starters.get(index) == peer:
                del starters[index]
            block = begin // self._blockSize
            if block >= len(states) or states[block] != REQUESTED:
                continue
            key = (index << _BLOCK_BITS) + block
            requesters = self._requesters.get(key)
            if isinstance(requesters, set):
                requesters.discard(peer)
                if len(requesters) == 1:
                    self._requesters[key] = next(iter(requesters))
                still = bool(requesters)
            else:
                still = requesters is not None and requesters != peer
            if not still:
                states[block] = MISSING
                self._requesters.pop(key, None)
                self._requestedAt.pop(key, None)
                self.unrequested += 1
            if not any(states):
                del self.partial[index]
                starters.pop(index, None)
                dropped.append(index)
        return dropped

    def requestedFrom(self, index: int, begin: int) -> set[Hashable]:
        """
        @return: the peers the block at C{begin} of piece C{index} is
            requested from and not yet received.
        """
        requesters = self._requesters.get((index << _BLOCK_BITS) + begin // self._blockSize)
        if requesters is None:
            return set()
        if isinstance(requesters, set):
            return set(requesters)
        return {requesters}

    def unrequestedIn(self, index: int, wanted: bool) -> int:
        """
        @param wanted: whether piece C{index} is to be downloaded, if it is
            not started.
        @return: how many blocks of piece C{index} count in L{unrequested}
            unless it is verified.
        """
        if index in self.filled:
            return 0
        states = self.partial.get(index)
        if states is None:
            return self.numBlocks(index) if wanted else 0
        return states.count(MISSING)

    def drop(self, index: int) -> set[Hashable]:
        """
        Forget piece C{index}'s blocks and requests (it was checked); leave
        L{unrequested} to the caller.

        @return: the peers that sent blocks of it.
        """
        states = self.partial.pop(index, None)
        self.starters.pop(index, None)
        self.filled.discard(index)
        if states is not None:
            first = index << _BLOCK_BITS
            for block, state in enumerate(states):
                if state == REQUESTED:
                    self._requesters.pop(first + block, None)
                    self._requestedAt.pop(first + block, None)
        contributors = self._contributors.pop(index, None)
        if contributors is None:
            return set()
        return contributors if isinstance(contributors, set) else {contributors}
