"""
L{pollUntil}: wait for a condition by looking at it again and again, for
the interop tests, whose other side (libtorrent, a browser) tells nothing
when it changes.

Unit tests do not poll: time there is a L{twisted.internet.task.Clock},
moved by hand. Tests on the real reactor poll it, here; a L{Clock} may be
given instead, and polls as the test advances it.
"""

from typing import Any, Callable, Optional

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater

__all__ = ["pollUntil"]


@inlineCallbacks
def pollUntil(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    describe: Callable[[], str] = lambda: "",
    interval: float = 0.05,
    retry: Optional[Callable[[], None]] = None,
    reactor: Any = None,
) -> Deferred[None]:
    """
    Look at C{condition()} every C{interval} seconds until it is true.

    @param what: what is waited for, for the failure's message.
    @param describe: more to say when it times out (a peer's state, the
        last alerts).
    @param retry: called before each wait, to ask again.
    @param reactor: the time to poll on: the global reactor by default.
    @return: fires once C{condition()} is true; fails with
        L{AssertionError} after C{timeout} seconds.
    """
    reactor = reactor if reactor is not None else _reactor
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            detail = describe()
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}" + (f"\n{detail}" if detail else "")
            )
        if retry is not None:
            retry()
        yield deferLater(reactor, interval, lambda: None)
