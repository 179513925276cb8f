# -*- test-case-name: tests.test_wire -*-
"""
A sans-IO codec for the BitTorrent peer wire protocol (BEP 3).

Bytes in, messages out: L{Decoder.receiveData} takes whatever a transport
delivered and returns the messages it completes; L{encode} turns a message
into the bytes to write.  Nothing here touches a transport or a reactor.

Besides BEP 3 it frames the messages of the fast extension (BEP 6) and the
extension protocol (BEP 10), once both sides' handshakes announce them (see
L{ReservedBit} and L{Decoder}); what an extended message carries is decoded
by L{bittwist.extensions}.

Every size a peer can claim is bounded here, and checked as soon as the
bytes that make the claim arrive, so a peer cannot make us buffer toward a
message we would reject anyway.
"""

import struct
from typing import Union

from bittwist.errors import ProtocolError
from bittwist.wireframes import FrameBuffer
from bittwist.wirehandshake import HandshakeReader
from bittwist.wiremessages import (
    AllowedFast,
    BLOCK_SIZE,
    Bitfield,
    Cancel,
    Choke,
    Extended,
    HANDSHAKE_LENGTH,
    HANDSHAKE_PREFIX,
    Handshake,
    Have,
    HaveAll,
    HaveNone,
    ID_ALLOWED_FAST,
    ID_BITFIELD,
    ID_CANCEL,
    ID_CHOKE,
    ID_EXTENDED,
    ID_HAVE,
    ID_HAVE_ALL,
    ID_HAVE_NONE,
    ID_INTERESTED,
    ID_NOT_INTERESTED,
    ID_PIECE,
    ID_PORT,
    ID_REJECT_REQUEST,
    ID_REQUEST,
    ID_SUGGEST_PIECE,
    ID_UNCHOKE,
    Interested,
    KeepAlive,
    MAX_BLOCK_LENGTH,
    MAX_EXTENDED_PAYLOAD,
    MAX_MESSAGE_LENGTH,
    Message,
    NotInterested,
    PROTOCOL_NAME,
    Piece,
    Port,
    RejectRequest,
    Request,
    Requests,
    ReservedBit,
    SuggestPiece,
    Unchoke,
    UnknownMessage,
    hasReservedBit,
    makeReserved,
    setReservedBit,
)
from bittwist.wiretable import FAST_MESSAGE_IDS, MessageTable

__all__ = [
    "PROTOCOL_NAME",
    "HANDSHAKE_LENGTH",
    "BLOCK_SIZE",
    "MAX_BLOCK_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_EXTENDED_PAYLOAD",
    "ReservedBit",
    "makeReserved",
    "setReservedBit",
    "hasReservedBit",
    "FAST_MESSAGE_IDS",
    "Handshake",
    "KeepAlive",
    "Choke",
    "Unchoke",
    "Interested",
    "NotInterested",
    "Have",
    "Bitfield",
    "Request",
    "Requests",
    "Piece",
    "Cancel",
    "Port",
    "SuggestPiece",
    "HaveAll",
    "HaveNone",
    "RejectRequest",
    "AllowedFast",
    "Extended",
    "UnknownMessage",
    "Message",
    "encode",
    "encodePieceHeader",
    "encodeRequest",
    "Decoder",
]


_HEADER = struct.Struct(">IB")
_HAVE_MESSAGE = struct.Struct(">IBI")
_REQUEST_MESSAGE = struct.Struct(">IBIII")
_PIECE_HEADER = struct.Struct(">IBII")
_PORT_MESSAGE = struct.Struct(">IBH")
_EXTENDED_HEADER = struct.Struct(">IBB")

_NO_PAYLOAD_BYTES = {
    KeepAlive: bytes(4),
    Choke: _HEADER.pack(1, ID_CHOKE),
    Unchoke: _HEADER.pack(1, ID_UNCHOKE),
    Interested: _HEADER.pack(1, ID_INTERESTED),
    NotInterested: _HEADER.pack(1, ID_NOT_INTERESTED),
    HaveAll: _HEADER.pack(1, ID_HAVE_ALL),
    HaveNone: _HEADER.pack(1, ID_HAVE_NONE),
}


