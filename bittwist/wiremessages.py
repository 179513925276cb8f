# -*- test-case-name: tests.test_wire -*-
"""
The peer wire protocol's messages (BEP 3, and BEP 6 and BEP 10's framing):
their classes, ids and size limits, shared by the encoder (L{bittwist.wire})
and the decoder's parts. Import them from L{bittwist.wire}.
"""

import enum
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


HANDSHAKE_PREFIX = bytes([len(PROTOCOL_NAME)]) + PROTOCOL_NAME
INFO_HASH_END = 48

# The message ids.
ID_CHOKE = 0
ID_UNCHOKE = 1
ID_INTERESTED = 2
ID_NOT_INTERESTED = 3
ID_HAVE = 4
ID_BITFIELD = 5
ID_REQUEST = 6
ID_PIECE = 7
ID_CANCEL = 8
ID_PORT = 9
ID_SUGGEST_PIECE = 13
ID_HAVE_ALL = 14
ID_HAVE_NONE = 15
ID_REJECT_REQUEST = 16
ID_ALLOWED_FAST = 17
ID_EXTENDED = 20

FAST_IDS = (ID_SUGGEST_PIECE, ID_HAVE_ALL, ID_HAVE_NONE, ID_REJECT_REQUEST, ID_ALLOWED_FAST)

MESSAGE_NAMES = {
    ID_CHOKE: "choke",
    ID_UNCHOKE: "unchoke",
    ID_INTERESTED: "interested",
    ID_NOT_INTERESTED: "not interested",
    ID_HAVE: "have",
    ID_BITFIELD: "bitfield",
    ID_REQUEST: "request",
    ID_PIECE: "piece",
    ID_CANCEL: "cancel",
    ID_PORT: "port",
    ID_SUGGEST_PIECE: "suggest piece",
    ID_HAVE_ALL: "have all",
    ID_HAVE_NONE: "have none",
    ID_REJECT_REQUEST: "reject request",
    ID_ALLOWED_FAST: "allowed fast",
    ID_EXTENDED: "extended",
}


def shortRepr(data: bytes) -> str:
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
        return f"Bitfield(payload={shortRepr(self.payload)})"


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
            f"block={shortRepr(self.block)})"
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
            f"payload={shortRepr(self.payload)})"
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
            f"payload={shortRepr(self.payload)})"
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

KEEP_ALIVE = KeepAlive()
"""
The one L{KeepAlive} (and, below, the one of each message without fields):
decoders hand out these rather than make new ones.
"""
HAVE_ALL = HaveAll()
HAVE_NONE = HaveNone()
NO_PAYLOAD = (Choke(), Unchoke(), Interested(), NotInterested())
"""
The messages without a payload of BEP 3, by id.
"""


def wireViolation(reason: str) -> ProtocolError:
    """
    @param reason: what the peer did wrong.
    @return: the error for a peer that broke the wire protocol.
    """
    return ProtocolError(f"peer broke the wire protocol: {reason}")
