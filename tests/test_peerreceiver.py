"""
Tests for L{bittwist.peerreceiver}: what a peer sends after its handshake,
checked and reported to the torrent, through a whole L{bittwist.peer.PeerProtocol}.
"""

import struct

from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.incomingrequests import MAX_QUEUED_REQUESTS
from tests.test_peer import (
    NUM_PIECES,
    FeedMixin,
    RecordingTorrent,
    connectPeer,
    encodeAll,
    theirHandshake,
)


class ReceiveTestsMixin(FeedMixin):
    """
    Tests for the messages a handshaken peer sends.
    """

    def test_unchoke(self) -> None:
        """
        An unchoke clears peerChoking and is reported once; a second is not.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.assertTrue(proto.state.peerChoking)
        self.feed(proto, encodeAll(wire.Unchoke(), wire.Unchoke()))
        self.assertFalse(proto.state.peerChoking)
        self.assertEqual(torrent.calls, [("peerUnchoked", proto)])

    def test_chokeReturnsRequests(self) -> None:
        """
        A choke sets peerChoking, discards our requests in flight and hands
        them to the torrent.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Unchoke()))
        proto.sender.sendRequests([(0, 0, 16384), (0, 16384, 16384)])
        del torrent.calls[:]
        self.feed(proto, encodeAll(wire.Choke()))
        self.assertTrue(proto.state.peerChoking)
        self.assertEqual(proto.state.requested, {})
        self.assertEqual(torrent.calls, [("peerChoked", proto, [(0, 0), (0, 16384)])])

    def test_chokeWhenChoked(self) -> None:
        """
        A choke while the peer already chokes us is not reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Choke()))
        self.assertTrue(proto.state.peerChoking)
        self.assertEqual(torrent.calls, [])
        self.assertFalse(transport.disconnecting)

    def test_interestOnlyOnChange(self) -> None:
        """
        interested and not interested update peerInterested and are reported
        only when they change it.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(
            proto,
            encodeAll(
                wire.NotInterested(),
                wire.Interested(),
                wire.Interested(),
                wire.NotInterested(),
                wire.NotInterested(),
            ),
        )
        self.assertFalse(proto.state.peerInterested)
        self.assertEqual(
            torrent.calls,
            [("peerInterestChanged", proto, True), ("peerInterestChanged", proto, False)],
        )

    def test_have(self) -> None:
        """
        have adds the piece to the peer's pieces and is reported once.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Have(3), wire.Have(NUM_PIECES - 1), wire.Have(3)))
        self.assertEqual(list(proto.state.pieces), [3, NUM_PIECES - 1])
        self.assertEqual(
            torrent.calls, [("peerHave", proto, 3), ("peerHave", proto, NUM_PIECES - 1)]
        )

    def test_haveOutOfRangeDrops(self) -> None:
        """
        have for a piece index past the torrent drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Have(NUM_PIECES), wire.Interested()))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])
        self.assertEqual(len(proto.state.pieces), 0)

    def test_bitfield(self) -> None:
        """
        A bitfield as the first message (keep-alives aside) sets the peer's
        pieces and is reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        expected = Bitfield(NUM_PIECES, [0, 7, 8, 19])
        self.feed(proto, encodeAll(wire.KeepAlive(), wire.Bitfield(expected.toBytes())))
        self.assertEqual(proto.state.pieces, expected)
        self.assertEqual(torrent.calls, [("peerBitfield", proto)])
        self.assertFalse(transport.disconnecting)

    def test_bitfieldWithHandshake(self) -> None:
        """
        A bitfield arriving in the same data as the handshake is taken.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        expected = Bitfield(NUM_PIECES, range(NUM_PIECES))
        self.feed(proto, theirHandshake() + encodeAll(wire.Bitfield(expected.toBytes())))
        self.assertEqual(proto.state.pieces, expected)
        self.assertEqual(torrent.named("peerBitfield"), [(proto,)])

    def test_bitfieldAfterOtherMessageDrops(self) -> None:
        """
        A bitfield after another message drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Have(1), wire.Bitfield(b"\xff\xff\xf0")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [("peerHave", proto, 1)])
        self.assertEqual(list(proto.state.pieces), [1])

    def test_secondBitfieldDrops(self) -> None:
        """
        A second bitfield drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Bitfield(b"\x80\x00\x00"), wire.Bitfield(b"\xff\xff\xf0")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [("peerBitfield", proto)])
        self.assertEqual(list(proto.state.pieces), [0])

    def test_bitfieldWrongSizeDrops(self) -> None:
        """
        A bitfield shorter or longer than the torrent's drops the connection.
        """
        for payload in [b"\xff\xff", b"\xff\xff\xf0\x00", b""]:
            proto, transport, torrent, _ = self.handshaken()
            self.feed(proto, encodeAll(wire.Bitfield(payload)))
            self.assertTrue(transport.disconnecting, payload)
            self.assertEqual(torrent.calls, [], payload)
            self.assertEqual(len(proto.state.pieces), 0)

    def test_bitfieldSpareBitsDrop(self) -> None:
        """
        A bitfield with a spare bit set drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Bitfield(b"\xff\xff\xf8")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])

    def test_requestIgnoredWhileChoking(self) -> None:
        """
        A request while we choke the peer is ignored, without dropping.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Request(0, 0, 16384)))
        self.assertEqual(list(proto.requestsIn.queued), [])
        self.assertEqual(torrent.calls, [])
        self.assertFalse(transport.disconnecting)

    def test_request(self) -> None:
        """
        A request while we do not choke is queued and reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.setChoking(False)
        self.feed(proto, encodeAll(wire.Request(1, 0, 16384), wire.Request(1, 16384, 100)))
        self.assertEqual(list(proto.requestsIn.queued), [(1, 0, 16384), (1, 16384, 100)])
        self.assertEqual(torrent.requestsReported(), [(1, 0, 16384), (1, 16384, 100)])
        self.assertEqual(torrent.calls[-1], ("requestsQueued", proto))

    def test_tooManyRequestsDrop(self) -> None:
        """
        MAX_QUEUED_REQUESTS requests may wait for an answer; one more drops
        the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.setChoking(False)
        requests = [wire.Request(0, i, 1) for i in range(MAX_QUEUED_REQUESTS)]
        self.feed(proto, encodeAll(*requests))
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(proto.requestsIn.queued), MAX_QUEUED_REQUESTS)
        self.feed(proto, encodeAll(wire.Request(1, 0, 1)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(proto.requestsIn.queued), MAX_QUEUED_REQUESTS)
        self.assertEqual(len(torrent.requestsReported()), MAX_QUEUED_REQUESTS)

    def test_cancel(self) -> None:
        """
        cancel removes the matching queued request; a cancel matching none is
        ignored.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.setChoking(False)
        self.feed(
            proto,
            encodeAll(
                wire.Request(1, 0, 16384),
                wire.Request(1, 16384, 16384),
                wire.Cancel(1, 0, 16384),
                wire.Cancel(1, 16384, 100),
                wire.Cancel(9, 0, 16384),
            ),
        )
        self.assertEqual(list(proto.requestsIn.queued), [(1, 16384, 16384)])
        self.assertFalse(transport.disconnecting)

    def test_piece(self) -> None:
        """
        A piece answering our request leaves C{requested}, is reported, and
        counts in downloadRate.
        """
        proto, transport, torrent, reactor = self.handshaken()
        proto.sender.sendRequests([(1, 0, 4), (1, 4, 4)])
        reactor.advance(7)
        self.feed(proto, encodeAll(wire.Piece(1, 0, b"abcd")))
        self.assertEqual(proto.state.requested, {(1, 4): 4})
        self.assertEqual(torrent.calls, [("blocksReceived", proto, [wire.Piece(1, 0, b"abcd")])])
        self.assertEqual(proto.downloadRate.total, 4)
        self.assertGreater(proto.downloadRate.rate(), 0)

    def test_piecesInOneRead(self) -> None:
        """
        The blocks of one read that follow each other reach the torrent as
        one batch, in order; a message between them splits the batch, so
        that the torrent hears everything in the order it was sent.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.sendRequests([(1, 0, 2), (1, 2, 2), (1, 4, 2)])
        proto.dataReceived(
            encodeAll(wire.Piece(1, 0, b"ab"), wire.Piece(1, 2, b"cd"), wire.Have(3), wire.Piece(1, 4, b"ef"))
        )
        self.assertEqual(
            torrent.calls,
            [
                ("blocksReceived", proto, [wire.Piece(1, 0, b"ab"), wire.Piece(1, 2, b"cd")]),
                ("peerHave", proto, 3),
                ("blocksReceived", proto, [wire.Piece(1, 4, b"ef")]),
            ],
        )
        self.assertEqual(proto.state.requested, {})
        self.assertEqual(proto.downloadRate.total, 6)

    def test_pieceUnrequestedAfterGoodOnes(self) -> None:
        """
        A block we never asked for, after blocks we did in the same read,
        drops the peer, but the blocks before it are still handed on: they
        are no longer counted as requested, so the torrent must hear of them.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.sendRequests([(1, 0, 2)])
        proto.dataReceived(encodeAll(wire.Piece(1, 0, b"ab"), wire.Piece(1, 2, b"cd")))
        self.assertEqual(torrent.calls, [("blocksReceived", proto, [wire.Piece(1, 0, b"ab")])])
        self.assertTrue(transport.disconnecting)

    def test_pieceUnrequested(self) -> None:
        """
        A piece we never asked for drops the peer: a peer may not push data
        on us (it would cost memory and disk writes at its will).
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Piece(2, 0, b"xy")))
        self.assertEqual(torrent.calls, [])
        self.assertTrue(transport.disconnecting)

    def test_pieceCancelled(self) -> None:
        """
        A piece we asked for and then cancelled is still passed on (it was on
        its way): the torrent decides whether it is wasted.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.sendRequests([(2, 0, 2)])
        proto.sender.cancelRequest(2, 0)
        self.feed(proto, encodeAll(wire.Piece(2, 0, b"xy")))
        self.assertEqual(torrent.calls, [("blocksReceived", proto, [wire.Piece(2, 0, b"xy")])])
        self.assertFalse(transport.disconnecting)
        self.assertFalse(transport.disconnecting)

    def test_pieceWrongLengthDrops(self) -> None:
        """
        A piece of another length than we asked for drops the connection,
        unreported.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.sendRequests([(1, 0, 4)])
        self.feed(proto, encodeAll(wire.Piece(1, 0, b"abc")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])
        self.assertEqual(proto.downloadRate.total, 0)

    def test_ignoredMessages(self) -> None:
        """
        Unknown messages (an extended message without the extension
        protocol) and keep-alives change nothing and are not reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(
            proto,
            encodeAll(
                wire.KeepAlive(),
                wire.UnknownMessage(20, b"d1:md11:ut_metadatai1eee"),
                wire.UnknownMessage(42, b""),
            ),
        )
        self.assertEqual(torrent.calls, [])
        self.assertFalse(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_portReported(self) -> None:
        """
        A port message (BEP 5) is reported with peerPort, and may come
        before the bitfield.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Port(6881), wire.Bitfield(b"\x80\x00\x00")))
        self.assertEqual(torrent.calls, [("peerPort", proto, 6881), ("peerBitfield", proto)])
        self.assertFalse(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_garbageLengthDrops(self) -> None:
        """
        A length prefix beyond any message drops the connection, and nothing
        after it is processed, in the same data or later.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, b"\xff\xff\xff\xff" + encodeAll(wire.Interested()))
        self.assertTrue(transport.disconnecting)
        self.feed(proto, encodeAll(wire.Have(1)))
        self.assertEqual(torrent.calls, [])
        self.assertFalse(proto.state.peerInterested)

    def test_oversizeLengthDrops(self) -> None:
        """
        One byte over the largest message drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(
            proto,
            struct.pack(">IB", wire.MAX_MESSAGE_LENGTH + 1, 7) + encodeAll(wire.Interested()),
        )
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])

    def test_wrongLengthForIdDrops(self) -> None:
        """
        A message whose length its id cannot have drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, struct.pack(">IBI", 5, 2, 0) + encodeAll(wire.Have(1)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])

    def test_droppedByTorrentStopsProcessing(self) -> None:
        """
        When the torrent drops the peer from a callback, the messages after
        the one reported are not processed.
        """
        proto, transport, torrent, _ = self.handshaken()
        torrent.peerHave = lambda peer, index: peer.drop("no")  # type: ignore[method-assign]
        self.feed(proto, encodeAll(wire.Have(1), wire.Interested()))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(proto.state.peerInterested)
        self.assertEqual(torrent.calls, [])


class ReceiveWholeTests(ReceiveTestsMixin, SynchronousTestCase):
    def test_requestsQueuedOncePerRead(self) -> None:
        """
        The requests of one read are reported, then queued for serving,
        once: not once per request.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.setChoking(False)
        self.feed(proto, encodeAll(*(wire.Request(1, i * 4, 4) for i in range(3))))
        self.assertEqual(
            torrent.calls,
            [
                ("requestsReceived", proto, [(1, 0, 4), (1, 4, 4), (1, 8, 4)]),
                ("requestsQueued", proto),
            ],
        )

    def test_noRequestsQueuedOnceDropped(self) -> None:
        """
        Requests followed, in the same read, by an offence that drops the
        peer are not served.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sender.setChoking(False)
        self.feed(proto, encodeAll(wire.Request(1, 0, 4), wire.Have(99)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.named("requestsQueued"), [])


class ReceiveByteByByteTests(ReceiveTestsMixin, SynchronousTestCase):
    byteByByte = True
