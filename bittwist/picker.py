# -*- test-case-name: tests.test_picker -*-
"""
Which block to ask which peer for: a peer's own pieces first, then fresh
pieces in L{bittwist.pieceorder.PieceOrder}'s order, then others' pieces,
then endgame duplicates.

Pure policy: no I/O, no reactor. The torrent tells the picker what peers
have (through its L{PiecePicker.order}) and what arrived (through its
L{PiecePicker.blocks}); the picker answers with blocks to request.
"""

import random
from typing import Any, Callable, Hashable, Iterable

from bittwist.bitfield import Bitfield
from bittwist.blocktable import MISSING, Block, BlockTable
from bittwist.pieceorder import PieceOrder
from bittwist.wire import BLOCK_SIZE

__all__ = ["PiecePicker", "ENDGAME_BATCH", "wantedPieceSizes"]

ENDGAME_BATCH = 4
"""
How many duplicate requests an idle peer gets at once in endgame.
"""


def wantedPieceSizes(metainfo: Any) -> Callable[[int], int]:
    """
    How much of each piece to download: all of it, but the BEP 47 pad bytes
    that end it.  A pad file fills a file's last piece up to the piece
    boundary; its bytes are zeros by definition, so asking peers for them
    only wastes the link (a torrent of many small files can be half pad).

    @param metainfo: a L{bittwist.metainfo.Metainfo}.
    @return: the size to request of a piece, by index: the piece's size up
        to its trailing pad bytes (never 0: a piece that is all pad is
        requested whole).
    """
    pieceLength = metainfo.pieceLength
    trimmed: dict[int, int] = {}
    for entry in metainfo.files:
        if not entry.pad or not entry.length:
            continue
        end = entry.offset + entry.length
        if end % pieceLength and end != metainfo.totalLength:
            # Not at a piece boundary: not a trailing pad; ask for it.
            continue
        index = (end - 1) // pieceLength
        padStart = entry.offset - index * pieceLength
        if padStart > 0:
            trimmed[index] = padStart
    if not trimmed:
        return metainfo.pieceSize
    pieceSize = metainfo.pieceSize
    return lambda index: trimmed.get(index) or pieceSize(index)


