# -*- test-case-name: tests.test_picker -*-
"""
Tests for L{bittwist.picker}.
"""

import random
from collections import defaultdict
from typing import Callable, Iterable

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.bitfield import Bitfield
from bittwist.metainfo import FileEntry
from bittwist.blocktable import Block
from bittwist.picker import ENDGAME_BATCH, PiecePicker, wantedPieceSizes
from bittwist.pieceorder import HIGH, NORMAL, SKIP, piecePriorities
from bittwist.wire import BLOCK_SIZE

PIECE_LENGTH = 4 * BLOCK_SIZE
LAST_PIECE_LENGTH = 2 * BLOCK_SIZE + 1000


def sizes(numPieces: int, pieceLength: int, lastLength: int) -> Callable[[int], int]:
    """
    @return: a C{pieceSize} function for a torrent whose last piece is
        C{lastLength} long and every other C{pieceLength}.
    """

    def pieceSize(index: int) -> int:
        return lastLength if index == numPieces - 1 else pieceLength

    return pieceSize


def makePicker(
    numPieces: int = 8,
    have: Iterable[int] = (),
    maxDuplicates: int = 2,
    lastLength: int = LAST_PIECE_LENGTH,
    endgameDelay: float = 0.0,
) -> PiecePicker:
    """
    @return: a picker with a seeded random generator, for a torrent of
        C{numPieces} four-block pieces, the last one C{lastLength} long.
    """
    return PiecePicker(
        numPieces,
        sizes(numPieces, PIECE_LENGTH, lastLength),
        have=have,
        rng=random.Random(1234),
        maxDuplicates=maxDuplicates,
        endgameDelay=endgameDelay,
    )


def allPieces(picker: PiecePicker) -> Bitfield:
    """
    @return: the bitfield of a seed.
    """
    return Bitfield(picker.numPieces, range(picker.numPieces))


def byPiece(blocks: Iterable[Block]) -> dict[int, list[tuple[int, int]]]:
    """
    @return: the (begin, length) of C{blocks}, by piece.
    """
    pieces: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for index, begin, length in blocks:
        pieces[index].append((begin, length))
    return pieces


def firstSeen(blocks: Iterable[Block]) -> list[int]:
    """
    @return: the pieces of C{blocks} in the order they first appear.
    """
    order: list[int] = []
    for index, _, _ in blocks:
        if index not in order:
            order.append(index)
    return order


def receiveAll(picker: PiecePicker, peer: object, blocks: Iterable[Block]) -> list[int]:
    """
    Deliver C{blocks} from C{peer}.

    @return: the pieces that were filled.
    """
    filled = []
    for index, begin, length in blocks:
        result = picker.blocks.received(peer, index, begin, length)
        assert result is not None, (index, begin, length)
        if result[1]:
            filled.append(index)
    return filled


class BlockLayoutTests(SynchronousTestCase):
    """
    Blocks cut pieces into 16 KiB requests.
    """

    def test_blocksCoverEachPieceExactly(self) -> None:
        """
        Picking everything yields, for each piece, blocks that start at 0, are
        16 KiB long except the last block of the short last piece, and together
        cover the piece with no gap or overlap.
        """
        picker = makePicker()
        blocks = picker.pick("a", allPieces(picker), 1000)
        pieces = byPiece(blocks)
        self.assertEqual(sorted(pieces), list(range(8)))
        for index, parts in pieces.items():
            parts.sort()
            position = 0
            for begin, length in parts:
                self.assertEqual(begin, position)
                position += length
            expected = LAST_PIECE_LENGTH if index == 7 else PIECE_LENGTH
            self.assertEqual(position, expected)
        self.assertEqual(
            sorted(pieces[7]), [(0, BLOCK_SIZE), (BLOCK_SIZE, BLOCK_SIZE), (2 * BLOCK_SIZE, 1000)]
        )
        for index in range(7):
            self.assertEqual({length for _, length in pieces[index]}, {BLOCK_SIZE})
        self.assertEqual(len(blocks), 7 * 4 + 3)

    def test_customBlockSize(self) -> None:
        """
        A smaller block size cuts pieces into more, smaller blocks.
        """
        picker = PiecePicker(1, lambda index: 10, blockSize=4, rng=random.Random(0))
        self.assertEqual(
            picker.pick("a", Bitfield(1, [0]), 10), [(0, 0, 4), (0, 4, 4), (0, 8, 2)]
        )


