"""
Tests for L{bittwist.torrent.metadatafetch} and L{bittwist.magnet.torrentFile}:
fetching a torrent's metadata from peers, on a L{Clock}.
"""

import hashlib
import random
from typing import Optional

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import ExtensionError
from bittwist.extensions.handshake import ExtendedHandshake
from bittwist.extensions.ut_metadata import (
    METADATA_PIECE_SIZE,
    MetadataData,
    MetadataReject,
    MetadataRequest,
    decodeMetadataMessage,
)
from bittwist.magnet import torrentFile
from bittwist.metainfo import createTorrent, parse
from bittwist.torrent.metadatafetch import (
    REQUEST_TIMEOUT,
    REQUESTS_PER_PEER,
    RETRY_AFTER,
    MetadataFetcher,
)


class FakePeer:
    """
    What the fetcher sees of a peer connection.

    @ivar sent: the ut_metadata messages sent to it, decoded.
    @ivar dropped: why it was dropped, if it was.
    """

    def __init__(self, name: str, metadataSize: Optional[int], speaks: bool = True) -> None:
        self.name = name
        self.extendedHandshake = ExtendedHandshake(
            extensions={"ut_metadata": 3}, metadataSize=metadataSize
        )
        self.speaks = speaks
        self.sent: list[object] = []
        self.dropped: Optional[str] = None
        # It stands in for the connection's sender too.
        self.sender = self

    def __repr__(self) -> str:
        return self.name

    def supports(self, name: str) -> bool:
        return self.speaks and name == "ut_metadata"

    def sendExtended(self, name: str, payload: bytes) -> bool:
        if not self.supports(name) or self.dropped:
            return False
        self.sent.append(decodeMetadataMessage(payload))
        return True

    def drop(self, why: str) -> None:
        self.dropped = why

    def requested(self) -> list[int]:
        return [m.piece for m in self.sent if isinstance(m, MetadataRequest)]


def makeMetadata(testCase: SynchronousTestCase, size: int = 3 * METADATA_PIECE_SIZE + 100) -> bytes:
    """
    @return: the info dictionary of a real torrent, padded by a long name to
        about C{size} bytes.
    """
    path = testCase.mktemp()
    with open(path, "wb") as f:
        f.write(random.Random(1).randbytes(4096))
    metainfo = parse(createTorrent(path, pieceLength=16384))
    # Pad with a private key (info keys are kept as they are) to span
    # several metadata pieces.
    info = metainfo.infoBytes
    pad = size - len(info) - len(b"6:zzzzzz") - len(str(size)) - 2
    padded = info[:-1] + b"6:zzzzzz%d:%s" % (pad, b"x" * pad) + b"e"
    return padded


def data(metadata: bytes, piece: int) -> bytes:
    start = piece * METADATA_PIECE_SIZE
    return MetadataData(piece, len(metadata), metadata[start : start + METADATA_PIECE_SIZE]).encode()


