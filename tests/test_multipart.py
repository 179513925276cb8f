# -*- test-case-name: tests.test_multipart -*-
"""
Tests for L{bittwist.web.multipart}.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import FormDataError
from bittwist.web.multipart import FormDataParser, boundaryFrom

BOUNDARY = b"----formBoundaryX1"


def part(name: bytes, value: bytes, filename: bytes = b"") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename:
        disposition += b'; filename="' + filename + b'"'
    headers = disposition + b"\r\nContent-Type: application/octet-stream\r\n\r\n"
    return b"--" + BOUNDARY + b"\r\n" + headers + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def parse(data: bytes, fields: dict[str, int], step: int = 0, **kwargs: int) -> dict[str, bytes]:
    parser = FormDataParser(BOUNDARY, fields, **kwargs)
    if step:
        for i in range(0, len(data), step):
            parser.feed(data[i : i + step])
    else:
        parser.feed(data)
    return parser.finish()


class BoundaryTests(SynchronousTestCase):
    def test_plainAndQuoted(self) -> None:
        """
        The boundary is read bare or quoted, whatever the parameter's case.
        """
        self.assertEqual(boundaryFrom(b"multipart/form-data; boundary=abc"), b"abc")
        self.assertEqual(boundaryFrom(b'multipart/form-data; BOUNDARY="a b;c"'), b"a b;c")

    def test_missing(self) -> None:
        """
        A Content-Type without a boundary, or one over 70 bytes, is a
        L{FormDataError}.
        """
        self.assertRaises(FormDataError, boundaryFrom, b"multipart/form-data")
        self.assertRaises(FormDataError, boundaryFrom, b"multipart/form-data; boundary=" + b"x" * 71)


class ParserTests(SynchronousTestCase):
    def test_keepsAskedField(self) -> None:
        """
        The value of a kept field is returned exactly, whether the body is
        fed whole or byte by byte; other fields are skipped.
        """
        value = b"d8:announce\r\n--not-the-boundary\r\ne" * 50
        data = body(part(b"comment", b"hello"), part(b"torrent", value, b"x.torrent"), part(b"other", b"z"))
        for step in (0, 1, 7, 4096):
            self.assertEqual(parse(data, {"torrent": 10000}, step), {"torrent": value})

    def test_absentField(self) -> None:
        """
        A kept field that is not in the body is not in the result.
        """
        self.assertEqual(parse(body(part(b"file", b"x")), {"torrent": 100}), {})

    def test_preambleAndEpilogue(self) -> None:
        """
        Text before the first boundary and after the last is ignored.
        """
        data = b"preamble text\r\n" + body(part(b"torrent", b"abc")) + b"epilogue"
        self.assertEqual(parse(data, {"torrent": 100}), {"torrent": b"abc"})

    def test_fieldTooLarge(self) -> None:
        """
        A kept field over its limit is refused as soon as it passes it.
        """
        parser = FormDataParser(BOUNDARY, {"torrent": 1000})
        parser.feed(part(b"torrent", b"")[:-2])
        parser.feed(b"x" * 1000)
        with self.assertRaises(FormDataError) as e:
            parser.feed(b"x" * 100)
        self.assertIn("larger than 1000 bytes", str(e.exception))

    def test_skippedFieldUnbounded(self) -> None:
        """
        A field not kept may be any size: it is dropped as it streams by.
        """
        parser = FormDataParser(BOUNDARY, {"torrent": 10})
        parser.feed(part(b"big", b"")[:-2])
        for _ in range(100):
            parser.feed(b"y" * 10000)
        parser.feed(b"\r\n" + part(b"torrent", b"t") + b"--" + BOUNDARY + b"--")
        self.assertEqual(parser.finish(), {"torrent": b"t"})

    def test_tooManyParts(self) -> None:
        """
        More parts than C{maxParts} is an error.
        """
        data = body(*[part(b"f%d" % i, b"v") for i in range(5)])
        self.assertEqual(parse(data, {}, maxParts=5), {})
        self.assertRaises(FormDataError, parse, data, {}, maxParts=4)

    def test_headersTooLong(self) -> None:
        """
        A part whose headers do not end within C{maxHeaderSize} bytes is
        refused without waiting for their end.
        """
        parser = FormDataParser(BOUNDARY, {}, maxHeaderSize=100)
        parser.feed(b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"a\"\r\n")
        with self.assertRaises(FormDataError) as e:
            parser.feed(b"X-Pad: " + b"p" * 200)
        self.assertIn("headers are longer than 100 bytes", str(e.exception))

    def test_truncated(self) -> None:
        """
        A body that ends before its closing boundary is an error.
        """
        data = body(part(b"torrent", b"abc"))
        self.assertRaises(FormDataError, parse, data[:-10], {"torrent": 100})

    def test_duplicateField(self) -> None:
        """
        A kept field given twice is an error (which one would be meant?).
        """
        data = body(part(b"torrent", b"a"), part(b"torrent", b"b"))
        self.assertRaises(FormDataError, parse, data, {"torrent": 100})

    def test_noDisposition(self) -> None:
        """
        A part without C{Content-Disposition: form-data; name=...} is an
        error.
        """
        data = b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + BOUNDARY + b"--"
        self.assertRaises(FormDataError, parse, data, {"torrent": 100})

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
    def test_anyBytes(self, data: bytes, step: int) -> None:
        """
        Any bytes give fields within their limits or a L{FormDataError},
        never another exception.
        """
        prefixed = b"--" + BOUNDARY + b"\r\n" + data
        for candidate in (data, prefixed):
            try:
                result = parse(candidate, {"a": 20}, step, maxParts=3, maxHeaderSize=64)
            except FormDataError:
                continue
            self.assertLessEqual(len(result.get("a", b"")), 20)
