# -*- test-case-name: tests.test_wire -*-
"""
The per-message-id part of L{bittwist.wire.Decoder}: for each of the 256
ids, the lengths its prefix may claim and the function that decodes its
payload, as negotiated on one connection.

C{piece}, C{request} and C{cancel} are decoded in the frame loop itself
(L{bittwist.wireframes}): a fast peer sends one per block, and a call each
would be the decoder's largest cost.
"""

import functools
import struct
from typing import Callable, Optional

from bittwist.errors import ProtocolError
from bittwist.wiremessages import (
    FAST_IDS,
    HAVE_ALL,
    HAVE_NONE,
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
    MAX_BLOCK_LENGTH,
    MAX_EXTENDED_PAYLOAD,
    MESSAGE_NAMES,
    NO_PAYLOAD,
    AllowedFast,
    Bitfield,
    Extended,
    Have,
    Message,
    Port,
    RejectRequest,
    SuggestPiece,
    UnknownMessage,
    wireViolation,
)

__all__ = ["MessageTable", "FIXED_LENGTHS", "FAST_LENGTHS", "EXTENDED_LENGTHS", "FAST_MESSAGE_IDS"]

PayloadDecoder = Callable[[memoryview, int, int], Message]
"""
Decodes the payload C{view[start:end]} of a message whose length is already
checked (its id is C{view[start - 1]}).
"""

