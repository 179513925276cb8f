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
from bittwist.wiremessages import (
    AllowedFast,
    BLOCK_SIZE,
    Bitfield,
    Cancel,
    Choke,
    Extended,
    FAST_IDS,
    HANDSHAKE_LENGTH,
    HANDSHAKE_PREFIX,
    HAVE_ALL,
    HAVE_NONE,
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
    INFO_HASH_END,
    Interested,
    KEEP_ALIVE,
    KeepAlive,
    MAX_BLOCK_LENGTH,
    MAX_EXTENDED_PAYLOAD,
    MAX_MESSAGE_LENGTH,
    MESSAGE_NAMES,
    Message,
    NO_PAYLOAD,
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


_LENGTH = struct.Struct(">I")
_ONE_INT = struct.Struct(">I")
_TWO_INTS = struct.Struct(">II")
_THREE_INTS = struct.Struct(">III")
_SHORT = struct.Struct(">H")
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


# For each message id, the smallest and largest length prefix allowed.  Ids
# 10 and above are unknown messages, bounded only by maxMessageLength.
_FIXED_LENGTHS = {
    ID_CHOKE: (1, 1),
    ID_UNCHOKE: (1, 1),
    ID_INTERESTED: (1, 1),
    ID_NOT_INTERESTED: (1, 1),
    ID_HAVE: (5, 5),
    ID_REQUEST: (13, 13),
    ID_CANCEL: (13, 13),
    ID_PIECE: (9, 9 + MAX_BLOCK_LENGTH),
    ID_PORT: (3, 3),
}

# The same for the messages of the extensions, once negotiated.
_FAST_LENGTHS = {
    ID_SUGGEST_PIECE: (5, 5),
    ID_HAVE_ALL: (1, 1),
    ID_HAVE_NONE: (1, 1),
    ID_REJECT_REQUEST: (13, 13),
    ID_ALLOWED_FAST: (5, 5),
}
_EXTENDED_LENGTHS = (2, 2 + MAX_EXTENDED_PAYLOAD)

FAST_MESSAGE_IDS = frozenset(_FAST_LENGTHS)
"""
The ids of the fast extension's messages (BEP 6): a peer that did not
negotiate it must not send them.
"""


class Decoder:
    """
    An incremental decoder of what one peer sends: feed it bytes as they
    arrive, get back the messages they complete.

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
        self._batchRequests = batchRequests
        self._reserved = bytes(reserved)
        self._fast = False
        self._extensionProtocol = False
        self._expectHandshake = expectHandshake
        self._buffer = bytearray()
        self._failure: ProtocolError | None = None
        self._infoHash: bytes | None = None
        # How big the buffer must grow before a message can complete: lets
        # small chunks of a large message be appended without parsing.
        self._needed = 0
        self._minLengths = [1] * 256
        self._maxLengths = [maxMessageLength] * 256
        for messageId, (low, high) in _FIXED_LENGTHS.items():
            self._minLengths[messageId] = low
            self._maxLengths[messageId] = min(high, maxMessageLength)

    @property
    def bufferedBytes(self) -> int:
        """
        How many bytes are held waiting for the rest of a message (or of the
        handshake).
        """
        return len(self._buffer)

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
        maxMessageLength = self.maxMessageLength
        lengths = dict.fromkeys(FAST_IDS, (1, maxMessageLength))
        lengths[ID_EXTENDED] = (1, maxMessageLength)
        if self._fast:
            lengths.update(_FAST_LENGTHS)
        if self._extensionProtocol:
            lengths[ID_EXTENDED] = _EXTENDED_LENGTHS
        for messageId, (low, high) in lengths.items():
            self._minLengths[messageId] = low
            self._maxLengths[messageId] = min(high, maxMessageLength)

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
        self._maxLengths[ID_BITFIELD] = min(
            1 + (numPieces + 7) // 8, self.maxMessageLength
        )

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
            return self._receive(data)
        except ProtocolError as e:
            self._failure = e
            self._buffer = bytearray()
            raise

    def _fail(self, reason: str) -> ProtocolError:
        return ProtocolError(f"peer broke the wire protocol: {reason}")

    def _receive(self, data: bytes) -> list[Union[Handshake, Message]]:
        buffer = self._buffer
        messages: list[Union[Handshake, Message]] = []
        offset = 0
        if buffer and not self._expectHandshake:
            # Only the bytes that complete the buffered message are copied
            # to the buffer; the rest is decoded where it lies.
            offset = self._topUp(data, messages)
            if buffer:
                return messages
            source = data
        elif buffer:
            buffer += data
            if len(buffer) < self._needed:
                return []
            source = buffer
        else:
            source = data
        view = memoryview(source)
        try:
            end = len(view)
            if self._expectHandshake:
                offset = self._receiveHandshake(view, messages)
                if not offset:
                    if source is not buffer:
                        buffer += view
                    return messages
            # A block of an immutable C{bytes} is handed on as a view of it,
            # not copied; one of the buffer must be copied, as the buffer
            # changes.
            offset = self._receiveMessages(
                view, offset, end, messages, type(source) is bytes
            )
            if source is buffer:
                # The view must be released before the buffer can shrink.
                view.release()
                del buffer[:offset]
            elif offset < end:
                buffer += view[offset:]
        finally:
            view.release()
        return messages

    def _topUp(self, data: bytes, messages: list[Union[Handshake, Message]]) -> int:
        """
        Complete the message held in the buffer with the first bytes of
        C{data}, and decode it.

        @return: how many bytes of C{data} were taken; all of them if the
            buffer still holds part of a message.
        """
        buffer = self._buffer
        size = len(data)
        taken = 0
        with memoryview(data) as incoming:
            while buffer:
                # What the buffer must hold to make progress: the whole
                # message once its length is known, else its length (a
                # keep-alive is nothing more), then its id.
                target = self._needed or (4 if len(buffer) < 4 else 5)
                take = min(target - len(buffer), size - taken)
                buffer += incoming[taken:taken + take]
                taken += take
                if len(buffer) < target:
                    return taken
                with memoryview(buffer) as view:
                    consumed = self._receiveMessages(view, 0, len(buffer), messages)
                del buffer[:consumed]
        return taken

    def _receiveHandshake(
        self, view: memoryview, messages: list[Union[Handshake, Message]]
    ) -> int:
        """
        Check what has arrived of the handshake and decode it once complete.

        @return: 0 while incomplete, else L{HANDSHAKE_LENGTH}.
        """
        size = len(view)
        checked = min(size, len(HANDSHAKE_PREFIX))
        if view[:checked] != HANDSHAKE_PREFIX[:checked]:
            if view[0] != len(PROTOCOL_NAME):
                raise self._fail(
                    f"handshake protocol name length is {view[0]}, expected "
                    f"{len(PROTOCOL_NAME)}"
                )
            raise self._fail(
                f"handshake protocol name {bytes(view[1:checked])!r} is not "
                f"{PROTOCOL_NAME!r}"
            )
        if size >= INFO_HASH_END and self._infoHash is None:
            self._infoHash = bytes(view[28:48])
        if size < HANDSHAKE_LENGTH:
            return 0
        reserved = bytes(view[20:28])
        messages.append(
            Handshake(
                infoHash=self._infoHash,
                peerId=bytes(view[48:68]),
                reserved=reserved,
            )
        )
        self._expectHandshake = False
        self.negotiate(reserved)
        return HANDSHAKE_LENGTH

    def _receiveMessages(
        self,
        view: memoryview,
        offset: int,
        end: int,
        messages: list[Union[Handshake, Message]],
        share: bool = False,
    ) -> int:
        """
        Decode every complete message of C{view[offset:end]}.

        @param share: whether the bytes under C{view} never change, so that
            a L{Piece}'s block may be a view of them instead of a copy (at
            the cost of keeping them all alive while any block is).
        @return: the offset of the first byte not consumed.
        """
        append = messages.append
        unpackLength = _LENGTH.unpack_from
        maxMessageLength = self.maxMessageLength
        minLengths = self._minLengths
        maxLengths = self._maxLengths
        batchRequests = self._batchRequests
        self._needed = 0
        while True:
            available = end - offset
            if available < 4:
                return offset
            (length,) = unpackLength(view, offset)
            if length == 0:
                append(KEEP_ALIVE)
                offset += 4
                continue
            if length > maxMessageLength:
                raise self._fail(
                    f"message length {length} exceeds the limit of "
                    f"{maxMessageLength}"
                )
            if available < 5:
                return offset
            messageId = view[offset + 4]
            if not minLengths[messageId] <= length <= maxLengths[messageId]:
                raise self._lengthError(messageId, length)
            if available < 4 + length:
                self._needed = 4 + length
                return offset
            start = offset + 5
            offset += 4 + length
            if messageId == ID_PIECE:
                index, begin = _TWO_INTS.unpack_from(view, start)
                # No view of the buffer may outlive this call (not even in a
                # local a traceback keeps): the buffer shrinks after it.
                if share:
                    append(Piece(index, begin, view[start + 8 : offset]))
                else:
                    append(Piece(index, begin, bytes(view[start + 8 : offset])))
            elif messageId == ID_HAVE:
                append(Have(_ONE_INT.unpack_from(view, start)[0]))
            elif messageId == ID_REQUEST or messageId == ID_CANCEL:
                request = _THREE_INTS.unpack_from(view, start)
                blockLength = request[2]
                if not 0 < blockLength <= MAX_BLOCK_LENGTH:
                    raise self._fail(
                        f"{MESSAGE_NAMES[messageId]} for {blockLength} bytes; blocks "
                        f"must be 1 to {MAX_BLOCK_LENGTH} bytes"
                    )
                if messageId == ID_CANCEL:
                    append(Cancel(*request))
                elif not batchRequests:
                    append(Request(*request))
                elif messages and type(messages[-1]) is Requests:
                    messages[-1].requests.append(request)
                else:
                    append(Requests([request]))
            elif messageId < ID_HAVE:
                append(NO_PAYLOAD[messageId])
            elif messageId == ID_BITFIELD:
                append(Bitfield(bytes(view[start:offset])))
            elif messageId == ID_PORT:
                append(Port(_SHORT.unpack_from(view, start)[0]))
            else:
                append(self._decodeExtension(messageId, view, start, offset))

    def _decodeExtension(
        self, messageId: int, view: memoryview, start: int, end: int
    ) -> Message:
        """
        Decode a message whose id BEP 3 does not define, its length already
        checked.

        @return: the message of a negotiated extension, else an
            L{UnknownMessage}.
        """
        if messageId == ID_EXTENDED and self._extensionProtocol:
            return Extended(view[start], bytes(view[start + 1 : end]))
        if self._fast and messageId in _FAST_LENGTHS:
            if messageId == ID_HAVE_ALL:
                return HAVE_ALL
            if messageId == ID_HAVE_NONE:
                return HAVE_NONE
            if messageId == ID_REJECT_REQUEST:
                index, begin, blockLength = _THREE_INTS.unpack_from(view, start)
                if not 0 < blockLength <= MAX_BLOCK_LENGTH:
                    raise self._fail(
                        f"reject request for {blockLength} bytes; blocks must "
                        f"be 1 to {MAX_BLOCK_LENGTH} bytes"
                    )
                return RejectRequest(index, begin, blockLength)
            (index,) = _ONE_INT.unpack_from(view, start)
            if messageId == ID_SUGGEST_PIECE:
                return SuggestPiece(index)
            return AllowedFast(index)
        return UnknownMessage(messageId, bytes(view[start:end]))

    def _lengthError(self, messageId: int, length: int) -> ProtocolError:
        """
        @return: the error for a message whose length prefix is impossible
            for its id.
        """
        payload = length - 1
        if messageId == ID_PIECE:
            if payload < 8:
                return self._fail(f"piece message with a {payload}-byte payload")
            return self._fail(
                f"piece with a block of {payload - 8} bytes, more than "
                f"{MAX_BLOCK_LENGTH}"
            )
        if messageId == ID_BITFIELD:
            return self._fail(
                f"bitfield of {payload} bytes, more than "
                f"{self._maxLengths[ID_BITFIELD] - 1}"
            )
        if messageId == ID_EXTENDED:
            if payload < 1:
                return self._fail("extended message without an extended id")
            return self._fail(
                f"extended message with a {payload - 1}-byte payload, more "
                f"than {MAX_EXTENDED_PAYLOAD}"
            )
        expected = {**_FIXED_LENGTHS, **_FAST_LENGTHS}[messageId][0] - 1
        return self._fail(
            f"{MESSAGE_NAMES[messageId]} message with a {payload}-byte payload, "
            f"expected {expected}"
        )
