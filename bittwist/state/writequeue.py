# -*- test-case-name: tests.test_state -*-
"""
L{KeyedWriteQueue}: writes run one at a time, in order, the latest per key.
"""

from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from bittwist.waiters import Waiters

__all__ = ["KeyedWriteQueue"]


class KeyedWriteQueue:
    """
    Runs jobs one at a time, in the order their keys were first queued.  A
    job queued for a key that already has one waiting replaces it (so a
    busy torrent costs one write at a time); the Deferreds of both fire
    with the result of the one run.
    """

    def __init__(
        self,
        run: Callable[[Callable[[], Any]], "Deferred[Any]"],
        failed: Callable[[bytes, Failure], None],
    ) -> None:
        """
        @param run: runs a job (in a thread, or at once) and gives a
            Deferred of its result.
        @param failed: told the key and failure of each job that fails; the
            Deferreds of that job then fire with C{None}.
        """
        self._run = run
        self._failed = failed
        self._pending: dict[bytes, tuple[Callable[[], Any], Waiters[Any]]] = {}
        self._order: list[bytes] = []
        self._busy = False
        self._idle: Waiters[None] = Waiters()

    def queue(self, key: bytes, job: Callable[[], Any]) -> "Deferred[Any]":
        """
        @return: fires with the result of C{job}, or of the job that
            replaced it, once run; never fails.
        """
        if key in self._pending:
            _, waiting = self._pending[key]
        else:
            waiting = Waiters()
            self._order.append(key)
        self._pending[key] = (job, waiting)
        d = waiting.wait()
        self._next()
        return d

    def whenIdle(self) -> "Deferred[None]":
        """
        @return: fires once every job queued so far is done.
        """
        if not self._busy and not self._order:
            return succeed(None)
        return self._idle.wait()

    def _next(self) -> None:
        if self._busy:
            return
        if not self._order:
            self._idle.fire(None)
            return
        key = self._order.pop(0)
        job, waiting = self._pending.pop(key)
        self._busy = True

        def done(result: Any) -> None:
            self._busy = False
            if isinstance(result, Failure):
                self._failed(key, result)
                result = None
            waiting.fire(result)
            self._next()

        self._run(job).addBoth(done)