class PiecePicker:
    """
    Chooses blocks to request so that pieces complete quickly and rare pieces
    spread.

    Pieces a peer has in common with us are chosen in this order: pieces
    it started itself or whose starter gave them up (to finish them), then
    new pieces in the L{order} (rarest first, random among the first few),
    then pieces other peers started (in sequential order, or while
    high-priority pieces are missing, any started piece comes first). When
    every missing block has been requested once, endgame begins: blocks
    still in flight are also requested from other peers, at most
    C{maxDuplicates} extra times, and whoever delivers first wins (the
    caller cancels the others).

    @ivar order: which pieces to start: availability, priorities, sequential.
    @ivar blocks: the blocks of the pieces in progress; blocks arrive there.
    @ivar done: the pieces verified.
    """

    def __init__(
        self,
        numPieces: int,
        pieceSize: Callable[[int], int],
        have: Iterable[int] = (),
        blockSize: int = BLOCK_SIZE,
        rng: random.Random | None = None,
        maxDuplicates: int = 2,
        endgameDelay: float = 0.0,
    ) -> None:
        """
        @param numPieces: the number of pieces of the torrent.
        @param pieceSize: the size in bytes to request of a piece, by index.
        @param have: pieces already verified.
        @param blockSize: the size of a block request.
        @param rng: randomness for tie-breaking (seed it in tests); one
            shared by the pickers not given one by default.
        @param maxDuplicates: in endgame, how many peers beyond the first a
            block may be requested from.
        @param endgameDelay: in endgame, how long a block must have been
            waited for before it is requested again from another peer.
        """
        self.numPieces = numPieces
        self.done = Bitfield(numPieces, have)
        self.blocks = BlockTable(pieceSize, blockSize, maxDuplicates, endgameDelay)
        self.order = PieceOrder(numPieces, self.done, self.blocks.partial, self.blocks.filled, rng)
        blocks = self.blocks
        blocks.unrequested = sum(
            blocks.numBlocks(i) for i in range(numPieces) if i not in self.done
        )

    @property
    def endgame(self) -> bool:
        """
        Whether every missing block has been requested at least once.
        """
        return self.blocks.unrequested == 0 and not self.complete()

    def complete(self) -> bool:
        """
        @return: whether every wanted piece is verified (every piece, unless
            some are skipped).
        """
        if self.order.priorities is None:
            return self.done.complete()
        return self.order.wantedMissing == 0

    def setPriorities(self, priorities: list[int] | None) -> None:
        """
        Download only wanted pieces, L{HIGH<bittwist.pieceorder.HIGH>} ones
        first.  Pieces already started are finished whatever their priority.

        @param priorities: see L{PieceOrder.setPriorities}.
        """
        order, blocks, done = self.order, self.blocks, self.done
        order.setPriorities(priorities)
        wanted = order.priorities
        # One call per piece, as before the picker was split: this runs for
        # every piece whenever a torrent starts.
        blocks.unrequested = sum(
            blocks.unrequestedIn(i, wanted is None or bool(wanted[i]))
            for i in range(self.numPieces)
            if i not in done
        )

    def wants(self, index: int) -> bool:
        """
        @return: whether piece C{index} is still needed (wanted, not
            verified, not waiting for its hash check).
        """
        priorities = self.order.priorities
        return (
            index not in self.done and index not in self.blocks.filled
            and (priorities is None or bool(priorities[index]))
        )

    def interestedIn(self, pieces: Bitfield) -> bool:
        """
        @return: whether a peer with C{pieces} has anything we still need.
        """
        done = self.done
        priorities = self.order.priorities
        if priorities is not None:
            return any(i not in done and priorities[i] for i in pieces)
        if len(pieces) > len(done) or pieces.complete():
            return not done.complete()
        return any(i not in done for i in pieces)

    def pick(
        self,
        peer: Hashable,
        pieces: Bitfield,
        count: int,
        inFlight: int = 0,
        now: float = 0.0,
    ) -> list[Block]:
        """
        Choose up to C{count} blocks to request from C{peer}, and record them
        as requested from it.

        In endgame, blocks already requested from others are given only to a
        peer with nothing in flight, and at most L{ENDGAME_BATCH} at a time:
        a deep pipeline of duplicates on a fast link downloads much of the
        end twice before the cancels arrive. Likewise only blocks requested
        at least C{endgameDelay} seconds ago are duplicated: the point of
        endgame is not to wait on a slow peer, not to race a fast one.

        @param peer: the peer, as a key.
        @param pieces: the pieces the peer has.
        @param count: how many blocks the peer's pipeline has room for.
        @param inFlight: how many requests to C{peer} are unanswered.
        @param now: the time, to tell how long a block has been waited for.
        @return: the blocks, possibly none.
        """
        picked: list[Block] = []
        if count <= 0:
            return picked
        blocks = self.blocks
        order = self.order
        starters = blocks.starters
        takeMissing = blocks.takeMissing
        # Pieces other peers started, joined only once no fresh piece is
        # left (see BlockTable.starters); in sequential or high-priority
        # order the next pieces matter more than whole ones, and any peer
        # joins.
        joinable: list[int] | None = None
        shareLast = not order.sequential and not order.highMissing
        for index, states in blocks.partial.items():
            # Most started pieces are fully requested: on a fast link dozens
            # are in flight, and skipping them here without a call keeps a
            # pick cheap.
            if MISSING in states and index in pieces:
                starter = starters.get(index)
                if shareLast and starter is not None and starter != peer:
                    if joinable is None:
                        joinable = [index]
                    else:
                        joinable.append(index)
                    continue
                takeMissing(peer, index, states, picked, count, now)
                if len(picked) >= count:
                    return picked
        while len(picked) < count and blocks.unrequested:
            blocksPerPiece = max(1, blocks.numBlocks(0))
            wanted = (count - len(picked)) // blocksPerPiece + 1
            fresh = order.newPieces(pieces, wanted)
            if not fresh:
                break
            for index in fresh:
                blocks.start(peer, index, picked, count, now)
                if len(picked) >= count:
                    break
        if joinable is not None and len(picked) < count:
            partial = blocks.partial
            for index in joinable:
                states = partial[index]
                if MISSING in states:
                    takeMissing(peer, index, states, picked, count, now)
                    if len(picked) >= count:
                        break
        if not picked and not inFlight and blocks.unrequested == 0:
            blocks.takeDuplicates(peer, pieces, picked, min(count, ENDGAME_BATCH), now)
        return picked

    def abandon(self, peer: Hashable, blocks: Iterable[tuple[int, int]]) -> None:
        """
        Forget requests to C{peer} that will not be answered (it choked us,
        left, or was too slow), so that other peers can be asked.

        @param blocks: (index, begin) of each request.
        """
        dropped = self.blocks.abandon(peer, blocks)
        if dropped:
            self.order.reorder()
            priorities = self.order.priorities
            if priorities is not None:
                for index in dropped:
                    if not priorities[index]:
                        # A skipped piece is no longer counted once dropped.
                        self.blocks.unrequested -= self.blocks.numBlocks(index)

    def _unrequestedIn(self, index: int) -> int:
        """
        @return: how many blocks of piece C{index} count in the blocks'
            C{unrequested}.
        """
        if index in self.done:
            return 0
        priorities = self.order.priorities
        return self.blocks.unrequestedIn(index, priorities is None or bool(priorities[index]))

    def pieceVerified(self, index: int) -> None:
        """
        The piece passed its hash check: never ask for it again.
        """
        # Once per piece: as few calls as before the picker was split.
        blocks, order = self.blocks, self.order
        if index not in self.done:
            priorities = order.priorities
            blocks.unrequested -= blocks.unrequestedIn(
                index, priorities is None or bool(priorities[index])
            )
            if priorities is not None:
                order.verified(index)
        blocks.drop(index)
        self.done.add(index)

    def pieceFailed(self, index: int) -> set[Hashable]:
        """
        The piece failed its hash check: download it again from scratch.

        @return: the peers that sent blocks of it.
        """
        before = self._unrequestedIn(index)
        contributors = self.blocks.drop(index)
        self.blocks.unrequested += self._unrequestedIn(index) - before
        self.order.reorder()
        return contributors