class PickOrderTests(SynchronousTestCase):
    """
    Which pieces are chosen, and for whom.
    """

    def test_sequential(self) -> None:
        """
        In sequential mode new pieces are taken lowest index first, from the
        start (no random first pieces), among those the peer has; the pieces
        already started are finished first, as always.
        """
        picker = makePicker()
        picker.order.setSequential(True)
        self.assertEqual(firstSeen(picker.pick("a", allPieces(picker), 8)), [0, 1])
        self.assertEqual(firstSeen(picker.pick("b", Bitfield(8, [5, 3, 7]), 8)), [3, 5])
        self.assertEqual(firstSeen(picker.pick("c", allPieces(picker), 8)), [2, 4])

    def test_countRespected(self) -> None:
        """
        No more than C{count} blocks are picked; none for a count of 0 or
        less.
        """
        picker = makePicker()
        pieces = allPieces(picker)
        self.assertEqual(picker.pick("a", pieces, 0), [])
        self.assertEqual(picker.pick("a", pieces, -3), [])
        self.assertEqual(len(picker.pick("a", pieces, 3)), 3)
        self.assertEqual(len(picker.pick("a", pieces, 6)), 6)
        self.assertEqual(len(picker.pick("b", pieces, 1)), 1)

    def test_noBlockPickedTwiceBeforeEndgame(self) -> None:
        """
        Before endgame, successive picks for several peers never repeat a
        block.
        """
        picker = makePicker()
        pieces = allPieces(picker)
        seen: list[Block] = []
        for peer in ["a", "b", "c"] * 3:
            seen.extend(picker.pick(peer, pieces, 3))
        self.assertEqual(len(seen), 27)
        self.assertEqual(len(set(seen)), 27)

    def test_ownPartialPiecesFinishedFirst(self) -> None:
        """
        A peer continues the pieces it started before it begins a new one.
        """
        picker = makePicker(lastLength=PIECE_LENGTH)
        pieces = allPieces(picker)
        first = picker.pick("a", pieces, 2)
        [started] = {index for index, _, _ in first}
        second = picker.pick("a", pieces, 3)
        self.assertEqual(
            sorted(first + second[:2]), [(started, i * BLOCK_SIZE, BLOCK_SIZE) for i in range(4)]
        )
        self.assertNotEqual(second[2][0], started)

    def test_othersPartialPiecesLast(self) -> None:
        """
        A peer begins new pieces before it joins one another peer started,
        so that a piece's blocks come from one peer, in order; it joins
        once no new piece is left.
        """
        picker = makePicker(numPieces=2, lastLength=PIECE_LENGTH)
        pieces = allPieces(picker)
        first = picker.pick("a", pieces, 2)
        [started] = {index for index, _, _ in first}
        second = picker.pick("b", pieces, 6)
        self.assertEqual(
            [index for index, _, _ in second], [1 - started] * 4 + [started] * 2
        )
        self.assertEqual(
            sorted(first + second[4:]), [(started, i * BLOCK_SIZE, BLOCK_SIZE) for i in range(4)]
        )

    def test_givenUpPieceAnyonesFirst(self) -> None:
        """
        Once its starter gives requests of a piece back (it choked us, left,
        rejected one), the piece is continued by any peer before new ones.
        """
        picker = makePicker(lastLength=PIECE_LENGTH)
        pieces = allPieces(picker)
        first = picker.pick("a", pieces, 2)
        [started] = {index for index, _, _ in first}
        picker.abandon("a", [first[1][:2]])
        self.assertEqual(
            picker.pick("b", pieces, 3),
            [(started, i * BLOCK_SIZE, BLOCK_SIZE) for i in range(1, 4)],
        )

    def test_sequentialJoinsStartedPieces(self) -> None:
        """
        In sequential mode any started piece is continued before a new one,
        whoever started it: the next pieces are wanted soonest.
        """
        picker = makePicker(lastLength=PIECE_LENGTH)
        picker.order.setSequential(True)
        pieces = allPieces(picker)
        self.assertEqual(picker.pick("a", pieces, 2), [(0, 0, BLOCK_SIZE), (0, BLOCK_SIZE, BLOCK_SIZE)])
        self.assertEqual(
            firstSeen(picker.pick("b", pieces, 3)), [0, 1]
        )

    def test_abandonedBlockPickedFirst(self) -> None:
        """
        A block given back by L{PiecePicker.abandon} in a started piece is
        picked again before any new piece.
        """
        picker = makePicker(lastLength=PIECE_LENGTH)
        pieces = allPieces(picker)
        blocks = picker.pick("a", pieces, 4)
        index = blocks[0][0]
        receiveAll(picker, "a", blocks[:1])
        picker.abandon("a", [(index, begin) for _, begin, _ in blocks[1:]])
        self.assertEqual(picker.pick("b", pieces, 3), blocks[1:])

    def test_onlyPiecesThePeerHas(self) -> None:
        """
        Only blocks of pieces the peer has are picked for it, also when other
        peers have started other pieces.
        """
        picker = makePicker()
        picker.pick("a", allPieces(picker), 5)
        blocks = picker.pick("b", Bitfield(8, [2, 5]), 1000)
        self.assertEqual({index for index, _, _ in blocks}, {2, 5})
        self.assertEqual(picker.pick("c", Bitfield(8), 10), [])

    def test_firstPiecesRandom(self) -> None:
        """
        Until a few pieces are verified, new pieces are chosen at random
        among those the peer has and nobody started: the choice varies with
        the random generator, a piece is never picked twice, and the last
        eligible pieces are found when few are left.
        """
        firsts = set()
        for seed in range(20):
            picker = PiecePicker(
                64, sizes(64, PIECE_LENGTH, PIECE_LENGTH), rng=random.Random(seed)
            )
            firsts.add(picker.pick("a", allPieces(picker), 4)[0][0])
        self.assertGreater(len(firsts), 5)
        picker = makePicker(numPieces=200, lastLength=PIECE_LENGTH)
        peerPieces = Bitfield(200, range(0, 200, 10))
        blocks = picker.pick("a", peerPieces, 1000)
        self.assertEqual(sorted(firstSeen(blocks)), list(range(0, 200, 10)))
        self.assertEqual(len(blocks), 20 * 4)

    def test_rarestFirst(self) -> None:
        """
        Once a few pieces are verified, new pieces are started least
        available first.
        """
        picker = makePicker(numPieces=10, have=range(4))
        availability = {4: 5, 5: 3, 6: 4, 7: 1, 8: 2, 9: 6}
        for index, count in availability.items():
            picker.order.peerHasPieces([index] * count)
        blocks = picker.pick("a", allPieces(picker), 1000)
        self.assertEqual(firstSeen(blocks), [7, 8, 5, 6, 4, 9])

    def test_rarestFirstOneAtATime(self) -> None:
        """
        Picking one block at a time starts the rarest piece, finishes
        requesting it, then starts the next rarest.
        """
        picker = makePicker(numPieces=10, have=range(4))
        picker.order.peerHasPieces(range(4, 10))
        picker.order.peerHasPieces([4, 5, 6, 8, 9])
        picker.order.peerHasPieces([4, 5, 8, 9])
        picker.order.peerHasPieces([4, 5, 9])
        # Availability: 7 -> 1, 6 -> 2, 8 -> 3, 4, 5 and 9 -> 4.
        pieces = allPieces(picker)
        indexes = []
        while blocks := picker.pick("a", pieces, 1):
            indexes.extend(index for index, _, _ in blocks)
        order = firstSeen((index, 0, 0) for index in indexes)
        self.assertEqual(order[:3], [7, 6, 8])
        self.assertEqual(sorted(order[3:]), [4, 5, 9])
        # Each piece was requested whole before the next began.
        self.assertEqual(indexes, sorted(indexes, key=order.index))
        self.assertEqual(len(indexes), 5 * 4 + 3)

    def test_rarestAmongPeersPieces(self) -> None:
        """
        The rarest piece the peer has is chosen, not the rarest overall.
        """
        picker = makePicker(numPieces=10, have=range(4))
        picker.order.peerHasPieces(range(4, 10))
        picker.order.peerHasPieces(range(5, 10))
        picker.order.peerLostPieces([6])
        # Availability: 4 -> 1, 5 -> 2, 6 -> 1, 7.. -> 2.
        blocks = picker.pick("a", Bitfield(10, [5, 6, 8]), 1)
        self.assertEqual(blocks[0][0], 6)
        blocks = picker.pick("b", Bitfield(10, [5, 7, 8]), 5)
        self.assertNotIn(4, {index for index, _, _ in blocks})

    def test_doneAndFilledPiecesNotPicked(self) -> None:
        """
        Pieces given as C{have} and pieces waiting for their hash check are
        not picked.
        """
        picker = makePicker(numPieces=3, have=[0], lastLength=PIECE_LENGTH)
        blocks = picker.pick("a", Bitfield(3, [0, 1]), 4)
        self.assertEqual({index for index, _, _ in blocks}, {1})
        receiveAll(picker, "a", blocks)
        self.assertFalse(picker.wants(0))
        self.assertFalse(picker.wants(1))
        self.assertTrue(picker.wants(2))
        self.assertEqual(picker.pick("b", Bitfield(3, [0, 1]), 10), [])


