# -*- test-case-name: tests.test_ut_metadata -*-
"""
Tests for L{bittwist.extensions.ut_metadata}.
"""

import hashlib
import ipaddress
import os

import bencodepy
import libtorrent as lt
from hypothesis import given, settings, strategies as st
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bittwist import metainfo, wire
from bittwist.errors import ExtensionError, MetadataHashError, MetainfoError
from bittwist.extensions.handshake import (
    HANDSHAKE_ID,
    MAX_METADATA_SIZE,
    ExtendedHandshake,
    ExtensionRegistry,
)
from bittwist.fast import allowedFastSet
from tests.ltpeer import LibtorrentPeer, createTorrentWithLibtorrent, makePayload
from bittwist.extensions.ut_metadata import (
    MAX_METADATA_PIECES,
    MAX_REQUESTS_PER_PIECE,
    METADATA_PIECE_SIZE,
    MetadataAssembler,
    MetadataData,
    MetadataMessageType,
    MetadataReject,
    MetadataRequest,
    answerRequest,
    decodeMetadataMessage,
    metadataPieceCount,
    metadataPieceSize,
)
from bittwist.wire import MAX_EXTENDED_PAYLOAD

INFO = bencodepy.encode(
    {b"name": b"x", b"piece length": 16384, b"pieces": bytes(range(256)) * 160}
)
INFO_HASH = hashlib.sha1(INFO).digest()


def pieceOf(info: bytes, piece: int) -> MetadataData:
    """
    @return: the data message for piece C{piece} of C{info}.
    """
    return MetadataData(
        piece, len(info), info[piece * METADATA_PIECE_SIZE : (piece + 1) * METADATA_PIECE_SIZE]
    )


class SizeTests(SynchronousTestCase):
    """
    Tests for L{metadataPieceCount} and L{metadataPieceSize}.
    """

    def test_sizes(self) -> None:
        """
        Pieces are 16 KiB but the last, which has what is left.
        """
        self.assertEqual(metadataPieceCount(1), 1)
        self.assertEqual(metadataPieceCount(16384), 1)
        self.assertEqual(metadataPieceCount(16385), 2)
        self.assertEqual(metadataPieceSize(16385, 0), 16384)
        self.assertEqual(metadataPieceSize(16385, 1), 1)
        self.assertEqual(metadataPieceSize(32768, 1), 16384)
        self.assertRaises(ValueError, metadataPieceSize, 16384, 1)
        self.assertRaises(ValueError, metadataPieceSize, 16384, -1)
        self.assertEqual(MAX_METADATA_PIECES, 4096)


