# -*- test-case-name: tests.test_sweep -*-
"""
One coarse timer for the timeouts of many connections.

Each peer connection checks its timeouts every few seconds, each MSE
handshake has a deadline, each torrent's peer exchange sends every few
seconds. A timed call each is a reactor C{DelayedCall} (with its argument
tuple and dict) per connection, made anew at every check and left in the
reactor's heap when cancelled: with 1,000 connections, thousands of objects
that every full collection walks. A L{Sweep}, one per reactor, keeps instead
when each is due and, once every L{SWEEP_PERIOD} seconds, calls those that
are (as libtorrent's once-a-second tick does): one timed call in all, each
deadline met within a period.
"""

from typing import Any, Optional
from weakref import WeakKeyDictionary

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from zope.interface import Interface, implementer

__all__ = ["ISwept", "ISweep", "Sweep", "SWEEP_PERIOD", "sweepFor"]

SWEEP_PERIOD = 1.0
"""
Seconds between two rounds of a L{Sweep}: how late a deadline may be met.
"""


class ISwept(Interface):
    """
    Something with a deadline, e.g. a connection's
    L{bittwist.peertimers.ConnectionTimers}.
    """

    def swept(now: float) -> Optional[float]:
        """
        Its deadline has passed.

        @param now: the time of the round.
        @return: when it is next due, or C{None} for never.
        """


class ISweep(Interface):
    """
    Calls what is due, once a period.
    """

    def schedule(swept: ISwept, at: float) -> None:
        """
        Call C{swept.swept} at the first round at or after C{at}, in place
        of when it was due before.
        """

    def cancel(swept: ISwept) -> None:
        """
        Call C{swept} no more; nothing if it is not scheduled.
        """


@implementer(ISweep)
class Sweep:
    """
    One timed call, pending only while something is scheduled.

    @ivar period: seconds between rounds.
    """

    log = Logger()

    def __init__(self, clock: Any, period: float = SWEEP_PERIOD) -> None:
        """
        @param clock: provides C{callLater} and C{seconds}.
        """
        self.period = period
        self._clock = clock
        self._due: dict[ISwept, float] = {}
        self._call: Optional[IDelayedCall] = None
        self._inRound = False

    def __len__(self) -> int:
        """
        @return: how many are scheduled.
        """
        return len(self._due)

    def schedule(self, swept: ISwept, at: float) -> None:
        self._due[swept] = at
        if self._call is None and not self._inRound:
            self._call = self._clock.callLater(self.period, self._round)

    def cancel(self, swept: ISwept) -> None:
        if self._due.pop(swept, None) is not None and not self._due and self._call is not None:
            self._call.cancel()
            self._call = None

    def _round(self) -> None:
        self._call = None
        self._inRound = True
        due = self._due
        try:
            now = self._clock.seconds()
            for swept, at in [item for item in due.items() if item[1] <= now]:
                # One may have cancelled or moved another during this round.
                if due.get(swept) != at:
                    continue
                del due[swept]
                try:
                    then = swept.swept(now)
                except Exception:
                    self.log.failure("Deadline of {swept} failed", swept=swept)
                    continue
                if then is not None:
                    due.setdefault(swept, then)
        finally:
            self._inRound = False
        if due:
            self._call = self._clock.callLater(self.period, self._round)


_sweeps: "WeakKeyDictionary[Any, Sweep]" = WeakKeyDictionary()


def sweepFor(clock: Any) -> Sweep:
    """
    @param clock: a reactor, or a test's C{Clock}.
    @return: the one L{Sweep} of C{clock}, made on first use: every
        connection of a process shares it, whichever session made it.
    """
    sweep = _sweeps.get(clock)
    if sweep is None:
        sweep = _sweeps[clock] = Sweep(clock)
    return sweep