class AbandonTests(SynchronousTestCase):
    """
    Tests for L{PiecePicker.abandon}.
    """

    def test_abandonReturnsBlocksToOthers(self) -> None:
        """
        Blocks abandoned by one peer are picked for another.
        """
        picker = makePicker()
        blocks = picker.pick("a", Bitfield(8, [3]), 4)
        picker.abandon("a", [(index, begin) for index, begin, _ in blocks])
        self.assertEqual(sorted(picker.pick("b", Bitfield(8, [3]), 4)), sorted(blocks))

    def test_abandonUnknownIgnored(self) -> None:
        """
        Abandoning requests the picker does not know of (other pieces, other
        peers, bad offsets) changes nothing.
        """
        picker = makePicker()
        blocks = picker.pick("a", Bitfield(8, [3]), 2)
        picker.abandon(
            "b",
            [(3, 0), (3, BLOCK_SIZE), (4, 0), (3, 1), (3, -BLOCK_SIZE), (3, 100 * BLOCK_SIZE)],
        )
        picker.abandon("a", [(3, 3 * BLOCK_SIZE)])
        self.assertEqual(
            picker.pick("c", Bitfield(8, [3]), 4),
            [(3, 2 * BLOCK_SIZE, BLOCK_SIZE), (3, 3 * BLOCK_SIZE, BLOCK_SIZE)],
        )
        self.assertEqual(picker.blocks.received("a", *blocks[1]), ((), False))

    def test_abandonInEndgameKeepsOtherRequesters(self) -> None:
        """
        In endgame, a block abandoned by one of its requesters stays requested
        from the others: it is not picked again for them.
        """
        picker = makePicker(numPieces=1, lastLength=PIECE_LENGTH)
        pieces = allPieces(picker)
        blocks = picker.pick("a", pieces, 4)
        self.assertEqual(sorted(picker.pick("b", pieces, 4)), sorted(blocks))
        picker.abandon("a", [(0, 0)])
        self.assertTrue(picker.endgame)
        self.assertEqual(picker.pick("b", pieces, 4), [])
        self.assertEqual(picker.blocks.received("b", 0, 0, BLOCK_SIZE), ((), False))


