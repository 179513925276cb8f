"""
Tests for L{bittwist.incomingrequests}: the requests a peer made of us.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.errors import ProtocolError
from bittwist.incomingrequests import MAX_QUEUED_REQUESTS, IncomingRequests


class IncomingRequestsTests(SynchronousTestCase):
    """
    Tests for L{IncomingRequests}.
    """

    def test_initial(self) -> None:
        """
        A new connection: we choke the peer, nothing is queued or served.
        """
        s = IncomingRequests()
        self.assertEqual((s.amChoking, list(s.queued), s.serving), (True, [], []))

    def test_chokingSaysWhatToSend(self) -> None:
        """
        Our choking gives the message to send on a change, and C{None}
        otherwise.
        """
        s = IncomingRequests()
        self.assertEqual(s.setChoking(False), wire.Unchoke())
        self.assertIsNone(s.setChoking(False))
        self.assertEqual(s.setChoking(True), wire.Choke())

    def test_chokingDiscardsTheirRequests(self) -> None:
        """
        Choking the peer discards its queued and served requests (BEP 3);
        requests while choked are ignored.
        """
        s = IncomingRequests()
        self.assertFalse(s.peerRequested((0, 0, 16384)))
        s.setChoking(False)
        self.assertTrue(s.peerRequested((0, 0, 16384)))
        self.assertTrue(s.peerRequested((0, 16384, 16384)))
        self.assertEqual(s.nextRequest(4), (0, 0, 16384))
        s.setChoking(True)
        self.assertEqual((list(s.queued), s.serving), ([], []))
        self.assertFalse(s.answered((0, 0, 16384)))

    def test_requestFlood(self) -> None:
        """
        More than L{MAX_QUEUED_REQUESTS} queued requests is a protocol error.
        """
        s = IncomingRequests()
        s.setChoking(False)
        for n in range(MAX_QUEUED_REQUESTS):
            s.peerRequested((0, n, 1))
        self.assertRaises(ProtocolError, s.peerRequested, (0, 0, 1))

    def test_requestedMany(self) -> None:
        """
        C{peerRequestedMany} queues a burst of requests in order; past
        L{MAX_QUEUED_REQUESTS} it queues those that fit and raises.
        """
        s = IncomingRequests()
        s.setChoking(False)
        self.assertEqual(s.peerRequestedMany([(0, 0, 1), (0, 1, 1)]), [])
        self.assertEqual(list(s.queued), [(0, 0, 1), (0, 1, 1)])
        burst = [(1, n, 1) for n in range(MAX_QUEUED_REQUESTS)]
        self.assertRaises(ProtocolError, s.peerRequestedMany, burst)
        self.assertEqual(len(s.queued), MAX_QUEUED_REQUESTS)
        self.assertEqual(s.queued[-1], (1, MAX_QUEUED_REQUESTS - 3, 1))

    def test_requestedManyWhileChoking(self) -> None:
        """
        While we choke the peer, C{peerRequestedMany} queues only requests
        for pieces allowed fast, and returns the others.
        """
        s = IncomingRequests(fast=True)
        s.allowedFastOut.add(2)
        self.assertEqual(s.peerRequestedMany([(1, 0, 4), (2, 0, 4), (3, 0, 4)]), [(1, 0, 4), (3, 0, 4)])
        self.assertEqual(list(s.queued), [(2, 0, 4)])

    def test_serving(self) -> None:
        """
        C{nextRequest} hands out at most C{maxServing} requests; a cancelled
        one, queued or being served, is not answered.
        """
        s = IncomingRequests()
        s.setChoking(False)
        for begin in (0, 1, 2):
            s.peerRequested((0, begin, 1))
        self.assertEqual(s.nextRequest(2), (0, 0, 1))
        self.assertEqual(s.nextRequest(2), (0, 1, 1))
        self.assertIsNone(s.nextRequest(2))
        s.peerCancelled((0, 1, 1))
        s.peerCancelled((0, 2, 1))
        self.assertFalse(s.wants((0, 1, 1)))
        self.assertTrue(s.answered((0, 0, 1)))
        self.assertFalse(s.answered((0, 0, 1)))
        self.assertIsNone(s.nextRequest(2))

    def test_nextRun(self) -> None:
        """
        C{nextRun} takes the oldest queued requests that follow one another
        in one piece, no more than C{maxServing} being served in all.
        """
        s = IncomingRequests()
        s.setChoking(False)
        for request in [(0, 0, 4), (0, 4, 4), (0, 8, 2), (0, 12, 4), (1, 0, 4), (1, 4, 4)]:
            s.peerRequested(request)
        self.assertEqual(s.nextRun(5), [(0, 0, 4), (0, 4, 4), (0, 8, 2)])
        # A gap ends a run, and so does another piece.
        self.assertEqual(s.nextRun(5), [(0, 12, 4)])
        # One slot left of five.
        self.assertEqual(s.nextRun(5), [(1, 0, 4)])
        self.assertEqual(s.nextRun(5), [])
        self.assertEqual(len(s.serving), 5)
        self.assertTrue(s.answered((0, 0, 4)))
        self.assertEqual(s.nextRun(5), [(1, 4, 4)])
        self.assertEqual(s.nextRun(5), [])

    def test_nextRunWhileChoking(self) -> None:
        """
        While we choke the peer, C{nextRun} takes only requests for pieces
        we allowed it fast.
        """
        s = IncomingRequests(fast=True)
        s.allowedFastOut.add(2)
        s.peerRequested((2, 0, 4))
        s.peerRequested((2, 4, 4))
        s.peerRequested((3, 0, 4))
        self.assertEqual(s.nextRun(8), [(2, 0, 4), (2, 4, 4)])
        self.assertEqual(s.nextRun(8), [])

    def test_rejectUnallowed(self) -> None:
        """
        Choking the peer takes back its requests but the allowed fast ones.
        """
        s = IncomingRequests(fast=True)
        s.setChoking(False)
        s.allowedFastOut.add(2)
        for request in [(1, 0, 5), (2, 0, 5), (3, 0, 5)]:
            s.peerRequested(request)
        self.assertEqual(s.nextRequest(1), (1, 0, 5))
        s.setChoking(True)
        self.assertEqual(s.rejectUnallowed(), [(1, 0, 5), (3, 0, 5)])
        self.assertEqual(list(s.queued), [(2, 0, 5)])
        self.assertEqual(s.serving, [])

    def test_fastChokeKeepsRequests(self) -> None:
        """
        Under the fast extension choking the peer discards nothing: each
        request is left to be rejected (see C{rejectUnallowed}).
        """
        s = IncomingRequests(fast=True)
        s.setChoking(False)
        s.peerRequested((1, 0, 5))
        s.peerRequested((1, 5, 5))
        self.assertEqual(s.nextRequest(1), (1, 0, 5))
        s.setChoking(True)
        self.assertEqual((list(s.queued), s.serving), ([(1, 5, 5)], [(1, 0, 5)]))

    def test_cancelledAnswersWhetherItWasWaiting(self) -> None:
        """
        C{peerCancelled} says whether the request was queued or being
        served (BEP 6 then has us reject it), and forgets it.
        """
        s = IncomingRequests()
        s.setChoking(False)
        s.peerRequested((1, 0, 5))
        s.peerRequested((1, 5, 5))
        s.nextRequest(4)
        self.assertTrue(s.peerCancelled((1, 0, 5)))
        self.assertTrue(s.peerCancelled((1, 5, 5)))
        self.assertFalse(s.peerCancelled((1, 5, 5)))
        self.assertEqual((list(s.queued), s.serving), ([], []))
