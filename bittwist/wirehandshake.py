# -*- test-case-name: tests.test_wire -*-
"""
The handshake that opens a peer wire stream, read as it arrives: a part of
L{bittwist.wire.Decoder}.
"""

from typing import Optional

from bittwist.wiremessages import (
    HANDSHAKE_LENGTH,
    HANDSHAKE_PREFIX,
    INFO_HASH_END,
    PROTOCOL_NAME,
    Handshake,
    wireViolation,
)

__all__ = ["HandshakeReader"]


class HandshakeReader:
    """
    Reads the 68-byte handshake, checking each byte of C{pstrlen} and
    C{pstr} as soon as it arrives (the first wrong one is an error).

    @ivar infoHash: the handshake's info hash, as soon as its first 48 bytes
        are in, else C{None}.
    """

    __slots__ = ("_buffer", "infoHash")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.infoHash: Optional[bytes] = None

    @property
    def bufferedBytes(self) -> int:
        """
        How many bytes of the handshake are held.
        """
        return len(self._buffer)

    def clear(self) -> None:
        """
        Let go of what is held (the stream failed).
        """
        self._buffer = bytearray()

    def receive(self, data: bytes) -> tuple[Optional[Handshake], bytes]:
        """
        Feed the next bytes of the stream.

        @return: the handshake once all of it is in (else C{None}), and the
            bytes that follow it in C{data} (empty until then).
        @raise ProtocolError: if the handshake is not a BitTorrent one.
        """
        buffer = self._buffer
        if buffer:
            buffer += data
            source: bytes | bytearray = buffer
        else:
            source = data
        with memoryview(source) as view:
            handshake = self._read(view)
        if handshake is None:
            if source is not buffer:
                buffer += data
            return None, b""
        # Once per connection: the copy costs nothing to speak of.
        rest = source[HANDSHAKE_LENGTH:]
        self._buffer = bytearray()
        return handshake, rest

    def _read(self, view: memoryview) -> Optional[Handshake]:
        """
        Check what has arrived of the handshake and decode it once complete.

        @return: the handshake, or C{None} while incomplete.
        """
        size = len(view)
        checked = min(size, len(HANDSHAKE_PREFIX))
        if view[:checked] != HANDSHAKE_PREFIX[:checked]:
            if view[0] != len(PROTOCOL_NAME):
                raise wireViolation(
                    f"handshake protocol name length is {view[0]}, expected "
                    f"{len(PROTOCOL_NAME)}"
                )
            raise wireViolation(
                f"handshake protocol name {bytes(view[1:checked])!r} is not "
                f"{PROTOCOL_NAME!r}"
            )
        if size >= INFO_HASH_END and self.infoHash is None:
            self.infoHash = bytes(view[28:48])
        if size < HANDSHAKE_LENGTH:
            return None
        return Handshake(
            infoHash=self.infoHash,
            peerId=bytes(view[48:68]),
            reserved=bytes(view[20:28]),
        )
