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

import enum
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

MAX_EXTENDED_PAYLOAD = 65536
"""
The largest payload of an C{extended} message (BEP 10), its extended message
id not counted: 64 KiB.  The biggest we expect is a C{ut_metadata} data
message, a 16 KiB piece after a short dictionary; extended handshakes and
C{ut_pex} messages are a few hundred bytes.  It is checked on the message's
fifth byte, like the other per-message limits, and stays under
L{MAX_MESSAGE_LENGTH}, so a peer cannot use the extension protocol to make
us buffer more than a C{piece} would.
"""


class ReservedBit(enum.Enum):
    """
    The bits of the handshake's reserved bytes that announce an extension,
    as C{(byte index, mask)}.
    """

    #: BEP 5: the peer runs a DHT node and may send L{Port}.
    DHT = (7, 0x01)
    #: BEP 6: the fast extension (L{HaveAll}, L{RejectRequest}, ...).
    FAST = (7, 0x04)
    #: BEP 10: the extension protocol (L{Extended}).
    EXTENSION_PROTOCOL = (5, 0x10)


def makeReserved(*bits: ReservedBit) -> bytes:
    """
    @param bits: the extensions to announce.
    @return: the 8 reserved bytes of a handshake with exactly those bits set.
    """
    reserved = bytes(8)
    for bit in bits:
        reserved = setReservedBit(reserved, bit)
    return reserved


def setReservedBit(reserved: bytes, bit: ReservedBit) -> bytes:
    """
    @param reserved: 8 reserved bytes.
    @param bit: the extension to announce.
    @return: C{reserved} with C{bit} set too.
    @raise ValueError: if C{reserved} is not 8 bytes.
    """
    if len(reserved) != 8:
        raise ValueError(f"reserved bytes must be 8 bytes, not {len(reserved)}")
    index, mask = bit.value
    changed = bytearray(reserved)
    changed[index] |= mask
    return bytes(changed)


def hasReservedBit(reserved: bytes, bit: ReservedBit) -> bool:
    """
    @param reserved: the 8 reserved bytes of a handshake.
    @param bit: the extension asked about.
    @return: whether C{reserved} announces it.
    @raise ValueError: if C{reserved} is not 8 bytes.
    """
    if len(reserved) != 8:
        raise ValueError(f"reserved bytes must be 8 bytes, not {len(reserved)}")
    index, mask = bit.value
    return bool(reserved[index] & mask)


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
_SUGGEST_PIECE = 13
_HAVE_ALL = 14
_HAVE_NONE = 15
_REJECT_REQUEST = 16
_ALLOWED_FAST = 17
_EXTENDED = 20

_FAST_IDS = (_SUGGEST_PIECE, _HAVE_ALL, _HAVE_NONE, _REJECT_REQUEST, _ALLOWED_FAST)

_NAMES = {
    _CHOKE: "choke",
    _UNCHOKE: "unchoke",
    _INTERESTED: "interested",
    _NOT_INTERESTED: "not interested",
    _HAVE: "have",
    _BITFIELD: "bitfield",
    _REQUEST: "request",
    _PIECE: "piece",
    _CANCEL: "cancel",
    _PORT: "port",
    _SUGGEST_PIECE: "suggest piece",
    _HAVE_ALL: "have all",
    _HAVE_NONE: "have none",
    _REJECT_REQUEST: "reject request",
    _ALLOWED_FAST: "allowed fast",
    _EXTENDED: "extended",
}

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


@dataclass(frozen=True, slots=True)
class Requests:
    """
    Consecutive C{request} messages, decoded as one by a L{Decoder} made
    with C{batchRequests} (a downloader sends them in bursts, and a seeder
    then handles a burst without a L{Request} object per block).

    @ivar requests: C{(index, begin, length)} of each, in order.
    """

    requests: list[tuple[int, int, int]]


