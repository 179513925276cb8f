# -*- test-case-name: tests.test_wire -*-
"""
The message stream after the handshake, cut into messages: a part of
L{bittwist.wire.Decoder}.

This is the decoder's hot path. C{piece}, C{request} and C{cancel} are
decoded in the loop itself, with no call per block or per request; the
other ids go to their decoder in the L{bittwist.wiretable.MessageTable}.
"""

import struct
from typing import Optional, Union

from bittwist.wiremessages import (
    ID_CANCEL,
    ID_PIECE,
    ID_REQUEST,
    KEEP_ALIVE,
    MAX_BLOCK_LENGTH,
    MESSAGE_NAMES,
    Cancel,
    Handshake,
    Message,
    Piece,
    Request,
    Requests,
    wireViolation,
)
from bittwist.wiretable import MessageTable

__all__ = ["FrameBuffer"]

_LENGTH = struct.Struct(">I")
_TWO_INTS = struct.Struct(">II")
_THREE_INTS = struct.Struct(">III")

Decoded = list[Union[Handshake, Message]]


class FrameBuffer:
    """
    Length-prefixed messages out of bytes split anywhere. Each length is
    checked against the table as soon as its bytes and the message id are
    in, so at most one incomplete message, of a length the table allows, is
    ever held.
    """

    __slots__ = ("_buffer", "_needed", "_table", "_batchRequests")

    def __init__(self, table: MessageTable, batchRequests: bool) -> None:
        """
        @param table: each id's bounds and decoder.
        @param batchRequests: whether to return consecutive C{request}
            messages as one L{Requests}.
        """
        self._table = table
        self._batchRequests = batchRequests
        self._buffer = bytearray()
        # How big the buffer must grow before a message can complete: lets
        # small chunks of a large message be appended without parsing.
        self._needed = 0

    @property
    def bufferedBytes(self) -> int:
        """
        How many bytes of an incomplete message are held.
        """
        return len(self._buffer)

    def clear(self) -> None:
        """
        Let go of what is held (the stream failed).
        """
        self._buffer = bytearray()

    def receive(self, data: bytes, messages: Optional[Decoded] = None) -> Decoded:
        """
        Feed the next bytes of the stream.

        @param messages: where to append the messages (a new list if
            C{None}).
        @return: C{messages}, with those C{data} completes appended.
        @raise ProtocolError: if a message breaks the protocol.
        """
        if messages is None:
            messages = []
        buffer = self._buffer
        offset = 0
        if buffer:
            # Only the bytes that complete the buffered message are copied
            # to the buffer; the rest is decoded where it lies.
            offset = self._topUp(data, messages)
            if buffer:
                return messages
        with memoryview(data) as view:
            end = len(view)
            # A block of an immutable C{bytes} is handed on as a view of it,
            # not copied.
            offset = self._receiveMessages(view, offset, end, messages, type(data) is bytes)
            if offset < end:
                buffer += view[offset:]
        return messages

    def _topUp(self, data: bytes, messages: Decoded) -> int:
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

    def _receiveMessages(
        self,
        view: memoryview,
        offset: int,
        end: int,
        messages: Decoded,
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
        table = self._table
        maxMessageLength = table.maxMessageLength
        minLengths = table.minLengths
        maxLengths = table.maxLengths
        decoders = table.decoders
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
                raise wireViolation(
                    f"message length {length} exceeds the limit of "
                    f"{maxMessageLength}"
                )
            if available < 5:
                return offset
            messageId = view[offset + 4]
            if not minLengths[messageId] <= length <= maxLengths[messageId]:
                raise table.lengthError(messageId, length)
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
            elif messageId == ID_REQUEST or messageId == ID_CANCEL:
                request = _THREE_INTS.unpack_from(view, start)
                blockLength = request[2]
                if not 0 < blockLength <= MAX_BLOCK_LENGTH:
                    raise wireViolation(
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
            else:
                append(decoders[messageId](view, start, offset))
