"""
Tests for L{bittwist.httpbody}.
"""

from typing import Any, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.testing import Clock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseDone

from bittwist.httpbody import BodyTooLarge, cancelAfter, readBoundedBody


class FakeResponse:
    """
    An C{IResponse} whose body the test delivers.
    """

    def __init__(self, length: Optional[int] = None) -> None:
        self.length = length
        self.transport = StringTransport()
        self.protocol: Any = None

    def deliverBody(self, protocol: Any) -> None:
        self.protocol = protocol
        protocol.makeConnection(self.transport)

    def send(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.protocol.dataReceived(chunk)

    def end(self) -> None:
        self.protocol.connectionLost(Failure(ResponseDone()))


class ReadBoundedBodyTests(SynchronousTestCase):
    """
    Tests for L{readBoundedBody}.
    """

    def test_withinLimit(self) -> None:
        """
        A body within the limit is read whole.
        """
        response = FakeResponse()
        d = readBoundedBody(response, 10)
        response.send(b"abcde", b"fghij")
        response.end()
        self.assertEqual(self.successResultOf(d), b"abcdefghij")

    def test_pastLimit(self) -> None:
        """
        Reading stops, and the connection closes, as soon as the body passes
        the limit.
        """
        response = FakeResponse()
        d = readBoundedBody(response, 10)
        response.send(b"abcdef", b"ghijk")
        self.assertEqual(self.failureResultOf(d, BodyTooLarge).value.limit, 10)
        self.assertTrue(response.transport.disconnecting)
        response.send(b"more")
        response.end()

    def test_contentLengthPastLimit(self) -> None:
        """
        A C{Content-Length} past the limit is refused before any byte is
        read.
        """
        response = FakeResponse(length=11)
        d = readBoundedBody(response, 10)
        self.failureResultOf(d, BodyTooLarge)
        self.assertTrue(response.transport.disconnecting)

    def test_empty(self) -> None:
        """
        A body of length 0 is empty at once.
        """
        self.assertEqual(self.successResultOf(readBoundedBody(FakeResponse(length=0), 10)), b"")

    def test_cancel(self) -> None:
        """
        Cancelling closes the connection.
        """
        response = FakeResponse()
        d = readBoundedBody(response, 10)
        d.cancel()
        self.failureResultOf(d)
        self.assertTrue(response.transport.disconnecting)


class CancelAfterTests(SynchronousTestCase):
    """
    Tests for L{cancelAfter}.
    """

    def test_expires(self) -> None:
        """
        A Deferred still waiting when the time runs out is cancelled, and
        the returned callable says so.
        """
        clock = Clock()
        d: Deferred[bytes] = Deferred()
        timedOut = cancelAfter(d, 5, clock)
        clock.advance(4)
        self.assertFalse(timedOut())
        clock.advance(1)
        self.assertTrue(timedOut())
        self.failureResultOf(d, CancelledError)

    def test_firedInTime(self) -> None:
        """
        A Deferred that fires in time stops the timer and keeps its result.
        """
        clock = Clock()
        d: Deferred[bytes] = Deferred()
        timedOut = cancelAfter(d, 5, clock)
        d.callback(b"body")
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertFalse(timedOut())
        self.assertEqual(self.successResultOf(d), b"body")
