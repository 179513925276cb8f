# -*- test-case-name: tests.test_fastpolicy -*-
"""
Tests for L{bittwist.fastpolicy}, on a stand-in for its connection; the
whole connection is tested in L{tests.test_peer_fast}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.errors import ProtocolError
from bittwist.fast import allowedFastSet
from bittwist.fastpolicy import ALLOWED_FAST_SET_SIZE, FastPolicy
from bittwist.incomingrequests import IncomingRequests
from bittwist.peerstate import PeerState

INFO_HASH = bytes(range(20))
NUM_PIECES = 100


class StubTorrent:
    infoHash = INFO_HASH
    numPieces = NUM_PIECES

    def __init__(self, have):
        self.have = Bitfield(NUM_PIECES, have)
        self.calls = []

    def ourBitfield(self):
        return self.have

    def requestRejected(self, peer, index, begin):
        self.calls.append(("rejected", index, begin))

    def peerAllowedFast(self, peer, index):
        self.calls.append(("allowedFast", index))


class StubPeer:
    """
    What a L{FastPolicy} uses of its L{bittwist.peer.PeerProtocol}.
    """

    def __init__(self, fast=True, have=range(NUM_PIECES), handshaked=True):
        self.fast = fast
        self.address = ("10.1.2.3", 6881)
        self.torrent = StubTorrent(have)
        self.state = PeerState(NUM_PIECES, fast=fast)
        self.requestsIn = IncomingRequests(fast=fast)
        self.handshaked = handshaked
        self.sent = []
        # It stands in for the connection's sender too.
        self.sender = self

    def sendMessage(self, message):
        self.sent.append(message)

    def _handshaken(self):
        if not self.handshaked:
            raise ProtocolError("message before handshake")
        return self.torrent


class FastPolicyTests(SynchronousTestCase):
    """
    L{FastPolicy} sends what BEP 6 asks and hands the peer's fast messages on.
    """

    def test_allowFast(self) -> None:
        """
        A peer with nothing is allowed fast its allowed fast set, each piece
        sent and remembered.
        """
        peer = StubPeer()
        FastPolicy(peer).allowFast()
        expected = allowedFastSet("10.1.2.3", INFO_HASH, NUM_PIECES, ALLOWED_FAST_SET_SIZE)
        self.assertEqual(peer.sent, [wire.AllowedFast(i) for i in expected])
        self.assertEqual(peer.requestsIn.allowedFastOut, set(expected))

    def test_allowFastOnlyWhatWeHave(self) -> None:
        """
        Only the pieces of the set we have are allowed.
        """
        expected = allowedFastSet("10.1.2.3", INFO_HASH, NUM_PIECES, ALLOWED_FAST_SET_SIZE)
        peer = StubPeer(have=expected[:2])
        FastPolicy(peer).allowFast()
        self.assertEqual(peer.sent, [wire.AllowedFast(i) for i in expected[:2]])

    def test_allowFastNothingWithoutFast(self) -> None:
        """
        Without the fast extension nothing is allowed.
        """
        peer = StubPeer(fast=False)
        FastPolicy(peer).allowFast()
        self.assertEqual(peer.sent, [])

    def test_rejectWithoutFast(self) -> None:
        """
        Without the fast extension a reject says nothing and answers False.
        """
        peer = StubPeer(fast=False)
        self.assertFalse(FastPolicy(peer).reject([(1, 0, 16384)]))
        self.assertEqual(peer.sent, [])

    def test_reject(self) -> None:
        """
        Under the fast extension each request is rejected.
        """
        peer = StubPeer()
        self.assertTrue(FastPolicy(peer).reject([(1, 0, 16384), (2, 0, 16384)]))
        self.assertEqual(
            peer.sent, [wire.RejectRequest(1, 0, 16384), wire.RejectRequest(2, 0, 16384)]
        )

    def test_chokedRejectsUnallowed(self) -> None:
        """
        Choking rejects the queued requests but those allowed fast, which
        stay queued.
        """
        peer = StubPeer()
        peer.requestsIn.allowedFastOut.add(2)
        peer.requestsIn.queued.extend([(1, 0, 16384), (2, 0, 16384)])
        FastPolicy(peer).choked()
        self.assertEqual(peer.sent, [wire.RejectRequest(1, 0, 16384)])
        self.assertEqual(list(peer.requestsIn.queued), [(2, 0, 16384)])

    def test_receiveRejectRequest(self) -> None:
        """
        A reject of a request in flight goes to the torrent.
        """
        peer = StubPeer()
        peer.state.addRequests([(3, 0, 16384)])
        policy = FastPolicy(peer)
        policy.receiveRejectRequest(wire.RejectRequest(3, 0, 16384))
        self.assertEqual(peer.torrent.calls, [("rejected", 3, 0)])

    def test_receiveAllowedFast(self) -> None:
        """
        A piece allowed fast goes to the torrent.
        """
        peer = StubPeer()
        FastPolicy(peer).receiveAllowedFast(wire.AllowedFast(5))
        self.assertEqual(peer.torrent.calls, [("allowedFast", 5)])
        self.assertIn(5, peer.state.allowedFastIn)

    def test_beforeHandshake(self) -> None:
        """
        A fast message before the handshake is an error.
        """
        peer = StubPeer(handshaked=False)
        self.assertRaises(
            ProtocolError, FastPolicy(peer).receiveSuggestPiece, wire.SuggestPiece(1)
        )
