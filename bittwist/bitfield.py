# -*- test-case-name: tests.test_bitfield -*-
"""
A fixed-size set of piece indexes, in the byte layout of BEP 3's C{bitfield}
message (high bit of the first byte is piece 0).
"""

from typing import Iterable, Iterator

__all__ = ["Bitfield"]


class Bitfield:
    """
    Which of C{length} pieces are present.

    @ivar length: the number of pieces.
    """

    __slots__ = ("length", "_bits", "_count")

    def __init__(self, length: int, present: Iterable[int] = ()) -> None:
        self.length = length
        self._bits = bytearray((length + 7) // 8)
        self._count = 0
        for index in present:
            self.add(index)

    @classmethod
    def fromBytes(cls, length: int, data: bytes) -> "Bitfield":
        """
        Read a BEP 3 bitfield payload.

        @param length: the number of pieces of the torrent.
        @param data: the payload; its size must be C{ceil(length / 8)}.
        @raise ValueError: if the size is wrong or a spare bit at the end is
            set, as BEP 3 requires peers to drop such a connection.
        """
        expected = (length + 7) // 8
        if len(data) != expected:
            raise ValueError(f"bitfield is {len(data)} bytes, expected {expected}")
        spare = expected * 8 - length
        if spare and data[-1] & ((1 << spare) - 1):
            raise ValueError("bitfield has spare bits set")
        self = cls(length)
        self._bits[:] = data
        self._count = int.from_bytes(data, "big").bit_count()
        return self

    def toBytes(self) -> bytes:
        """
        @return: the BEP 3 payload.
        """
        return bytes(self._bits)

    def add(self, index: int) -> bool:
        """
        Mark a piece present.

        @return: C{True} if it was not present before.
        @raise IndexError: if C{index} is out of range.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"piece {index} out of range 0..{self.length - 1}")
        mask = 0x80 >> (index & 7)
        if self._bits[index >> 3] & mask:
            return False
        self._bits[index >> 3] |= mask
        self._count += 1
        return True

    def discard(self, index: int) -> bool:
        """
        Mark a piece absent.

        @return: C{True} if it was present before.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"piece {index} out of range 0..{self.length - 1}")
        mask = 0x80 >> (index & 7)
        if not self._bits[index >> 3] & mask:
            return False
        self._bits[index >> 3] &= ~mask & 0xFF
        self._count -= 1
        return True

    def __contains__(self, index: object) -> bool:
        # On the hot path of the picker: no isinstance, one comparison chain.
        try:
            return 0 <= index < self.length and bool(  # type: ignore[operator]
                self._bits[index >> 3] & (0x80 >> (index & 7))  # type: ignore[operator]
            )
        except TypeError:
            return False

    def __len__(self) -> int:
        """
        @return: how many pieces are present (not the capacity; that is
            C{length}).
        """
        return self._count

    def __iter__(self) -> Iterator[int]:
        """
        @return: the present indexes, ascending.
        """
        bits = self._bits
        for byteIndex, byte in enumerate(bits):
            if byte:
                base = byteIndex << 3
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        yield base + bit

    def complete(self) -> bool:
        """
        @return: whether every piece is present.
        """
        return self._count == self.length

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bitfield):
            return NotImplemented
        return self.length == other.length and self._bits == other._bits

    def __repr__(self) -> str:
        return f"<Bitfield {self._count}/{self.length}>"
