# -*- test-case-name: tests.test_wire -*-
"""
A sans-IO codec for the BitTorrent peer wire protocol (BEP 3).

Bytes in, messages out: L{Decoder.receiveData} takes whatever a transport
delivered and returns the messages it completes; L{encode} turns a message
into the bytes to write.  Nothing here touches a transport or a reactor.

Every size a peer can claim is bounded here, and checked as soon as the
bytes that make the claim arrive, so a peer cannot make us buffer toward a
message we would reject anyway.
"""

import struct
from dataclasses import dataclass
from typing import Union

from bittwist.errors import ProtocolError

__all__ = [
    "PROTOCOL_NAME",
    "HANDSHAKE_LENGTH",
    "BLOCK_SIZE",
    "MAX_BLOCK_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "Handshake",
    "KeepAlive",
    "Choke",
    "Unchoke",
    "Interested",
    "NotInterested",
    "Have",
    "Bitfield",
    "Request",
    "Piece",
    "Cancel",
    "Port",
    "UnknownMessage",
    "Message",
    "encode",
    "encodePieceHeader",
    "encodeRequest",
    "Decoder",
]

PROTOCOL_NAME = b"BitTorrent protocol"

HANDSHAKE_LENGTH = 68
"""
pstrlen (1) + pstr (19) + reserved (8) + info_hash (20) + peer_id (20).
"""

BLOCK_SIZE = 16384
"""
The block size we request, as every current client does.
"""

MAX_BLOCK_LENGTH = 131072
"""
The largest block we accept in a C{request}, C{cancel} or C{piece} (128 KiB,
as libtorrent).  Anything larger is a peer trying to make us read or buffer
too much.
"""

MAX_MESSAGE_LENGTH = 1 + 8 + MAX_BLOCK_LENGTH
"""
The default bound on a message's length prefix: a C{piece} carrying a block
of L{MAX_BLOCK_LENGTH}.  It also admits the C{bitfield} of a torrent of up to
2 ** 20 pieces (C{1 + 2 ** 17} bytes).
"""

_HANDSHAKE_PREFIX = bytes([len(PROTOCOL_NAME)]) + PROTOCOL_NAME
_INFO_HASH_END = 48

_CHOKE = 0
_UNCHOKE = 1
_INTERESTED = 2
_NOT_INTERESTED = 3
_HAVE = 4
_BITFIELD = 5
_REQUEST = 6
_PIECE = 7
_CANCEL = 8
_PORT = 9

_NAMES = [
    "choke",
    "unchoke",
    "interested",
    "not interested",
    "have",
    "bitfield",
    "request",
    "piece",
    "cancel",
    "port",
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


def _shortRepr(data: bytes) -> str:
    """
    @return: C{data} for a C{repr}, cut to 20 bytes, with its full length.
    """
    if len(data) <= 20:
        return repr(bytes(data))
    return f"{bytes(data[:20])!r}... ({len(data)} bytes)"


@dataclass(frozen=True, slots=True)
class Handshake:
    """
    The first 68 bytes each side sends: which torrent (C{infoHash}), who is
    speaking (C{peerId}) and which extensions it supports (C{reserved}).
    """

    infoHash: bytes
    peerId: bytes
    reserved: bytes = bytes(8)


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """
    A zero-length message: the peer is still there.
    """


@dataclass(frozen=True, slots=True)
class Choke:
    """
    The peer will not answer our requests; those outstanding are dropped.
    """


@dataclass(frozen=True, slots=True)
class Unchoke:
    """
    The peer will answer our requests.
    """


@dataclass(frozen=True, slots=True)
class Interested:
    """
    The peer wants pieces we have.
    """


@dataclass(frozen=True, slots=True)
class NotInterested:
    """
    The peer wants nothing we have.
    """


@dataclass(frozen=True, slots=True)
class Have:
    """
    The peer has completed and verified piece C{index}.
    """

    index: int


@dataclass(frozen=True, slots=True, repr=False)
class Bitfield:
    """
    The pieces the peer has, sent just after the handshake: the high bit of
    the first byte is piece 0 (see L{bittwist.bitfield.Bitfield.fromBytes},
    which checks the exact size and the spare bits).
    """

    payload: bytes

    def __repr__(self) -> str:
        return f"Bitfield(payload={_shortRepr(self.payload)})"


@dataclass(frozen=True, slots=True)
class Request:
    """
    The peer asks for C{length} bytes of piece C{index} from offset C{begin}.
    """

    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True, repr=False)
class Piece:
    """
    A block of data: the bytes of piece C{index} from offset C{begin}.
    """

    index: int
    begin: int
    block: bytes

    def __repr__(self) -> str:
        return (
            f"Piece(index={self.index}, begin={self.begin}, "
            f"block={_shortRepr(self.block)})"
        )