class MessageTests(SynchronousTestCase):
    """
    Tests for the messages and L{decodeMetadataMessage}.
    """

    def test_encode(self) -> None:
        """
        Messages encode as BEP 9 shows them; a data message's bytes follow
        its dictionary.
        """
        self.assertEqual(MetadataRequest(0).encode(), b"d8:msg_typei0e5:piecei0ee")
        self.assertEqual(MetadataReject(3).encode(), b"d8:msg_typei2e5:piecei3ee")
        self.assertEqual(
            MetadataData(0, 3, b"abc").encode(),
            b"d8:msg_typei1e5:piecei0e10:total_sizei3eeabc",
        )
        self.assertEqual(list(MetadataMessageType), [0, 1, 2])

    def test_roundTrip(self) -> None:
        """
        Each message decodes from its encoding to itself; the largest data
        message fits an extended message.
        """
        for message in [
            MetadataRequest(0),
            MetadataRequest(MAX_METADATA_PIECES - 1),
            MetadataReject(7),
            MetadataData(0, 3, b"abc"),
            MetadataData(1, 16384 + 5, b"12345"),
            MetadataData(0, MAX_METADATA_SIZE, bytes(METADATA_PIECE_SIZE)),
        ]:
            payload = message.encode()
            self.assertLessEqual(len(payload), MAX_EXTENDED_PAYLOAD)
            self.assertEqual(decodeMetadataMessage(payload), message)

    def test_dataDictionaryEndsInsideData(self) -> None:
        """
        The data bytes may look like bencode themselves: the dictionary's
        end is where its own bencode ends.
        """
        message = MetadataData(0, 8, b"ei1ee1:x")
        self.assertEqual(decodeMetadataMessage(message.encode()), message)

    def test_lenient(self) -> None:
        """
        Unknown keys, keys out of order and bytes after a request are
        ignored; an unknown C{msg_type} gives C{None}.
        """
        self.assertEqual(
            decodeMetadataMessage(b"d5:piecei2e1:xle8:msg_typei0eetrailing"),
            MetadataRequest(2),
        )
        self.assertIsNone(decodeMetadataMessage(b"d8:msg_typei7e5:piecei0ee"))

    def test_errors(self) -> None:
        """
        Bad dictionaries, missing or mistyped fields, impossible pieces and
        sizes, and data of the wrong size are L{ExtensionError}s.
        """
        for payload in [
            b"",
            b"le",
            b"d8:msg_typei0e",
            b"d8:msg_typei0e5:piece",
            b"d5:piecei0ee",
            b"d8:msg_typei0ee",
            b"d8:msg_type1:05:piecei0ee",
            b"d8:msg_typei0e5:piecei-1ee",
            b"d8:msg_typei0e5:piece" + b"i%de" % MAX_METADATA_PIECES + b"e",
            b"d8:msg_typei1e5:piecei0eeabc",
            b"d8:msg_typei1e5:piecei0e10:total_sizei0eeabc",
            b"d8:msg_typei1e5:piecei0e10:total_sizei4eeabc",
            b"d8:msg_typei1e5:piecei0e10:total_sizei2eeabc",
            b"d8:msg_typei1e5:piecei1e10:total_sizei3eeabc",
            b"d8:msg_typei1e5:piecei0e10:total_size"
            + b"i%de" % (MAX_METADATA_SIZE + 1) + b"e" + bytes(16384),
            b"d8:msg_typei01e5:piecei0ee",
        ]:
            self.assertRaises(ExtensionError, decodeMetadataMessage, payload)

    def test_repr(self) -> None:
        """
        A data message's repr shows the size of its data, not the data.
        """
        self.assertEqual(
            repr(MetadataData(1, 20000, b"x" * 3616)),
            "MetadataData(piece=1, totalSize=20000, data=<3616 bytes>)",
        )

    @given(st.binary(max_size=300))
    def test_arbitraryBytes(self, payload) -> None:
        """
        Arbitrary bytes decode to a message or C{None}, or raise
        L{ExtensionError}, nothing else.
        """
        try:
            decodeMetadataMessage(payload)
        except ExtensionError:
            pass

    @given(
        st.dictionaries(
            st.sampled_from([b"msg_type", b"piece", b"total_size", b"x"]),
            st.one_of(st.integers(-3, 5), st.integers(), st.binary(max_size=4)),
        ),
        st.binary(max_size=40),
    )
    def test_arbitraryDictionaries(self, top, tail) -> None:
        """
        Dictionaries with BEP 9's keys and any values, followed by any
        bytes, decode to a message or C{None} or raise L{ExtensionError};
        what decodes re-encodes to the bytes (up to ignored keys).
        """
        try:
            message = decodeMetadataMessage(bencodepy.encode(top) + tail)
        except ExtensionError:
            return
        if message is not None:
            self.assertEqual(decodeMetadataMessage(message.encode()), message)


class AnswerRequestTests(SynchronousTestCase):
    """
    Tests for L{answerRequest}.
    """

    def test_pieces(self) -> None:
        """
        Each piece of our metadata is served, the last one short.
        """
        count = metadataPieceCount(len(INFO))
        self.assertEqual(count, 3)
        served = [answerRequest(INFO, MetadataRequest(i)) for i in range(count)]
        self.assertEqual(served, [pieceOf(INFO, i) for i in range(count)])
        self.assertEqual(b"".join(m.data for m in served), INFO)

    def test_reject(self) -> None:
        """
        Without metadata, or for a piece it does not have, the answer is a
        reject.
        """
        self.assertEqual(answerRequest(None, MetadataRequest(0)), MetadataReject(0))
        self.assertEqual(answerRequest(INFO, MetadataRequest(3)), MetadataReject(3))


