"""
Tests for L{bittwist.peerstate}: the sans-IO state of one connection.
"""

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.errors import ProtocolError
from bittwist.peerstate import (
    MAX_ALLOWED_FAST_KEPT,
    MAX_CANCELLED_REMEMBERED,
    MAX_QUEUED_REQUESTS,
    PeerState,
)


class PeerStateTests(SynchronousTestCase):
    """
    Tests for L{PeerState}.
    """

    def setUp(self) -> None:
        self.state = PeerState(10)

    def test_initial(self) -> None:
        """
        A new connection: both sides choke, nobody is interested, the peer
        has nothing, nothing is in flight.
        """
        s = self.state
        self.assertEqual(
            (s.amChoking, s.amInterested, s.peerChoking, s.peerInterested),
            (True, False, True, False),
        )
        self.assertEqual((len(s.pieces), s.pieces.length, s.requested), (0, 10, {}))

    def test_ourDecisionsSayWhatToSend(self) -> None:
        """
        Our choking and interest give the message to send on a change, and
        C{None} otherwise.
        """
        s = self.state
        self.assertEqual(s.setInterested(True), wire.Interested())
        self.assertIsNone(s.setInterested(True))
        self.assertEqual(s.setInterested(False), wire.NotInterested())
        self.assertEqual(s.setChoking(False), wire.Unchoke())
        self.assertIsNone(s.setChoking(False))
        self.assertEqual(s.setChoking(True), wire.Choke())

    def test_chokingDiscardsTheirRequests(self) -> None:
        """
        Choking the peer discards its queued and served requests (BEP 3);
        requests while choked are ignored.
        """
        s = self.state
        self.assertFalse(s.peerRequested((0, 0, 16384)))
        s.setChoking(False)
        self.assertTrue(s.peerRequested((0, 0, 16384)))
        self.assertTrue(s.peerRequested((0, 16384, 16384)))
        self.assertEqual(s.nextRequest(4), (0, 0, 16384))
        s.setChoking(True)
        self.assertEqual((list(s.requestsIn), s.serving), ([], []))
        self.assertFalse(s.answered((0, 0, 16384)))

    def test_requestFlood(self) -> None:
        """
        More than L{MAX_QUEUED_REQUESTS} queued requests is a protocol error.
        """
        s = self.state
        s.setChoking(False)
        for n in range(MAX_QUEUED_REQUESTS):
            s.peerRequested((0, n, 1))
        self.assertRaises(ProtocolError, s.peerRequested, (0, 0, 1))

    def test_requestedMany(self) -> None:
        """
        C{peerRequestedMany} queues a burst of requests in order; past
        L{MAX_QUEUED_REQUESTS} it queues those that fit and raises.
        """
        s = self.state
        s.setChoking(False)
        self.assertEqual(s.peerRequestedMany([(0, 0, 1), (0, 1, 1)]), [])
        self.assertEqual(list(s.requestsIn), [(0, 0, 1), (0, 1, 1)])
        burst = [(1, n, 1) for n in range(MAX_QUEUED_REQUESTS)]
        self.assertRaises(ProtocolError, s.peerRequestedMany, burst)
        self.assertEqual(len(s.requestsIn), MAX_QUEUED_REQUESTS)
        self.assertEqual(s.requestsIn[-1], (1, MAX_QUEUED_REQUESTS - 3, 1))

    def test_requestedManyWhileChoking(self) -> None:
        """
        While we choke the peer, C{peerRequestedMany} queues only requests
        for pieces allowed fast, and returns the others.
        """
        s = PeerState(8, fast=True)
        s.allowedFastOut.add(2)
        self.assertEqual(s.peerRequestedMany([(1, 0, 4), (2, 0, 4), (3, 0, 4)]), [(1, 0, 4), (3, 0, 4)])
        self.assertEqual(list(s.requestsIn), [(2, 0, 4)])

    def test_serving(self) -> None:
        """
        C{nextRequest} hands out at most C{maxServing} requests; a cancelled
        one, queued or being served, is not answered.
        """
        s = self.state
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
        s = self.state
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
        s = PeerState(8, fast=True)
        s.allowedFastOut.add(2)
        s.peerRequested((2, 0, 4))
        s.peerRequested((2, 4, 4))
        s.peerRequested((3, 0, 4))
        self.assertEqual(s.nextRun(8), [(2, 0, 4), (2, 4, 4)])
        self.assertEqual(s.nextRun(8), [])

    def test_blocks(self) -> None:
        """
        A block we asked for is taken; a block of a request we withdrew is
        tolerated once; any other block, or one of the wrong size, is a
        protocol error.
        """
        s = self.state
        self.assertEqual(s.addRequests([(1, 0, 4), (1, 4, 4), (1, 0, 4)]), [(1, 0, 4), (1, 4, 4)])
        self.assertTrue(s.blockArrived(1, 0, 4))
        self.assertEqual(s.cancelRequest(1, 4), wire.Cancel(1, 4, 4))
        self.assertIsNone(s.cancelRequest(1, 4))
        self.assertFalse(s.blockArrived(1, 4, 4))
        self.assertRaises(ProtocolError, s.blockArrived, 1, 4, 4)
        self.assertRaises(ProtocolError, s.blockArrived, 2, 0, 4)
        s.addRequests([(3, 0, 4)])
        self.assertRaises(ProtocolError, s.blockArrived, 3, 0, 5)

    def test_peerChoke(self) -> None:
        """
        The peer's choke discards our requests, returned for others; their
        blocks may still arrive without offence.
        """
        s = self.state
        s.peerUnchoked()
        s.addRequests([(1, 0, 4), (2, 0, 4)])
        self.assertEqual(s.peerChoked(), [(1, 0), (2, 0)])
        self.assertEqual(s.peerChoked(), [])
        self.assertEqual(s.requested, {})
        self.assertFalse(s.blockArrived(2, 0, 4))

    def test_askedAgainAfterWithdrawing(self) -> None:
        """
        A block asked for, withdrawn and asked for again, twice, may come
        three times (the peer may have sent it before each cancel arrived);
        a fourth time is a protocol error.
        """
        s = self.state
        for _ in range(2):
            s.addRequests([(1, 0, 4)])
            s.cancelRequest(1, 0)
        s.addRequests([(1, 0, 4)])
        self.assertEqual(
            [s.blockArrived(1, 0, 4) for _ in range(3)], [True, False, False]
        )
        self.assertRaises(ProtocolError, s.blockArrived, 1, 0, 4)

    def test_withdrawnBounded(self) -> None:
        """
        Only the last L{MAX_CANCELLED_REMEMBERED} withdrawn requests are
        remembered.
        """
        s = self.state
        count = MAX_CANCELLED_REMEMBERED + 5
        s.addRequests([(0, n, 1) for n in range(count)])
        for n in range(count):
            s.cancelRequest(0, n)
        self.assertRaises(ProtocolError, s.blockArrived, 0, 0, 1)
        self.assertFalse(s.blockArrived(0, count - 1, 1))

    def test_haveAndBitfield(self) -> None:
        """
        C{have} adds a piece once and refuses one out of range; the bitfield
        must be the first message and the right size.
        """
        s = self.state
        s.received()
        s.peerBitfield(bytes([0b10000000, 0]))
        self.assertEqual(list(s.pieces), [0])
        self.assertTrue(s.peerHas(3))
        self.assertFalse(s.peerHas(3))
        self.assertRaises(ProtocolError, s.peerHas, 10)
        s.received()
        self.assertRaises(ProtocolError, s.peerBitfield, bytes(2))
        self.assertEqual(s.progress(), 0.2)

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["req", "cancel", "block", "choke", "unchoke", "have"]),
                st.integers(0, 12),
                st.integers(0, 3),
            ),
            max_size=60,
        )
    )
    def test_anySequence(self, steps: list[tuple[str, int, int]]) -> None:
        """
        Whatever the peer does, only L{ProtocolError} is raised and what we
        remember stays bounded.
        """
        s = PeerState(10)
        for action, index, begin in steps:
            try:
                if action == "req":
                    s.addRequests([(index, begin, 1)])
                elif action == "cancel":
                    s.cancelRequest(index, begin)
                elif action == "block":
                    s.blockArrived(index, begin, 1)
                elif action == "choke":
                    s.peerChoked()
                elif action == "unchoke":
                    s.peerUnchoked()
                else:
                    s.peerHas(index)
            except ProtocolError:
                pass
        self.assertLessEqual(len(s._withdrawn), MAX_CANCELLED_REMEMBERED)


