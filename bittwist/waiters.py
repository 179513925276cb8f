# -*- test-case-name: tests.test_waiters -*-
"""
L{Waiters}: the Deferreds of those waiting for one thing to happen, fired
together once it does.

Written once here for every C{whenComplete}-style method: each call gets a
fresh Deferred, and one outcome fires (or fails) all of them.
"""

from typing import Generic, TypeVar, Union

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

__all__ = ["Waiters"]

T = TypeVar("T")


class Waiters(Generic[T]):
    """
    Deferreds waiting for one outcome. Firing them forgets them: whoever
    waits afterwards waits for the next outcome, so callers that remember
    the outcome answer later waiters themselves (with C{succeed}).
    """

    def __init__(self) -> None:
        self._waiting: list[Deferred[T]] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def wait(self) -> Deferred[T]:
        """
        @return: a Deferred fired by the next L{fire} or L{fail}.
        """
        d: Deferred[T] = Deferred()
        self._waiting.append(d)
        return d

    def fire(self, result: T) -> None:
        """
        Fire every waiting Deferred with C{result}, in the order they were
        handed out. Those who wait from within a callback wait for the next
        outcome.
        """
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(result)

    def fail(self, reason: Union[Failure, BaseException]) -> None:
        """
        Fail every waiting Deferred with C{reason}.
        """
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(reason)
