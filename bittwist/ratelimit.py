# -*- test-case-name: tests.test_ratelimit -*-
"""
Rate limits: token buckets shared by every torrent of a session.

A L{TokenBucket} fills at its rate, up to a small burst. Uploads wait for
tokens before a block is read and sent (L{TokenBucket.acquire}); downloads
spend tokens when a block is requested (L{TokenBucket.consume}) and request
nothing while the bucket is empty (L{TokenBucket.whenAvailable} says when to
try again), so the peer never has cause to send faster than the limit.

A spend may take the bucket below zero; the next waits until it is back at
zero. So one block is never split, and over time the rate is the limit.
"""

import re
from collections import deque
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["TokenBucket", "BucketChain", "parseRate"]

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
_RATE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([KMG]?)(?:I?B)?(?:/S)?\s*\Z", re.IGNORECASE)


def parseRate(text: str) -> int:
    """
    Parse a rate in bytes per second: C{500000}, C{500K}, C{2M}, C{1.5M}
    (binary multiples: C{K} is 1024). C{0} means unlimited.

    @return: bytes per second.
    @raise ValueError: if C{text} is not a rate.
    """
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate; use bytes per second, e.g. 500K or 2M")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


class TokenBucket:
    """
    A token bucket: one token per byte, refilled at L{rate} per second up to
    L{burst}.

    @ivar rate: bytes per second, or 0 for unlimited.
    @ivar burst: the most tokens the bucket holds.
    """

    def __init__(
        self, clock: IReactorTime, rate: int = 0, burst: Optional[float] = None
    ) -> None:
        """
        @param clock: the time and C{callLater}.
        @param rate: bytes per second; 0 for unlimited.
        @param burst: the bucket's size (a quarter second of L{rate} by
            default): how much may pass at once after a quiet spell.
        """
        self._clock = clock
        self._burstGiven = burst
        self._tokens = 0.0
        self._updated = clock.seconds()
        self._waiters: deque[tuple[float, Deferred[None]]] = deque()
        self._watchers: list[Callable[[], None]] = []
        self._timer: Optional[IDelayedCall] = None
        self.rate = 0
        self.burst = 0.0
        self.setRate(rate)

    def __repr__(self) -> str:
        return f"<TokenBucket {self.rate} B/s, {self.available():.0f} tokens>"

    @property
    def limited(self) -> bool:
        """
        Whether the bucket limits anything (its rate is not 0).
        """
        return self.rate > 0

    def setRate(self, rate: int) -> None:
        """
        Change the rate; 0 lifts the limit and lets every waiter through.

        @raise ValueError: if C{rate} is negative.
        """
        if rate < 0:
            raise ValueError(f"a rate must not be negative, not {rate}")
        self._refill()
        self.rate = rate
        self.burst = self._burstGiven if self._burstGiven is not None else rate / 4
        if self._tokens > self.burst:
            self._tokens = self.burst
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._release()

    def _refill(self) -> None:
        now = self._clock.seconds()
        if self.rate:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def available(self) -> float:
        """
        @return: the tokens in the bucket now (negative after an overdraft);
            infinite when unlimited.
        """
        if not self.rate:
            return float("inf")
        self._refill()
        return self._tokens

    def allows(self) -> bool:
        """
        @return: whether a spend may start now: unlimited, or the bucket is
            not overdrawn and nobody is waiting.
        """
        return not self.rate or (not self._waiters and self.available() >= 0)

    def consume(self, amount: float) -> None:
        """
        Spend C{amount} tokens now, overdrawing the bucket if need be; a
        negative amount gives tokens back (a spend that did not happen).
        """
        if self.rate:
            self._refill()
            self._tokens = min(self.burst, self._tokens - amount)

    def acquire(self, amount: float) -> Deferred[None]:
        """
        Spend C{amount} tokens as soon as the bucket is not overdrawn, after
        those who asked before.

        @return: fires with C{None} once spent (at once if possible);
            cancelling it gives up the place in the queue.
        """
        if self.allows():
            self.consume(amount)
            return succeed(None)

        def cancel(d: Deferred[None]) -> None:
            try:
                self._waiters.remove((amount, d))
            except ValueError:
                pass

        d: Deferred[None] = Deferred(cancel)
        self._waiters.append((amount, d))
        self._schedule()
        return d

    def whenAvailable(self, callback: Callable[[], None]) -> None:
        """
        Call C{callback} once, when the bucket is next not overdrawn (at once
        if it is not now).
        """
        if self.allows():
            callback()
            return
        self._watchers.append(callback)
        self._schedule()

    def clear(self) -> None:
        """
        Forget whoever waits (their connections are closing): the waiting
        L{acquire}s never fire (cancelling them would be an error in each
        waiter's chain), the L{whenAvailable} callbacks are dropped, and so
        is the timer. The bucket can be used again afterwards.
        """
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._watchers = []
        self._waiters.clear()

    def _schedule(self) -> None:
        if self._timer is not None and self._timer.active():
            return
        delay = max(0.0, -self.available() / self.rate)
        self._timer = self._clock.callLater(delay, self._timerFired)

    def _timerFired(self) -> None:
        self._timer = None
        self._release()

    def _release(self) -> None:
        """
        Serve waiters in order while the bucket is not overdrawn, then
        watchers; wait again if any remain.
        """
        # Half a byte of slack absorbs float error in the timer's delay.
        while self._waiters and (not self.rate or self.available() > -0.5):
            amount, d = self._waiters.popleft()
            self._tokens = max(self._tokens, 0.0)
            self.consume(amount)
            d.callback(None)
        if not self._waiters and self._watchers and (not self.rate or self.available() > -0.5):
            watchers, self._watchers = self._watchers, []
            for callback in watchers:
                callback()
        if self._waiters or self._watchers:
            self._schedule()


