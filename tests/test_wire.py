# -*- test-case-name: tests.test_wire -*-
"""
Tests for L{bittwist.wire}.
"""

import struct

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import ProtocolError
from bittwist.wire import (
    BLOCK_SIZE,
    HANDSHAKE_LENGTH,
    MAX_BLOCK_LENGTH,
    MAX_EXTENDED_PAYLOAD,
    MAX_MESSAGE_LENGTH,
    PROTOCOL_NAME,
    AllowedFast,
    Bitfield,
    Cancel,
    Choke,
    Decoder,
    Extended,
    Handshake,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    NotInterested,
    Piece,
    Port,
    RejectRequest,
    Request,
    Requests,
    ReservedBit,
    SuggestPiece,
    Unchoke,
    UnknownMessage,
    encode,
    encodePieceHeader,
    encodeRequest,
    hasReservedBit,
    makeReserved,
    setReservedBit,
)

INFO_HASH = bytes(range(20))
PEER_ID = b"-BT0001-abcdefghijkl"
HANDSHAKE = Handshake(INFO_HASH, PEER_ID, reserved=b"\x00\x00\x00\x00\x00\x10\x00\x05")

ALL_MESSAGES = [
    KeepAlive(),
    Choke(),
    Unchoke(),
    Interested(),
    NotInterested(),
    Have(7),
    Bitfield(b"\xff\xfe"),
    Request(1, 16384, 16384),
    Piece(1, 16384, b"block data"),
    Cancel(1, 16384, 16384),
    Port(6881),
    UnknownMessage(20, b"d1:md11:ut_metadatai1eee"),
    UnknownMessage(14, b""),
]

EXTENSIONS = makeReserved(ReservedBit.FAST, ReservedBit.EXTENSION_PROTOCOL)

EXTENSION_MESSAGES = [
    SuggestPiece(5),
    HaveAll(),
    HaveNone(),
    RejectRequest(1, 16384, 16384),
    AllowedFast(2**32 - 1),
    Extended(0, b"d1:md11:ut_metadatai3eee"),
    Extended(3, b""),
    Extended(255, b"\x00" * 100),
]

uint32 = st.integers(min_value=0, max_value=2**32 - 1)
blockLength = st.integers(min_value=1, max_value=MAX_BLOCK_LENGTH)
messages = st.one_of(
    st.builds(KeepAlive),
    st.builds(Choke),
    st.builds(Unchoke),
    st.builds(Interested),
    st.builds(NotInterested),
    st.builds(Have, uint32),
    st.builds(Bitfield, st.binary(max_size=64)),
    st.builds(Request, uint32, uint32, blockLength),
    st.builds(Piece, uint32, uint32, st.binary(max_size=200)),
    st.builds(Cancel, uint32, uint32, blockLength),
    st.builds(Port, st.integers(min_value=0, max_value=65535)),
    st.builds(
        UnknownMessage, st.integers(min_value=10, max_value=255), st.binary(max_size=64)
    ),
)
extensionMessages = st.one_of(
    st.builds(SuggestPiece, uint32),
    st.builds(HaveAll),
    st.builds(HaveNone),
    st.builds(RejectRequest, uint32, uint32, blockLength),
    st.builds(AllowedFast, uint32),
    st.builds(
        Extended, st.integers(min_value=0, max_value=255), st.binary(max_size=64)
    ),
)
handshakes = st.builds(
    Handshake,
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=8, max_size=8),
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """
    @return: C{data} cut at the offsets C{cuts} (taken modulo its length).
    """
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def feed(decoder: Decoder, chunks) -> list:
    """
    @return: every message C{decoder} returns for C{chunks}, in order.
    """
    received = []
    for chunk in chunks:
        received.extend(decoder.receiveData(chunk))
    return received


def header(length: int, messageId: int) -> bytes:
    return struct.pack(">IB", length, messageId)


def extensionDecoder(**kw) -> Decoder:
    """
    @return: a decoder, expecting no handshake, that has negotiated the fast
        extension and the extension protocol.
    """
    decoder = Decoder(expectHandshake=False, reserved=EXTENSIONS, **kw)
    decoder.negotiate(EXTENSIONS)
    return decoder


