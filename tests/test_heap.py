"""
Tests for L{bittwist.heap}.
"""

import gc
import weakref

from twisted.trial.unittest import SynchronousTestCase

from bittwist.heap import MIDDLE_COLLECTIONS, FullCollections, freezeStartupObjects


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


class FullCollectionsTests(SynchronousTestCase):
    """
    Tests for L{FullCollections}, on a stand-in for C{gc}.
    """

    def setUp(self) -> None:
        self.collector = FakeCollector()
        self.calls: list = []
        self.full = FullCollections(self.calls.append, self.collector)
        self.full.install()

    def runCalls(self) -> None:
        calls, self.calls[:] = list(self.calls), []
        for call in calls:
            call()

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

    def test_collectsInTurnOfItsOwn(self) -> None:
        """
        Every L{MIDDLE_COLLECTIONS} collections of the middle generation, a
        call on the reactor thread (not the collection itself) is asked for;
        it collects the oldest generation once that grew past
        L{OLDEST_GROWTH}.
        """
        self.collector.middleCollections(MIDDLE_COLLECTIONS - 1)
        self.assertEqual(self.calls, [])
        self.collector.middleCollections(1)
        self.assertEqual(len(self.calls), 1)
        self.assertEqual(self.collector.collected, [])
        self.collector.oldest = self.collector.oldest + [object()] * 26
        self.runCalls()
        self.assertEqual(self.collector.collected, [2])

    def test_notGrownEnough(self) -> None:
        """
        Grown by L{OLDEST_GROWTH} or less, the oldest generation is left
        alone; growth counts from its size after the last full collection.
        """
        self.collector.oldest = self.collector.oldest + [object()] * 25
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.runCalls()
        self.assertEqual(self.collector.collected, [])
        self.collector.oldest = [object()] * 30
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.runCalls()
        self.collector.oldest = self.collector.oldest + [object()] * 25
        self.collector.middleCollections(MIDDLE_COLLECTIONS)
        self.runCalls()
        self.assertEqual(self.collector.collected, [])

    def test_oneCallPending(self) -> None:
        """
        While a look is pending, further collections ask for no other.
        """
        self.collector.middleCollections(MIDDLE_COLLECTIONS * 3)
        self.assertEqual(len(self.calls), 1)

    def test_realCollector(self) -> None:
        """
        With the real C{gc}, installing leaves automatic full collections
        off until uninstalled.
        """
        before = gc.get_threshold()
        full = FullCollections(self.calls.append)
        full.install()
        self.addCleanup(full.uninstall)
        self.assertEqual(gc.get_threshold()[:2], before[:2])
        self.assertIn(full._collected, gc.callbacks)
        full.uninstall()
        self.assertEqual(gc.get_threshold(), before)
        self.assertNotIn(full._collected, gc.callbacks)
