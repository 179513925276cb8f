# -*- test-case-name: tests.test_rate -*-
"""
Transfer rate measurement over a sliding window of reactor time.
"""

from collections import deque

from twisted.internet.interfaces import IReactorTime

__all__ = ["RateMeter"]


class RateMeter:
    """
    Bytes per second over the last C{window} seconds, in one-second buckets.

    Cheap enough to call on every block: L{add} is O(1) amortized.

    @ivar total: every byte ever counted.
    """

    def __init__(self, clock: IReactorTime, window: float = 5.0) -> None:
        self._clock = clock
        self._window = window
        self._buckets: deque[list[float]] = deque()  # [second, bytes]
        self._inWindow = 0
        self.total = 0

    def _expire(self, now: float) -> None:
        horizon = int(now) - self._window
        buckets = self._buckets
        while buckets and buckets[0][0] <= horizon:
            self._inWindow -= int(buckets.popleft()[1])

    def add(self, count: int) -> None:
        """
        Count C{count} bytes as transferred now.
        """
        now = self._clock.seconds()
        second = int(now)
        self.total += count
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += count
        else:
            buckets.append([second, count])
            self._expire(now)
        self._inWindow += count

    def rate(self) -> float:
        """
        @return: bytes per second, averaged over the window.
        """
        now = self._clock.seconds()
        self._expire(now)
        if not self._buckets:
            return 0.0
        span = min(self._window, max(1.0, now - self._buckets[0][0]))
        return self._inWindow / span