def encodePieceHeader(index: int, begin: int, length: int) -> bytes:
    """
    Encode the 13 bytes that precede a block in a C{piece} message, so that a
    sender can write them and then the block, without concatenating.

    @param index: the piece index.
    @param begin: the offset of the block in the piece.
    @param length: the length of the block that follows.
    @return: the length prefix, the id and the two integers.
    """
    return _PIECE_HEADER.pack(9 + length, ID_PIECE, index, begin)


def encodeRequest(index: int, begin: int, length: int) -> bytes:
    """
    Encode a C{request} message, as C{encode(Request(index, begin, length))}
    does, without making the L{Request}: a downloader sends one per block.

    @raise ValueError: if a field is not a 32-bit unsigned integer.
    """
    try:
        return _REQUEST_MESSAGE.pack(13, ID_REQUEST, index, begin, length)
    except struct.error as e:
        raise ValueError(f"cannot encode a request for {(index, begin, length)}: {e}") from e


def encode(message: Union[Handshake, Message]) -> bytes:
    """
    Encode a message, or a handshake, as it goes on the wire.

    @param message: the message.
    @return: its bytes, length prefix included.
    @raise ValueError: if a field cannot be encoded (a handshake field of the
        wrong size, an integer out of range, an L{Extended} payload over
        L{MAX_EXTENDED_PAYLOAD}, an L{UnknownMessage} id that is not 10 to
        255).
    """
    kind = type(message)
    if kind is Piece:
        block = message.block
        head = _PIECE_HEADER.pack(9 + len(block), ID_PIECE, message.index, message.begin)
        return head + block
    constant = _NO_PAYLOAD_BYTES.get(kind)
    if constant is not None:
        return constant
    try:
        if kind is Have:
            return _HAVE_MESSAGE.pack(5, ID_HAVE, message.index)
        if kind is Request:
            return _REQUEST_MESSAGE.pack(
                13, ID_REQUEST, message.index, message.begin, message.length
            )
        if kind is Cancel:
            return _REQUEST_MESSAGE.pack(
                13, ID_CANCEL, message.index, message.begin, message.length
            )
        if kind is Requests:
            pack = _REQUEST_MESSAGE.pack
            return b"".join([pack(13, ID_REQUEST, *request) for request in message.requests])
        if kind is Bitfield:
            payload = message.payload
            return _HEADER.pack(1 + len(payload), ID_BITFIELD) + payload
        if kind is Port:
            return _PORT_MESSAGE.pack(3, ID_PORT, message.port)
        if kind is Extended:
            payload = message.payload
            if len(payload) > MAX_EXTENDED_PAYLOAD:
                raise ValueError(
                    f"extended message payload of {len(payload)} bytes is over "
                    f"the limit of {MAX_EXTENDED_PAYLOAD}"
                )
            return (
                _EXTENDED_HEADER.pack(2 + len(payload), ID_EXTENDED, message.extendedId)
                + payload
            )
        if kind is SuggestPiece:
            return _HAVE_MESSAGE.pack(5, ID_SUGGEST_PIECE, message.index)
        if kind is AllowedFast:
            return _HAVE_MESSAGE.pack(5, ID_ALLOWED_FAST, message.index)
        if kind is RejectRequest:
            return _REQUEST_MESSAGE.pack(
                13, ID_REJECT_REQUEST, message.index, message.begin, message.length
            )
        if kind is UnknownMessage:
            if not 10 <= message.messageId <= 255:
                raise ValueError(
                    f"unknown message id {message.messageId} is not in 10..255"
                )
            payload = message.payload
            return _HEADER.pack(1 + len(payload), message.messageId) + payload
    except struct.error as e:
        raise ValueError(f"cannot encode {message!r}: {e}") from e
    if kind is Handshake:
        for name, size in (("infoHash", 20), ("peerId", 20), ("reserved", 8)):
            if len(getattr(message, name)) != size:
                raise ValueError(f"handshake {name} must be {size} bytes")
        return (
            HANDSHAKE_PREFIX + message.reserved + message.infoHash + message.peerId
        )
    raise TypeError(f"not a peer wire message: {message!r}")


