# -*- test-case-name: tests.test_peer_fast -*-
"""
Tests for the fast extension (BEP 6) on a L{bittwist.peer.PeerProtocol}
connection and in the torrent engine.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.fast import allowedFastSet
from bittwist.peer import ALLOWED_FAST_SET_SIZE
from tests.test_peer import (
    INFO_HASH,
    NUM_PIECES,
    FeedMixin,
    RecordingTorrent,
    connectPeer,
    encodeAll,
    sentMessages,
    theirHandshake,
)
from tests.test_torrent import BLOCK, TorrentTestCase

FAST = wire.makeReserved(wire.ReservedBit.FAST)


class FastConnectionTests(FeedMixin, SynchronousTestCase):
    """
    BEP 6 on one connection.
    """

    def connect(self, reserved=FAST, **torrentArgs):
        torrent = RecordingTorrent(**torrentArgs)
        proto, transport, _ = connectPeer(torrent)
        transport.clear()
        self.feed(proto, theirHandshake(reserved=reserved))
        return proto, transport, torrent

    def ready(self, **torrentArgs):
        """
        @return: a fast connection past the peer's have none, everything
            sent and recorded so far cleared.
        """
        proto, transport, torrent = self.connect(**torrentArgs)
        self.feed(proto, wire.encode(wire.HaveNone()))
        transport.clear()
        del torrent.calls[:]
        return proto, transport, torrent

    def test_haveNone(self) -> None:
        """
        With both bits and no piece, we send have none.
        """
        proto, transport, _ = self.connect()
        self.assertTrue(proto.fast)
        self.assertEqual(sentMessages(transport), [wire.HaveNone()])

    def test_haveAll(self) -> None:
        """
        With both bits and every piece, we send have all, not a bitfield.
        """
        proto, transport, _ = self.connect(have=range(NUM_PIECES))
        self.assertEqual(sentMessages(transport), [wire.HaveAll()])

    def test_someBitfield(self) -> None:
        """
        With some pieces, a bitfield still.
        """
        proto, transport, _ = self.connect(have=[1])
        self.assertEqual(
            sentMessages(transport), [wire.Bitfield(Bitfield(NUM_PIECES, [1]).toBytes())]
        )

    def test_noFastBit(self) -> None:
        """
        A peer without the bit gets neither have all nor have none.
        """
        proto, transport, _ = self.connect(reserved=bytes(8))
        self.assertFalse(proto.fast)
        self.assertEqual(sentMessages(transport), [])

    def test_fastMessagesWithoutBitDrop(self) -> None:
        """
        Without the fast extension, each of its messages is a protocol error.
        """
        for message in [
            wire.HaveAll(),
            wire.HaveNone(),
            wire.SuggestPiece(1),
            wire.RejectRequest(1, 0, BLOCK),
            wire.AllowedFast(1),
        ]:
            proto, transport, _ = self.connect(reserved=bytes(8))
            self.feed(proto, wire.encode(message))
            self.assertTrue(transport.disconnecting, message)

    def test_theirHaveAll(self) -> None:
        """
        The peer's have all gives it every piece, reported as its bitfield;
        a second one drops it.
        """
        proto, transport, torrent = self.connect()
        self.feed(proto, wire.encode(wire.HaveAll()))
        self.assertTrue(proto.state.pieces.complete())
        self.assertEqual(torrent.named("peerBitfield"), [(proto,)])
        self.feed(proto, wire.encode(wire.HaveAll()))
        self.assertTrue(transport.disconnecting)

    def test_rejectOnChoke(self) -> None:
        """
        Choking a peer rejects each of its requests waiting for an answer.
        """
        proto, transport, torrent = self.ready(have=range(NUM_PIECES))
        proto.sender.setChoking(False)
        self.feed(proto, encodeAll(*[wire.Request(i, 0, BLOCK) for i in (3, 4, 5)]))
        self.assertEqual(proto.sender.nextRequest(1), (3, 0, BLOCK))
        transport.clear()
        proto.sender.setChoking(True)
        self.assertEqual(
            sentMessages(transport),
            [wire.Choke()] + [wire.RejectRequest(i, 0, BLOCK) for i in (3, 4, 5)],
        )
        self.assertIsNone(proto.sender.nextRequest(16))
        self.assertFalse(proto.sender.sendBlock(3, 0, b"x" * BLOCK))

    def test_rejectWhileChoked(self) -> None:
        """
        A request while we choke the peer is rejected, unless its piece is
        allowed fast: that one is served.
        """
        proto, transport, torrent = self.ready(have=range(NUM_PIECES))
        allowed = min(proto.requestsIn.allowedFastOut)
        other = min(set(range(NUM_PIECES)) - proto.requestsIn.allowedFastOut)
        self.feed(proto, wire.encode(wire.Request(other, 0, BLOCK)))
        self.assertEqual(sentMessages(transport), [wire.RejectRequest(other, 0, BLOCK)])
        self.assertEqual(torrent.named("requestsReceived"), [])
        transport.clear()
        self.feed(proto, wire.encode(wire.Request(allowed, 0, BLOCK)))
        self.assertEqual(sentMessages(transport), [])
        self.assertEqual(torrent.named("requestsReceived"), [(proto, [(allowed, 0, BLOCK)])])
        self.assertEqual(proto.sender.nextRequest(16), (allowed, 0, BLOCK))
        self.assertTrue(proto.sender.sendBlock(allowed, 0, b"x" * BLOCK))

    def test_rejectOnCancel(self) -> None:
        """
        A cancelled request still gets an answer: a reject.
        """
        proto, transport, _ = self.ready(have=range(NUM_PIECES))
        proto.sender.setChoking(False)
        self.feed(proto, wire.encode(wire.Request(1, 0, BLOCK)))
        transport.clear()
        self.feed(proto, wire.encode(wire.Cancel(1, 0, BLOCK)))
        self.assertEqual(sentMessages(transport), [wire.RejectRequest(1, 0, BLOCK)])
        self.feed(proto, wire.encode(wire.Cancel(1, 0, BLOCK)))
        self.assertEqual(sentMessages(transport), [wire.RejectRequest(1, 0, BLOCK)])

    def test_rejectRequest(self) -> None:
        """
        L{PeerSender.rejectRequest} unqueues a request and tells the peer.
        """
        proto, transport, torrent = self.ready()
        proto.sender.setChoking(False)
        self.feed(proto, wire.encode(wire.Request(1, 0, BLOCK)))
        transport.clear()
        self.assertTrue(proto.sender.rejectRequest(1, 0, BLOCK))
        self.assertEqual(sentMessages(transport), [wire.RejectRequest(1, 0, BLOCK)])
        self.assertIsNone(proto.sender.nextRequest(16))

    def test_theirReject(self) -> None:
        """
        A reject of a request in flight is reported and forgets it; of a
        withdrawn one, ignored; of one never made, drops the peer.
        """
        proto, transport, torrent = self.ready()
        proto.sender.sendRequests([(1, 0, BLOCK), (1, BLOCK, BLOCK)])
        proto.sender.cancelRequest(1, BLOCK)
        self.feed(
            proto, encodeAll(wire.RejectRequest(1, 0, BLOCK), wire.RejectRequest(1, BLOCK, BLOCK))
        )
        self.assertEqual(torrent.named("requestRejected"), [(proto, 1, 0)])
        self.assertEqual(proto.state.requested, {})
        self.assertFalse(transport.disconnecting)
        self.feed(proto, wire.encode(wire.RejectRequest(2, 0, BLOCK)))
        self.assertTrue(transport.disconnecting)

    def test_chokeKeepsRequests(self) -> None:
        """
        Under the fast extension a choke discards none of our requests.
        """
        proto, transport, torrent = self.ready()
        self.feed(proto, wire.encode(wire.Unchoke()))
        proto.sender.sendRequests([(1, 0, BLOCK)])
        self.feed(proto, wire.encode(wire.Choke()))
        self.assertEqual(torrent.named("peerChoked"), [(proto, [])])
        self.assertEqual(proto.state.requested, {(1, 0): BLOCK})

    def test_ourAllowedFastSet(self) -> None:
        """
        After a peer's first message, it is allowed fast the pieces of its
        allowed fast set (BEP 6's algorithm, k=10) that we have and it
        lacks.
        """
        expected = allowedFastSet("10.0.0.2", INFO_HASH, NUM_PIECES, ALLOWED_FAST_SET_SIZE)
        have = sorted(expected)[:4] + [i for i in range(NUM_PIECES) if i not in expected][:3]
        theirs = sorted(expected)[:1]
        proto, transport, _ = self.connect(have=have)
        transport.clear()
        self.feed(proto, wire.encode(wire.Bitfield(Bitfield(NUM_PIECES, theirs).toBytes())))
        allowed = [m.index for m in sentMessages(transport)]
        self.assertEqual(sorted(allowed), sorted(expected)[1:4])
        self.assertEqual(proto.requestsIn.allowedFastOut, set(allowed))

    def test_noAllowedFastToSeed(self) -> None:
        """
        A seed is allowed nothing fast.
        """
        proto, transport, _ = self.connect(have=range(5))
        transport.clear()
        self.feed(proto, wire.encode(wire.HaveAll()))
        self.assertEqual(sentMessages(transport), [])

    def test_theirAllowedFast(self) -> None:
        """
        The pieces a peer allows us fast are remembered and reported, at
        once each; one out of range drops it; suggest is accepted as a hint.
        """
        proto, transport, torrent = self.ready()
        self.feed(proto, encodeAll(wire.AllowedFast(3), wire.AllowedFast(3), wire.SuggestPiece(4)))
        self.assertEqual(proto.state.allowedFastIn, {3})
        self.assertEqual(torrent.named("peerAllowedFast"), [(proto, 3)])
        self.assertFalse(transport.disconnecting)
        self.feed(proto, wire.encode(wire.AllowedFast(NUM_PIECES)))
        self.assertTrue(transport.disconnecting)


class FastTorrentTests(TorrentTestCase):
    """
    BEP 6 in the torrent engine.
    """

    def test_rejectReleasesBlock(self) -> None:
        """
        A rejected block is asked for again at once.
        """
        self.makeTorrent()
        remote = self.connect(1, reserved=FAST)
        remote.send(wire.HaveAll(), wire.Unchoke())
        requests = remote.requests()
        self.assertTrue(requests)
        index, begin, length = requests[0]
        remote.send(wire.RejectRequest(index, begin, length))
        self.assertIn((index, begin, length), remote.requests())
        self.assertFalse(remote.dropped)

    def test_rejectPieceWeLack(self) -> None:
        """
        A request for a piece we lack is rejected, not a reason to drop a
        fast peer.
        """
        self.makeTorrent(have=[0])
        remote = self.accept(1, reserved=FAST)
        remote.send(wire.HaveNone(), wire.Interested())
        self.torrent.periodic.tick()
        remote.received()
        remote.send(wire.Request(3, 0, BLOCK))
        self.assertIn(wire.RejectRequest(3, 0, BLOCK), remote.received())
        self.assertFalse(remote.dropped)

    def test_requestAllowedFastWhileChoked(self) -> None:
        """
        A peer that chokes us is asked for the pieces it allows us fast, and
        for nothing else.
        """
        self.makeTorrent()
        remote = self.connect(1, reserved=FAST)
        remote.send(wire.HaveAll())
        self.assertEqual(remote.requests(), [])
        remote.send(wire.AllowedFast(2))
        requests = remote.requests()
        self.assertTrue(requests)
        self.assertEqual({index for index, _, _ in requests}, {2})