class EndgameTests(SynchronousTestCase):
    """
    Duplicate requests for the last blocks.
    """

    def setUp(self) -> None:
        self.picker = makePicker(numPieces=1, lastLength=PIECE_LENGTH, maxDuplicates=2)
        self.pieces = allPieces(self.picker)

    def test_endgameOnlyWhenAllRequested(self) -> None:
        """
        Endgame begins when the last missing block is requested, and not
        before; the peer that takes that block gets no duplicates with it.
        """
        first = self.picker.pick("a", self.pieces, 3)
        self.assertFalse(self.picker.endgame)
        self.assertEqual(self.picker.pick("a", self.pieces, 0), [])
        second = self.picker.pick("b", self.pieces, 10)
        self.assertTrue(self.picker.endgame)
        self.assertEqual(second, [(0, 3 * BLOCK_SIZE, BLOCK_SIZE)])
        self.assertEqual(len(first), 3)

    def test_endgameDuplicatesOnlyForIdlePeers(self) -> None:
        """
        In endgame a peer with requests in flight gets no duplicates; an idle
        one gets at most L{ENDGAME_BATCH} at a time.
        """
        picker = makePicker(numPieces=2, lastLength=PIECE_LENGTH)
        everything = Bitfield(2, [0, 1])
        blocks = picker.pick("a", everything, 100)
        self.assertTrue(picker.endgame)
        self.assertEqual(picker.pick("b", everything, 100, inFlight=1), [])
        duplicates = picker.pick("b", everything, 100)
        self.assertEqual(len(duplicates), ENDGAME_BATCH)
        self.assertTrue(set(duplicates) <= set(blocks))

    def test_requestedFrom(self) -> None:
        """
        L{BlockTable.requestedFrom<bittwist.blocktable.BlockTable.requestedFrom>} names the one peer a block is asked of,
        then every peer once endgame duplicates it, then none once received.
        """
        picker = makePicker(numPieces=1, lastLength=BLOCK_SIZE)
        everything = Bitfield(1, [0])
        [block] = picker.pick("a", everything, 100)
        self.assertEqual(picker.blocks.requestedFrom(0, 0), {"a"})
        self.assertEqual(picker.pick("b", everything, 100), [block])
        self.assertEqual(picker.blocks.requestedFrom(0, 0), {"a", "b"})
        picker.abandon("a", [(0, 0)])
        self.assertEqual(picker.blocks.requestedFrom(0, 0), {"b"})
        self.assertEqual(picker.blocks.received("b", *block), ((), True))
        self.assertEqual(picker.blocks.requestedFrom(0, 0), set())

    def test_verifiedPieceForgetsRequests(self) -> None:
        """
        A piece verified while some of its blocks are still requested (its
        data came another way) leaves no request behind.
        """
        picker = makePicker()
        blocks = picker.pick("a", Bitfield(8, [1]), 4)
        picker.pieceVerified(1)
        self.assertEqual(picker.blocks.requestedFrom(1, blocks[0][1]), set())
        self.assertEqual(picker.blocks.received("a", *blocks[0]), None)

    def test_endgameWaitsForSlowBlocks(self) -> None:
        """
        With an C{endgameDelay}, a block is duplicated only once it has been
        waited for that long.
        """
        picker = makePicker(numPieces=2, lastLength=PIECE_LENGTH, endgameDelay=2.0)
        everything = Bitfield(2, [0, 1])
        blocks = picker.pick("a", everything, 100, now=10.0)
        self.assertTrue(picker.endgame)
        self.assertEqual(picker.pick("b", everything, 100, now=11.9), [])
        duplicates = picker.pick("b", everything, 100, now=12.0)
        self.assertEqual(len(duplicates), ENDGAME_BATCH)
        self.assertTrue(set(duplicates) <= set(blocks))

    def test_noDuplicatesBeforeEndgame(self) -> None:
        """
        While blocks remain unrequested, no block is requested twice, even if
        the peer asks for more than remain of the pieces it has.
        """
        picker = makePicker(numPieces=2, lastLength=PIECE_LENGTH)
        blocks = picker.pick("a", Bitfield(2, [0]), 4)
        self.assertEqual(picker.pick("b", Bitfield(2, [0]), 4), [])
        self.assertFalse(picker.endgame)
        self.assertEqual({index for index, _, _ in blocks}, {0})

    def test_neverSameBlockTwiceToOnePeer(self) -> None:
        """
        A peer that already has every block requested gets no duplicates of
        its own requests.
        """
        self.picker.pick("a", self.pieces, 4)
        self.assertTrue(self.picker.endgame)
        self.assertEqual(self.picker.pick("a", self.pieces, 4), [])
        self.picker.pick("b", self.pieces, 4)
        self.assertEqual(self.picker.pick("b", self.pieces, 4), [])

    def test_atMostMaxDuplicates(self) -> None:
        """
        Each block is requested from at most C{1 + maxDuplicates} peers.
        """
        blocks = sorted(self.picker.pick("a", self.pieces, 4))
        self.assertEqual(sorted(self.picker.pick("b", self.pieces, 4)), blocks)
        self.assertEqual(sorted(self.picker.pick("c", self.pieces, 4)), blocks)
        self.assertEqual(self.picker.pick("d", self.pieces, 4), [])

    def test_maxDuplicatesConfigurable(self) -> None:
        """
        With C{maxDuplicates=0} there are no duplicate requests at all.
        """
        picker = makePicker(numPieces=1, lastLength=PIECE_LENGTH, maxDuplicates=0)
        picker.pick("a", self.pieces, 4)
        self.assertTrue(picker.endgame)
        self.assertEqual(picker.pick("b", self.pieces, 4), [])

    def test_duplicatesOnlyOfPeersPieces(self) -> None:
        """
        In endgame, only blocks of pieces the peer has are duplicated for it.
        """
        picker = makePicker(numPieces=2, lastLength=PIECE_LENGTH)
        picker.pick("a", allPieces(picker), 8)
        self.assertTrue(picker.endgame)
        blocks = picker.pick("b", Bitfield(2, [1]), 8)
        self.assertEqual({index for index, _, _ in blocks}, {1})
        self.assertEqual(len(blocks), 4)

    def test_receivedBlocksNotDuplicated(self) -> None:
        """
        Blocks already received are not requested again in endgame.
        """
        blocks = self.picker.pick("a", self.pieces, 4)
        receiveAll(self.picker, "a", blocks[:3])
        self.assertEqual(self.picker.pick("b", self.pieces, 4), blocks[3:])

    def test_blockReceivedReturnsOtherRequesters(self) -> None:
        """
        In endgame, the block's arrival names the other peers it was
        requested from, to cancel; a later copy is not wanted.
        """
        for peer in "abc":
            self.picker.pick(peer, self.pieces, 4)
        others, filled = self.picker.blocks.received("b", 0, 0, BLOCK_SIZE)
        self.assertEqual(sorted(others), ["a", "c"])
        self.assertFalse(filled)
        self.assertIsNone(self.picker.blocks.received("a", 0, 0, BLOCK_SIZE))
        others, filled = self.picker.blocks.received("d", 0, BLOCK_SIZE, BLOCK_SIZE)
        self.assertEqual(sorted(others), ["a", "b", "c"])

    def test_endgameEndsWhenPieceFails(self) -> None:
        """
        A failed piece has unrequested blocks again, so endgame ends.
        """
        blocks = self.picker.pick("a", self.pieces, 4)
        receiveAll(self.picker, "a", blocks)
        self.assertTrue(self.picker.endgame)
        self.picker.pieceFailed(0)
        self.assertFalse(self.picker.endgame)