class MetadataAssemblerTests(SynchronousTestCase):
    """
    Tests for L{MetadataAssembler}.
    """

    def setUp(self) -> None:
        self.assembler = MetadataAssembler(INFO_HASH, len(INFO))

    def test_arguments(self) -> None:
        """
        A bad info hash or size is refused with L{ValueError}.
        """
        self.assertRaises(ValueError, MetadataAssembler, INFO_HASH[:19], 10)
        self.assertRaises(ValueError, MetadataAssembler, INFO_HASH, 0)
        self.assertRaises(ValueError, MetadataAssembler, INFO_HASH, MAX_METADATA_SIZE + 1)

    def test_onePeer(self) -> None:
        """
        One peer is asked for every piece in order; once all are in, the
        verified metadata is returned.
        """
        requests = [self.assembler.nextRequest("a") for _ in range(3)]
        self.assertEqual(requests, [MetadataRequest(0), MetadataRequest(1), MetadataRequest(2)])
        self.assertIsNone(self.assembler.nextRequest("a"))
        self.assertEqual(self.assembler.requestsOf("a"), {0, 1, 2})
        self.assertIsNone(self.assembler.receiveData("a", pieceOf(INFO, 2)))
        self.assertIsNone(self.assembler.receiveData("a", pieceOf(INFO, 0)))
        self.assertEqual(self.assembler.receivedPieces, 2)
        self.assertEqual(self.assembler.receiveData("a", pieceOf(INFO, 1)), INFO)

    def test_severalPeers(self) -> None:
        """
        Several peers are asked for different pieces first; at the end a
        missing piece is asked of a second peer, never a third.
        """
        self.assertEqual(self.assembler.nextRequest("a"), MetadataRequest(0))
        self.assertEqual(self.assembler.nextRequest("b"), MetadataRequest(1))
        self.assertEqual(self.assembler.nextRequest("c"), MetadataRequest(2))
        self.assertEqual(self.assembler.nextRequest("a"), MetadataRequest(1))
        self.assertEqual(self.assembler.nextRequest("a"), MetadataRequest(2))
        self.assertIsNone(self.assembler.nextRequest("a"))
        self.assertEqual(self.assembler.nextRequest("b"), MetadataRequest(0))
        self.assertEqual(MAX_REQUESTS_PER_PIECE, 2)
        self.assertIsNone(self.assembler.nextRequest("d"))
        self.assertIsNone(self.assembler.receiveData("b", pieceOf(INFO, 1)))
        self.assertIsNone(self.assembler.receiveData("a", pieceOf(INFO, 1)))
        self.assertEqual(self.assembler.receivedPieces, 1)

    def test_rejectAndTimeout(self) -> None:
        """
        A rejected or timed-out piece is asked of another peer, never again
        of the same one.
        """
        self.assertEqual(self.assembler.nextRequest("a"), MetadataRequest(0))
        self.assembler.receiveReject("a", MetadataReject(0))
        self.assertEqual(self.assembler.nextRequest("a"), MetadataRequest(1))
        self.assertEqual(self.assembler.nextRequest("b"), MetadataRequest(0))
        self.assembler.cancelRequest("b", 0)
        self.assertEqual(self.assembler.nextRequest("b"), MetadataRequest(2))
        self.assertEqual(self.assembler.nextRequest("c"), MetadataRequest(0))
        self.assertEqual(self.assembler.requestsOf("b"), {2})

    def test_peerLost(self) -> None:
        """
        The requests of a lost peer are asked of others.
        """
        self.assembler.nextRequest("a")
        self.assembler.nextRequest("a")
        self.assembler.peerLost("a")
        self.assertEqual(self.assembler.requestsOf("a"), set())
        self.assertEqual(self.assembler.nextRequest("b"), MetadataRequest(0))
        self.assertEqual(self.assembler.nextRequest("b"), MetadataRequest(1))

    def test_wrongSizes(self) -> None:
        """
        A piece for another total size, a piece that does not exist or one
        of the wrong size is an L{ExtensionError}.
        """
        for message in [
            MetadataData(0, len(INFO) + 1, bytes(METADATA_PIECE_SIZE)),
            MetadataData(3, len(INFO), b"x"),
            MetadataData(0, len(INFO), b"x"),
            MetadataData(2, len(INFO), bytes(METADATA_PIECE_SIZE)),
        ]:
            self.assertRaises(ExtensionError, self.assembler.receiveData, "a", message)
        self.assertEqual(self.assembler.receivedPieces, 0)

    def test_badHash(self) -> None:
        """
        Metadata that does not match the info hash raises
        L{MetadataHashError} naming the senders, a L{MetainfoError}; the
        pieces are discarded and fetching starts over.
        """
        bad = bytearray(INFO)
        bad[-1] ^= 1
        bad = bytes(bad)
        self.assembler.receiveData("a", pieceOf(bad, 0))
        self.assembler.receiveData("b", pieceOf(bad, 1))
        error = self.assertRaises(
            MetadataHashError, self.assembler.receiveData, "b", pieceOf(bad, 2)
        )
        self.assertIsInstance(error, MetainfoError)
        self.assertEqual(error.peers, frozenset({"a", "b"}))
        self.assertEqual(error.infoHash, INFO_HASH)
        self.assertIn(INFO_HASH.hex(), str(error))
        self.assertEqual(self.assembler.receivedPieces, 0)
        self.assertEqual(self.assembler.nextRequest("a"), MetadataRequest(0))
        for piece in range(3):
            result = self.assembler.receiveData("c", pieceOf(INFO, piece))
        self.assertEqual(result, INFO)

    @given(
        st.binary(min_size=1, max_size=3 * METADATA_PIECE_SIZE + 10),
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=60),
    )
    @settings(max_examples=50, deadline=None)
    def test_anyOrder(self, info, events) -> None:
        """
        Whatever peers ask, reject and leave in whatever order, nobody is
        asked for a piece already asked of it, and once the requests left
        time out, other peers serving what they are asked fetch the
        metadata.
        """
        assembler = MetadataAssembler(hashlib.sha1(info).digest(), len(info))
        outstanding: dict = {}
        result = None
        for peer, action in events:
            if action == 0:
                request = assembler.nextRequest(peer)
                if request is not None:
                    self.assertNotIn(request.piece, outstanding.get(peer, set()))
                    outstanding.setdefault(peer, set()).add(request.piece)
            elif action == 1 and outstanding.get(peer):
                piece = outstanding[peer].pop()
                assembler.receiveReject(peer, MetadataReject(piece))
            elif action == 2:
                assembler.peerLost(peer)
                outstanding.pop(peer, None)
        # Then the outstanding requests time out, and fresh peers serve
        # every request to the end.
        for peer, pieces in outstanding.items():
            for piece in pieces:
                assembler.cancelRequest(peer, piece)
        fresh = 100
        while result is None:
            request = assembler.nextRequest(fresh)
            if request is None:
                fresh += 1
                continue
            result = assembler.receiveData(fresh, answerRequest(info, request))
        self.assertEqual(result, info)


