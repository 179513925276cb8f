# -*- test-case-name: tests.test_readpacer -*-
"""
A budget of reactor time for the peers' reads of one reactor turn.

A reactor turn handles every connection with something to read (and the
writes those reads cause) before any timer or other work runs. With a
thousand connections receiving at once, one turn handled 300 to 400 of them,
50 to 75 ms of the reactor thread's CPU. A L{ReadPacer} bounds that: once
the reads of a turn have taken L{READ_BUDGET}, each further connection read
in that turn stops reading (its transport is paused) and waits in line, and
so do those it read within its budget, after them; as each turn ends, the
longest waiting resume, as many as the turn read within its budget: the
connections with something to send take turns. Nothing is lost or reordered: what a paused peer sends waits in
the kernel's socket buffer, and TCP slows the peer down.
"""

import collections
import time
from typing import Callable, Optional

from twisted.internet.interfaces import IPushProducer, IReactorTime

__all__ = ["ReadPacer", "READ_BUDGET", "MIN_RESUMED"]

READ_BUDGET = 0.01
"""
Seconds of the reactor thread's CPU time for the peers' reads of one turn.
"""

MIN_RESUMED = 8
"""
The fewest waiting connections resumed as a turn ends: the line moves even
when the turns read little (the resumed peers had nothing to send).
"""


class ReadPacer:
    """
    Counts the reads of each reactor turn against L{READ_BUDGET} and pauses
    the connections read once it is spent; resumes them in the order they
    were paused, a turn's worth at a time.

    A turn is measured from the first read reported in it until the timed
    calls of the next (C{callLater(0)}), which run between two rounds of
    reads.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        budget: float = READ_BUDGET,
        timer: Callable[[], float] = time.thread_time,
    ) -> None:
        """
        @param reactor: runs the end of each turn (C{callLater(0)}).
        @param budget: seconds of reads per turn.
        @param timer: the clock the budget is counted on: by default the
            reactor thread's CPU time, what a turn costs whatever the load
            of the machine.
        """
        self._reactor = reactor
        self._budget = budget
        self._timer = timer
        # When the current turn's first read was reported, if one was.
        self._turnStart: Optional[float] = None
        # What this turn read within its budget, in order.
        self._withinBudget: list[IPushProducer] = []
        self._waiting: collections.deque[IPushProducer] = collections.deque()

    def __len__(self) -> int:
        """
        @return: how many connections are paused, waiting to read again.
        """
        return len(self._waiting)

    def read(self, transport: IPushProducer) -> None:
        """
        A connection's read was handled: count it against this turn's
        budget, and pause C{transport} if the budget is spent.

        @param transport: the connection's transport (a push producer of
            what the peer sends).
        """
        now = self._timer()
        if self._turnStart is None:
            self._turnStart = now
            self._reactor.callLater(0, self._turnEnded)
        if now - self._turnStart <= self._budget:
            self._withinBudget.append(transport)
            return
        transport.pauseProducing()
        self._waiting.append(transport)

    def _turnEnded(self) -> None:
        """
        If the turn spent its budget, those it read within it wait too, after
        the others (otherwise the next turn would read them again as well as
        those resumed); then the connections waiting longest resume, as many
        as the turn read within its budget (L{MIN_RESUMED} at least).
        """
        self._turnStart = None
        read, self._withinBudget = self._withinBudget, []
        waiting = self._waiting
        if waiting:
            resumed = max(MIN_RESUMED, len(read))
            if len(waiting) + len(read) <= resumed:
                # All would read in the next turn (a few fast peers): no
                # need to pause those read within the budget.
                while waiting:
                    waiting.popleft().resumeProducing()
                return
            for transport in read:
                transport.pauseProducing()
            waiting.extend(read)
            for _ in range(resumed):
                waiting.popleft().resumeProducing()
                if not waiting:
                    return
            # A turn without reads (all of them waiting) still ends.
            self._turnStart = self._timer()
            self._reactor.callLater(0, self._turnEnded)