class HashCheckTests(SynchronousTestCase):
    """
    Tests for L{PiecePicker.pieceVerified} and L{PiecePicker.pieceFailed}.
    """

    def test_pieceFailedReturnsContributors(self) -> None:
        """
        L{PiecePicker.pieceFailed} returns every peer that sent a block of the
        piece, and only those.
        """
        picker = makePicker()
        pieces = Bitfield(8, [2])
        receiveAll(picker, "a", picker.pick("a", pieces, 1))
        picker.pick("c", pieces, 1)
        filled = receiveAll(picker, "b", picker.pick("b", pieces, 2))
        self.assertEqual(filled, [])
        picker.abandon("c", [(2, BLOCK_SIZE)])
        self.assertEqual(receiveAll(picker, "b", [(2, BLOCK_SIZE, BLOCK_SIZE)]), [2])
        self.assertEqual(picker.pieceFailed(2), {"a", "b"})

    def test_failedPieceDownloadableAgain(self) -> None:
        """
        After a failed hash check every block of the piece is picked again.
        """
        picker = makePicker()
        pieces = Bitfield(8, [2])
        blocks = picker.pick("a", pieces, 4)
        self.assertEqual(receiveAll(picker, "a", blocks), [2])
        self.assertFalse(picker.wants(2))
        self.assertEqual(picker.pick("b", pieces, 4), [])
        picker.pieceFailed(2)
        self.assertTrue(picker.wants(2))
        self.assertEqual(sorted(picker.pick("b", pieces, 4)), sorted(blocks))

    def test_pieceFailedUnknown(self) -> None:
        """
        Failing a piece that was never started, or failing one twice, returns
        no one and changes nothing.
        """
        picker = makePicker(numPieces=1, lastLength=PIECE_LENGTH)
        self.assertEqual(picker.pieceFailed(0), set())
        blocks = picker.pick("a", allPieces(picker), 4)
        receiveAll(picker, "a", blocks)
        self.assertEqual(picker.pieceFailed(0), {"a"})
        self.assertEqual(picker.pieceFailed(0), set())
        self.assertEqual(len(picker.pick("b", allPieces(picker), 10)), 4)
        self.assertTrue(picker.endgame)

    def test_pieceVerifiedCompletes(self) -> None:
        """
        Once every piece is verified the picker is complete, no longer in
        endgame, wants nothing and picks nothing.
        """
        picker = makePicker()
        pieces = allPieces(picker)
        filled = receiveAll(picker, "a", picker.pick("a", pieces, 1000))
        self.assertEqual(sorted(filled), list(range(8)))
        for index in filled[:-1]:
            picker.pieceVerified(index)
            self.assertFalse(picker.complete())
        picker.pieceVerified(filled[-1])
        self.assertTrue(picker.complete())
        self.assertFalse(picker.endgame)
        self.assertFalse(any(picker.wants(index) for index in range(8)))
        self.assertEqual(picker.pick("a", pieces, 10), [])
        self.assertEqual(list(picker.done), list(range(8)))

    def test_verifiedPieceBlocksNotWanted(self) -> None:
        """
        Late copies of blocks of a verified piece are not wanted.
        """
        picker = makePicker()
        blocks = picker.pick("a", Bitfield(8, [1]), 4)
        receiveAll(picker, "a", blocks)
        picker.pieceVerified(1)
        self.assertIsNone(picker.blocks.received("b", *blocks[0]))

    def test_haveMakesComplete(self) -> None:
        """
        A picker given every piece as C{have} is complete from the start.
        """
        picker = makePicker(have=range(8))
        self.assertTrue(picker.complete())
        self.assertFalse(picker.endgame)
        self.assertFalse(makePicker(have=range(7)).complete())