@dataclass(frozen=True, slots=True)
class Cancel:
    """
    The peer withdraws an earlier L{Request} with the same fields.
    """

    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Port:
    """
    The UDP port of the peer's DHT node (BEP 5).
    """

    port: int


@dataclass(frozen=True, slots=True, repr=False)
class UnknownMessage:
    """
    A message whose id BEP 3 does not define (10 and above), such as the
    extension protocol's (BEP 10, id 20) or the fast extension's (BEP 6,
    ids 13 to 17).  Tolerated and passed on, never an error.
    """

    messageId: int
    payload: bytes

    def __repr__(self) -> str:
        return (
            f"UnknownMessage(messageId={self.messageId}, "
            f"payload={_shortRepr(self.payload)})"
        )


Message = Union[
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have,
    Bitfield,
    Request,
    Piece,
    Cancel,
    Port,
    UnknownMessage,
]

_KEEP_ALIVE = KeepAlive()
_NO_PAYLOAD = [Choke(), Unchoke(), Interested(), NotInterested()]
_NO_PAYLOAD_BYTES = {
    KeepAlive: bytes(4),
    Choke: _HEADER.pack(1, _CHOKE),
    Unchoke: _HEADER.pack(1, _UNCHOKE),
    Interested: _HEADER.pack(1, _INTERESTED),
    NotInterested: _HEADER.pack(1, _NOT_INTERESTED),
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
    return _PIECE_HEADER.pack(9 + length, _PIECE, index, begin)


def encodeRequest(index: int, begin: int, length: int) -> bytes:
    """
    Encode a C{request} message, as C{encode(Request(index, begin, length))}
    does, without making the L{Request}: a downloader sends one per block.

    @raise ValueError: if a field is not a 32-bit unsigned integer.
    """
    try:
        return _REQUEST_MESSAGE.pack(13, _REQUEST, index, begin, length)
    except struct.error as e:
        raise ValueError(f"cannot encode a request for {(index, begin, length)}: {e}") from e


def encode(message: Union[Handshake, Message]) -> bytes:
    """
    Encode a message, or a handshake, as it goes on the wire.

    @param message: the message.
    @return: its bytes, length prefix included.
    @raise ValueError: if a field cannot be encoded (a handshake field of the
        wrong size, an integer out of range, an L{UnknownMessage} id that is
        not 10 to 255).
    """
    kind = type(message)
    if kind is Piece:
        block = message.block
        head = _PIECE_HEADER.pack(9 + len(block), _PIECE, message.index, message.begin)
        return head + block
    constant = _NO_PAYLOAD_BYTES.get(kind)
    if constant is not None:
        return constant
    try:
        if kind is Have:
            return _HAVE_MESSAGE.pack(5, _HAVE, message.index)
        if kind is Request:
            return _REQUEST_MESSAGE.pack(
                13, _REQUEST, message.index, message.begin, message.length
            )
        if kind is Cancel:
            return _REQUEST_MESSAGE.pack(
                13, _CANCEL, message.index, message.begin, message.length
            )
        if kind is Bitfield:
            payload = message.payload
            return _HEADER.pack(1 + len(payload), _BITFIELD) + payload
        if kind is Port:
            return _PORT_MESSAGE.pack(3, _PORT, message.port)
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
            _HANDSHAKE_PREFIX + message.reserved + message.infoHash + message.peerId
        )
    raise TypeError(f"not a peer wire message: {message!r}")


