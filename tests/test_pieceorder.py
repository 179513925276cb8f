# -*- test-case-name: tests.test_pieceorder -*-
"""
Tests for L{bittwist.pieceorder}.
"""

import random
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from bittwist.bitfield import Bitfield
from bittwist.metainfo import FileEntry
from bittwist.pieceorder import HIGH, NORMAL, SKIP, PieceOrder, piecePriorities


class _Order:
    """
    A L{PieceOrder} of C{numPieces} pieces with the containers it reads.
    """

    def __init__(self, numPieces: int = 10, have: range = range(4), seed: int = 1234) -> None:
        self.done = Bitfield(numPieces, have)
        self.started: dict[int, Any] = {}
        self.filled: set[int] = set()
        self.order = PieceOrder(numPieces, self.done, self.started, self.filled, random.Random(seed))
        self.everything = Bitfield(numPieces, range(numPieces))


class AvailabilityTests(SynchronousTestCase):
    """
    Tests for L{PieceOrder.peerHasPieces} and L{PieceOrder.peerLostPieces}.
    """

    def test_availabilityCounts(self) -> None:
        """
        Peers are counted and uncounted per piece.
        """
        order = PieceOrder(4, Bitfield(4), {}, set())
        order.peerHasPieces(Bitfield(4, [0, 1]))
        order.peerHasPieces([1])
        self.assertEqual(order.availability, [1, 2, 0, 0])
        order.peerLostPieces(Bitfield(4, [0, 1]))
        self.assertEqual(order.availability, [0, 1, 0, 0])

    def test_bitfieldReorders(self) -> None:
        """
        A whole bitfield coming or going sorts the pieces again; a single
        C{have} does not.
        """
        o = _Order(numPieces=6)
        o.order.peerHasPieces([4, 4])
        self.assertEqual(o.order.newPieces(o.everything, 2), [5, 4])
        o.order.peerHasPieces([5])
        o.order.peerHasPieces([5])
        self.assertEqual(o.order.newPieces(o.everything, 2), [5, 4])
        o.order.peerLostPieces([4, 4])
        self.assertEqual(o.order.newPieces(o.everything, 2), [4, 5])


class NewPiecesTests(SynchronousTestCase):
    """
    Tests for L{PieceOrder.newPieces}.
    """

    def test_rarestFirst(self) -> None:
        """
        Once a few pieces are verified, new pieces come least available
        first, among those the peer has.
        """
        o = _Order()
        for index, count in {4: 5, 5: 3, 6: 4, 7: 1, 8: 2, 9: 6}.items():
            o.order.peerHasPieces([index] * count)
        self.assertEqual(o.order.newPieces(o.everything, 10), [7, 8, 5, 6, 4, 9])
        self.assertEqual(o.order.newPieces(Bitfield(10, [4, 5, 9]), 2), [5, 4])

    def test_skipsStartedFilledDone(self) -> None:
        """
        Pieces started, waiting for their check or verified since the order
        was sorted are not returned.
        """
        o = _Order()
        self.assertEqual(sorted(o.order.newPieces(o.everything, 10)), list(range(4, 10)))
        o.started[4] = None
        o.filled.add(5)
        o.done.add(6)
        self.assertEqual(sorted(o.order.newPieces(o.everything, 10)), [7, 8, 9])

    def test_firstPiecesRandom(self) -> None:
        """
        Until a few pieces are verified, new pieces are drawn at random
        among those the peer has, never twice, all found when few are left.
        """
        firsts = set()
        for seed in range(20):
            o = _Order(numPieces=64, have=range(0), seed=seed)
            firsts.add(o.order.newPieces(o.everything, 1)[0])
        self.assertGreater(len(firsts), 5)
        o = _Order(numPieces=200, have=range(0))
        chosen = o.order.newPieces(Bitfield(200, range(0, 200, 10)), 1000)
        self.assertEqual(sorted(chosen), list(range(0, 200, 10)))

    def test_sequential(self) -> None:
        """
        In sequential order pieces come lowest index first, even before a
        few are verified; turning it off sorts again by rarity.
        """
        o = _Order(have=range(0))
        o.order.peerHasPieces(range(4, 9))
        o.order.setSequential(True)
        self.assertTrue(o.order.sequential)
        self.assertEqual(o.order.newPieces(o.everything, 3), [0, 1, 2])
        for index in range(4):
            o.done.add(index)
        self.assertEqual(o.order.newPieces(o.everything, 1), [4])
        o.order.setSequential(False)
        self.assertEqual(o.order.newPieces(o.everything, 1), [9])


class PriorityTests(SynchronousTestCase):
    """
    Tests for L{PieceOrder.setPriorities}, L{PieceOrder.priority} and
    L{PieceOrder.verified}.
    """

    def test_highFirstSkippedNever(self) -> None:
        """
        High pieces come before normal ones, skipped ones never, and the
        random first pieces are not taken while high ones are missing.
        """
        o = _Order(have=range(0))
        o.order.setPriorities([SKIP, NORMAL, HIGH, NORMAL, HIGH, SKIP, NORMAL, NORMAL, NORMAL, NORMAL])
        chosen = o.order.newPieces(o.everything, 10)
        self.assertEqual(sorted(chosen[:2]), [2, 4])
        self.assertEqual(sorted(chosen[2:]), [1, 3, 6, 7, 8, 9])
        self.assertEqual((o.order.priority(0), o.order.priority(2)), (SKIP, HIGH))

    def test_allNormalIsNone(self) -> None:
        """
        Priorities all L{NORMAL} are kept as C{None}, and count nothing
        missing.
        """
        o = _Order()
        o.order.setPriorities([NORMAL] * 10)
        self.assertIsNone(o.order.priorities)
        self.assertEqual(o.order.priority(3), NORMAL)
        self.assertEqual((o.order.highMissing, o.order.wantedMissing), (0, 0))

    def test_missingCounts(self) -> None:
        """
        The high and wanted pieces not verified are counted, and
        L{PieceOrder.verified} uncounts each once.
        """
        o = _Order(have=range(1))
        o.order.setPriorities([HIGH, HIGH, SKIP, NORMAL, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP])
        self.assertEqual((o.order.highMissing, o.order.wantedMissing), (1, 2))
        o.order.verified(1)
        o.done.add(1)
        o.order.verified(1)
        o.order.verified(2)
        self.assertEqual((o.order.highMissing, o.order.wantedMissing), (0, 1))


class PiecePrioritiesTests(SynchronousTestCase):
    """
    Tests for L{piecePriorities}: a piece takes the highest priority of the
    files it holds bytes of.
    """

    def test_priorities(self) -> None:
        entries = [
            FileEntry(("a",), 10, 0, False),
            FileEntry(("pad",), 6, 10, True),
            FileEntry(("b",), 20, 16, False),
            FileEntry(("c",), 0, 36, False),
            FileEntry(("d",), 12, 36, False),
        ]

        class Layout:
            pieceLength = 8
            numPieces = 6
            files = entries

        # Pieces: 0-7 a, 8-15 a+pad, 16-23 b, 24-31 b, 32-39 b+d, 40-47 d.
        self.assertEqual(
            piecePriorities(Layout, [SKIP, NORMAL, SKIP, HIGH]),
            [SKIP, SKIP, NORMAL, NORMAL, HIGH, HIGH],
        )
        self.assertEqual(piecePriorities(Layout, [HIGH]), [HIGH, HIGH, NORMAL, NORMAL, NORMAL, NORMAL])
        self.assertEqual(piecePriorities(Layout, [SKIP] * 4), [SKIP] * 6)
