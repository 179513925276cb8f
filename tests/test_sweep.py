"""
Tests for L{bittwist.sweep}: one timed call for many deadlines, on a fake
clock.
"""

from typing import Callable, Optional

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from bittwist.sweep import SWEEP_PERIOD, ISweep, ISwept, Sweep, sweepFor


@implementer(ISwept)
class Deadline:
    """
    Records when it was swept, and is due again C{every} seconds after.

    @ivar calls: the times of the rounds that called it.
    """

    def __init__(self, every: Optional[float] = None, then: Optional[Callable[[], None]] = None):
        self.every = every
        self.then = then
        self.calls: list[float] = []

    def swept(self, now: float) -> Optional[float]:
        self.calls.append(now)
        if self.then is not None:
            self.then()
        return None if self.every is None else now + self.every


class Broken:
    def swept(self, now: float) -> Optional[float]:
        raise ZeroDivisionError()


class SweepTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.sweep = Sweep(self.clock)

    def test_interfaces(self) -> None:
        """
        A L{Sweep} provides L{ISweep}; what it calls, L{ISwept}.
        """
        self.assertTrue(verifyObject(ISweep, self.sweep))
        self.assertTrue(verifyObject(ISwept, Deadline()))

    def test_calledAtFirstRoundAfter(self) -> None:
        """
        What is scheduled is called at the first round at or after its
        time, once if it returns C{None}; then no timed call is left.
        """
        deadline = Deadline()
        self.sweep.schedule(deadline, 2.5)
        self.clock.pump([SWEEP_PERIOD] * 2)
        self.assertEqual(deadline.calls, [])
        self.clock.pump([SWEEP_PERIOD] * 3)
        self.assertEqual(deadline.calls, [3.0])
        self.assertEqual(len(self.sweep), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_dueAgain(self) -> None:
        """
        What it returns is when it is due next.
        """
        deadline = Deadline(every=2)
        self.sweep.schedule(deadline, 1)
        self.clock.pump([SWEEP_PERIOD] * 6)
        self.assertEqual(deadline.calls, [1.0, 3.0, 5.0])

    def test_oneTimedCall(self) -> None:
        """
        However many are scheduled, one timed call is pending; cancelling
        the last cancels it.
        """
        deadlines = [Deadline() for _ in range(5)]
        for deadline in deadlines:
            self.sweep.schedule(deadline, 10)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        for deadline in deadlines:
            self.sweep.cancel(deadline)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual([d.calls for d in deadlines], [[]] * 5)
        self.sweep.cancel(deadlines[0])

    def test_reschedule(self) -> None:
        """
        Scheduling what is scheduled moves its time.
        """
        deadline = Deadline()
        self.sweep.schedule(deadline, 1)
        self.sweep.schedule(deadline, 3)
        self.clock.pump([SWEEP_PERIOD] * 3)
        self.assertEqual(deadline.calls, [3.0])

    def test_cancelledInRound(self) -> None:
        """
        One cancelled by another in the same round is not called; one
        scheduled from a round when nothing else is keeps the sweep going.
        """
        second = Deadline()
        later = Deadline()
        first = Deadline(
            then=lambda: (self.sweep.cancel(second), self.sweep.schedule(later, 3))
        )
        self.sweep.schedule(first, 1)
        self.sweep.schedule(second, 1)
        self.clock.pump([SWEEP_PERIOD] * 3)
        self.assertEqual((first.calls, second.calls, later.calls), ([1.0], [], [3.0]))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failureLogged(self) -> None:
        """
        One that raises is logged and dropped; the others are called.
        """
        deadline = Deadline()
        self.sweep.schedule(Broken(), 1)  # type: ignore[arg-type]
        self.sweep.schedule(deadline, 1)
        self.clock.advance(SWEEP_PERIOD)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(deadline.calls, [1.0])
        self.assertEqual(len(self.sweep), 0)


class SweepForTests(SynchronousTestCase):
    def test_onePerClock(self) -> None:
        """
        L{sweepFor} gives one L{Sweep} per clock.
        """
        one, other = Clock(), Clock()
        self.assertIs(sweepFor(one), sweepFor(one))
        self.assertIsNot(sweepFor(one), sweepFor(other))
        self.assertIs(sweepFor(one)._clock, one)
