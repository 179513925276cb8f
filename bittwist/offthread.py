# -*- test-case-name: tests.test_watchdir -*-
"""
Blocking work (file I/O) run off the reactor thread.
"""

from typing import Any, Callable, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool

__all__ = ["runOffThread"]

_T = TypeVar("_T")


def runOffThread(reactor: Any, job: Callable[..., _T], *args: Any) -> "Deferred[_T]":
    """
    Run C{job(*args)} in the reactor's thread pool; on a reactor without
    threads (a test's C{Clock}), at once.

    @return: fires with its result, or fails with its exception.
    """
    if IReactorThreads.providedBy(reactor):
        return deferToThreadPool(reactor, reactor.getThreadPool(), job, *args)
    try:
        return succeed(job(*args))
    except BaseException:
        return fail()