class EncodeTests(SynchronousTestCase):
    """
    Tests for L{encode}, L{encodePieceHeader} and L{encodeRequest}.
    """

    def test_handshakeLayout(self) -> None:
        """
        A handshake is pstrlen 19, the protocol name, reserved, info hash and
        peer id: 68 bytes.
        """
        data = encode(HANDSHAKE)
        self.assertEqual(len(data), HANDSHAKE_LENGTH)
        self.assertEqual(
            data, b"\x13" + PROTOCOL_NAME + HANDSHAKE.reserved + INFO_HASH + PEER_ID
        )

    def test_handshakeDefaultReserved(self) -> None:
        """
        A handshake's reserved bytes default to 8 zero bytes.
        """
        self.assertEqual(encode(Handshake(INFO_HASH, PEER_ID))[20:28], bytes(8))

    def test_knownBytes(self) -> None:
        """
        Messages encode to the bytes BEP 3 gives: a 4-byte big-endian length,
        the id, the payload.
        """
        self.assertEqual(encode(KeepAlive()), b"\x00\x00\x00\x00")
        self.assertEqual(encode(Choke()), b"\x00\x00\x00\x01\x00")
        self.assertEqual(encode(Unchoke()), b"\x00\x00\x00\x01\x01")
        self.assertEqual(encode(Interested()), b"\x00\x00\x00\x01\x02")
        self.assertEqual(encode(NotInterested()), b"\x00\x00\x00\x01\x03")
        self.assertEqual(encode(Have(258)), b"\x00\x00\x00\x05\x04\x00\x00\x01\x02")
        self.assertEqual(encode(Bitfield(b"\xa0")), b"\x00\x00\x00\x02\x05\xa0")
        self.assertEqual(
            encode(Request(1, 2, 16384)),
            b"\x00\x00\x00\x0d\x06\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x40\x00",
        )
        self.assertEqual(
            encode(Piece(1, 2, b"ab")),
            b"\x00\x00\x00\x0b\x07\x00\x00\x00\x01\x00\x00\x00\x02ab",
        )
        self.assertEqual(
            encode(Cancel(1, 2, 3)),
            b"\x00\x00\x00\x0d\x08\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03",
        )
        self.assertEqual(encode(Port(6881)), b"\x00\x00\x00\x03\x09\x1a\xe1")
        self.assertEqual(encode(UnknownMessage(20, b"xy")), b"\x00\x00\x00\x03\x14xy")

    def test_pieceHeader(self) -> None:
        """
        L{encodePieceHeader} gives the first 13 bytes of the encoded piece,
        and those followed by the block are the whole message.
        """
        block = b"z" * BLOCK_SIZE
        whole = encode(Piece(3, BLOCK_SIZE, block))
        headerBytes = encodePieceHeader(3, BLOCK_SIZE, len(block))
        self.assertEqual(len(headerBytes), 13)
        self.assertEqual(headerBytes + block, whole)

    def test_request(self) -> None:
        """
        L{encodeRequest} gives the bytes L{encode} gives for the same
        L{Request}, and refuses fields out of range with L{ValueError}.
        """
        self.assertEqual(encodeRequest(1, 2, 16384), encode(Request(1, 2, 16384)))
        self.assertEqual(
            encodeRequest(2**32 - 1, 0, 1), encode(Request(2**32 - 1, 0, 1))
        )
        self.assertRaises(ValueError, encodeRequest, 2**32, 0, 1)
        self.assertRaises(ValueError, encodeRequest, 0, -1, 1)

    def test_badHandshakeFields(self) -> None:
        """
        A handshake whose info hash, peer id or reserved bytes have the wrong
        size is refused with L{ValueError}.
        """
        for handshake in [
            Handshake(INFO_HASH[:19], PEER_ID),
            Handshake(INFO_HASH, PEER_ID + b"x"),
            Handshake(INFO_HASH, PEER_ID, bytes(7)),
        ]:
            self.assertRaises(ValueError, encode, handshake)

    def test_badFields(self) -> None:
        """
        Integers out of range and unknown message ids that BEP 3 defines, or
        that do not fit a byte, are refused with L{ValueError}.
        """
        for message in [
            Have(-1),
            Have(2**32),
            Request(0, 0, 2**32),
            Port(65536),
            UnknownMessage(7, b""),
            UnknownMessage(256, b""),
        ]:
            self.assertRaises(ValueError, encode, message)

    def test_notAMessage(self) -> None:
        """
        Encoding something that is not a message raises L{TypeError}.
        """
        self.assertRaises(TypeError, encode, object())

    def test_reprIsShort(self) -> None:
        """
        The repr of a message carrying data shows at most 20 bytes of it and
        its length.
        """
        for message in [
            Piece(1, 2, b"q" * BLOCK_SIZE),
            Bitfield(b"q" * 1000),
            UnknownMessage(20, b"q" * 1000),
        ]:
            text = repr(message)
            self.assertIn("q" * 20, text)
            self.assertNotIn("q" * 21, text)
            self.assertLess(len(text), 120)
        self.assertEqual(
            repr(Piece(1, 2, b"ab")), "Piece(index=1, begin=2, block=b'ab')"
        )