# For each message id, the smallest and largest length prefix allowed.  Ids
# 10 and above are unknown messages, bounded only by maxMessageLength.
_FIXED_LENGTHS = {
    _CHOKE: (1, 1),
    _UNCHOKE: (1, 1),
    _INTERESTED: (1, 1),
    _NOT_INTERESTED: (1, 1),
    _HAVE: (5, 5),
    _REQUEST: (13, 13),
    _CANCEL: (13, 13),
    _PIECE: (9, 9 + MAX_BLOCK_LENGTH),
    _PORT: (3, 3),
}


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
      - a C{request} or C{cancel} for 0 bytes or more than
        L{MAX_BLOCK_LENGTH} is an error.

    So the decoder never holds more than one incomplete message.

    After a L{ProtocolError} the decoder is unusable: every later call
    raises L{ProtocolError} too, and the connection should be dropped.

    @ivar maxMessageLength: the largest length prefix accepted; read only,
        set it through the constructor.
    """

    def __init__(
        self, expectHandshake: bool = True, maxMessageLength: int = MAX_MESSAGE_LENGTH
    ) -> None:
        """
        @param expectHandshake: whether the stream starts with a handshake.
        @param maxMessageLength: the largest length prefix accepted, id and
            payload included.
        """
        self.maxMessageLength = maxMessageLength
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
        self._maxLengths[_BITFIELD] = min(
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
        if buffer:
            buffer += data
            if len(buffer) < self._needed:
                return []
            source = buffer
        else:
            source = data
        messages: list[Union[Handshake, Message]] = []
        view = memoryview(source)
        try:
            offset = 0
            end = len(view)
            if self._expectHandshake:
                offset = self._receiveHandshake(view, messages)
                if not offset:
                    if source is not buffer:
                        buffer += view
                    return messages
            offset = self._receiveMessages(view, offset, end, messages)
            if source is buffer:
                # The view must be released before the buffer can shrink.
                view.release()
                del buffer[:offset]
            elif offset < end:
                buffer += view[offset:]
        finally:
            view.release()
        return messages

    def _receiveHandshake(
        self, view: memoryview, messages: list[Union[Handshake, Message]]
    ) -> int:
        """
        Check what has arrived of the handshake and decode it once complete.

        @return: 0 while incomplete, else L{HANDSHAKE_LENGTH}.
        """
        size = len(view)
        checked = min(size, len(_HANDSHAKE_PREFIX))
        if view[:checked] != _HANDSHAKE_PREFIX[:checked]:
            if view[0] != len(PROTOCOL_NAME):
                raise self._fail(
                    f"handshake protocol name length is {view[0]}, expected "
                    f"{len(PROTOCOL_NAME)}"
                )
            raise self._fail(
                f"handshake protocol name {bytes(view[1:checked])!r} is not "
                f"{PROTOCOL_NAME!r}"
            )
        if size >= _INFO_HASH_END and self._infoHash is None:
            self._infoHash = bytes(view[28:48])
        if size < HANDSHAKE_LENGTH:
            return 0
        messages.append(
            Handshake(
                infoHash=self._infoHash,
                peerId=bytes(view[48:68]),
                reserved=bytes(view[20:28]),
            )
        )
        self._expectHandshake = False
        return HANDSHAKE_LENGTH

    def _receiveMessages(
        self,
        view: memoryview,
        offset: int,
        end: int,
        messages: list[Union[Handshake, Message]],
    ) -> int:
        """
        Decode every complete message of C{view[offset:end]}.

        @return: the offset of the first byte not consumed.
        """
        append = messages.append
        unpackLength = _LENGTH.unpack_from
        maxMessageLength = self.maxMessageLength
        minLengths = self._minLengths
        maxLengths = self._maxLengths
        self._needed = 0
        while True:
            available = end - offset
            if available < 4:
                return offset
            (length,) = unpackLength(view, offset)
            if length == 0:
                append(_KEEP_ALIVE)
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
            if messageId == _PIECE:
                index, begin = _TWO_INTS.unpack_from(view, start)
                append(Piece(index, begin, bytes(view[start + 8 : offset])))
            elif messageId == _HAVE:
                append(Have(_ONE_INT.unpack_from(view, start)[0]))
            elif messageId == _REQUEST or messageId == _CANCEL:
                index, begin, blockLength = _THREE_INTS.unpack_from(view, start)
                if not 0 < blockLength <= MAX_BLOCK_LENGTH:
                    raise self._fail(
                        f"{_NAMES[messageId]} for {blockLength} bytes; blocks "
                        f"must be 1 to {MAX_BLOCK_LENGTH} bytes"
                    )
                if messageId == _REQUEST:
                    append(Request(index, begin, blockLength))
                else:
                    append(Cancel(index, begin, blockLength))
            elif messageId < _HAVE:
                append(_NO_PAYLOAD[messageId])
            elif messageId == _BITFIELD:
                append(Bitfield(bytes(view[start:offset])))
            elif messageId == _PORT:
                append(Port(_SHORT.unpack_from(view, start)[0]))
            else:
                append(UnknownMessage(messageId, bytes(view[start:offset])))

    def _lengthError(self, messageId: int, length: int) -> ProtocolError:
        """
        @return: the error for a message whose length prefix is impossible
            for its id.
        """
        payload = length - 1
        if messageId == _PIECE:
            if payload < 8:
                return self._fail(f"piece message with a {payload}-byte payload")
            return self._fail(
                f"piece with a block of {payload - 8} bytes, more than "
                f"{MAX_BLOCK_LENGTH}"
            )
        if messageId == _BITFIELD:
            return self._fail(
                f"bitfield of {payload} bytes, more than "
                f"{self._maxLengths[_BITFIELD] - 1}"
            )
        if messageId < len(_NAMES):
            expected = _FIXED_LENGTHS[messageId][0] - 1
            return self._fail(
                f"{_NAMES[messageId]} message with a {payload}-byte payload, "
                f"expected {expected}"
            )
        return self._fail(  # pragma: no cover - only maxMessageLength bounds these
            f"message {messageId} of {length} bytes"
        )
