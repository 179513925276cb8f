# -*- test-case-name: tests.test_bdecode -*-
"""
Bencode decoding under bounds: the one decoder for bencode from outside
(torrents, tracker answers, DHT datagrams, extension messages, state files).

A bencoded value costs far more in memory than on the wire: C{le} is two
bytes and an empty Python list is 56, so a 1 MiB body of C{lelele...} would
become half a million lists.  The decoder counts every value it makes (keys
included) and gives up past C{maxValues}, and refuses nesting deeper than
C{maxDepth}, so what it builds stays a small multiple of C{maxValues}.  It
loops instead of recursing, so depth costs no stack.

It decodes as C{bencodepy} does (strings and dictionary keys as C{bytes}),
but strictly: trailing data, leading zeros, C{-0}, signs or separators in
numbers, numbers longer than L{MAX_INTEGER_DIGITS} digits and a key repeated
in one dictionary are errors.  Keys need not be sorted: some clients do not
sort them, and a torrent's C{info} is hashed as it stands anyway.

bencode.py cannot do this: it has no bounds, accepts C{i+1e} and C{1_0:},
and gives back values only, while a torrent's info hash needs the C{info}
value's bytes exactly as they stand (L{decodeWithSpans}).  Encoding stays
with bencode.py.
"""

import re
from typing import Any

from bittwist.errors import BencodeError

__all__ = ["decode", "decodePrefix", "decodeWithSpans", "MAX_INTEGER_DIGITS"]

MAX_INTEGER_DIGITS = 20
"""
The most digits in an integer or a string length: any 64-bit count, size or
time fits, and converting longer numbers only costs.
"""

_MORE = MAX_INTEGER_DIGITS - 1
# Canonical numbers only: no leading zeros, no "-0", no sign on lengths.
_INTEGER = re.compile(rb"i(0|-?[1-9][0-9]{0,%d})e" % _MORE)
_LENGTH = re.compile(rb"(0|[1-9][0-9]{0,%d}):" % _MORE)
_NUMBER = re.compile(rb"-?[0-9]*")

_MAX_SHARED_KEYS = 256


def _badNumber(data: bytes, position: int, what: str) -> BencodeError:
    """
    @return: the error for the malformed integer or string length at
        C{position}, saying what is wrong with it.
    """
    isInteger = what == "integer"
    start = position + isInteger
    digits = _NUMBER.match(data, start).group()
    end = start + len(digits)
    body = digits.lstrip(b"-")
    if end >= len(data):
        reason = f"an unfinished {what}"
    elif not body or data[end : end + 1] != (b"e" if isInteger else b":"):
        reason = f"a malformed {what}"
    elif len(body) > MAX_INTEGER_DIGITS:
        reason = f"{what} longer than {MAX_INTEGER_DIGITS} digits"
    elif digits != body and not isInteger:
        reason = "a negative string length"
    elif digits == b"-0":
        reason = "the integer -0"
    else:
        reason = f"{what} with a leading zero"
    return BencodeError(f"{reason} at byte {position}")


