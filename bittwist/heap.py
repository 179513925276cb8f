# -*- test-case-name: tests.test_heap -*-
"""
The garbage collector and a long-running process: start-up objects kept out
of full collections, and full collections in reactor turns of their own.
"""

import gc
import time
from typing import Any, Callable, Optional

__all__ = ["freezeStartupObjects", "FullCollections"]


def freezeStartupObjects() -> int:
    """
    Collect once, then move every object still alive to the collector's
    permanent generation (C{gc.freeze}).

    The modules, classes and functions loaded at start-up are tens of
    thousands of objects that are never garbage, and each full collection
    walked them all: about 30 ms on the reactor thread, several times in a
    1 GiB download.  Frozen, they are left out; they are still freed by
    reference counting should they go.  Call it once the process is set up
    (twistd's plugin does, after the reactor starts).

    @return: how many objects are frozen now.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


OLDEST_GROWTH = 0.25
"""
A full collection runs once the oldest generation has grown by this share
since the last one (as CPython's own rule).
"""

MIDDLE_COLLECTIONS = 10
"""
Collections of the middle generation between two looks at the oldest's
growth (CPython's default third threshold).
"""

QUIET_TURN = 0.01
"""
Seconds of the reactor thread's CPU: a reactor turn that took no more is
quiet, and a full collection may follow it.
"""

MAX_TURNS = 20
"""
The most reactor turns a full collection waits for a quiet one.
"""

_NEVER = 1 << 30


class FullCollections:
    """
    Full collections run by the reactor, after a quiet turn, never inside a
    busy one.

    CPython starts a full collection from whatever allocation crosses its
    thresholds: with 1,000 torrents downloading, that was inside a reactor
    turn already busy with hundreds of reads and writes, 35-40 ms of the
    collection on top of 20-30 ms of the turn. Installed, the collector's
    own full collections are off (a third threshold it never reaches); every
    L{MIDDLE_COLLECTIONS} collections of the middle generation, a call from
    the reactor looks at how much the oldest grew and, past
    L{OLDEST_GROWTH}, collects it once a turn of the reactor took no more
    than L{QUIET_TURN} of its CPU (or after L{MAX_TURNS}).
    """

    def __init__(
        self,
        reactor: Any,
        collector: Any = gc,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        """
        @param reactor: provides C{callFromThread} (a pool thread's
            allocation may start a collection) and C{callLater}.
        @param collector: the C{gc} module, or a test's stand-in.
        @param cpu: the reactor thread's CPU time.
        """
        self._reactor = reactor
        self._gc = collector
        self._cpu = cpu
        self._middle = 0
        self._pending = False
        self._lastOldest = 0
        self._turnStart = 0.0
        self._waited = 0
        self._thresholds: Optional[tuple[int, int, int]] = None

    def install(self) -> None:
        """
        Take full collections over from the collector.
        """
        collector = self._gc
        first, second, third = self._thresholds = collector.get_threshold()
        collector.set_threshold(first, second, _NEVER)
        self._lastOldest = len(collector.get_objects(2))
        collector.callbacks.append(self._collected)

    def uninstall(self) -> None:
        """
        Give full collections back to the collector.
        """
        if self._thresholds is None:
            return
        self._gc.set_threshold(*self._thresholds)
        self._thresholds = None
        self._gc.callbacks.remove(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        # Inside the collector, on whichever thread allocated: count only.
        if phase != "stop" or info.get("generation") != 1 or self._pending:
            return
        self._middle += 1
        if self._middle >= MIDDLE_COLLECTIONS:
            self._middle = 0
            self._pending = True
            self._reactor.callFromThread(self._look)

    def _look(self) -> None:
        """
        On the reactor thread: wait for a quiet turn if the oldest
        generation grew by L{OLDEST_GROWTH}.
        """
        oldest = len(self._gc.get_objects(2))
        if oldest - self._lastOldest <= self._lastOldest * OLDEST_GROWTH:
            self._pending = False
            return
        self._waited = 0
        self._turnStart = self._cpu()
        self._reactor.callLater(0, self._afterTurn)

    def _afterTurn(self) -> None:
        """
        One turn of the reactor went by: collect if it was quiet.
        """
        now = self._cpu()
        if now - self._turnStart > QUIET_TURN and self._waited < MAX_TURNS:
            self._waited += 1
            self._turnStart = now
            self._reactor.callLater(0, self._afterTurn)
            return
        self._gc.collect(2)
        self._lastOldest = len(self._gc.get_objects(2))
        self._pending = False