# For each message id, the smallest and largest length prefix allowed.  Ids
# 10 and above are unknown messages, bounded only by maxMessageLength.
FIXED_LENGTHS = {
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
FAST_LENGTHS = {
    ID_SUGGEST_PIECE: (5, 5),
    ID_HAVE_ALL: (1, 1),
    ID_HAVE_NONE: (1, 1),
    ID_REJECT_REQUEST: (13, 13),
    ID_ALLOWED_FAST: (5, 5),
}
EXTENDED_LENGTHS = (2, 2 + MAX_EXTENDED_PAYLOAD)

FAST_MESSAGE_IDS = frozenset(FAST_LENGTHS)
"""
The ids of the fast extension's messages (BEP 6): a peer that did not
negotiate it must not send them.
"""

_ONE_INT = struct.Struct(">I")
_THREE_INTS = struct.Struct(">III")
_SHORT = struct.Struct(">H")


def _constant(message: Message) -> PayloadDecoder:
    def decode(view: memoryview, start: int, end: int) -> Message:
        return message

    return decode


def decodeHave(view: memoryview, start: int, end: int) -> Message:
    return Have(_ONE_INT.unpack_from(view, start)[0])


def decodeBitfield(view: memoryview, start: int, end: int) -> Message:
    return Bitfield(bytes(view[start:end]))


def decodePort(view: memoryview, start: int, end: int) -> Message:
    return Port(_SHORT.unpack_from(view, start)[0])


def decodeSuggestPiece(view: memoryview, start: int, end: int) -> Message:
    return SuggestPiece(_ONE_INT.unpack_from(view, start)[0])


def decodeAllowedFast(view: memoryview, start: int, end: int) -> Message:
    return AllowedFast(_ONE_INT.unpack_from(view, start)[0])


def decodeRejectRequest(view: memoryview, start: int, end: int) -> Message:
    """
    @raise ProtocolError: for a block of 0 bytes or over L{MAX_BLOCK_LENGTH}.
    """
    index, begin, blockLength = _THREE_INTS.unpack_from(view, start)
    if not 0 < blockLength <= MAX_BLOCK_LENGTH:
        raise wireViolation(
            f"reject request for {blockLength} bytes; blocks must "
            f"be 1 to {MAX_BLOCK_LENGTH} bytes"
        )
    return RejectRequest(index, begin, blockLength)


def decodeExtended(view: memoryview, start: int, end: int) -> Message:
    return Extended(view[start], bytes(view[start + 1 : end]))


def decodeUnknown(view: memoryview, start: int, end: int) -> Message:
    return UnknownMessage(view[start - 1], bytes(view[start:end]))


_BEP3_DECODERS: dict[int, Optional[PayloadDecoder]] = {
    ID_CHOKE: _constant(NO_PAYLOAD[ID_CHOKE]),
    ID_UNCHOKE: _constant(NO_PAYLOAD[ID_UNCHOKE]),
    ID_INTERESTED: _constant(NO_PAYLOAD[ID_INTERESTED]),
    ID_NOT_INTERESTED: _constant(NO_PAYLOAD[ID_NOT_INTERESTED]),
    ID_HAVE: decodeHave,
    ID_BITFIELD: decodeBitfield,
    # Decoded in the frame loop.
    ID_REQUEST: None,
    ID_PIECE: None,
    ID_CANCEL: None,
    ID_PORT: decodePort,
}

_FAST_DECODERS: dict[int, PayloadDecoder] = {
    ID_SUGGEST_PIECE: decodeSuggestPiece,
    ID_HAVE_ALL: _constant(HAVE_ALL),
    ID_HAVE_NONE: _constant(HAVE_NONE),
    ID_REJECT_REQUEST: decodeRejectRequest,
    ID_ALLOWED_FAST: decodeAllowedFast,
}


def _negotiated(fast: bool, extensionProtocol: bool) -> tuple[tuple[int, int, int, PayloadDecoder], ...]:
    """
    @return: C{(id, smallest length, largest length, decoder)} of each
        extension message id, as negotiated (largest length C{-1}: no bound
        but C{maxMessageLength}).
    """
    entries = {messageId: (1, -1, decodeUnknown) for messageId in (*FAST_IDS, ID_EXTENDED)}
    if fast:
        for messageId, (low, high) in FAST_LENGTHS.items():
            entries[messageId] = (low, high, _FAST_DECODERS[messageId])
    if extensionProtocol:
        entries[ID_EXTENDED] = (*EXTENDED_LENGTHS, decodeExtended)
    return tuple((messageId, *entry) for messageId, entry in entries.items())


# Worked out once, not per connection.
_NEGOTIATED = {
    (fast, extensionProtocol): _negotiated(fast, extensionProtocol)
    for fast in (False, True)
    for extensionProtocol in (False, True)
}
_BEP3_MIN_LENGTHS = [1] * 256
for _id, (_low, _high) in FIXED_LENGTHS.items():
    _BEP3_MIN_LENGTHS[_id] = _low
_BEP3_TABLE: list[Optional[PayloadDecoder]] = [decodeUnknown] * 256
for _id, _decoder in _BEP3_DECODERS.items():
    _BEP3_TABLE[_id] = _decoder
del _id, _low, _high, _decoder


@functools.lru_cache(maxsize=64)
def _lengths(
    maxMessageLength: int, fast: Optional[bool], extensionProtocol: bool, bitfieldLength: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """
    Each id's smallest and largest length prefix, for one set of options.

    Tuples, shared by every connection with the same options (see
    L{_decoders}); a tuple of ints is not even tracked by the collector.

    @param fast: whether the fast extension is negotiated; C{None} before
        the handshake (BEP 3's ids only).
    @param bitfieldLength: the largest length prefix of a C{bitfield}.
    """
    minLengths = _BEP3_MIN_LENGTHS[:]
    maxLengths = [maxMessageLength] * 256
    for messageId, (low, high) in FIXED_LENGTHS.items():
        maxLengths[messageId] = min(high, maxMessageLength)
    if fast is not None:
        for messageId, low, high, _ in _NEGOTIATED[fast, extensionProtocol]:
            minLengths[messageId] = low
            maxLengths[messageId] = maxMessageLength if high < 0 else min(high, maxMessageLength)
    maxLengths[ID_BITFIELD] = min(bitfieldLength, maxMessageLength)
    return tuple(minLengths), tuple(maxLengths)


@functools.lru_cache(maxsize=None)
def _decoders(fast: Optional[bool], extensionProtocol: bool) -> tuple[Optional[PayloadDecoder], ...]:
    """
    Each id's decoder, for one set of options (at most five sets).

    Shared by every connection with the same options: three lists of 256
    entries per connection were most of what the garbage collector walked
    for a thousand connections.
    """
    decoders = _BEP3_TABLE[:]
    if fast is not None:
        for messageId, _, _, decoder in _NEGOTIATED[fast, extensionProtocol]:
            decoders[messageId] = decoder
    return tuple(decoders)


class MessageTable:
    """
    Each message id's bounds and decoder on one connection: BEP 3's from the
    start, the fast extension's and the extension protocol's once
    negotiated; any other id an L{UnknownMessage}.

    The tables are immutable, shared by the connections that negotiated the
    same (L{_lengths}, L{_decoders}); a change of options replaces them.

    @ivar maxMessageLength: the largest length prefix accepted.
    @ivar minLengths: the smallest length prefix of each id.
    @ivar maxLengths: the largest length prefix of each id.
    @ivar decoders: the payload decoder of each id (C{None} for those the
        frame loop decodes).
    """

    __slots__ = (
        "maxMessageLength", "minLengths", "maxLengths", "decoders", "_options", "_bitfieldLength"
    )

    def __init__(self, maxMessageLength: int) -> None:
        """
        @param maxMessageLength: the largest length prefix accepted, id and
            payload included.
        """
        self.maxMessageLength = maxMessageLength
        self._options: tuple[Optional[bool], bool] = (None, False)
        self._bitfieldLength = maxMessageLength
        self._update()

    def _update(self) -> None:
        self.minLengths, self.maxLengths = _lengths(
            self.maxMessageLength, *self._options, self._bitfieldLength
        )
        self.decoders = _decoders(*self._options)

    def negotiate(self, fast: bool, extensionProtocol: bool) -> None:
        """
        Decode the fast extension's messages and the extension protocol's as
        such, or as unknown messages, from now on.
        """
        self._options = (fast, extensionProtocol)
        self._update()

    def limitBitfield(self, numPieces: int) -> None:
        """
        Bound C{bitfield} messages to C{ceil(numPieces / 8)} bytes of payload.
        """
        self._bitfieldLength = 1 + (numPieces + 7) // 8
        self._update()

    def lengthError(self, messageId: int, length: int) -> ProtocolError:
        """
        @return: the error for a message whose length prefix is impossible
            for its id.
        """
        payload = length - 1
        if messageId == ID_PIECE:
            if payload < 8:
                return wireViolation(f"piece message with a {payload}-byte payload")
            return wireViolation(
                f"piece with a block of {payload - 8} bytes, more than "
                f"{MAX_BLOCK_LENGTH}"
            )
        if messageId == ID_BITFIELD:
            return wireViolation(
                f"bitfield of {payload} bytes, more than "
                f"{self.maxLengths[ID_BITFIELD] - 1}"
            )
        if messageId == ID_EXTENDED:
            if payload < 1:
                return wireViolation("extended message without an extended id")
            return wireViolation(
                f"extended message with a {payload - 1}-byte payload, more "
                f"than {MAX_EXTENDED_PAYLOAD}"
            )
        expected = {**FIXED_LENGTHS, **FAST_LENGTHS}[messageId][0] - 1
        return wireViolation(
            f"{MESSAGE_NAMES[messageId]} message with a {payload}-byte payload, "
            f"expected {expected}"
        )
