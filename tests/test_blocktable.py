# -*- test-case-name: tests.test_blocktable -*-
"""
Tests for L{bittwist.blocktable}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.bitfield import Bitfield
from bittwist.blocktable import MISSING, RECEIVED, REQUESTED, Block, BlockTable
from bittwist.wire import BLOCK_SIZE

PIECE_LENGTH = 4 * BLOCK_SIZE
LAST_PIECE_LENGTH = 2 * BLOCK_SIZE + 1000


def makeTable(maxDuplicates: int = 2, endgameDelay: float = 0.0) -> BlockTable:
    """
    @return: the block table of a torrent of eight four-block pieces, the
        last one C{LAST_PIECE_LENGTH} long.
    """
    return BlockTable(
        lambda index: LAST_PIECE_LENGTH if index == 7 else PIECE_LENGTH,
        maxDuplicates=maxDuplicates,
        endgameDelay=endgameDelay,
    )


def start(table: BlockTable, peer: str, index: int, count: int = 100, now: float = 0.0) -> list[Block]:
    """
    @return: the blocks of piece C{index} taken when C{peer} starts it.
    """
    picked: list[Block] = []
    table.start(peer, index, picked, count, now)
    return picked


class LayoutTests(SynchronousTestCase):
    """
    Blocks cut pieces into block-sized requests.
    """

    def test_blockLength(self) -> None:
        """
        L{BlockTable.blockLength} is 16 KiB, or what is left of the piece.
        """
        table = makeTable()
        self.assertEqual(table.blockLength(0, 0), BLOCK_SIZE)
        self.assertEqual(table.blockLength(0, 3 * BLOCK_SIZE), BLOCK_SIZE)
        self.assertEqual(table.blockLength(7, 2 * BLOCK_SIZE), 1000)

    def test_numBlocks(self) -> None:
        """
        L{BlockTable.numBlocks} counts a short last block as one.
        """
        table = makeTable()
        self.assertEqual(table.numBlocks(0), 4)
        self.assertEqual(table.numBlocks(7), 3)
        self.assertEqual(BlockTable(lambda index: 10, blockSize=4).numBlocks(0), 3)


class TakeTests(SynchronousTestCase):
    """
    Tests for L{BlockTable.start} and L{BlockTable.takeMissing}.
    """

    def test_startTakesInOrder(self) -> None:
        """
        Starting a piece records its starter and takes its blocks in order,
        up to the count; they are requested from the peer and no longer
        counted as unrequested.
        """
        table = makeTable()
        table.unrequested = 10
        self.assertEqual(start(table, "a", 7, count=2), [(7, 0, BLOCK_SIZE), (7, BLOCK_SIZE, BLOCK_SIZE)])
        self.assertEqual(table.starters, {7: "a"})
        self.assertEqual(table.partial[7], bytearray([REQUESTED, REQUESTED, MISSING]))
        self.assertEqual(table.requestedFrom(7, BLOCK_SIZE), {"a"})
        self.assertEqual(table.unrequested, 8)

    def test_takeMissingSkipsRequested(self) -> None:
        """
        L{BlockTable.takeMissing} takes only the blocks not requested, and
        stops when the list holds C{count}.
        """
        table = makeTable()
        start(table, "a", 0, count=1)
        picked: list[Block] = [(9, 9, 9)]
        table.takeMissing("b", 0, table.partial[0], picked, 3, 0.0)
        self.assertEqual(picked, [(9, 9, 9), (0, BLOCK_SIZE, BLOCK_SIZE), (0, 2 * BLOCK_SIZE, BLOCK_SIZE)])
        self.assertEqual(table.requestedFrom(0, 0), {"a"})
        self.assertEqual(table.requestedFrom(0, BLOCK_SIZE), {"b"})


class ReceivedTests(SynchronousTestCase):
    """
    Tests for L{BlockTable.received}.
    """

    def setUp(self) -> None:
        self.table = makeTable()
        self.blocks = start(self.table, "a", 7)

    def test_wantedBlocks(self) -> None:
        """
        Requested blocks are accepted with no one to cancel; the last one
        completes the piece, which is then filled.
        """
        first, second, last = self.blocks
        self.assertEqual(self.table.received("a", *first), ((), False))
        self.assertEqual(self.table.received("a", *last), ((), False))
        self.assertNotIn(7, self.table.filled)
        self.assertEqual(self.table.received("a", *second), ((), True))
        self.assertIn(7, self.table.filled)
        self.assertEqual(self.table.partial[7], bytearray([RECEIVED] * 3))

    def test_unknownPiece(self) -> None:
        """
        A block of a piece no one was asked for is not wanted.
        """
        self.assertIsNone(self.table.received("a", 0, 0, BLOCK_SIZE))
        self.assertIsNone(self.table.received("a", 99, 0, BLOCK_SIZE))

    def test_duplicate(self) -> None:
        """
        A block received twice is wanted only the first time, from whoever
        sends it.
        """
        self.assertIsNotNone(self.table.received("a", *self.blocks[0]))
        self.assertIsNone(self.table.received("a", *self.blocks[0]))
        self.assertIsNone(self.table.received("b", *self.blocks[0]))

    def test_wrongLength(self) -> None:
        """
        A block shorter or longer than requested is not wanted, and stays
        requested.
        """
        self.assertIsNone(self.table.received("a", 7, 0, BLOCK_SIZE - 1))
        self.assertIsNone(self.table.received("a", 7, 0, BLOCK_SIZE + 1))
        self.assertIsNone(self.table.received("a", 7, 2 * BLOCK_SIZE, BLOCK_SIZE))
        self.assertEqual(self.table.requestedFrom(7, 0), {"a"})
        self.assertEqual(self.table.received("a", 7, 0, BLOCK_SIZE), ((), False))

    def test_misaligned(self) -> None:
        """
        A block that does not start on a block boundary, or starts outside
        the piece, is not wanted.
        """
        self.assertIsNone(self.table.received("a", 7, 1, BLOCK_SIZE))
        self.assertIsNone(self.table.received("a", 7, BLOCK_SIZE // 2, BLOCK_SIZE))
        self.assertIsNone(self.table.received("a", 7, 3 * BLOCK_SIZE, BLOCK_SIZE))
        self.assertIsNone(self.table.received("a", 7, -BLOCK_SIZE, BLOCK_SIZE))
        self.assertIsNone(self.table.received("a", 7, -3 * BLOCK_SIZE, BLOCK_SIZE))
        # The last block is still to come.
        self.assertEqual(self.table.received("a", 7, 2 * BLOCK_SIZE, 1000), ((), False))

    def test_abandonedBlockStillAccepted(self) -> None:
        """
        A block that arrives after its request was abandoned is taken, and
        counted as no longer unrequested.
        """
        self.table.unrequested = 0
        self.table.abandon("a", [(7, 0)])
        self.assertEqual(self.table.unrequested, 1)
        self.assertEqual(self.table.received("a", 7, 0, BLOCK_SIZE), ((), False))
        self.assertEqual(self.table.unrequested, 0)

    def test_lateBlockCancelsReRequest(self) -> None:
        """
        If an abandoned block was requested again from another peer and the
        first peer delivers it after all, the other peer is to be cancelled.
        """
        self.table.abandon("a", [(7, 0)])
        picked: list[Block] = []
        self.table.takeMissing("b", 7, self.table.partial[7], picked, 1, 0.0)
        self.assertEqual(picked, [(7, 0, BLOCK_SIZE)])
        self.assertEqual(self.table.received("a", 7, 0, BLOCK_SIZE), (("b",), False))


class AbandonTests(SynchronousTestCase):
    """
    Tests for L{BlockTable.abandon}.
    """

    def test_starterGivesUpPiece(self) -> None:
        """
        A peer abandoning a request of a piece it started is no longer its
        starter, though its other blocks stay requested from it.
        """
        table = makeTable()
        start(table, "a", 3)
        self.assertEqual(table.abandon("a", [(3, BLOCK_SIZE)]), [])
        self.assertEqual(table.starters, {})
        self.assertEqual(table.partial[3], bytearray([REQUESTED, MISSING, REQUESTED, REQUESTED]))

    def test_untouchedPiecesDropped(self) -> None:
        """
        A piece left with nothing requested and nothing received is dropped
        and named; one with a block received is kept.
        """
        table = makeTable()
        first = start(table, "a", 3)
        second = start(table, "a", 4)
        table.received("a", *second[0])
        everything = [(index, begin) for index, begin, _ in first + second[1:]]
        self.assertEqual(table.abandon("a", everything), [3])
        self.assertNotIn(3, table.partial)
        self.assertEqual(table.partial[4], bytearray([RECEIVED, MISSING, MISSING, MISSING]))

    def test_otherRequestersKept(self) -> None:
        """
        A block requested from several peers stays requested from the others
        when one abandons it.
        """
        table = makeTable()
        start(table, "a", 0, count=1)
        picked: list[Block] = []
        table.takeDuplicates("b", Bitfield(8, [0]), picked, 4, 0.0)
        self.assertEqual(table.abandon("a", [(0, 0)]), [])
        self.assertEqual(table.requestedFrom(0, 0), {"b"})
        self.assertEqual(table.partial[0][0], REQUESTED)


class DuplicatesTests(SynchronousTestCase):
    """
    Tests for L{BlockTable.takeDuplicates}.
    """

    def duplicates(self, table: BlockTable, peer: str, now: float = 0.0) -> list[Block]:
        picked: list[Block] = []
        table.takeDuplicates(peer, Bitfield(8, range(8)), picked, 100, now)
        return picked

    def test_atMostMaxDuplicates(self) -> None:
        """
        A block is requested from at most C{1 + maxDuplicates} peers, never
        twice from one.
        """
        table = makeTable(maxDuplicates=1)
        blocks = start(table, "a", 7)
        self.assertEqual(self.duplicates(table, "a"), [])
        self.assertEqual(self.duplicates(table, "b"), blocks)
        self.assertEqual(self.duplicates(table, "c"), [])
        self.assertEqual(table.requestedFrom(7, 0), {"a", "b"})

    def test_onlyAfterDelay(self) -> None:
        """
        Only blocks waited for at least C{endgameDelay} are duplicated.
        """
        table = makeTable(endgameDelay=1.0)
        start(table, "a", 0, count=1, now=0.0)
        start(table, "a", 1, count=1, now=0.5)
        self.assertEqual(self.duplicates(table, "b", now=1.2), [(0, 0, BLOCK_SIZE)])

    def test_onlyPeersPieces(self) -> None:
        """
        Only blocks of the pieces the peer has are duplicated, and only
        requested ones.
        """
        table = makeTable()
        start(table, "a", 0, count=2)
        start(table, "a", 1, count=1)
        table.received("a", 0, 0, BLOCK_SIZE)
        picked: list[Block] = []
        table.takeDuplicates("b", Bitfield(8, [0]), picked, 100, 0.0)
        self.assertEqual(picked, [(0, BLOCK_SIZE, BLOCK_SIZE)])


class DropTests(SynchronousTestCase):
    """
    Tests for L{BlockTable.drop} and L{BlockTable.unrequestedIn}.
    """

    def test_dropForgetsPiece(self) -> None:
        """
        Dropping a piece forgets its blocks, requests, starter and fill,
        and names the peers that sent blocks of it.
        """
        table = makeTable()
        blocks = start(table, "a", 7)
        table.abandon("a", [(7, 0)])
        picked: list[Block] = []
        table.takeMissing("b", 7, table.partial[7], picked, 1, 0.0)
        for peer, block in zip(["b", "a", "a"], blocks):
            table.received(peer, *block)
        self.assertIn(7, table.filled)
        self.assertEqual(table.drop(7), {"a", "b"})
        self.assertEqual((table.partial, table.starters, table.filled), ({}, {}, set()))
        self.assertEqual(table.drop(7), set())

    def test_dropForgetsRequests(self) -> None:
        """
        The requests of a dropped piece are forgotten.
        """
        table = makeTable()
        start(table, "a", 2)
        self.assertEqual(table.drop(2), set())
        self.assertEqual(table.requestedFrom(2, 0), set())
        self.assertEqual((table._requesters, table._requestedAt), ({}, {}))

    def test_unrequestedIn(self) -> None:
        """
        A piece not started counts all its blocks if wanted, none if not; a
        started one its blocks neither requested nor received; a filled one
        none.
        """
        table = makeTable()
        self.assertEqual(table.unrequestedIn(7, True), 3)
        self.assertEqual(table.unrequestedIn(7, False), 0)
        blocks = start(table, "a", 7, count=2)
        self.assertEqual(table.unrequestedIn(7, False), 1)
        table.takeMissing("a", 7, table.partial[7], blocks, 3, 0.0)
        for block in blocks:
            table.received("a", *block)
        self.assertEqual(table.unrequestedIn(7, True), 0)