def _decode(
    data: bytes, position: int, maxValues: int, maxDepth: int, spans: dict | None
) -> tuple[Any, int]:
    """
    Decode the value starting at C{position}.

    @param spans: if not C{None}, filled with C{key: (start, end)} for each
        value of the top-level dictionary.
    @return: the value and the position just after it.
    """
    size = len(data)
    matchInteger = _INTEGER.match
    matchLength = _LENGTH.match
    # The enclosing containers' states, innermost last.
    stack: list[tuple[Any, bool, Any]] = []
    container: Any = None
    isDict = False
    # In a dictionary: the key whose value comes next, or None for a key.
    key: Any = None
    valueStart = 0
    values = 0
    # One object per distinct key (the first few hundred of them): a
    # torrent's many file dictionaries repeat b"length" and b"path".
    keys: dict[bytes, bytes] = {}
    while True:
        if position >= size:
            raise BencodeError(f"the data ends early, at byte {position}")
        first = data[position]
        if first != 0x65:  # e
            values += 1
            if values > maxValues:
                raise BencodeError(
                    f"more than the limit of {maxValues} values", limit=True
                )
        if 0x30 <= first <= 0x39:  # a string: its length
            # Most strings are shorter than 100 bytes: their one or two
            # digits are read without the regular expression.
            second = data[position + 1] if position + 1 < size else 0
            if second == 0x3A:  # :
                start = position + 2
                end = start + first - 0x30
            elif (
                first != 0x30 and 0x30 <= second <= 0x39
                and position + 2 < size and data[position + 2] == 0x3A
            ):
                start = position + 3
                end = start + (first - 0x30) * 10 + second - 0x30
            else:
                match = matchLength(data, position)
                if match is None:
                    raise _badNumber(data, position, "string length")
                start = match.end()
                end = start + int(match.group(1))
            if end > size:
                raise BencodeError(f"a string at byte {position} runs past the end")
            value = data[start:end]
            position = end
            if isDict and key is None:
                if value in container:
                    raise BencodeError(
                        f"the key {value[:40]!r} appears twice in one dictionary, "
                        f"at byte {start}",
                        key=value,
                    )
                key = keys.get(value)
                if key is None:
                    key = value
                    if len(keys) < _MAX_SHARED_KEYS:
                        keys[value] = value
                if spans is not None and len(stack) == 1:
                    valueStart = position
                continue
        elif isDict and key is None and first != 0x65:
            raise BencodeError(f"a dictionary key at byte {position} is not a string")
        elif first == 0x69:  # i
            match = matchInteger(data, position)
            if match is None:
                raise _badNumber(data, position, "integer")
            value = int(match.group(1))
            position = match.end()
        elif first == 0x6C or first == 0x64:  # l, d
            if len(stack) >= maxDepth:
                raise BencodeError(
                    f"lists and dictionaries nested deeper than the limit of {maxDepth} "
                    f"levels, at byte {position}",
                    limit=True,
                )
            stack.append((container, isDict, key))
            isDict = first == 0x64
            container = {} if isDict else []
            key = None
            position += 1
            continue
        elif first == 0x65 and container is not None and key is None:
            value = container
            position += 1
            container, isDict, key = stack.pop()
        else:
            raise BencodeError(f"unexpected byte {bytes([first])!r} at byte {position}")
        if container is None:
            return value, position
        if isDict:
            container[key] = value
            if spans is not None and len(stack) == 1:
                spans[key] = (valueStart, position)
            key = None
        else:
            container.append(value)


def decode(data: bytes, maxValues: int, maxDepth: int = 32) -> Any:
    """
    Decode one bencoded value that takes up all of C{data}.

    @param data: the bencoded bytes.
    @param maxValues: the most values (integers, strings, lists,
        dictionaries, dictionary keys) to make.
    @param maxDepth: the deepest nesting of lists and dictionaries.
    @return: the value: C{int}, C{bytes}, C{list} or C{dict} with C{bytes}
        keys.
    @raise BencodeError: if C{data} is not exactly one bencoded value, or
        breaks a bound.
    """
    data = bytes(data)
    value, end = _decode(data, 0, maxValues, maxDepth, None)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} bytes of trailing data at byte {end}")
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
    return _decode(bytes(data), 0, maxValues, maxDepth, None)


def decodeWithSpans(
    data: bytes, maxValues: int, maxDepth: int = 32
) -> tuple[Any, dict[bytes, tuple[int, int]]]:
    """
    Decode as L{decode} does, and say where each value of the top-level
    dictionary stands in C{data}: a torrent's info hash is the SHA-1 of its
    C{info} value's bytes as they are, which re-encoding would change
    (bencode.py sorts keys).

    @return: the value, and C{{key: (start, end)}} such that
        C{data[start:end]} is the bencoded value of C{key} in the top-level
        dictionary (empty if the value is not a dictionary).
    @raise BencodeError: as L{decode} does.
    """
    data = bytes(data)
    spans: dict[bytes, tuple[int, int]] = {}
    value, end = _decode(data, 0, maxValues, maxDepth, spans)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} bytes of trailing data at byte {end}")
    return value, spans
