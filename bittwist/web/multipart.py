# -*- test-case-name: tests.test_multipart -*-
"""
A bounded, streaming parser of C{multipart/form-data} bodies (RFC 7578),
sans-IO: feed it bytes as they come, then ask for the fields it was told to
keep.

Twisted's own parsing (through the standard library's C{cgi}/C{email}
machinery) holds the whole body in memory several times over: a 100 MB
upload took the process from 52 to ~1,370 MiB. This one holds at most the
kept fields (each under its own limit), one part's headers, and a
delimiter's length of look-behind; parts not asked for are skipped as they
stream by.
"""

import re
from typing import Optional

from bittwist.errors import FormDataError

__all__ = ["FormDataParser", "boundaryFrom", "MAX_PARTS", "MAX_PART_HEADER_SIZE"]

MAX_PARTS = 16
"""
The most parts one body may have. The page sends one; a few more leave room
for other clients' extra fields without letting a body be a million tiny
parts.
"""

MAX_PART_HEADER_SIZE = 4096
"""
The most bytes of headers one part may have (browsers send two short lines:
C{Content-Disposition} and C{Content-Type}).
"""

_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s"]{1,70}))(?:;|\s|\Z)', re.IGNORECASE)
_NAME = re.compile(rb';\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _END = range(5)


def boundaryFrom(contentType: bytes) -> bytes:
    """
    @param contentType: the value of a C{Content-Type} header, e.g.
        C{b"multipart/form-data; boundary=xyz"}.
    @return: the boundary it names (1 to 70 bytes, RFC 2046).
    @raise FormDataError: if it names none.
    """
    match = _BOUNDARY.search(contentType)
    if match is None:
        raise FormDataError("the Content-Type names no boundary (1 to 70 characters)")
    return match.group(1) or match.group(2)


class FormDataParser:
    """
    Parses one C{multipart/form-data} body fed in pieces of any size.

    @ivar parts: how many parts began so far.
    """

    def __init__(
        self,
        boundary: bytes,
        fields: dict[str, int],
        maxParts: int = MAX_PARTS,
        maxHeaderSize: int = MAX_PART_HEADER_SIZE,
    ) -> None:
        """
        @param boundary: the boundary from the C{Content-Type} (see
            L{boundaryFrom}).
        @param fields: the names of the fields to keep, each with the most
            bytes its value may have; other fields are skipped.
        @param maxParts: the most parts the body may have.
        @param maxHeaderSize: the most bytes of headers one part may have.
        """
        # The first boundary may start the body, without the CRLF before
        # it: parse as if the body began with one.
        self._buffer = bytearray(b"\r\n")
        self._delimiter = b"\r\n--" + boundary
        self._fields = fields
        self._maxParts = maxParts
        self._maxHeaderSize = maxHeaderSize
        self._state = _PREAMBLE
        self._values: dict[str, bytearray] = {}
        self._current: Optional[str] = None
        self.parts = 0

    def feed(self, data: bytes) -> None:
        """
        Parse more of the body.

        @raise FormDataError: if the body is malformed or breaks a bound.
        """
        if self._state == _END:
            # The epilogue, after the closing boundary, means nothing.
            return
        self._buffer += data
        while self._step():
            pass

    def finish(self) -> dict[str, bytes]:
        """
        Say the body ended.

        @return: the value of each kept field that was present.
        @raise FormDataError: if the body ended before its closing boundary.
        """
        if self._state != _END:
            raise FormDataError("the body ends before its closing boundary; the upload was cut short")
        return {name: bytes(value) for name, value in self._values.items()}

    def _step(self) -> bool:
        """
        Parse what the buffer holds in the current state.

        @return: whether the state changed (so there may be more to do).
        """
        buffer = self._buffer
        if self._state in (_PREAMBLE, _BODY):
            index = buffer.find(self._delimiter)
            if index < 0:
                # Keep what could be the start of a delimiter.
                keep = len(self._delimiter) - 1
                if len(buffer) > keep:
                    self._take(len(buffer) - keep)
                return False
            self._take(index)
            del buffer[: len(self._delimiter)]
            self._state = _AFTER_DELIMITER
            return True
        if self._state == _AFTER_DELIMITER:
            if len(buffer) < 2:
                return False
            following = bytes(buffer[:2])
            del buffer[:2]
            if following == b"--":
                self._state = _END
                buffer.clear()
                return False
            if following != b"\r\n":
                raise FormDataError("a boundary line is followed by neither CRLF nor '--'")
            self.parts += 1
            if self.parts > self._maxParts:
                raise FormDataError(f"more than {self._maxParts} parts")
            self._state = _HEADERS
            return True
        # _HEADERS
        index = buffer.find(b"\r\n\r\n")
        if index < 0 and buffer[:2] == b"\r\n":
            # A part with no headers at all.
            index = -2
        if index < 0:
            if len(buffer) > self._maxHeaderSize:
                raise FormDataError(f"a part's headers are longer than {self._maxHeaderSize} bytes")
            return False
        if index > self._maxHeaderSize:
            raise FormDataError(f"a part's headers are longer than {self._maxHeaderSize} bytes")
        self._startPart(bytes(buffer[: max(index, 0)]))
        del buffer[: index + 4]
        self._state = _BODY
        return True

    def _take(self, length: int) -> None:
        """
        Move the first C{length} bytes of the buffer into the current field,
        or drop them if it is not kept.
        """
        if length <= 0:
            return
        name = self._current
        if name is not None:
            value = self._values[name]
            if len(value) + length > self._fields[name]:
                raise FormDataError(
                    f"the field {name!r} is larger than {self._fields[name]} bytes", tooLarge=True
                )
            value += self._buffer[:length]
        del self._buffer[:length]

    def _startPart(self, headers: bytes) -> None:
        disposition = None
        for line in headers.split(b"\r\n"):
            if not line:
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                raise FormDataError("a part has a header line without ':'")
            if name.strip().lower() == b"content-disposition":
                disposition = value.strip()
        if disposition is None or not disposition.lower().startswith(b"form-data"):
            raise FormDataError("a part has no 'Content-Disposition: form-data' header")
        match = _NAME.search(disposition)
        if match is None:
            raise FormDataError("a part's Content-Disposition has no name")
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        name = raw.replace(b'\\"', b'"').decode("utf-8", "replace")
        if name in self._fields:
            if name in self._values:
                raise FormDataError(f"the field {name!r} is given twice")
            self._values[name] = bytearray()
            self._current = name
        else:
            self._current = None
