# -*- test-case-name: tests.test_dht_sourcelimit -*-
"""
Per-source token buckets for the DHT node: how many datagrams we read, and
how many answers we send, per source IP.

A UDP source can be forged, so the limiter itself must not grow with the
number of sources: it remembers at most C{maxSources}, and refuses new ones
past that until old ones have refilled and are forgotten.  Nor may a new
source cost a sweep of them all: sources are kept least recently seen
first, and one untouched for C{burst / rate} seconds is full again, so
forgetting looks at the oldest few only.
"""

from __future__ import annotations

from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime

__all__ = ["SourceRateLimiter"]


class SourceRateLimiter:
    """
    A token bucket per source IP, bounded in the number of sources it
    remembers.
    """

    def __init__(self, clock: IReactorTime, rate: float, burst: float, maxSources: int = 4096) -> None:
        """
        @param rate: answers per second each source earns.
        @param burst: answers a source may get at once.
        @param maxSources: sources remembered; beyond that, new sources are
            refused until old ones have refilled and are forgotten.
        """
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._maxSources = maxSources
        self._refill = burst / rate if rate > 0 else float("inf")
        # host -> (tokens, when last seen), least recently seen first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        """
        @return: the sources remembered.
        """
        return len(self._buckets)

    def allow(self, host: str) -> bool:
        """
        @return: whether C{host} may have one more answer now (and spend it).
        """
        now = self._clock.seconds()
        entry = self._buckets.get(host)
        if entry is None:
            if len(self._buckets) >= self._maxSources:
                self._forgetFull(now)
                if len(self._buckets) >= self._maxSources:
                    return False
            tokens = self._burst
        else:
            tokens, then = entry
            tokens = min(self._burst, tokens + (now - then) * self._rate)
            self._buckets.move_to_end(host)
        if tokens < 1:
            self._buckets[host] = (tokens, now)
            return False
        self._buckets[host] = (tokens - 1, now)
        return True

    def _forgetFull(self, now: float) -> None:
        # Each source is forgotten once: amortised O(1) per call.
        buckets = self._buckets
        while buckets:
            host, (tokens, then) = next(iter(buckets.items()))
            if now - then < self._refill:
                return
            del buckets[host]