class InterestTests(SynchronousTestCase):
    """
    Tests for L{PiecePicker.interestedIn}.
    """

    def test_interestedIn(self) -> None:
        """
        We are interested in a peer exactly when it has a piece we have not
        verified.
        """
        picker = makePicker(numPieces=4, have=[0, 1])
        self.assertFalse(picker.interestedIn(Bitfield(4)))
        self.assertFalse(picker.interestedIn(Bitfield(4, [0])))
        self.assertFalse(picker.interestedIn(Bitfield(4, [0, 1])))
        self.assertTrue(picker.interestedIn(Bitfield(4, [3])))
        self.assertTrue(picker.interestedIn(Bitfield(4, [0, 2])))
        self.assertTrue(picker.interestedIn(Bitfield(4, [0, 1, 2])))
        self.assertTrue(picker.interestedIn(Bitfield(4, range(4))))

    def test_notInterestedWhenComplete(self) -> None:
        """
        A complete picker is interested in no one, seeds included.
        """
        picker = makePicker(numPieces=4, have=range(4))
        self.assertFalse(picker.interestedIn(Bitfield(4, range(4))))
        self.assertFalse(picker.interestedIn(Bitfield(4, [2])))

    @given(st.sets(st.integers(0, 11)), st.sets(st.integers(0, 11)))
    def test_interestedInMatchesSets(self, ours: set[int], theirs: set[int]) -> None:
        """
        L{PiecePicker.interestedIn} is true exactly when the peer's pieces are
        not a subset of ours.
        """
        picker = PiecePicker(12, lambda index: BLOCK_SIZE, have=ours)
        self.assertEqual(picker.interestedIn(Bitfield(12, theirs)), not theirs <= ours)


