# -*- test-case-name: tests.test_ticks -*-
"""
One timer for the periodic work of many torrents.

A seedbox holds thousands of torrents, most of them seeding to nobody. A
timer each would wake the process thousands of times a second for nothing;
a L{TickService} instead runs one timer for a whole session and ticks only
the torrents that asked for it, dropping each as soon as it says it has
nothing to do, until it asks again.
"""

from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import Interface, implementer

__all__ = ["ITickable", "ITickService", "TICK", "TickService"]

TICK = 1.0
"""
Seconds between two rounds of periodic work (request depths, snubs,
endgame, choking, dialling, seed goals).
"""


class ITickable(Interface):
    """
    Something with periodic work, e.g. a torrent's
    L{bittwist.torrent.periodic.PeriodicWork}.
    """

    def tick() -> bool:
        """
        Do one round of periodic work.

        @return: whether there will be work at the next round; C{False}
            stops the ticks until it is woken again.
        """


class ITickService(Interface):
    """
    Ticks, every L{TICK} seconds, whatever is awake.
    """

    def wake(tickable: ITickable) -> None:
        """
        Tick C{tickable} from the next round on, until its C{tick} returns
        C{False} or it is put to L{sleep}. Waking what is awake does
        nothing.
        """

    def sleep(tickable: ITickable) -> None:
        """
        Stop ticking C{tickable}; nothing if it is not awake.
        """


@implementer(ITickService)
class TickService:
    """
    One C{LoopingCall}, running only while something is awake.

    @ivar period: seconds between rounds.
    """

    log = Logger()

    def __init__(self, clock: Any, period: float = TICK) -> None:
        """
        @param clock: provides C{callLater} and C{seconds}.
        """
        self.period = period
        # A dict keeps the order they were woken in: ticks are fair to all.
        self._awake: dict[ITickable, None] = {}
        self._loop = LoopingCall(self._round)
        self._loop.clock = clock
        self._inRound = False

    def __len__(self) -> int:
        """
        @return: how many are awake.
        """
        return len(self._awake)

    def wake(self, tickable: ITickable) -> None:
        self._awake[tickable] = None
        if not self._loop.running:
            self._loop.start(self.period, now=False)

    def sleep(self, tickable: ITickable) -> None:
        self._awake.pop(tickable, None)
        # (Within a round, the round stops the loop as it ends: a loop
        # stopped and started again from within its own call would run
        # twice.)
        if not self._awake and self._loop.running and not self._inRound:
            self._loop.stop()

    def _round(self) -> None:
        self._inRound = True
        try:
            for tickable in list(self._awake):
                # One may have put another to sleep during this round.
                if tickable in self._awake and not self._tickOne(tickable):
                    self._awake.pop(tickable, None)
        finally:
            self._inRound = False
        if not self._awake:
            self._loop.stop()

    def _tickOne(self, tickable: ITickable) -> bool:
        """
        @return: what C{tickable.tick} says; C{False} if it raised (a bug:
            logged, and the others tick on).
        """
        try:
            return bool(tickable.tick())
        except Exception:
            self.log.failure("Periodic work of {tickable} failed", tickable=tickable)
            return False
