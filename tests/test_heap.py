"""
Tests for L{bittwist.heap}.
"""

import gc
import weakref
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from bittwist.heap import (
    MAX_TURNS,
    MIDDLE_COLLECTIONS,
    QUIET_TURN,
    FullCollections,
    freezeStartupObjects,
)


class _Node:
    """
    An object that can be part of a reference cycle and weakly referenced.
    """

    other: object = None


class FreezeStartupObjectsTests(SynchronousTestCase):
    """
    Tests for L{freezeStartupObjects}.
    """

    def setUp(self) -> None:
        self.addCleanup(gc.unfreeze)

    def test_liveObjectsFrozen(self) -> None:
        """
        An object alive when it is called is in the permanent generation
        afterwards, which full collections do not walk.
        """
        alive = _Node()
        self.assertTrue(gc.is_tracked(alive))
        frozen = freezeStartupObjects()
        self.assertEqual(frozen, gc.get_freeze_count())
        self.assertGreater(frozen, 0)
        self.assertFalse(any(o is alive for o in gc.get_objects()))

    def test_garbageCollectedFirst(self) -> None:
        """
        A reference cycle already garbage is collected, not frozen (it
        would never be freed).
        """
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        freezeStartupObjects()
        self.assertIsNone(gone())


class FakeCollector:
    """
    What L{FullCollections} uses of the C{gc} module.

    @ivar oldest: the objects of the oldest generation.
    @ivar collected: the generations collected, in order.
    """

    def __init__(self) -> None:
        self.thresholds = (700, 10, 10)
        self.callbacks: list = []
        self.oldest: list = [object()] * 100
        self.collected: list[int] = []

    def get_threshold(self) -> tuple[int, int, int]:
        return self.thresholds

    def set_threshold(self, *thresholds: int) -> None:
        self.thresholds = thresholds

    def get_objects(self, generation: int) -> list:
        assert generation == 2
        return self.oldest

    def collect(self, generation: int) -> None:
        self.collected.append(generation)
        self.oldest = self.oldest[: len(self.oldest) // 2]

    def middleCollections(self, count: int) -> None:
        for _ in range(count):
            for callback in list(self.callbacks):
                callback("start", {"generation": 1})
                callback("stop", {"generation": 1, "collected": 0, "uncollectable": 0})
                callback("stop", {"generation": 0, "collected": 0, "uncollectable": 0})


class FakeReactor:
    """
    The reactor's C{callFromThread}, whose calls wait in C{fromThread}, and
    C{callLater(0)}, whose calls wait for the next L{turn}.
    """

    def __init__(self) -> None:
        self.fromThread: list = []
        self.nextTurn: list = []

    def callFromThread(self, f: Any, *args: Any) -> None:
        self.fromThread.append((f, args))

    def callLater(self, delay: float, f: Any, *args: Any) -> None:
        assert delay == 0
        self.nextTurn.append((f, args))

    def runFromThread(self) -> None:
        calls, self.fromThread = self.fromThread, []
        for f, args in calls:
            f(*args)

    def turn(self) -> None:
        calls, self.nextTurn = self.nextTurn, []
        for f, args in calls:
            f(*args)


class FullCollectionsTests(SynchronousTestCase):
    """
    Tests for L{FullCollections}, on a stand-in for C{gc} and a fake clock
    of the reactor thread's CPU.
    """

    def setUp(self) -> None:
        self.collector = FakeCollector()
        self.reactor = FakeReactor()
        self.cpu = 0.0
        self.full = FullCollections(self.reactor, self.collector, lambda: self.cpu)
        self.full.install()

    def turn(self, cpu: float) -> None:
        """
        A reactor turn taking C{cpu} seconds of its thread's CPU.
        """
        self.cpu += cpu
        self.reactor.turn()

    def grow(self, share: float) -> None:
        self.collector.oldest = self.collector.oldest + [object()] * int(100 * share)

    def test_installTakesOver(self) -> None:
        """
        Installed, the collector never starts a full collection itself;
        uninstalled, its thresholds and callbacks are as they were.
        """
        self.assertEqual(self.collector.thresholds[:2], (700, 10))
        self.assertGreater(self.collector.thresholds[2], 1 << 20)
        self.full.uninstall()
        self.assertEqual((self.collector.thresholds, self.collector.callbacks), ((700, 10, 10), []))
        self.full.uninstall()

    def test_collectsAfterQuietTurn(self) -> None:
        """
        Every L{MIDDLE_COLLECTIONS} collections of the middle generation, a
        call on the reactor thread (not the collection itself) is asked for;
        once the oldest generation grew past L{OLDEST_GROWTH}, it is
        collected after the first turn of the reactor that took no more than
        L{QUIET_TURN} of its CPU.
        """
        self.collector.middleCollections(MIDDLE_COLLECTIONS - 1)
        self.assertEqual(self.reactor.fromThread, [])
        self.collector.middleCollections(1)
        self.assertEqual(len(self.reactor.fromThread), 1)
        self.grow(0.26)
        self.reactor.runFromThread()
        self.turn(QUIET_TURN * 3)
        self.turn(QUIET_TURN * 2)
        self.assertEqual(self.collector.collected, [])
        self.turn(QUIET_TURN / 2)
        self.assertEqual(self.collector.collected, [2])
        self.assertEqual(self.reactor.nextTurn, [])

    def test_busyTurnsWaitBounded(self) -> None:
        """
        Without a quiet turn, the collection waits L{MAX_TURNS} turns, no
        more.
        """
        self.grow(0.5)
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.reactor.runFromThread()
        for _ in range(MAX_TURNS):
            self.turn(QUIET_TURN * 2)
        self.assertEqual(self.collector.collected, [])
        self.turn(QUIET_TURN * 2)
        self.assertEqual(self.collector.collected, [2])

    def test_notGrownEnough(self) -> None:
        """
        Grown by L{OLDEST_GROWTH} or less, the oldest generation is left
        alone; growth counts from its size after the last full collection.
        """
        self.grow(0.25)
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.reactor.runFromThread()
        self.turn(0)
        self.assertEqual(self.collector.collected, [])
        self.grow(0.5)
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.reactor.runFromThread()
        self.turn(0)
        self.assertEqual(self.collector.collected, [2])
        # 87 objects are left: 20 more are not a quarter more.
        self.grow(0.2)
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.reactor.runFromThread()
        self.turn(0)
        self.assertEqual(self.collector.collected, [2])

    def test_oneLookPending(self) -> None:
        """
        While a look or a collection is pending, further collections of the
        middle generation ask for no other.
        """
        self.grow(0.5)
        self.collector.middleCollections(MIDDLE_COLLECTIONS * 3)
        self.assertEqual(len(self.reactor.fromThread), 1)
        self.reactor.runFromThread()
        self.collector.middleCollections(MIDDLE_COLLECTIONS * 3)
        self.assertEqual(self.reactor.fromThread, [])
        self.turn(0)
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.assertEqual(len(self.reactor.fromThread), 1)

    def test_realCollector(self) -> None:
        """
        With the real C{gc}, installing leaves automatic full collections
        off until uninstalled.
        """
        before = gc.get_threshold()
        full = FullCollections(self.reactor)
        full.install()
        self.addCleanup(full.uninstall)
        self.assertEqual(gc.get_threshold()[:2], before[:2])
        self.assertIn(full._collected, gc.callbacks)
        full.uninstall()
        self.assertEqual(gc.get_threshold(), before)
        self.assertNotIn(full._collected, gc.callbacks)
