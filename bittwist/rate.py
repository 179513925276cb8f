# -*- test-case-name: tests.test_rate -*-
"""
Transfer rate measurement over a sliding window of reactor time.
"""

from typing import Optional

from twisted.internet.interfaces import IReactorTime

__all__ = ["RateMeter"]


class RateMeter:
    """
    Bytes per second over the last C{window} seconds, in one-second buckets.

    Cheap enough to call on every block: L{add} is O(1) amortized.

    Two of these live as long as each connection, so a meter is one object
    for the garbage collector to walk: the current second's bucket is two
    ints, the earlier ones a tuple of C{(second, bytes)} tuples, which the
    collector stops tracking (a deque of lists was a few objects more per
    meter).

    @ivar total: every byte ever counted.
    """

    __slots__ = ("_clock", "_window", "_past", "_second", "_current", "_inWindow", "total")

    def __init__(self, clock: IReactorTime, window: float = 5.0) -> None:
        self._clock = clock
        self._window = window
        # The buckets of earlier seconds, oldest first; then the current
        # one's second (None: no bucket yet) and bytes.
        self._past: tuple[tuple[int, int], ...] = ()
        self._second: Optional[int] = None
        self._current = 0
        self._inWindow = 0
        self.total = 0

    def _expire(self, now: float) -> None:
        horizon = int(now) - self._window
        past = self._past
        if past and past[0][0] <= horizon:
            kept = tuple(bucket for bucket in past if bucket[0] > horizon)
            self._inWindow -= sum(count for _, count in past) - sum(count for _, count in kept)
            self._past = kept
        if self._second is not None and self._second <= horizon:
            self._inWindow -= self._current
            self._second, self._current = None, 0

    def add(self, count: int) -> None:
        """
        Count C{count} bytes as transferred now.
        """
        now = self._clock.seconds()
        second = int(now)
        self.total += count
        self._inWindow += count
        if second == self._second:
            self._current += count
            return
        if self._second is not None:
            self._past += ((self._second, self._current),)
        self._second, self._current = second, count
        self._expire(now)

    def rate(self) -> float:
        """
        @return: bytes per second, averaged over the window.
        """
        now = self._clock.seconds()
        self._expire(now)
        oldest = self._past[0][0] if self._past else self._second
        if oldest is None:
            return 0.0
        span = min(self._window, max(1.0, now - oldest))
        return self._inWindow / span