class MetadataFetcherTests(SynchronousTestCase):
    """
    Tests for L{MetadataFetcher}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.metadata = makeMetadata(self)
        self.infoHash = hashlib.sha1(self.metadata).digest()
        self.fetcher = MetadataFetcher(self.infoHash, self.clock)

    def answerAll(self, peer: FakePeer) -> None:
        """
        Answer every request C{peer} got, until it gets no more.
        """
        answered = 0
        while answered < len(peer.requested()):
            piece = peer.requested()[answered]
            answered += 1
            self.fetcher.received(peer, data(self.metadata, piece))

    def test_fetchesFromOnePeer(self) -> None:
        """
        A peer that offers the metadata is asked for at most
        L{REQUESTS_PER_PEER} pieces at a time; once every piece is in and
        matches the info hash, C{whenFetched} fires with the bytes.
        """
        peer = FakePeer("a", len(self.metadata))
        d = self.fetcher.whenFetched()
        self.fetcher.peerReady(peer)
        self.assertEqual(peer.requested(), [0, 1, 2, 3][:REQUESTS_PER_PEER])
        self.answerAll(peer)
        self.assertEqual(self.successResultOf(d), self.metadata)
        self.assertEqual(self.fetcher.progress, 1.0)
        self.assertEqual(self.successResultOf(self.fetcher.whenFetched()), self.metadata)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_peersWithoutMetadataIgnored(self) -> None:
        """
        A peer whose handshake has no C{metadata_size} is not asked.
        """
        peer = FakePeer("a", None)
        self.fetcher.peerReady(peer)
        self.assertEqual(peer.sent, [])

    def test_spreadOverPeers(self) -> None:
        """
        With several peers, the pieces are asked of different peers first.
        """
        metadata = makeMetadata(self, 8 * METADATA_PIECE_SIZE - 50)
        fetcher = MetadataFetcher(hashlib.sha1(metadata).digest(), self.clock)
        a, b = FakePeer("a", len(metadata)), FakePeer("b", len(metadata))
        fetcher.peerReady(a)
        fetcher.peerReady(b)
        self.assertEqual((a.requested(), b.requested()), ([0, 1, 2, 3], [4, 5, 6, 7]))

    def test_timeoutAsksAnother(self) -> None:
        """
        A request not answered within L{REQUEST_TIMEOUT} is asked of another
        peer; a late answer is ignored.
        """
        slow = FakePeer("slow", len(self.metadata))
        self.fetcher.peerReady(slow)
        fast = FakePeer("fast", len(self.metadata))
        d = self.fetcher.whenFetched()
        self.clock.advance(REQUEST_TIMEOUT)
        self.fetcher.peerReady(fast)
        self.assertEqual(sorted(fast.requested()), [0, 1, 2, 3])
        self.fetcher.received(slow, data(self.metadata, 0))
        self.answerAll(fast)
        self.assertEqual(self.successResultOf(d), self.metadata)
        self.assertIsNone(slow.dropped)

    def test_rejectAsksAnother(self) -> None:
        """
        A rejected piece is asked of another peer.
        """
        a, b = FakePeer("a", len(self.metadata)), FakePeer("b", len(self.metadata))
        self.fetcher.peerReady(a)
        self.fetcher.received(a, MetadataReject(0).encode())
        self.fetcher.peerReady(b)
        self.assertIn(0, b.requested())

    def test_onlyPeerAskedAgain(self) -> None:
        """
        The only peer, having rejected a piece or let a request time out,
        is asked for it again after L{RETRY_AFTER}: the fetch does not stall.
        """
        peer = FakePeer("only", len(self.metadata))
        d = self.fetcher.whenFetched()
        self.fetcher.peerReady(peer)
        self.assertEqual(peer.requested(), [0, 1, 2, 3])
        self.fetcher.received(peer, MetadataReject(0).encode())
        self.clock.advance(RETRY_AFTER)
        self.assertEqual(peer.requested(), [0, 1, 2, 3, 0])
        # Pieces 1 to 3 time out: asked again after the delay.
        self.clock.advance(REQUEST_TIMEOUT - RETRY_AFTER)
        self.clock.advance(RETRY_AFTER)
        self.assertEqual(sorted(peer.requested()[5:]), [0, 1, 2, 3])
        for piece in range(4):
            self.fetcher.received(peer, data(self.metadata, piece))
        self.assertEqual(self.successResultOf(d), self.metadata)

    def test_wrongMetadataDropsSenders(self) -> None:
        """
        Metadata that does not match the info hash is thrown away, its
        senders are dropped, and fetching goes on with the others.
        """
        liar = FakePeer("liar", len(self.metadata))
        d = self.fetcher.whenFetched()
        self.fetcher.peerReady(liar)
        bad = bytearray(self.metadata)
        bad[5] ^= 1
        for piece in liar.requested():
            self.fetcher.received(liar, data(bytes(bad), piece))
        self.assertIsNotNone(liar.dropped)
        self.assertNoResult(d)
        self.fetcher.peerGone(liar)
        honest = FakePeer("honest", len(self.metadata))
        self.fetcher.peerReady(honest)
        self.answerAll(honest)
        self.assertEqual(self.successResultOf(d), self.metadata)

    def test_wrongSizeRefused(self) -> None:
        """
        Data whose total size is not the announced one is a protocol error.
        """
        peer = FakePeer("a", len(self.metadata))
        self.fetcher.peerReady(peer)
        bad = MetadataData(0, len(self.metadata) + 1, self.metadata[:METADATA_PIECE_SIZE])
        self.assertRaises(ExtensionError, self.fetcher.received, peer, bad.encode())

    def test_requestsRejected(self) -> None:
        """
        A peer asking us for metadata gets a reject: we have none yet.
        """
        peer = FakePeer("a", None)
        self.fetcher.received(peer, MetadataRequest(1).encode())
        self.assertEqual(peer.sent, [MetadataReject(1)])

    def test_peerGoneCancelsTimers(self) -> None:
        """
        A peer that leaves takes its request timers with it; its pieces go
        to the next peer.
        """
        a = FakePeer("a", len(self.metadata))
        self.fetcher.peerReady(a)
        self.fetcher.peerGone(a)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        b = FakePeer("b", len(self.metadata))
        self.fetcher.peerReady(b)
        self.assertEqual(sorted(b.requested()), [0, 1, 2, 3])

    def test_unaskedDataRefused(self) -> None:
        """
        Data from a peer that was never asked is a protocol error.
        """
        stranger = FakePeer("x", None)
        self.assertRaises(
            ExtensionError, self.fetcher.received, stranger, data(self.metadata, 0)
        )


class TorrentFileTests(SynchronousTestCase):
    """
    Tests for L{torrentFile}.
    """

    def test_keepsInfoHash(self) -> None:
        """
        The torrent made from fetched metadata parses, has the same info
        hash, and lists the trackers, each in its own tier.
        """
        metadata = makeMetadata(self, 2000)
        trackers = ("http://a.example/announce", "udp://b.example:6969")
        metainfo = parse(torrentFile(metadata, trackers))
        self.assertEqual(metainfo.infoHash, hashlib.sha1(metadata).digest())
        self.assertEqual(metainfo.infoBytes, metadata)
        self.assertEqual([list(t) for t in metainfo.announceTiers], [[t] for t in trackers])
        self.assertEqual(list(parse(torrentFile(metadata)).announceTiers), [])