@dataclass(frozen=True, slots=True, repr=False)
class Piece:
    """
    A block of data: the bytes of piece C{index} from offset C{begin}.

    A decoded block is C{bytes}, or a read-only C{memoryview} of the bytes
    it arrived in (no copy); either compares equal to the same bytes.
    """

    index: int
    begin: int
    block: bytes | memoryview

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


@dataclass(frozen=True, slots=True)
class SuggestPiece:
    """
    BEP 6: the peer suggests we download piece C{index} (it has it in its
    cache, say).  Advisory only.
    """

    index: int


@dataclass(frozen=True, slots=True)
class HaveAll:
    """
    BEP 6: the peer has every piece; sent in place of a L{Bitfield}.
    """


@dataclass(frozen=True, slots=True)
class HaveNone:
    """
    BEP 6: the peer has no piece; sent in place of a L{Bitfield}.
    """


@dataclass(frozen=True, slots=True)
class RejectRequest:
    """
    BEP 6: the peer will not answer our L{Request} with the same fields.
    """

    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class AllowedFast:
    """
    BEP 6: the peer will answer our requests for piece C{index} even while
    it chokes us.
    """

    index: int


@dataclass(frozen=True, slots=True, repr=False)
class Extended:
    """
    BEP 10: a message of the extension protocol.  C{extendedId} 0 is the
    extended handshake; any other names an extension through the ids the
    receiver announced in its handshake (see
    L{bittwist.extensions.handshake.ExtensionRegistry}).  C{payload} is at
    most L{MAX_EXTENDED_PAYLOAD} bytes.
    """

    extendedId: int
    payload: bytes

    def __repr__(self) -> str:
        return (
            f"Extended(extendedId={self.extendedId}, "
            f"payload={_shortRepr(self.payload)})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class UnknownMessage:
    """
    A message whose id BEP 3 does not define (10 and above) and that the
    decoder was not told to decode: the fast extension's (BEP 6, ids 13 to
    17) and the extension protocol's (BEP 10, id 20) unless both sides
    announced them, and any other id.  Tolerated and passed on, never an
    error.
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
    Requests,
    Piece,
    Cancel,
    Port,
    SuggestPiece,
    HaveAll,
    HaveNone,
    RejectRequest,
    AllowedFast,
    Extended,
    UnknownMessage,
]

_KEEP_ALIVE = KeepAlive()
_HAVE_ALL_MESSAGE = HaveAll()
_HAVE_NONE_MESSAGE = HaveNone()
_NO_PAYLOAD = [Choke(), Unchoke(), Interested(), NotInterested()]
_NO_PAYLOAD_BYTES = {
    KeepAlive: bytes(4),
    Choke: _HEADER.pack(1, _CHOKE),
    Unchoke: _HEADER.pack(1, _UNCHOKE),
    Interested: _HEADER.pack(1, _INTERESTED),
    NotInterested: _HEADER.pack(1, _NOT_INTERESTED),
    HaveAll: _HEADER.pack(1, _HAVE_ALL),
    HaveNone: _HEADER.pack(1, _HAVE_NONE),
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
        wrong size, an integer out of range, an L{Extended} payload over
        L{MAX_EXTENDED_PAYLOAD}, an L{UnknownMessage} id that is not 10 to
        255).
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
        if kind is Requests:
            pack = _REQUEST_MESSAGE.pack
            return b"".join([pack(13, _REQUEST, *request) for request in message.requests])
        if kind is Bitfield:
            payload = message.payload
            return _HEADER.pack(1 + len(payload), _BITFIELD) + payload
        if kind is Port:
            return _PORT_MESSAGE.pack(3, _PORT, message.port)
        if kind is Extended:
            payload = message.payload
            if len(payload) > MAX_EXTENDED_PAYLOAD:
                raise ValueError(
                    f"extended message payload of {len(payload)} bytes is over "
                    f"the limit of {MAX_EXTENDED_PAYLOAD}"
                )
            return (
                _EXTENDED_HEADER.pack(2 + len(payload), _EXTENDED, message.extendedId)
                + payload
            )
        if kind is SuggestPiece:
            return _HAVE_MESSAGE.pack(5, _SUGGEST_PIECE, message.index)
        if kind is AllowedFast:
            return _HAVE_MESSAGE.pack(5, _ALLOWED_FAST, message.index)
        if kind is RejectRequest:
            return _REQUEST_MESSAGE.pack(
                13, _REJECT_REQUEST, message.index, message.begin, message.length
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

# The same for the messages of the extensions, once negotiated.
_FAST_LENGTHS = {
    _SUGGEST_PIECE: (5, 5),
    _HAVE_ALL: (1, 1),
    _HAVE_NONE: (1, 1),
    _REJECT_REQUEST: (13, 13),
    _ALLOWED_FAST: (5, 5),
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
        lengths = dict.fromkeys(_FAST_IDS, (1, maxMessageLength))
        lengths[_EXTENDED] = (1, maxMessageLength)
        if self._fast:
            lengths.update(_FAST_LENGTHS)
        if self._extensionProtocol:
            lengths[_EXTENDED] = _EXTENDED_LENGTHS
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
                # No view of the buffer may outlive this call (not even in a
                # local a traceback keeps): the buffer shrinks after it.
                if share:
                    append(Piece(index, begin, view[start + 8 : offset]))
                else:
                    append(Piece(index, begin, bytes(view[start + 8 : offset])))
            elif messageId == _HAVE:
                append(Have(_ONE_INT.unpack_from(view, start)[0]))
            elif messageId == _REQUEST or messageId == _CANCEL:
                request = _THREE_INTS.unpack_from(view, start)
                blockLength = request[2]
                if not 0 < blockLength <= MAX_BLOCK_LENGTH:
                    raise self._fail(
                        f"{_NAMES[messageId]} for {blockLength} bytes; blocks "
                        f"must be 1 to {MAX_BLOCK_LENGTH} bytes"
                    )
                if messageId == _CANCEL:
                    append(Cancel(*request))
                elif not batchRequests:
                    append(Request(*request))
                elif messages and type(messages[-1]) is Requests:
                    messages[-1].requests.append(request)
                else:
                    append(Requests([request]))
            elif messageId < _HAVE:
                append(_NO_PAYLOAD[messageId])
            elif messageId == _BITFIELD:
                append(Bitfield(bytes(view[start:offset])))
            elif messageId == _PORT:
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
        if messageId == _EXTENDED and self._extensionProtocol:
            return Extended(view[start], bytes(view[start + 1 : end]))
        if self._fast and messageId in _FAST_LENGTHS:
            if messageId == _HAVE_ALL:
                return _HAVE_ALL_MESSAGE
            if messageId == _HAVE_NONE:
                return _HAVE_NONE_MESSAGE
            if messageId == _REJECT_REQUEST:
                index, begin, blockLength = _THREE_INTS.unpack_from(view, start)
                if not 0 < blockLength <= MAX_BLOCK_LENGTH:
                    raise self._fail(
                        f"reject request for {blockLength} bytes; blocks must "
                        f"be 1 to {MAX_BLOCK_LENGTH} bytes"
                    )
                return RejectRequest(index, begin, blockLength)
            (index,) = _ONE_INT.unpack_from(view, start)
            if messageId == _SUGGEST_PIECE:
                return SuggestPiece(index)
            return AllowedFast(index)
        return UnknownMessage(messageId, bytes(view[start:end]))

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
        if messageId == _EXTENDED:
            if payload < 1:
                return self._fail("extended message without an extended id")
            return self._fail(
                f"extended message with a {payload - 1}-byte payload, more "
                f"than {MAX_EXTENDED_PAYLOAD}"
            )
        expected = {**_FIXED_LENGTHS, **_FAST_LENGTHS}[messageId][0] - 1
        return self._fail(
            f"{_NAMES[messageId]} message with a {payload}-byte payload, "
            f"expected {expected}"
        )