class _MetadataProbe(Protocol):
    """
    A minimal peer that speaks the wire codec, the extended handshake and
    C{ut_metadata} to a real peer: it announces the fast extension and the
    extension protocol, then fetches the metadata, and notes the fast
    extension's messages it gets.

    @ivar done: fires with the metadata, or fails with the first error.
    """

    RESERVED = wire.makeReserved(
        wire.ReservedBit.FAST, wire.ReservedBit.EXTENSION_PROTOCOL
    )

    def __init__(self, infoHash: bytes) -> None:
        self.infoHash = infoHash
        self.done: Deferred = Deferred()
        self.decoder = wire.Decoder(reserved=self.RESERVED)
        self.registry = ExtensionRegistry.withNames("ut_pex", "ut_metadata")
        self.messages: list = []
        self.peerHandshake: ExtendedHandshake | None = None
        self.assembler: MetadataAssembler | None = None
        self.metadata: bytes | None = None

    def connectionMade(self) -> None:
        ours = self.registry.makeHandshake(client="bittwist tests", requestQueue=16)
        self.transport.write(
            wire.encode(wire.Handshake(self.infoHash, b"-BW0100-metadataprob", self.RESERVED))
            + wire.encode(wire.Extended(HANDSHAKE_ID, ours.encode()))
            + wire.encode(wire.HaveNone())
            # libtorrent sends its allowed fast set to interested peers.
            + wire.encode(wire.Interested())
        )

    def dataReceived(self, data: bytes) -> None:
        try:
            for message in self.decoder.receiveData(data):
                self.messages.append(message)
                if isinstance(message, wire.Extended):
                    self.receiveExtended(message)
        except Exception as e:
            self.transport.abortConnection()
            if not self.done.called:
                self.done.errback(e)
            return
        allowed = [m for m in self.messages if isinstance(m, wire.AllowedFast)]
        if self.metadata is not None and len(allowed) >= 5 and not self.done.called:
            self.done.callback(self.metadata)

    def receiveExtended(self, message: wire.Extended) -> None:
        if message.extendedId == HANDSHAKE_ID:
            self.peerHandshake = ExtendedHandshake.decode(message.payload)
            self.registry.receiveHandshake(self.peerHandshake)
            self.assembler = MetadataAssembler(self.infoHash, self.peerHandshake.metadataSize)
            while (request := self.assembler.nextRequest("libtorrent")) is not None:
                self.transport.write(
                    wire.encode(self.registry.message("ut_metadata", request.encode()))
                )
            return
        if self.registry.localName(message.extendedId) != "ut_metadata":
            return
        answer = decodeMetadataMessage(message.payload)
        if isinstance(answer, MetadataData):
            result = self.assembler.receiveData("libtorrent", answer)
            if result is not None:
                self.metadata = result

    def connectionLost(self, reason) -> None:
        if not self.done.called:
            self.done.errback(reason)


