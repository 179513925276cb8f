"""
Hostile peers: each bad behaviour a peer can show drops that peer, and the
torrent goes on with the others (an honest peer still completes the
download). On a L{MemoryReactorClock}, through the torrent's own
connections, as in L{tests.test_torrent}.
"""

import struct

from twisted.internet.address import IPv4Address

from bittwist import wire
from bittwist.factory import PeerServerFactory
from bittwist.peertimers import HANDSHAKE_TIMEOUT, IDLE_TIMEOUT
from bittwist.incomingrequests import MAX_QUEUED_REQUESTS
from bittwist.torrent import TorrentState
from tests.fakes import RecordingTransport
from tests.test_torrent import (
    BLOCK,
    NUM_PIECES,
    OUR_ID,
    PIECE_LENGTH,
    FakeRemote,
    TorrentTestCase,
    peerId,
)

ALL = range(NUM_PIECES)


class HostilePeerTests(TorrentTestCase):
    """
    A downloading torrent with one honest seeder (peer 1) meets one hostile
    peer (peer 2) at a time.
    """

    def setUp(self) -> None:
        super().setUp()
        self.makeTorrent(have=[0])
        self.honest = self.connect(1, pieces=ALL)
        self.honest.send(wire.Unchoke())

    def assertDroppedAndSwarmWorks(self, hostile: FakeRemote) -> None:
        """
        The hostile peer was dropped and is gone from the torrent; the honest
        one still delivers every piece.
        """
        self.assertTrue(hostile.dropped, "the hostile peer was not dropped")
        hostile.close()
        self.assertNotIn(hostile.proto, self.torrent.peers)
        self.downloadAll(self.honest, self.honest.requests())
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)
        self.assertEqual(self.torrent.status().hashFailures, 0)

    def rawIncoming(self, n: int, data: bytes) -> FakeRemote:
        """
        An incoming connection from peer C{n} that sends C{data} first.
        """
        factory = PeerServerFactory(self.clock, OUR_ID, {self.metainfo.infoHash: self.torrent.peerEvents}.get)
        peerAddress = IPv4Address("TCP", f"10.1.0.{n}", 40000 + n)
        proto = factory.buildProtocol(peerAddress)
        transport = RecordingTransport(peerAddress=peerAddress)
        proto.makeConnection(transport)
        proto.dataReceived(data)
        return FakeRemote(proto, transport)

    def test_wrongInfoHash(self) -> None:
        """
        A handshake for a torrent we do not serve is dropped unanswered.
        """
        hostile = self.rawIncoming(2, wire.encode(wire.Handshake(b"\x01" * 20, peerId(2))))
        self.assertEqual(hostile.transport.value(), b"")
        self.assertDroppedAndSwarmWorks(hostile)

    def test_wrongProtocolString(self) -> None:
        """
        A handshake naming another protocol is dropped.
        """
        data = bytearray(wire.encode(wire.Handshake(self.metainfo.infoHash, peerId(2))))
        data[1:20] = b"BitTorrent protocoX"
        self.assertDroppedAndSwarmWorks(self.rawIncoming(2, bytes(data)))

    def test_hugeLengthPrefix(self) -> None:
        """
        A message claiming to be 4 GiB long is dropped before anything is
        buffered.
        """
        hostile = self.connect(2)
        hostile.proto.dataReceived(struct.pack(">I", 0xFFFFFFFF) + b"\x07")
        self.assertDroppedAndSwarmWorks(hostile)

    def test_wrongLengthBitfield(self) -> None:
        """
        A bitfield of the wrong length is dropped.
        """
        hostile = self.connect(2)
        hostile.send(wire.Bitfield(b"\xff" * 3))
        self.assertDroppedAndSwarmWorks(hostile)

    def test_spareBitsSet(self) -> None:
        """
        A bitfield with bits set past the last piece is dropped.
        """
        hostile = self.connect(2)
        hostile.send(wire.Bitfield(b"\xff"))
        self.assertDroppedAndSwarmWorks(hostile)

    def test_haveOutOfRange(self) -> None:
        """
        A C{have} for a piece past the last one is dropped.
        """
        hostile = self.connect(2)
        hostile.send(wire.Have(NUM_PIECES))
        self.assertDroppedAndSwarmWorks(hostile)

    def test_requestOutOfRange(self) -> None:
        """
        A request for a piece past the last one, or past a piece's end, is
        dropped.
        """
        for n, request in (
            (2, wire.Request(NUM_PIECES, 0, BLOCK)),
            (3, wire.Request(0, PIECE_LENGTH, BLOCK)),
        ):
            hostile = self.accept(n)
            hostile.send(wire.Interested())
            hostile.send(request)
            self.assertTrue(hostile.dropped, f"{request} was not refused")
            hostile.close()
        self.assertDroppedAndSwarmWorks(hostile)

    def test_oversizedRequest(self) -> None:
        """
        A request for more than 128 KiB at once is dropped.
        """
        hostile = self.accept(2)
        hostile.proto.dataReceived(
            struct.pack(">IBIII", 13, 6, 0, 0, wire.MAX_BLOCK_LENGTH + 1)
        )
        self.assertDroppedAndSwarmWorks(hostile)

    def test_pieceOutOfRange(self) -> None:
        """
        Piece data for a piece past the last one is dropped.
        """
        hostile = self.connect(2, pieces=ALL)
        hostile.send(wire.Piece(NUM_PIECES, 0, b"x" * BLOCK))
        self.assertDroppedAndSwarmWorks(hostile)

    def test_unrequestedPiece(self) -> None:
        """
        Piece data we never asked that peer for is dropped, and nothing of it
        is stored.
        """
        hostile = self.connect(2, pieces=ALL)
        hostile.send(wire.Piece(3, 0, b"x" * BLOCK))
        self.assertDroppedAndSwarmWorks(hostile)
        start = 3 * PIECE_LENGTH
        self.assertEqual(
            self.storage.data[start : start + BLOCK], self.payload[start : start + BLOCK]
        )

    def test_requestFlood(self) -> None:
        """
        More than L{MAX_QUEUED_REQUESTS} requests queued at once (while its
        socket is full, so none is served) is dropped.
        """
        hostile = self.accept(2, pieces=[])
        hostile.send(wire.Interested())
        # Let the choker unchoke it, so that its requests are queued.
        self.clock.advance(10)
        self.assertFalse(hostile.proto.amChoking)
        hostile.proto.pauseProducing()
        hostile.send(*[wire.Request(0, begin, 1) for begin in range(MAX_QUEUED_REQUESTS + 1)])
        self.assertDroppedAndSwarmWorks(hostile)

    def test_silentPeer(self) -> None:
        """
        A peer that never sends its handshake is dropped after
        L{HANDSHAKE_TIMEOUT}; one that goes silent after it, after
        L{IDLE_TIMEOUT}.
        """
        mute = self.rawIncoming(2, b"")
        quiet = self.accept(3, pieces=[])
        for _ in range(int(HANDSHAKE_TIMEOUT) + 6):
            self.clock.advance(1)
            # The honest peer keeps talking.
            self.honest.send(wire.KeepAlive())
        self.assertTrue(mute.dropped)
        for _ in range(int(IDLE_TIMEOUT) + 6):
            self.clock.advance(1)
            if _ % 60 == 0:
                self.honest.send(wire.KeepAlive())
        self.assertDroppedAndSwarmWorks(quiet)
        mute.close()

    def test_selfConnection(self) -> None:
        """
        A connection to ourselves (our own peer id in the handshake) is
        dropped, and its address is not dialled again.
        """
        hostile = self.dial(2, remoteId=OUR_ID)
        self.assertTrue(hostile.dropped)
        hostile.close()
        # Long past the back-off of a failed connection (10 s).
        self.clock.advance(60)
        self.torrent.swarm.connectMore()
        self.assertEqual(len(self.endpoints.pending(("10.0.0.2", 6881))), 0)
        self.assertDroppedAndSwarmWorks(hostile)

    def test_duplicateConnection(self) -> None:
        """
        A second connection from a peer id already connected is dropped; the
        first stays.
        """
        hostile = self.accept(9)
        duplicate = self.rawIncoming(
            10, wire.encode(wire.Handshake(self.metainfo.infoHash, peerId(9)))
        )
        self.assertTrue(duplicate.dropped)
        self.assertFalse(hostile.dropped)
        duplicate.close()
        self.assertIn(hostile.proto, self.torrent.peers)
        hostile.proto.drop("test over")
        self.assertDroppedAndSwarmWorks(hostile)

