# -*- test-case-name: tests.test_bdecode -*-
"""
Bencode decoding under bounds, for input from outside (tracker answers).

A bencoded value costs far more in memory than on the wire: C{le} is two
bytes and an empty Python list is 56, so a 1 MiB body of C{lelele...} would
become half a million lists.  L{decode} counts every value it makes and
gives up past C{maxValues}, and refuses nesting deeper than C{maxDepth}, so
what it builds stays a small multiple of C{maxValues}.

It decodes as C{bencodepy} does (strings as C{bytes}, dictionary keys as
C{bytes}), but strictly: trailing data, leading zeros and C{-0} are errors.
"""

from typing import Any

from bittwist.errors import BencodeError

__all__ = ["decode", "decodePrefix", "MAX_INTEGER_DIGITS"]

MAX_INTEGER_DIGITS = 64
"""
The longest integer accepted, in digits: more than any count or size
needs, and short of the cost of converting huge numbers.
"""

_DIGITS = frozenset(b"0123456789")


class _Decoder:
    def __init__(self, data: bytes, maxValues: int, maxDepth: int) -> None:
        self.data = data
        self.position = 0
        self.values = 0
        self.maxValues = maxValues
        self.maxDepth = maxDepth

    def fail(self, reason: str) -> BencodeError:
        return BencodeError(f"{reason} at byte {self.position}")

    def peek(self) -> int:
        if self.position >= len(self.data):
            raise self.fail("the data ends early")
        return self.data[self.position]

    def value(self, depth: int) -> Any:
        self.values += 1
        if self.values > self.maxValues:
            raise BencodeError(f"more than {self.maxValues} values")
        first = self.peek()
        if first == 0x69:  # i
            return self.integer()
        if first in _DIGITS:
            return self.string()
        if first in (0x6C, 0x64):  # l, d
            if depth >= self.maxDepth:
                raise self.fail(f"nested deeper than {self.maxDepth}")
            self.position += 1
            if first == 0x6C:
                items = []
                while self.peek() != 0x65:  # e
                    items.append(self.value(depth + 1))
                self.position += 1
                return items
            dictionary = {}
            while self.peek() != 0x65:
                if self.peek() not in _DIGITS:
                    raise self.fail("a dictionary key is not a string")
                key = self.string()
                dictionary[key] = self.value(depth + 1)
            self.position += 1
            return dictionary
        raise self.fail(f"unexpected byte {bytes([first])!r}")

    def number(self, end: int, what: str) -> int:
        digits = self.data[self.position : end]
        body = digits[1:] if digits[:1] == b"-" else digits
        if not body or not set(body) <= _DIGITS:
            raise self.fail(f"bad {what}")
        if len(body) > MAX_INTEGER_DIGITS:
            raise self.fail(f"{what} longer than {MAX_INTEGER_DIGITS} digits")
        if (body[:1] == b"0" and len(body) > 1) or digits == b"-0":
            raise self.fail(f"{what} with a leading zero")
        return int(digits)

    def integer(self) -> int:
        self.position += 1
        end = self.data.find(b"e", self.position, self.position + MAX_INTEGER_DIGITS + 2)
        if end < 0:
            raise self.fail("an integer without an end")
        value = self.number(end, "integer")
        self.position = end + 1
        return value

    def string(self) -> bytes:
        colon = self.data.find(b":", self.position, self.position + MAX_INTEGER_DIGITS + 1)
        if colon < 0:
            raise self.fail("a string length without a colon")
        length = self.number(colon, "string length")
        if length < 0:
            raise self.fail("a negative string length")
        start = colon + 1
        if start + length > len(self.data):
            raise self.fail("a string runs past the end")
        self.position = start + length
        return self.data[start : start + length]


def decode(data: bytes, maxValues: int, maxDepth: int = 32) -> Any:
    """
    Decode one bencoded value that takes up all of C{data}.

    @param data: the bencoded bytes.
    @param maxValues: the most values (integers, strings, lists,
        dictionaries, dictionary keys not counted) to make.
    @param maxDepth: the deepest nesting of lists and dictionaries.
    @return: the value: C{int}, C{bytes}, C{list} or C{dict} with C{bytes}
        keys.
    @raise BencodeError: if C{data} is not exactly one bencoded value, or
        breaks a bound.
    """
    decoder = _Decoder(bytes(data), maxValues, maxDepth)
    value = decoder.value(0)
    if decoder.position != len(decoder.data):
        raise decoder.fail("trailing data")
    return value


def decodePrefix(data: bytes, maxValues: int, maxDepth: int = 32) -> tuple[Any, int]:
    """
    Decode the bencoded value at the start of C{data}, which may go on with
    other bytes (as a C{ut_metadata} data message's raw piece follows its
    dictionary).

    @param data: bytes starting with a bencoded value.
    @param maxValues: as for L{decode}.
    @param maxDepth: as for L{decode}.
    @return: the value and the position just after it.
    @raise BencodeError: if C{data} does not start with a bencoded value
        within the bounds.
    """
    decoder = _Decoder(bytes(data), maxValues, maxDepth)
    value = decoder.value(0)
    return value, decoder.position