class LibtorrentTests(TestCase):
    """
    The extension messages against a real libtorrent seed on 127.0.0.1.
    """

    timeout = 60

    @inlineCallbacks
    def test_fetchMetadata(self) -> None:
        """
        From a libtorrent seed, over a connection that negotiates both
        extensions: its extended handshake decodes (client, C{metadata_size},
        C{yourip}, its C{ut_metadata} id), it sends C{have all} and its
        allowed fast set, which is libtorrent's variant of the BEP's for our
        address, and the metadata fetched in several pieces is the torrent's
        info dictionary.
        """
        seedDir = os.path.abspath(self.mktemp())
        # 1300 pieces of 16 KiB: the metadata is two ut_metadata pieces.
        makePayload(seedDir, {"payload.bin": 1300 * 16384 - 1000}, seed=3)
        data = createTorrentWithLibtorrent(
            seedDir, "payload.bin", pieceLength=16384, v1Only=True
        )
        torrent = metainfo.parse(data)
        self.assertEqual(metadataPieceCount(len(torrent.infoBytes)), 2)
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor)
        yield seeder.start()
        self.addCleanup(seeder.stop)

        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", seeder.port)
        probe = _MetadataProbe(torrent.infoHash)
        yield connectProtocol(endpoint, probe)
        self.addCleanup(probe.transport.loseConnection)
        probe.done.addTimeout(30, reactor)
        try:
            metadata = yield probe.done
        except ConnectionDone:
            self.fail(f"libtorrent closed the connection: {seeder.describe()}")
        self.assertEqual(metadata, torrent.infoBytes)
        handshake = probe.peerHandshake
        self.assertTrue(handshake.client.startswith("libtorrent"))
        self.assertEqual(handshake.client, handshake.client.strip())
        self.assertEqual(handshake.metadataSize, len(torrent.infoBytes))
        self.assertEqual(handshake.yourIp, ipaddress.IPv4Address("127.0.0.1"))
        self.assertTrue(handshake.uploadOnly)
        self.assertIsNotNone(probe.registry.remoteId("ut_metadata"))
        self.assertTrue(probe.decoder.fast)
        self.assertTrue(probe.decoder.extensionProtocol)
        self.assertIn(wire.HaveAll(), probe.messages)
        allowed = {m.index for m in probe.messages if isinstance(m, wire.AllowedFast)}
        self.assertEqual(
            allowed,
            set(
                allowedFastSet(
                    "127.0.0.1",
                    torrent.infoHash,
                    torrent.numPieces,
                    lt.default_settings()["allowed_fast_set_size"],
                    maskNetwork=False,
                )
            ),
        )