def expectedUnrequested(picker: PiecePicker) -> int:
    """
    Count, from the picker's piece states, the missing blocks of the pieces
    neither verified nor waiting for their hash check.
    """
    total = 0
    for index in range(picker.numPieces):
        if index in picker.done or index in picker.blocks.filled:
            continue
        states = picker.blocks.partial.get(index)
        if states is None:
            total += -(-picker.blocks._pieceSize(index) // picker.blocks._blockSize)
        else:
            total += sum(1 for state in states if state == 0)
    return total


PEERS = ("p0", "p1", "p2")


class SimulationTests(SynchronousTestCase):
    """
    Random interleavings of everything the torrent may tell the picker.
    """

    def checkInvariants(
        self, picker: PiecePicker, outstanding: dict[str, set[Block]], maxDuplicates: int
    ) -> None:
        """
        Check the picker's bookkeeping against the piece states and against
        C{outstanding}, the requests each peer has in flight.
        """
        self.assertEqual(picker.blocks.unrequested, expectedUnrequested(picker))
        # The picker's requesters are exactly the outstanding requests.
        fromPicker: dict[Block, set[str]] = defaultdict(set)
        for index, states in picker.blocks.partial.items():
            for block in range(len(states)):
                requesters = picker.blocks.requestedFrom(index, block * picker.blocks._blockSize)
                self.assertEqual(bool(requesters), states[block] == 1)
                if requesters:
                    begin = block * picker.blocks._blockSize
                    key = (index, begin, picker.blocks.blockLength(index, begin))
                    fromPicker[key] = requesters
        fromModel: dict[Block, set[str]] = defaultdict(set)
        for peer, blocks in outstanding.items():
            for block in blocks:
                fromModel[block].add(peer)
        self.assertEqual(dict(fromPicker), dict(fromModel))
        # No request outlives its block's piece.
        self.assertEqual(len(picker.blocks._requesters), len(fromPicker))
        self.assertEqual(len(picker.blocks._requestedAt), len(fromPicker))
        for requesters in fromModel.values():
            self.assertLessEqual(len(requesters), 1 + maxDuplicates)

    def deliver(
        self,
        picker: PiecePicker,
        outstanding: dict[str, set[Block]],
        filled: set[int],
        peer: str,
        block: Block,
    ) -> None:
        """
        Hand C{block} from C{peer} to the picker, as the torrent does: cancel
        the other requests for it.
        """
        outstanding[peer].discard(block)
        result = picker.blocks.received(peer, *block)
        if result is None:
            return
        others, isFilled = result
        self.assertNotIn(peer, others)
        for other in others:
            self.assertIn(block, outstanding[other])
            outstanding[other].discard(block)
        if isFilled:
            self.assertNotIn(block[0], filled)
            filled.add(block[0])

    @settings(max_examples=150, deadline=None)
    @given(st.data())
    def test_randomOperationsNeverLoseBlocks(self, data: st.DataObject) -> None:
        """
        Whatever the order of picks, arrivals (wanted or not), abandons, hash
        failures and verifications among three peers, the count of unrequested
        blocks matches the piece states, the picker's requests match the
        peers', no peer is asked twice for a block, no block has more than
        C{1 + maxDuplicates} requesters, and afterwards the torrent can still
        be completed.
        """
        blockSize = 4
        numPieces = data.draw(st.integers(1, 6), "numPieces")
        pieceLength = data.draw(st.integers(1, 13), "pieceLength")
        lastLength = data.draw(st.integers(1, pieceLength), "lastLength")
        have = data.draw(st.sets(st.integers(0, numPieces - 1)), "have")
        maxDuplicates = data.draw(st.integers(0, 2), "maxDuplicates")
        pieceSize = sizes(numPieces, pieceLength, lastLength)
        picker = PiecePicker(
            numPieces,
            pieceSize,
            have=have,
            blockSize=blockSize,
            rng=random.Random(data.draw(st.integers(0, 2**32), "seed")),
            maxDuplicates=maxDuplicates,
        )
        peerPieces = {
            peer: Bitfield(numPieces, data.draw(st.sets(st.integers(0, numPieces - 1)), peer))
            for peer in PEERS
        }
        # The first peer is a seed, so the torrent can always complete.
        peerPieces["p0"] = Bitfield(numPieces, range(numPieces))
        for pieces in peerPieces.values():
            picker.order.peerHasPieces(pieces)
        outstanding: dict[str, set[Block]] = {peer: set() for peer in PEERS}
        filled: set[int] = set()

        operation = st.sampled_from(
            ["pick", "receive", "unsolicited", "abandon", "fail", "verify"]
        )
        for _ in range(data.draw(st.integers(0, 60), "steps")):
            op = data.draw(operation)
            peer = data.draw(st.sampled_from(PEERS))
            if op == "pick":
                count = data.draw(st.integers(0, 8))
                blocks = picker.pick(peer, peerPieces[peer], count)
                self.assertLessEqual(len(blocks), count)
                for block in blocks:
                    index, begin, length = block
                    self.assertIn(index, peerPieces[peer])
                    self.assertNotIn(block, outstanding[peer])
                    self.assertEqual(begin % blockSize, 0)
                    self.assertEqual(length, min(blockSize, pieceSize(index) - begin))
                    self.assertGreater(length, 0)
                    outstanding[peer].add(block)
                self.assertEqual(len(set(blocks)), len(blocks))
            elif op == "receive" and outstanding[peer]:
                block = data.draw(st.sampled_from(sorted(outstanding[peer])))
                self.deliver(picker, outstanding, filled, peer, block)
            elif op == "unsolicited":
                index = data.draw(st.integers(0, numPieces - 1))
                begin = data.draw(st.integers(-blockSize, pieceLength + blockSize))
                length = data.draw(st.integers(0, blockSize + 1))
                self.deliver(picker, outstanding, filled, peer, (index, begin, length))
            elif op == "abandon" and outstanding[peer]:
                blocks = data.draw(st.sets(st.sampled_from(sorted(outstanding[peer]))))
                outstanding[peer] -= blocks
                picker.abandon(peer, [(index, begin) for index, begin, _ in blocks])
            elif op in ("fail", "verify") and filled:
                index = data.draw(st.sampled_from(sorted(filled)))
                filled.discard(index)
                if op == "fail":
                    contributors = picker.pieceFailed(index)
                    self.assertTrue(contributors)
                    self.assertLessEqual(contributors, set(PEERS))
                else:
                    picker.pieceVerified(index)
            self.checkInvariants(picker, outstanding, maxDuplicates)

        # Now let every request be answered and every piece pass.
        for _ in range(100):
            if picker.complete():
                break
            for peer in PEERS:
                for block in sorted(outstanding[peer]):
                    self.deliver(picker, outstanding, filled, peer, block)
                for block in picker.pick(peer, peerPieces[peer], 8):
                    outstanding[peer].add(block)
            for index in sorted(filled):
                picker.pieceVerified(index)
            filled.clear()
            self.checkInvariants(picker, outstanding, maxDuplicates)
        self.assertTrue(picker.complete())
        self.assertEqual(picker.blocks.unrequested, 0)


class WantedPieceSizesTests(SynchronousTestCase):
    """
    Tests for L{wantedPieceSizes}: pad bytes that end a piece are not
    requested.
    """

    def metainfo(self, files: list[tuple[int, bool]], pieceLength: int) -> object:
        entries = []
        offset = 0
        for length, pad in files:
            entries.append(FileEntry(("p" if pad else "f", str(offset)), length, offset, pad))
            offset += length
        total = offset

        class Layout:
            def pieceSize(self, index: int) -> int:
                return min(pieceLength, total - index * pieceLength)

        layout = Layout()
        layout.pieceLength = pieceLength
        layout.totalLength = total
        layout.files = entries
        return layout

    def test_trailingPadTrimmed(self) -> None:
        """
        A piece ending in a pad file is wanted up to the pad; other pieces,
        and a pad that does not end on a piece boundary, whole.
        """
        metainfo = self.metainfo(
            [(40, False), (24, True), (70, False), (26, True), (5, False), (3, True), (50, False)],
            pieceLength=32,
        )
        wanted = wantedPieceSizes(metainfo)
        # Stream: f 0-40, pad 40-64, f 64-134, pad 134-160, f 160-165,
        # pad 165-168 (not at a boundary), f 168-218.
        self.assertEqual([wanted(i) for i in range(7)], [32, 8, 32, 32, 6, 32, 26])

    def test_allPadRequested(self) -> None:
        """
        A piece that is all pad is requested whole, and a torrent without
        pad files keeps the metainfo's sizes.
        """
        metainfo = self.metainfo([(32, False), (32, True), (16, False)], pieceLength=32)
        self.assertEqual(wantedPieceSizes(metainfo)(1), 32)
        plain = self.metainfo([(70, False)], pieceLength=32)
        self.assertEqual([wantedPieceSizes(plain)(i) for i in range(3)], [32, 32, 6])


class PriorityTests(SynchronousTestCase):
    """
    Tests for piece priorities: skipped pieces are never requested, high
    ones come first, and the download is complete once every wanted piece
    is verified.
    """

    def drain(self, picker: PiecePicker) -> list[int]:
        """
        Request, receive and verify every block a seed can give.

        @return: the pieces, in the order first requested.
        """
        seed = allPieces(picker)
        order: list[int] = []
        while True:
            blocks = picker.pick("seed", seed, 1)
            if not blocks:
                return order
            index, begin, length = blocks[0]
            if index not in order:
                order.append(index)
            _, filled = picker.blocks.received("seed", index, begin, length)
            if filled:
                picker.pieceVerified(index)

    def test_skippedNeverRequested(self) -> None:
        """
        A skipped piece is never picked, and the picker is complete without
        it.
        """
        picker = makePicker(numPieces=6)
        picker.setPriorities([NORMAL, SKIP, NORMAL, SKIP, NORMAL, NORMAL])
        self.assertFalse(picker.complete())
        order = self.drain(picker)
        self.assertEqual(sorted(order), [0, 2, 4, 5])
        self.assertTrue(picker.complete())
        self.assertFalse(picker.endgame)
        self.assertFalse(picker.wants(1))
        self.assertFalse(picker.interestedIn(Bitfield(6, [1, 3])))

    def test_highFirst(self) -> None:
        """
        High-priority pieces are all requested before any normal one.
        """
        picker = makePicker(numPieces=8)
        picker.setPriorities([NORMAL, NORMAL, HIGH, NORMAL, NORMAL, HIGH, NORMAL, HIGH])
        order = self.drain(picker)
        self.assertEqual(sorted(order[:3]), [2, 5, 7])
        self.assertEqual(len(order), 8)

    def test_randomFirstPiecesOnceHighDone(self) -> None:
        """
        Once every high piece is verified, the first pieces are taken at
        random again, as when none was high: not the rarest one each time.
        """
        firstPicked = set()
        for seed in range(10):
            picker = PiecePicker(20, sizes(20, PIECE_LENGTH, PIECE_LENGTH), rng=random.Random(seed))
            picker.setPriorities([HIGH] + [NORMAL] * 19)
            picker.order.peerHasPieces(range(20))
            for _ in range(4):
                # Pieces 0 and 1 are the rarest.
                picker.order.peerHasPieces(range(2, 20))
            for index, begin, length in picker.pick("a", allPieces(picker), 4):
                self.assertEqual(index, 0)
                picker.blocks.received("a", index, begin, length)
            picker.pieceVerified(0)
            firstPicked.add(picker.pick("a", allPieces(picker), 1)[0][0])
        self.assertGreater(len(firstPicked), 1)

    def test_highFirstSequential(self) -> None:
        """
        In sequential mode, high pieces come first, then the rest in order.
        """
        picker = makePicker(numPieces=5)
        picker.order.setSequential(True)
        picker.setPriorities([NORMAL, SKIP, NORMAL, HIGH, NORMAL])
        self.assertEqual(self.drain(picker), [3, 0, 2, 4])

    def test_wantedAgain(self) -> None:
        """
        A piece no longer skipped is downloaded, and the picker is not
        complete until it is.
        """
        picker = makePicker(numPieces=3)
        picker.setPriorities([NORMAL, SKIP, NORMAL])
        self.drain(picker)
        self.assertTrue(picker.complete())
        picker.setPriorities(None)
        self.assertFalse(picker.complete())
        self.assertEqual(self.drain(picker), [1])
        self.assertTrue(picker.complete())

    def test_startedPieceFinished(self) -> None:
        """
        A piece skipped once started is finished, and an untouched piece
        skipped after its requests are abandoned is not asked again.
        """
        picker = makePicker(numPieces=2)
        seed = allPieces(picker)
        picker.order.setSequential(True)
        blocks = picker.pick("a", seed, 5)
        self.assertEqual([b[0] for b in blocks], [0, 0, 0, 0, 1])
        picker.setPriorities([SKIP, SKIP])
        self.assertTrue(picker.complete())
        picker.abandon("a", [(1, 0)])
        self.assertNotIn(1, [b[0] for b in picker.pick("b", seed, 10)])
        for index, begin, length in blocks[:4]:
            picker.blocks.received("a", index, begin, length)
        picker.pieceVerified(0)
        self.assertEqual(picker.pick("b", seed, 10), [])
        self.assertFalse(picker.endgame)