class DecodeTests(SynchronousTestCase):
    """
    Tests for L{Decoder} fed valid streams.
    """

    def test_eachMessageWhole(self) -> None:
        """
        Each message, encoded and fed whole, decodes to an equal message and
        leaves nothing buffered.
        """
        for message in ALL_MESSAGES:
            decoder = Decoder(expectHandshake=False)
            self.assertEqual(decoder.receiveData(encode(message)), [message])
            self.assertEqual(decoder.bufferedBytes, 0)

    def test_pieceBlockSharesReceivedBytes(self) -> None:
        """
        A piece whole within the C{bytes} fed carries a view of them, not a
        copy; one completed in the decoder's buffer, or fed in a mutable
        C{bytearray}, carries a copy.
        """
        data = encode(Piece(3, 16, b"abcdef"))
        [whole] = Decoder(expectHandshake=False).receiveData(data)
        self.assertIsInstance(whole.block, memoryview)
        self.assertIs(whole.block.obj, data)
        self.assertEqual(whole, Piece(3, 16, b"abcdef"))
        decoder = Decoder(expectHandshake=False)
        decoder.receiveData(data[:7])
        [split] = decoder.receiveData(data[7:])
        self.assertIsInstance(split.block, bytes)
        mutable = bytearray(data)
        [copied] = Decoder(expectHandshake=False).receiveData(mutable)
        mutable[-1:] = b"X"
        self.assertEqual(copied.block, b"abcdef")

    def test_eachMessageByteByByte(self) -> None:
        """
        Each message fed one byte at a time decodes only when its last byte
        arrives.
        """
        for message in ALL_MESSAGES:
            decoder = Decoder(expectHandshake=False)
            data = encode(message)
            for i in range(len(data) - 1):
                self.assertEqual(decoder.receiveData(data[i : i + 1]), [])
                self.assertEqual(decoder.bufferedBytes, i + 1)
            self.assertEqual(decoder.receiveData(data[-1:]), [message])
            self.assertEqual(decoder.bufferedBytes, 0)

    def test_handshakeThenMessages(self) -> None:
        """
        A handshake followed by messages in one chunk decodes to the
        handshake, then the messages.
        """
        decoder = Decoder()
        data = encode(HANDSHAKE) + b"".join(encode(m) for m in ALL_MESSAGES)
        self.assertEqual(decoder.receiveData(data), [HANDSHAKE] + ALL_MESSAGES)
        self.assertEqual(decoder.bufferedBytes, 0)

    def test_handshakeByteByByte(self) -> None:
        """
        Fed one byte at a time, the handshake's info hash is available from
        its 48th byte, and the L{Handshake} is returned with the 68th.
        """
        decoder = Decoder()
        data = encode(HANDSHAKE)
        for i in range(HANDSHAKE_LENGTH - 1):
            self.assertEqual(decoder.receiveData(data[i : i + 1]), [])
            expected = INFO_HASH if i + 1 >= 48 else None
            self.assertEqual(decoder.infoHash, expected)
        self.assertEqual(decoder.receiveData(data[-1:]), [HANDSHAKE])
        self.assertEqual(decoder.infoHash, INFO_HASH)
        self.assertEqual(decoder.bufferedBytes, 0)

    def test_noInfoHashWithoutHandshake(self) -> None:
        """
        A decoder that expects no handshake has no info hash.
        """
        decoder = Decoder(expectHandshake=False)
        decoder.receiveData(encode(Have(1)))
        self.assertIsNone(decoder.infoHash)

    def test_onlyOneHandshake(self) -> None:
        """
        After the handshake, bytes that would be a handshake are read as
        messages: the 68 bytes of a second handshake start with a length
        prefix of 0x13426974, far over the limit.
        """
        decoder = Decoder()
        self.assertEqual(decoder.receiveData(encode(HANDSHAKE)), [HANDSHAKE])
        self.assertRaises(ProtocolError, decoder.receiveData, encode(HANDSHAKE))

    def test_emptyData(self) -> None:
        """
        Feeding no bytes returns nothing, before and after the handshake.
        """
        decoder = Decoder()
        self.assertEqual(decoder.receiveData(b""), [])
        decoder.receiveData(encode(HANDSHAKE))
        self.assertEqual(decoder.receiveData(b""), [])

    def test_largestPiece(self) -> None:
        """
        A piece carrying a block of L{MAX_BLOCK_LENGTH} is accepted by
        default, whole and split.
        """
        message = Piece(0, 0, bytes(range(256)) * (MAX_BLOCK_LENGTH // 256))
        data = encode(message)
        self.assertEqual(Decoder(expectHandshake=False).receiveData(data), [message])
        decoder = Decoder(expectHandshake=False)
        self.assertEqual(feed(decoder, chunked(data, [1, 4, 5, 13, 70000])), [message])

    def test_largestRequest(self) -> None:
        """
        Requests and cancels of 1 and of L{MAX_BLOCK_LENGTH} bytes are
        accepted.
        """
        sent = [
            Request(0, 0, 1),
            Request(0, 0, MAX_BLOCK_LENGTH),
            Cancel(0, 0, 1),
            Cancel(0, 0, MAX_BLOCK_LENGTH),
        ]
        decoder = Decoder(expectHandshake=False)
        self.assertEqual(decoder.receiveData(b"".join(map(encode, sent))), sent)

    def test_emptyPieceBlock(self) -> None:
        """
        A piece with a payload of exactly 8 bytes carries an empty block; it
        is well-formed, so it is decoded (what to make of it is the peer's
        business).
        """
        decoder = Decoder(expectHandshake=False)
        message = Piece(1, 2, b"")
        self.assertEqual(decoder.receiveData(encode(message)), [message])

    def test_defaultBitfieldLimit(self) -> None:
        """
        By default the bitfield of a torrent of 2 ** 20 pieces is accepted.
        """
        message = Bitfield(b"\xff" * (2**20 // 8))
        decoder = Decoder(expectHandshake=False)
        self.assertEqual(decoder.receiveData(encode(message)), [message])

    def test_maxBitfieldPiecesAllowsExactSize(self) -> None:
        """
        After L{Decoder.setMaxBitfieldPieces}, a bitfield of C{ceil(n / 8)}
        bytes, and a shorter one, are accepted.
        """
        decoder = Decoder(expectHandshake=False)
        decoder.setMaxBitfieldPieces(17)
        sent = [Bitfield(b"\xff\xff\x80"), Bitfield(b"\xff")]
        self.assertEqual(decoder.receiveData(b"".join(map(encode, sent))), sent)

    def test_unknownMessagesTolerated(self) -> None:
        """
        Messages with ids BEP 3 does not define (extension protocol, fast
        extension, 255) decode to L{UnknownMessage} and decoding goes on.
        """
        sent = [
            UnknownMessage(20, b"d1:md6:ut_pexi1eee"),
            Have(1),
            UnknownMessage(13, struct.pack(">I", 5)),
            UnknownMessage(255, b""),
            Choke(),
        ]
        decoder = Decoder(expectHandshake=False)
        self.assertEqual(decoder.receiveData(b"".join(map(encode, sent))), sent)

    def test_blockIsACopy(self) -> None:
        """
        A decoded block is C{bytes}, unaffected by later changes to the data
        fed in or by later feeding.
        """
        second = encode(Piece(3, 4, b"efgh"))
        data = bytearray(encode(Piece(1, 2, b"abcd")) + second[:15])
        decoder = Decoder(expectHandshake=False)
        [piece] = decoder.receiveData(data)
        data[13:17] = b"wxyz"
        data[30:32] = b"uv"
        self.assertEqual(decoder.receiveData(b"gh"), [Piece(3, 4, b"efgh")])
        self.assertIsInstance(piece.block, bytes)
        self.assertEqual(piece.block, b"abcd")

    def test_acceptsMemoryview(self) -> None:
        """
        The decoder accepts any bytes-like chunk, such as a memoryview.
        """
        data = encode(HANDSHAKE) + encode(Piece(1, 2, b"ab")) + encode(Have(3))
        decoder = Decoder()
        received = feed(decoder, [memoryview(data)[:70], memoryview(data)[70:]])
        self.assertEqual(received, [HANDSHAKE, Piece(1, 2, b"ab"), Have(3)])

    @given(st.lists(messages, max_size=20), st.lists(st.integers(min_value=0)))
    def test_randomChunking(self, sent, cuts) -> None:
        """
        Any sequence of messages after a handshake, cut anywhere, decodes to
        the same sequence, and nothing is left buffered.
        """
        data = encode(HANDSHAKE) + b"".join(map(encode, sent))
        decoder = Decoder()
        self.assertEqual(feed(decoder, chunked(data, cuts)), [HANDSHAKE] + sent)
        self.assertEqual(decoder.bufferedBytes, 0)

    @given(handshakes, st.lists(messages, max_size=5))
    def test_anyHandshakeByteByByte(self, handshake, sent) -> None:
        """
        Any handshake and messages fed a byte at a time decode to themselves.
        """
        data = encode(handshake) + b"".join(map(encode, sent))
        decoder = Decoder()
        received = feed(decoder, [data[i : i + 1] for i in range(len(data))])
        self.assertEqual(received, [handshake] + sent)

    @given(
        st.lists(
            st.integers(min_value=1000, max_value=70000), min_size=1, max_size=5
        )
    )
    @settings(max_examples=20, deadline=None)
    def test_hugeStreamBuffersAtMostOneMessage(self, chunkSizes) -> None:
        """
        Feeding a long stream of 16 KiB pieces (4 MiB) in chunks of any size,
        the decoder never holds a whole message's worth of bytes.
        """
        message = encode(Piece(0, 0, b"\xaa" * BLOCK_SIZE))
        data = message * 256
        decoder = Decoder(expectHandshake=False)
        offset = count = 0
        i = 0
        while offset < len(data):
            size = chunkSizes[i % len(chunkSizes)]
            count += len(decoder.receiveData(data[offset : offset + size]))
            offset += size
            i += 1
            self.assertLess(decoder.bufferedBytes, len(message))
        self.assertEqual(count, 256)
        self.assertEqual(decoder.bufferedBytes, 0)


def expandRequests(received: list) -> list:
    """
    @return: C{received} with each L{Requests} replaced by its requests, as
        L{Request}s.
    """
    expanded = []
    for message in received:
        if type(message) is Requests:
            expanded.extend(Request(*request) for request in message.requests)
        else:
            expanded.append(message)
    return expanded


class BatchRequestsTests(SynchronousTestCase):
    """
    A L{Decoder} made with C{batchRequests} returns consecutive C{request}
    messages as one L{Requests}.
    """

    def test_consecutiveRequests(self) -> None:
        """
        Requests one after another are one L{Requests}; any other message
        between them, a C{cancel} included, starts another.
        """
        sent = [
            Request(1, 0, 4), Request(1, 4, 4), Have(2), Request(3, 0, 4),
            Cancel(3, 0, 4), Request(4, 0, 4),
        ]
        decoder = Decoder(expectHandshake=False, batchRequests=True)
        self.assertEqual(
            decoder.receiveData(b"".join(map(encode, sent))),
            [
                Requests([(1, 0, 4), (1, 4, 4)]), Have(2), Requests([(3, 0, 4)]),
                Cancel(3, 0, 4), Requests([(4, 0, 4)]),
            ],
        )

    def test_encode(self) -> None:
        """
        L{Requests} encodes as its requests, one after another.
        """
        self.assertEqual(
            encode(Requests([(1, 0, 4), (2, 8, 16)])),
            encode(Request(1, 0, 4)) + encode(Request(2, 8, 16)),
        )

    def test_lengthsChecked(self) -> None:
        """
        A batched request for 0 bytes is an error, as unbatched.
        """
        decoder = Decoder(expectHandshake=False, batchRequests=True)
        data = encode(Request(1, 0, 4)) + struct.pack(">IBIII", 13, 6, 1, 4, 0)
        self.assertRaises(ProtocolError, decoder.receiveData, data)

    @given(st.lists(messages, max_size=20), st.lists(st.integers(min_value=0)))
    def test_sameMessages(self, sent, cuts) -> None:
        """
        Any messages, cut anywhere, decode batched to the same requests, in
        the same order among the other messages, as unbatched.
        """
        data = encode(HANDSHAKE) + b"".join(map(encode, sent))
        decoder = Decoder(batchRequests=True)
        self.assertEqual(expandRequests(feed(decoder, chunked(data, cuts))), [HANDSHAKE] + sent)
        self.assertEqual(decoder.bufferedBytes, 0)


class ProtocolErrorTests(SynchronousTestCase):
    """
    Tests for the L{ProtocolError}s of L{Decoder}.
    """

    def assertFails(self, data: bytes, expectHandshake: bool = False, **kw) -> Decoder:
        """
        Assert that feeding C{data} whole raises L{ProtocolError}, and that
        so does feeding it one byte at a time (on some byte).

        @return: the decoder fed whole.
        """
        decoder = Decoder(expectHandshake=expectHandshake, **kw)
        self.assertRaises(ProtocolError, decoder.receiveData, data)
        byByte = Decoder(expectHandshake=expectHandshake, **kw)
        with self.assertRaises(ProtocolError):
            for i in range(len(data)):
                byByte.receiveData(data[i : i + 1])
        return decoder

    def test_badProtocolNameLength(self) -> None:
        """
        A handshake whose first byte is not 19 fails on that byte alone.
        """
        decoder = Decoder()
        error = self.assertRaises(ProtocolError, decoder.receiveData, b"\x12")
        self.assertIn("length is 18", str(error))

    def test_badProtocolName(self) -> None:
        """
        A handshake with another protocol name fails as soon as a wrong byte
        of the name arrives, before the rest of the handshake.
        """
        decoder = Decoder()
        decoder.receiveData(b"\x13BitTorrent")
        error = self.assertRaises(ProtocolError, decoder.receiveData, b" Protocol")
        self.assertIn("protocol name", str(error))
        self.assertFails(b"\x13BitTorrent protocoL" + bytes(48), expectHandshake=True)

    def test_httpRequest(self) -> None:
        """
        An HTTP request sent to the peer port is refused on its first byte.
        """
        self.assertRaises(ProtocolError, Decoder().receiveData, b"G")

    def test_lengthPrefixTooLarge(self) -> None:
        """
        A length prefix over C{maxMessageLength} fails as soon as its 4 bytes
        arrive, with nothing buffered toward it.
        """
        decoder = Decoder(expectHandshake=False)
        self.assertEqual(decoder.receiveData(b"\x00\x02\x00"), [])
        self.assertRaises(ProtocolError, decoder.receiveData, b"\x0a")
        self.assertEqual(decoder.bufferedBytes, 0)
        decoder = Decoder(expectHandshake=False)
        self.assertRaises(
            ProtocolError,
            decoder.receiveData,
            struct.pack(">I", MAX_MESSAGE_LENGTH + 1),
        )
        self.assertLessEqual(decoder.bufferedBytes, 4)
        decoder = Decoder(expectHandshake=False)
        self.assertRaises(ProtocolError, decoder.receiveData, b"\xff\xff\xff\xff")

    def test_lengthPrefixAfterHandshake(self) -> None:
        """
        The length limit applies to the prefix right after the handshake,
        in the same chunk.
        """
        self.assertFails(
            encode(HANDSHAKE) + struct.pack(">I", MAX_MESSAGE_LENGTH + 1),
            expectHandshake=True,
        )

    def test_customMaxMessageLength(self) -> None:
        """
        C{maxMessageLength} bounds every message, unknown ones included, and
        the length equal to it is accepted.
        """
        decoder = Decoder(expectHandshake=False, maxMessageLength=100)
        message = UnknownMessage(20, bytes(99))
        self.assertEqual(decoder.receiveData(encode(message)), [message])
        self.assertFails(encode(UnknownMessage(20, bytes(100))), maxMessageLength=100)
        self.assertFails(encode(Piece(0, 0, bytes(92))), maxMessageLength=100)

    def test_wrongFixedLengths(self) -> None:
        """
        A known message whose payload has the wrong size fails as soon as its
        id arrives (the payload is never awaited).
        """
        cases = [
            (2, 0),  # choke with 1 byte
            (2, 1),
            (2, 2),
            (2, 3),
            (4, 4),  # have with 3
            (6, 4),  # have with 5
            (12, 6),  # request with 11
            (14, 6),
            (12, 8),  # cancel with 11
            (14, 8),
            (2, 9),  # port with 1
            (4, 9),
            (8, 7),  # piece with 7
            (1, 7),
            (1, 4),
        ]
        for length, messageId in cases:
            decoder = Decoder(expectHandshake=False)
            self.assertRaises(
                ProtocolError, decoder.receiveData, header(length, messageId)
            )

    def test_pieceBlockTooLarge(self) -> None:
        """
        A piece announcing a block over L{MAX_BLOCK_LENGTH} fails on its
        first 5 bytes when C{maxMessageLength} would admit it.
        """
        decoder = Decoder(expectHandshake=False, maxMessageLength=2**20)
        error = self.assertRaises(
            ProtocolError,
            decoder.receiveData,
            header(9 + MAX_BLOCK_LENGTH + 1, 7),
        )
        self.assertIn(str(MAX_BLOCK_LENGTH + 1), str(error))
        self.assertEqual(decoder.bufferedBytes, 0)

    def test_requestLengths(self) -> None:
        """
        A request or cancel for 0 bytes, or for more than
        L{MAX_BLOCK_LENGTH}, fails.
        """
        for message in [
            Request(0, 0, 0),
            Request(0, 0, MAX_BLOCK_LENGTH + 1),
            Cancel(0, 0, 0),
            Cancel(0, 0, 2**32 - 1),
        ]:
            self.assertFails(encode(message))

    def test_bitfieldTooLong(self) -> None:
        """
        After L{Decoder.setMaxBitfieldPieces}, a bitfield longer than
        C{ceil(n / 8)} fails on its first 5 bytes.
        """
        decoder = Decoder(expectHandshake=False)
        decoder.setMaxBitfieldPieces(17)
        self.assertRaises(ProtocolError, decoder.receiveData, header(5, 5))
        decoder = Decoder(expectHandshake=False)
        decoder.setMaxBitfieldPieces(16)
        self.assertRaises(
            ProtocolError, decoder.receiveData, encode(Bitfield(bytes(3)))
        )

    def test_negativeMaxBitfieldPieces(self) -> None:
        """
        A negative number of pieces is refused with L{ValueError}.
        """
        self.assertRaises(ValueError, Decoder().setMaxBitfieldPieces, -1)

    def test_unusableAfterError(self) -> None:
        """
        After a L{ProtocolError} every call raises L{ProtocolError}, even
        with valid data, and the buffer is released.
        """
        decoder = Decoder(expectHandshake=False)
        decoder.receiveData(encode(Have(1))[:3])
        self.assertRaises(ProtocolError, decoder.receiveData, b"\x02\x04")
        self.assertEqual(decoder.bufferedBytes, 0)
        self.assertRaises(ProtocolError, decoder.receiveData, encode(Choke()))
        self.assertRaises(ProtocolError, decoder.receiveData, b"")

    def test_errorAfterValidMessages(self) -> None:
        """
        An error after valid messages in the same chunk still raises.
        """
        self.assertFails(encode(Have(1)) + encode(Choke()) + header(2, 0) + b"\x00")

    @given(st.binary(max_size=300), st.booleans(), st.lists(st.integers(min_value=0)))
    def test_arbitraryBytes(self, data, expectHandshake, cuts) -> None:
        """
        Arbitrary bytes, cut anywhere, yield messages or L{ProtocolError},
        nothing else; without an error, the messages re-encode to the bytes
        consumed and the rest is what is buffered.
        """
        decoder = Decoder(expectHandshake=expectHandshake)
        try:
            received = feed(decoder, chunked(data, cuts))
        except ProtocolError:
            return
        consumed = len(data) - decoder.bufferedBytes
        self.assertEqual(b"".join(map(encode, received)), data[:consumed])

    @given(
        st.lists(
            st.tuples(st.integers(min_value=0, max_value=255), st.binary(max_size=40)),
            max_size=10,
        ),
        st.lists(st.integers(min_value=0)),
        st.integers(min_value=0, max_value=100),
    )
    def test_arbitraryFramedMessages(self, frames, cuts, maxPieces) -> None:
        """
        Correctly framed messages with any id and payload (so that fuzzing
        gets past the length prefix), after a valid handshake and cut
        anywhere, yield messages or L{ProtocolError}, nothing else; the
        messages decoded re-encode to the bytes they came from.
        """
        body = b"".join(header(1 + len(p), i) + p for i, p in frames)
        data = encode(HANDSHAKE) + body
        decoder = Decoder()
        decoder.setMaxBitfieldPieces(maxPieces)
        received = []
        try:
            received = feed(decoder, chunked(data, cuts))
        except ProtocolError:
            return
        self.assertEqual(received[0], HANDSHAKE)
        self.assertEqual(b"".join(map(encode, received[1:])), body)


class ReservedBitTests(SynchronousTestCase):
    """
    Tests for L{ReservedBit}, L{makeReserved}, L{setReservedBit} and
    L{hasReservedBit}.
    """

    def test_knownBytes(self) -> None:
        """
        Each bit is where its BEP puts it: the extension protocol is
        C{reserved[5] & 0x10}, the fast extension C{reserved[7] & 0x04}, the
        DHT C{reserved[7] & 0x01}.
        """
        self.assertEqual(makeReserved(), bytes(8))
        self.assertEqual(
            makeReserved(ReservedBit.EXTENSION_PROTOCOL), bytes(5) + b"\x10" + bytes(2)
        )
        self.assertEqual(makeReserved(ReservedBit.FAST), bytes(7) + b"\x04")
        self.assertEqual(makeReserved(ReservedBit.DHT), bytes(7) + b"\x01")
        self.assertEqual(
            makeReserved(*ReservedBit), b"\x00\x00\x00\x00\x00\x10\x00\x05"
        )

    def test_setKeepsOtherBits(self) -> None:
        """
        L{setReservedBit} adds its bit and keeps every other bit, known or
        not.
        """
        reserved = b"\x80\x00\x00\x00\x00\x01\x00\x02"
        self.assertEqual(
            setReservedBit(reserved, ReservedBit.FAST),
            b"\x80\x00\x00\x00\x00\x01\x00\x06",
        )
        self.assertEqual(
            setReservedBit(reserved, ReservedBit.EXTENSION_PROTOCOL),
            b"\x80\x00\x00\x00\x00\x11\x00\x02",
        )

    def test_has(self) -> None:
        """
        L{hasReservedBit} tells whether exactly that bit is set, whatever
        the others are.
        """
        for bit in ReservedBit:
            self.assertTrue(hasReservedBit(makeReserved(bit), bit))
            self.assertFalse(hasReservedBit(bytes(8), bit))
            others = [other for other in ReservedBit if other is not bit]
            self.assertFalse(hasReservedBit(makeReserved(*others), bit))
        self.assertFalse(hasReservedBit(b"\xff" * 5 + b"\xef\xff\xfa", ReservedBit.FAST))
        self.assertFalse(
            hasReservedBit(b"\xff" * 5 + b"\xef\xff\xff", ReservedBit.EXTENSION_PROTOCOL)
        )

    def test_wrongSize(self) -> None:
        """
        Reserved bytes that are not 8 bytes are refused with L{ValueError}.
        """
        self.assertRaises(ValueError, setReservedBit, bytes(7), ReservedBit.DHT)
        self.assertRaises(ValueError, hasReservedBit, bytes(9), ReservedBit.DHT)
        self.assertRaises(ValueError, Decoder, reserved=bytes(7))
        self.assertRaises(ValueError, Decoder().negotiate, bytes(9))


class ExtensionEncodeTests(SynchronousTestCase):
    """
    Tests for L{encode} of the messages of BEP 6 and BEP 10.
    """

    def test_knownBytes(self) -> None:
        """
        The fast extension's messages and the extended message encode to the
        bytes BEP 6 and BEP 10 give.
        """
        self.assertEqual(encode(SuggestPiece(258)), b"\x00\x00\x00\x05\x0d\x00\x00\x01\x02")
        self.assertEqual(encode(HaveAll()), b"\x00\x00\x00\x01\x0e")
        self.assertEqual(encode(HaveNone()), b"\x00\x00\x00\x01\x0f")
        self.assertEqual(
            encode(RejectRequest(1, 2, 16384)),
            b"\x00\x00\x00\x0d\x10\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x40\x00",
        )
        self.assertEqual(encode(AllowedFast(7)), b"\x00\x00\x00\x05\x11\x00\x00\x00\x07")
        self.assertEqual(encode(Extended(3, b"de")), b"\x00\x00\x00\x04\x14\x03de")
        self.assertEqual(encode(Extended(0, b"")), b"\x00\x00\x00\x02\x14\x00")

    def test_badFields(self) -> None:
        """
        Integers out of range, an extended id that does not fit a byte and an
        extended payload over L{MAX_EXTENDED_PAYLOAD} are refused with
        L{ValueError}.
        """
        for message in [
            SuggestPiece(-1),
            AllowedFast(2**32),
            RejectRequest(0, 0, 2**32),
            Extended(256, b""),
            Extended(-1, b""),
            Extended(1, bytes(MAX_EXTENDED_PAYLOAD + 1)),
        ]:
            self.assertRaises(ValueError, encode, message)

    def test_reprIsShort(self) -> None:
        """
        The repr of an L{Extended} shows at most 20 bytes of its payload.
        """
        text = repr(Extended(1, b"q" * 1000))
        self.assertIn("q" * 20, text)
        self.assertNotIn("q" * 21, text)
        self.assertEqual(repr(Extended(1, b"ab")), "Extended(extendedId=1, payload=b'ab')")


class ExtensionDecodeTests(SynchronousTestCase):
    """
    Tests for L{Decoder} with the messages of BEP 6 and BEP 10.
    """

    def test_eachMessageWhole(self) -> None:
        """
        Once negotiated, each message of the extensions, fed whole, decodes
        to an equal message and leaves nothing buffered.
        """
        for message in EXTENSION_MESSAGES:
            decoder = extensionDecoder()
            self.assertEqual(decoder.receiveData(encode(message)), [message])
            self.assertEqual(decoder.bufferedBytes, 0)

    def test_eachMessageByteByByte(self) -> None:
        """
        Each message of the extensions fed one byte at a time decodes only
        when its last byte arrives.
        """
        for message in EXTENSION_MESSAGES:
            decoder = extensionDecoder()
            data = encode(message)
            for i in range(len(data) - 1):
                self.assertEqual(decoder.receiveData(data[i : i + 1]), [])
            self.assertEqual(decoder.receiveData(data[-1:]), [message])
            self.assertEqual(decoder.bufferedBytes, 0)

    def test_negotiatedByHandshake(self) -> None:
        """
        A decoder announcing both extensions decodes their messages once the
        peer's handshake, announcing them too, is in, also for messages in
        the same chunk as the handshake.
        """
        decoder = Decoder(reserved=EXTENSIONS)
        self.assertFalse(decoder.fast)
        self.assertFalse(decoder.extensionProtocol)
        data = encode(HANDSHAKE) + b"".join(map(encode, EXTENSION_MESSAGES))
        self.assertEqual(decoder.receiveData(data), [HANDSHAKE] + EXTENSION_MESSAGES)
        self.assertTrue(decoder.fast)
        self.assertTrue(decoder.extensionProtocol)

    def test_notNegotiated(self) -> None:
        """
        Unless both sides announce an extension, its messages decode to
        L{UnknownMessage}, and no limit of the extension applies.
        """
        fast = makeReserved(ReservedBit.FAST)
        extended = makeReserved(ReservedBit.EXTENSION_PROTOCOL)
        for ours, theirs in [
            (bytes(8), EXTENSIONS),
            (EXTENSIONS, bytes(8)),
            (fast, extended),
            (extended, fast),
        ]:
            decoder = Decoder(reserved=ours)
            data = (
                encode(Handshake(INFO_HASH, PEER_ID, theirs))
                + encode(HaveAll())
                + encode(Extended(1, b"x"))
                + encode(UnknownMessage(13, b"toolong"))
                + header(1, 20)
            )
            received = decoder.receiveData(data)
            self.assertEqual(
                received[1:],
                [
                    UnknownMessage(14, b""),
                    UnknownMessage(20, b"\x01x"),
                    UnknownMessage(13, b"toolong"),
                    UnknownMessage(20, b""),
                ],
            )
            self.assertFalse(decoder.fast and decoder.extensionProtocol)

    def test_oneNegotiated(self) -> None:
        """
        Each extension is negotiated on its own: with only the fast
        extension, extended messages stay unknown, and the other way round.
        """
        fast = makeReserved(ReservedBit.FAST, ReservedBit.DHT)
        decoder = Decoder(expectHandshake=False, reserved=fast)
        decoder.negotiate(EXTENSIONS)
        self.assertTrue(decoder.fast)
        self.assertFalse(decoder.extensionProtocol)
        data = encode(HaveNone()) + encode(Extended(1, b"x"))
        self.assertEqual(
            decoder.receiveData(data), [HaveNone(), UnknownMessage(20, b"\x01x")]
        )
        extended = makeReserved(ReservedBit.EXTENSION_PROTOCOL)
        decoder = Decoder(expectHandshake=False, reserved=extended)
        decoder.negotiate(EXTENSIONS)
        self.assertEqual(
            decoder.receiveData(data), [UnknownMessage(15, b""), Extended(1, b"x")]
        )

    def test_largestExtended(self) -> None:
        """
        An extended message with a payload of L{MAX_EXTENDED_PAYLOAD} bytes
        is accepted, whole and split.
        """
        message = Extended(1, bytes(range(256)) * (MAX_EXTENDED_PAYLOAD // 256))
        data = encode(message)
        self.assertEqual(extensionDecoder().receiveData(data), [message])
        self.assertEqual(
            feed(extensionDecoder(), chunked(data, [1, 5, 6, 40000])), [message]
        )

    @given(
        st.lists(
            st.one_of(
                # With the extensions negotiated, ids 13 to 17 and 20 are
                # theirs, no longer unknown.
                messages.filter(
                    lambda m: not isinstance(m, UnknownMessage)
                    or m.messageId not in (13, 14, 15, 16, 17, 20)
                ),
                extensionMessages,
            ),
            max_size=20,
        ),
        st.lists(st.integers(min_value=0)),
    )
    def test_randomChunking(self, sent, cuts) -> None:
        """
        Any sequence of messages, of BEP 3 and of the extensions, after a
        handshake that negotiates the extensions, cut anywhere, decodes to
        the same sequence, and nothing is left buffered.
        """
        data = encode(HANDSHAKE) + b"".join(map(encode, sent))
        decoder = Decoder(reserved=EXTENSIONS)
        self.assertEqual(feed(decoder, chunked(data, cuts)), [HANDSHAKE] + sent)
        self.assertEqual(decoder.bufferedBytes, 0)


class ExtensionProtocolErrorTests(SynchronousTestCase):
    """
    Tests for the L{ProtocolError}s of L{Decoder} with negotiated extensions.
    """

    def assertFails(self, data: bytes) -> None:
        """
        Assert that feeding C{data} whole to a decoder that has negotiated the
        extensions raises L{ProtocolError}, and that so does feeding it one
        byte at a time (on some byte).
        """
        self.assertRaises(ProtocolError, extensionDecoder().receiveData, data)
        byByte = extensionDecoder()
        with self.assertRaises(ProtocolError):
            for i in range(len(data)):
                byByte.receiveData(data[i : i + 1])

    def test_wrongFixedLengths(self) -> None:
        """
        A message of the fast extension whose payload has the wrong size
        fails as soon as its id arrives.
        """
        cases = [
            (4, 13),  # suggest piece with 3
            (6, 13),
            (2, 14),  # have all with 1
            (2, 15),
            (12, 16),  # reject request with 11
            (14, 16),
            (4, 17),  # allowed fast with 3
            (6, 17),
        ]
        for length, messageId in cases:
            decoder = extensionDecoder()
            error = self.assertRaises(
                ProtocolError, decoder.receiveData, header(length, messageId)
            )
            self.assertIn(f"{length - 1}-byte payload", str(error))

    def test_extendedWithoutId(self) -> None:
        """
        An extended message without even its extended id fails on its id.
        """
        error = self.assertRaises(
            ProtocolError, extensionDecoder().receiveData, header(1, 20)
        )
        self.assertIn("without an extended id", str(error))

    def test_extendedTooLong(self) -> None:
        """
        An extended message announcing a payload over L{MAX_EXTENDED_PAYLOAD}
        fails on its first 5 bytes, with nothing buffered toward it, even
        when C{maxMessageLength} would admit it.
        """
        decoder = extensionDecoder(maxMessageLength=2**20)
        error = self.assertRaises(
            ProtocolError,
            decoder.receiveData,
            header(2 + MAX_EXTENDED_PAYLOAD + 1, 20),
        )
        self.assertIn(str(MAX_EXTENDED_PAYLOAD + 1), str(error))
        self.assertEqual(decoder.bufferedBytes, 0)

    def test_extendedBoundedByMaxMessageLength(self) -> None:
        """
        C{maxMessageLength} still bounds extended messages when it is the
        smaller limit.
        """
        decoder = extensionDecoder(maxMessageLength=100)
        message = Extended(1, bytes(98))
        self.assertEqual(decoder.receiveData(encode(message)), [message])
        self.assertRaises(
            ProtocolError, extensionDecoder(maxMessageLength=100).receiveData,
            encode(Extended(1, bytes(99))),
        )

    def test_rejectRequestLengths(self) -> None:
        """
        A reject request for 0 bytes, or for more than L{MAX_BLOCK_LENGTH},
        fails.
        """
        for message in [
            RejectRequest(0, 0, 0),
            RejectRequest(0, 0, MAX_BLOCK_LENGTH + 1),
        ]:
            self.assertFails(encode(message))

    @given(
        st.lists(
            st.tuples(st.integers(min_value=0, max_value=255), st.binary(max_size=40)),
            max_size=10,
        ),
        st.lists(st.integers(min_value=0)),
    )
    def test_arbitraryFramedMessages(self, frames, cuts) -> None:
        """
        Correctly framed messages with any id and payload, after a handshake
        that negotiates the extensions and cut anywhere, yield messages or
        L{ProtocolError}, nothing else; the messages decoded re-encode to the
        bytes they came from.
        """
        body = b"".join(header(1 + len(p), i) + p for i, p in frames)
        data = encode(HANDSHAKE) + body
        decoder = Decoder(reserved=EXTENSIONS)
        try:
            received = feed(decoder, chunked(data, cuts))
        except ProtocolError:
            return
        self.assertEqual(received[0], HANDSHAKE)
        self.assertEqual(b"".join(map(encode, received[1:])), body)

    @given(st.binary(max_size=300), st.lists(st.integers(min_value=0)))
    def test_arbitraryBytes(self, data, cuts) -> None:
        """
        Arbitrary bytes, to a decoder that has negotiated the extensions and
        cut anywhere, yield messages or L{ProtocolError}, nothing else.
        """
        decoder = extensionDecoder()
        try:
            received = feed(decoder, chunked(data, cuts))
        except ProtocolError:
            return
        consumed = len(data) - decoder.bufferedBytes
        self.assertEqual(b"".join(map(encode, received)), data[:consumed])
