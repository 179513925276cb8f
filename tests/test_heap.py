"""
Tests for L{bittwist.heap}.
"""

import gc
import weakref

from twisted.trial.unittest import SynchronousTestCase

from bittwist.heap import freezeStartupObjects


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
