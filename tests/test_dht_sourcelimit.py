"""
Tests for L{bittwist.dht.sourcelimit}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.dht.sourcelimit import SourceRateLimiter


class SourceRateLimiterTests(SynchronousTestCase):
    """
    Each source gets its burst, then its rate; the sources remembered are
    bounded, and a new source never costs a sweep of them all.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_burstThenRate(self) -> None:
        limiter = SourceRateLimiter(self.clock, rate=2.0, burst=3.0)
        self.assertEqual([limiter.allow("10.0.0.1") for _ in range(4)], [True, True, True, False])
        self.assertTrue(limiter.allow("10.0.0.2"))
        self.clock.advance(0.5)
        self.assertEqual([limiter.allow("10.0.0.1") for _ in range(2)], [True, False])

    def test_sourcesBounded(self) -> None:
        limiter = SourceRateLimiter(self.clock, rate=1.0, burst=2.0, maxSources=3)
        for i in range(3):
            self.assertTrue(limiter.allow(f"10.0.0.{i}"))
        self.assertFalse(limiter.allow("10.0.1.1"))
        self.assertEqual(len(limiter), 3)
        # Two seconds later all have refilled: the new source takes a place.
        self.clock.advance(2)
        self.assertTrue(limiter.allow("10.0.1.1"))
        self.assertLessEqual(len(limiter), 3)

    def test_recentSourceKept(self) -> None:
        """
        A source seen lately keeps its (spent) bucket while older ones make
        room: forgetting it would hand it a fresh burst.
        """
        limiter = SourceRateLimiter(self.clock, rate=1.0, burst=2.0, maxSources=2)
        limiter.allow("10.0.0.1")
        self.clock.advance(1.5)
        limiter.allow("10.0.0.2")
        limiter.allow("10.0.0.2")
        self.clock.advance(0.5)
        self.assertTrue(limiter.allow("10.0.0.3"))
        self.assertFalse(limiter.allow("10.0.0.2"))

    def test_newSourcesCostLittle(self) -> None:
        """
        A flood of new sources while the limiter is full looks at a few of
        the remembered sources, not all of them, per datagram.
        """
        looked = []

        class Seconds(float):
            # Each remembered source looked at costs one "now - then".
            def __sub__(self, other: float) -> float:
                looked.append(1)
                return float(self) - other

        class CountingClock(Clock):
            def seconds(self) -> float:
                return Seconds(super().seconds())

        clock = CountingClock()
        limiter = SourceRateLimiter(clock, rate=1.0, burst=2.0, maxSources=1000)
        for i in range(1000):
            limiter.allow(f"10.0.{i // 256}.{i % 256}")
        clock.advance(1)
        del looked[:]
        for i in range(500):
            self.assertFalse(limiter.allow(f"10.1.{i // 256}.{i % 256}"))
        self.assertLessEqual(len(looked), 500)
