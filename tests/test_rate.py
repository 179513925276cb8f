# -*- test-case-name: tests.test_rate -*-
"""
Tests for L{bittwist.rate}.
"""

import gc

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.rate import RateMeter


class RateMeterTests(SynchronousTestCase):
    """
    Tests for L{RateMeter}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.meter = RateMeter(self.clock, window=5.0)

    def test_noTrafficIsZero(self) -> None:
        """
        A meter that counted nothing reports 0 bytes per second.
        """
        self.assertEqual(self.meter.rate(), 0.0)
        self.assertEqual(self.meter.total, 0)

    def test_steadyRateOverWindow(self) -> None:
        """
        A steady flow of 1000 bytes per second, counted every eighth of a
        second, reads as 1000 bytes per second once the window is full.
        """
        for _ in range(80):
            self.meter.add(125)
            self.clock.advance(0.125)
        self.assertAlmostEqual(self.meter.rate(), 1000.0, delta=1.0)

    def test_rateOverPartialWindow(self) -> None:
        """
        Before a full window has passed, the rate is averaged over the time
        since counting began, not over the whole window.
        """
        for _ in range(16):
            self.meter.add(50)
            self.clock.advance(0.125)
        self.assertAlmostEqual(self.meter.rate(), 400.0, delta=1.0)

    def test_rateFollowsChange(self) -> None:
        """
        After the flow changes, the rate reflects only the last window.
        """
        for _ in range(80):
            self.meter.add(1250)
            self.clock.advance(0.125)
        for _ in range(80):
            self.meter.add(125)
            self.clock.advance(0.125)
        self.assertAlmostEqual(self.meter.rate(), 1000.0, delta=1.0)

    def test_burstCountsAtLeastOneSecond(self) -> None:
        """
        Bytes counted in an instant are spread over at least one second.
        """
        self.meter.add(3000)
        self.assertEqual(self.meter.rate(), 3000.0)

    def test_decaysToZeroAfterWindow(self) -> None:
        """
        Once the window has passed with no traffic, the rate is 0.
        """
        self.meter.add(10000)
        self.clock.advance(2)
        self.assertGreater(self.meter.rate(), 0)
        self.clock.advance(3)
        self.assertEqual(self.meter.rate(), 0.0)

    def test_decaysAfterSteadyFlow(self) -> None:
        """
        A flow that stops is fully forgotten one window after it stopped.
        """
        for _ in range(80):
            self.meter.add(125)
            self.clock.advance(0.125)
        self.assertGreater(self.meter.rate(), 0)
        self.clock.advance(6)
        self.assertEqual(self.meter.rate(), 0.0)

    def test_totalCountsEverything(self) -> None:
        """
        C{total} counts every byte ever added, also those out of the window.
        """
        self.meter.add(10)
        self.clock.advance(100)
        self.meter.add(20)
        self.meter.add(30)
        self.assertEqual(self.meter.total, 60)
        self.assertEqual(self.meter.rate(), 50.0)

    def test_windowIsConfigurable(self) -> None:
        """
        A one-second window forgets after one second what a five-second
        window still counts.
        """
        short = RateMeter(self.clock, window=1.0)
        short.add(100)
        self.meter.add(100)
        self.clock.advance(1.5)
        self.assertEqual(short.rate(), 0.0)
        self.assertGreater(self.meter.rate(), 0.0)

    def test_oneObjectForTheCollector(self) -> None:
        """
        A meter that counted over several seconds holds nothing the garbage
        collector walks but itself (its clock and class aside): its buckets are ints and
        tuples of ints, which the collector stops tracking. Each connection
        has two meters for as long as it lives.
        """
        for _ in range(4):
            self.meter.add(100)
            self.clock.advance(1.0)
        self.meter.add(100)
        gc.collect()
        gc.collect()
        tracked = [
            o
            for o in gc.get_referents(self.meter)
            if gc.is_tracked(o) and o not in (self.clock, RateMeter)
        ]
        self.assertEqual(tracked, [])
        self.assertEqual(self.meter.rate(), 500 / 4)