class BucketChain:
    """
    Buckets spent together: a torrent's own limit within the session's, or
    any number of nested limits (any of them may be unlimited). It offers
    what the download and upload parts use of a L{TokenBucket}: a spend goes
    through when every bucket allows it, and is taken from each.

    @ivar buckets: the buckets, the innermost (the torrent's) first.
    """

    def __init__(self, *buckets: TokenBucket) -> None:
        self.buckets = buckets

    @property
    def limited(self) -> bool:
        """
        Whether any bucket limits.
        """
        return any(bucket.limited for bucket in self.buckets)

    def available(self) -> float:
        """
        @return: the tokens the tightest bucket holds now.
        """
        return min(bucket.available() for bucket in self.buckets)

    def allows(self) -> bool:
        """
        @return: whether every bucket lets a spend start now.
        """
        return all(bucket.allows() for bucket in self.buckets)

    def consume(self, amount: float) -> None:
        """
        Spend (or, negative, give back) C{amount} in every bucket.
        """
        for bucket in self.buckets:
            bucket.consume(amount)

    def whenAvailable(self, callback: Callable[[], None]) -> None:
        """
        Call C{callback} once, when every bucket allows a spend.
        """
        for bucket in self.buckets:
            if not bucket.allows():
                bucket.whenAvailable(lambda: self.whenAvailable(callback))
                return
        callback()

    def acquire(self, amount: float) -> Deferred[None]:
        """
        Spend C{amount} in each bucket in turn, each as soon as it allows:
        each bucket keeps its own queue, so peers take their turns in the
        torrent's bucket and torrents theirs in the session's.

        @return: fires once spent in every bucket (already fired if it could
            be spent at once); cancelling it gives up the place in the
            bucket it waits in (tokens taken from the buckets before stay
            spent).
        """
        limited = [bucket for bucket in self.buckets if bucket.limited]
        if not limited:
            return succeed(None)
        inner = limited[0].acquire(amount)
        if len(limited) == 1:
            # The bucket's own Deferred: whether it fired at once shows.
            return inner
        for bucket in limited[1:]:
            # Waiting on the next bucket's Deferred: cancelling inner
            # cancels that one, which leaves its queue.
            inner.addCallback(lambda _, bucket=bucket: bucket.acquire(amount))
        result: Deferred[None] = Deferred(lambda _: inner.cancel())

        def failed(failure: Any) -> None:
            if not result.called:
                result.errback(failure)

        inner.addCallbacks(result.callback, failed)
        return result
