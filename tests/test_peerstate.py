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
        A new connection: the peer chokes us, nobody is interested, the
        peer has nothing, nothing is in flight.
        """
        s = self.state
        self.assertEqual(
            (s.amInterested, s.peerChoking, s.peerInterested), (False, True, False)
        )
        self.assertEqual((len(s.pieces), s.pieces.length, s.requested), (0, 10, {}))

    def test_ourInterestSaysWhatToSend(self) -> None:
        """
        Our interest gives the message to send on a change, and C{None}
        otherwise.
        """
        s = self.state
        self.assertEqual(s.setInterested(True), wire.Interested())
        self.assertIsNone(s.setInterested(True))
        self.assertEqual(s.setInterested(False), wire.NotInterested())

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