class Decoder:
    """
    An incremental decoder of what one peer sends: feed it bytes as they
    arrive, get back the messages they complete. It is made of three parts:
    a L{HandshakeReader} for the handshake, then a L{FrameBuffer} that cuts
    the stream into messages, decoding each by its id through a
    L{MessageTable}.

    Limits, each checked as soon as the bytes that break it arrive:
      - the handshake must start with C{pstrlen} 19 and C{pstr}
        L{PROTOCOL_NAME}; the first wrong byte is an error;
      - a length prefix above C{maxMessageLength} is an error as soon as its
        4 bytes are in;
      - once the message id (the fifth byte) is in, a length that message
        cannot have is an error: C{have} is 4 bytes of payload, C{request}
        and C{cancel} 12, C{port} 2, C{choke}, C{unchoke}, C{interested},
        C{not interested} none; a C{piece} carries 8 bytes and a block of at
        most L{MAX_BLOCK_LENGTH}; a C{bitfield} is at most C{ceil(n / 8)}
        bytes once L{setMaxBitfieldPieces} has been told C{n};
      - a C{request}, C{cancel} or C{reject request} for 0 bytes or more
        than L{MAX_BLOCK_LENGTH} is an error;
      - once negotiated, C{suggest piece} and C{allowed fast} are 4 bytes of
        payload, C{have all} and C{have none} none, C{reject request} 12;
        an C{extended} message has its extended id and at most
        L{MAX_EXTENDED_PAYLOAD} bytes.

    So the decoder never holds more than one incomplete message.

    A decoder made with C{batchRequests} returns consecutive C{request}
    messages as one L{Requests}; one made without returns a L{Request} for
    each.

    The messages of the fast extension (BEP 6) and of the extension protocol
    (BEP 10) are decoded to their own classes only once both sides have
    announced the extension: ours in C{reserved}, the peer's in its
    handshake (or through L{negotiate}).  Until then they are
    L{UnknownMessage}s like any other id, which keeps a connection that
    negotiated nothing exactly as BEP 3 alone would have it.

    After a L{ProtocolError} the decoder is unusable: every later call
    raises L{ProtocolError} too, and the connection should be dropped.

    @ivar maxMessageLength: the largest length prefix accepted; read only,
        set it through the constructor.
    """

    def __init__(
        self,
        expectHandshake: bool = True,
        maxMessageLength: int = MAX_MESSAGE_LENGTH,
        reserved: bytes = bytes(8),
        batchRequests: bool = False,
    ) -> None:
        """
        @param expectHandshake: whether the stream starts with a handshake.
        @param maxMessageLength: the largest length prefix accepted, id and
            payload included.
        @param reserved: the reserved bytes of our own handshake: the
            extensions we speak (see L{makeReserved}).
        @param batchRequests: whether to return consecutive C{request}
            messages as one L{Requests}.
        @raise ValueError: if C{reserved} is not 8 bytes.
        """
        if len(reserved) != 8:
            raise ValueError(f"reserved bytes must be 8 bytes, not {len(reserved)}")
        self.maxMessageLength = maxMessageLength
        self._reserved = bytes(reserved)
        self._fast = False
        self._extensionProtocol = False
        self._failure: ProtocolError | None = None
        self._handshake: HandshakeReader | None = HandshakeReader() if expectHandshake else None
        self._infoHash: bytes | None = None
        self._table = MessageTable(maxMessageLength)
        self._frames = FrameBuffer(self._table, batchRequests)

    @property
    def bufferedBytes(self) -> int:
        """
        How many bytes are held waiting for the rest of a message (or of the
        handshake).
        """
        if self._handshake is not None:
            return self._handshake.bufferedBytes
        return self._frames.bufferedBytes

    @property
    def infoHash(self) -> bytes | None:
        """
        The info hash of the peer's handshake, as soon as its first 48 bytes
        have arrived: enough for an incoming connection to pick its torrent
        (and answer with its own handshake) before the peer id arrives.
        L{receiveData} returns the L{Handshake} only once all 68 bytes are
        in.  C{None} until then, or if no handshake is expected.
        """
        return self._infoHash

    @property
    def fast(self) -> bool:
        """
        Whether both sides announced the fast extension (BEP 6), so that its
        messages are decoded as such.
        """
        return self._fast

    @property
    def extensionProtocol(self) -> bool:
        """
        Whether both sides announced the extension protocol (BEP 10), so that
        its messages are decoded as L{Extended}.
        """
        return self._extensionProtocol

    def negotiate(self, peerReserved: bytes) -> None:
        """
        Decode from now on the messages of the extensions that both our
        reserved bytes and C{peerReserved} announce.  The decoder does this
        itself with the handshake it decodes; call it when the handshake
        was read by other means (C{expectHandshake=False}).

        @param peerReserved: the reserved bytes of the peer's handshake.
        @raise ValueError: if C{peerReserved} is not 8 bytes.
        """
        if len(peerReserved) != 8:
            raise ValueError(
                f"reserved bytes must be 8 bytes, not {len(peerReserved)}"
            )
        both = bytes(a & b for a, b in zip(self._reserved, peerReserved))
        self._fast = hasReservedBit(both, ReservedBit.FAST)
        self._extensionProtocol = hasReservedBit(both, ReservedBit.EXTENSION_PROTOCOL)
        self._table.negotiate(self._fast, self._extensionProtocol)

    def setMaxBitfieldPieces(self, numPieces: int) -> None:
        """
        Once the torrent is known, tighten the limit on C{bitfield} messages
        to C{ceil(numPieces / 8)} bytes of payload.  A bitfield already
        returned was only checked against C{maxMessageLength}.

        @param numPieces: the number of pieces of the torrent.
        @raise ValueError: if C{numPieces} is negative.
        """
        if numPieces < 0:
            raise ValueError(f"number of pieces {numPieces} is negative")
        self._table.limitBitfield(numPieces)

    def receiveData(self, data: bytes) -> list[Union[Handshake, Message]]:
        """
        Feed bytes received from the peer.

        @param data: the next bytes of the stream, split anywhere.
        @return: the handshake and messages that C{data} completes, in order;
            the rest of C{data} is buffered.
        @raise ProtocolError: if the peer broke the protocol (see the limits
            on L{Decoder}); messages completed by the same call are lost
            with it, since the connection is to be dropped.
        """
        if self._failure is not None:
            raise ProtocolError(f"peer wire decoder already failed: {self._failure}")
        try:
            if self._handshake is None:
                return self._frames.receive(data)
            return self._receiveHandshake(self._handshake, data)
        except ProtocolError as e:
            self._failure = e
            self._frames.clear()
            if self._handshake is not None:
                self._handshake.clear()
            raise

    def _receiveHandshake(
        self, reader: HandshakeReader, data: bytes
    ) -> list[Union[Handshake, Message]]:
        """
        Feed bytes to the handshake reader; once it has the handshake,
        negotiate and decode what follows it as messages.
        """
        handshake, rest = reader.receive(data)
        self._infoHash = reader.infoHash
        if handshake is None:
            return []
        self._handshake = None
        self.negotiate(handshake.reserved)
        messages: list[Union[Handshake, Message]] = [handshake]
        if rest:
            self._frames.receive(rest, messages)
        return messages