class FastStateTests(SynchronousTestCase):
    """
    L{PeerState} under the fast extension (BEP 6).
    """

    def test_haveAllHaveNoneFirstOnly(self) -> None:
        """
        have all and have none stand in for the bitfield: first message only.
        """
        s = PeerState(10, fast=True)
        s.received()
        s.peerHaveAll()
        self.assertTrue(s.pieces.complete())
        s.received()
        self.assertRaises(ProtocolError, s.peerHaveNone)

    def test_chokeKeepsRequests(self) -> None:
        """
        A choke from the peer withdraws nothing.
        """
        s = PeerState(10, fast=True)
        s.peerUnchoked()
        s.addRequests([(1, 0, 5)])
        self.assertEqual(s.peerChoked(), [])
        self.assertEqual(s.requested, {(1, 0): 5})

    def test_rejectUnallowed(self) -> None:
        """
        Choking the peer takes back its requests but the allowed fast ones.
        """
        s = PeerState(10, fast=True)
        s.setChoking(False)
        s.allowedFastOut.add(2)
        for request in [(1, 0, 5), (2, 0, 5), (3, 0, 5)]:
            s.peerRequested(request)
        self.assertEqual(s.nextRequest(1), (1, 0, 5))
        s.setChoking(True)
        self.assertEqual(s.rejectUnallowed(), [(1, 0, 5), (3, 0, 5)])
        self.assertEqual(list(s.requestsIn), [(2, 0, 5)])
        self.assertEqual(s.serving, [])

    def test_rejectedWhileChokedNotAllowedAgain(self) -> None:
        """
        A reject of an allowed fast request while choked takes the piece out
        of the allowed fast set, so it is not asked for again and again.
        """
        s = PeerState(10, fast=True)
        s.peerAllowedFast(4)
        s.addRequests([(4, 0, 5)])
        self.assertTrue(s.peerRejected((4, 0, 5)))
        self.assertEqual(s.allowedFastIn, set())

    def test_rejectWrongLength(self) -> None:
        """
        A reject must match the request's length.
        """
        s = PeerState(10, fast=True)
        s.addRequests([(4, 0, 5)])
        self.assertRaises(ProtocolError, s.peerRejected, (4, 0, 6))

    def test_allowedFastBounded(self) -> None:
        """
        At most L{MAX_ALLOWED_FAST_KEPT} pieces allowed fast are kept.
        """
        s = PeerState(MAX_ALLOWED_FAST_KEPT + 10, fast=True)
        kept = [s.peerAllowedFast(i) for i in range(MAX_ALLOWED_FAST_KEPT + 1)]
        self.assertEqual(kept, [True] * MAX_ALLOWED_FAST_KEPT + [False])
        self.assertEqual(len(s.allowedFastIn), MAX_ALLOWED_FAST_KEPT)
