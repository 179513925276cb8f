# -*- test-case-name: tests.test_httpbody -*-
"""
Reading an HTTP response body under a size limit, for answers from outside
(tracker answers, C{.torrent} files fetched by URL): reading stops, and the
connection closes, as soon as the body passes the limit, or at once when
its C{Content-Length} says it will.  And a time limit on the whole request.
"""

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss

__all__ = ["BodyTooLarge", "cancelAfter", "readBoundedBody"]


class BodyTooLarge(Exception):
    """
    A response body is longer than the limit it was read under.

    @ivar limit: that limit, in bytes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the body is longer than {limit} bytes")


class _BoundedBodyReader(Protocol):
    """
    Collect a response body of at most C{limit} bytes into C{finished}.
    """

    def __init__(self, finished: Deferred[bytes], limit: int) -> None:
        self.finished: Optional[Deferred[bytes]] = finished
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        if self.finished is None:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.giveUp(BodyTooLarge(self.limit))
            return
        self.chunks.append(data)

    def giveUp(self, error: Optional[Exception]) -> None:
        """
        Stop reading: close the connection, drop what was read, and fail
        C{finished} with C{error} (or leave it, for C{None}).
        """
        finished, self.finished = self.finished, None
        self.chunks = []
        transport = self.transport
        if transport is not None:
            for name in ("abortConnection", "loseConnection", "stopProducing"):
                method = getattr(transport, name, None)
                if method is not None:
                    method()
                    break
        if finished is not None and error is not None:
            finished.errback(error)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.finished is None:
            return
        finished, self.finished = self.finished, None
        if reason.check(ResponseDone, PotentialDataLoss):
            finished.callback(b"".join(self.chunks))
        else:
            finished.errback(reason)


def readBoundedBody(response: Any, limit: int) -> Deferred[bytes]:
    """
    Read C{response}'s body, at most C{limit} bytes of it.

    @param response: an C{IResponse}.
    @return: a Deferred firing with the body, or failing with
        L{BodyTooLarge} (or why the connection failed); cancelling it
        closes the connection.
    """
    if getattr(response, "length", None) == 0:
        return succeed(b"")

    def cancel(d: Deferred[bytes]) -> None:
        reader.giveUp(None)

    finished: Deferred[bytes] = Deferred(cancel)
    reader = _BoundedBodyReader(finished, limit)
    response.deliverBody(reader)
    length = getattr(response, "length", None)
    if isinstance(length, int) and length > limit and reader.finished is not None:
        # The headers already say it is too large: read none of it.
        reader.giveUp(BodyTooLarge(limit))
    return finished


def cancelAfter(d: Deferred, seconds: float, reactor: Any) -> Callable[[], bool]:
    """
    Cancel C{d} if it has not fired within C{seconds}.

    Rather than C{Deferred.addTimeout}: cancelling a request that treq's
    Agent has sent fails it with C{ResponseNeverReceived} (a list of
    failures), not C{CancelledError}, so the caller's errback asks the
    returned callable whether the time ran out.

    @param d: the request (and the reading of its body).
    @param reactor: provides C{callLater}.
    @return: a callable saying whether the time ran out and C{d} was
        cancelled for it.
    """
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        d.cancel()

    def stopTimer(result: object) -> object:
        if timer.active():
            timer.cancel()
        return result

    timer = reactor.callLater(seconds, expire)
    d.addBoth(stopTimer)
    return lambda: bool(expired)
