# -*- test-case-name: tests.test_bdecode -*-
"""
Tests for L{bittwist.bdecode}.
"""

import bencodepy
from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.bdecode import MAX_INTEGER_DIGITS, decode, decodePrefix, decodeWithSpans
from bittwist.errors import BencodeError

values = st.recursive(
    st.integers(min_value=-(10**20) + 1, max_value=10**20 - 1) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.binary(max_size=8), children, max_size=4),
    max_leaves=20,
)


class DecodeTests(SynchronousTestCase):
    """
    L{decode} reads what C{bencodepy} writes, strictly and under bounds.
    """

    def test_prefix(self) -> None:
        """
        L{decodePrefix} decodes the value at the start and says where it
        ends; what follows is not looked at, and the bounds hold.
        """
        self.assertEqual(decodePrefix(b"d1:ai1ee\xff\x00raw", maxValues=5), ({b"a": 1}, 8))
        self.assertRaises(BencodeError, decodePrefix, b"lllleeee", maxValues=3)
        self.assertRaises(BencodeError, decodePrefix, b"d1:a", maxValues=5)

    @settings(max_examples=300, deadline=None)
    @given(values)
    def test_roundTrip(self, value) -> None:
        """
        Whatever C{bencodepy} encodes decodes back to the same value.
        """
        self.assertEqual(decode(bencodepy.encode(value), maxValues=10**6), value)

    def test_maxValues(self) -> None:
        """
        More values than C{maxValues} is a L{BencodeError}, found before the
        rest of the input is read; exactly C{maxValues} is fine.
        """
        self.assertEqual(decode(b"li1ei2ee", maxValues=3), [1, 2])
        error = self.assertRaises(BencodeError, decode, b"li1ei2ei3ee", maxValues=3)
        self.assertIn("more than the limit of 3 values", str(error))
        self.assertTrue(error.limit)
        error = self.assertRaises(BencodeError, decode, b"l" + b"le" * 500_000 + b"e", maxValues=1000)
        self.assertIn("more than the limit of 1000 values", str(error))

    def test_keysCount(self) -> None:
        """
        Dictionary keys count as values: C{d1:ai1ee} is three.
        """
        self.assertEqual(decode(b"d1:ai1ee", maxValues=3), {b"a": 1})
        self.assertRaises(BencodeError, decode, b"d1:ai1ee", maxValues=2)

    def test_maxDepth(self) -> None:
        """
        Nesting deeper than C{maxDepth} is a L{BencodeError}, not a
        C{RecursionError}.
        """
        self.assertEqual(decode(b"llee", maxValues=10, maxDepth=2), [[]])
        error = self.assertRaises(BencodeError, decode, b"llleee", maxValues=10, maxDepth=2)
        self.assertIn("deeper than the limit of 2 levels", str(error))
        self.assertTrue(error.limit)
        self.assertRaises(BencodeError, decode, b"l" * 100_000, maxValues=10**6)

    def test_malformed(self) -> None:
        """
        Truncated input, trailing data, leading zeros, C{-0}, non-string
        keys, bad lengths and stray bytes are L{BencodeError}s.
        """
        for bad in [
            b"", b"i1", b"i1ex", b"i01e", b"i-0e", b"ie", b"i-e", b"i1.5e",
            b"5:abc", b"05:abcde", b"-1:a", b"3abc", b"di1ei2ee", b"l", b"d1:a",
            b"x", b"i" + b"9" * 100 + b"e", b"1" * 100 + b":", b"i+1e", b"i1_0e",
            b"1_0:aaaaaaaaaa", b"d1:ae", b"e", b"i1e" + b"e",
        ]:
            error = self.assertRaises(BencodeError, decode, bad, maxValues=100)
            self.assertFalse(error.limit)
            self.assertIsNone(error.key)

    def test_shortLengths(self) -> None:
        """
        One- and two-digit string lengths (read without the regular
        expression) are read as longer ones are, and refused as they are.
        """
        for length in (0, 1, 9, 10, 99, 100):
            self.assertEqual(decode(b"%d:" % length + b"x" * length, maxValues=1), b"x" * length)
        for bad in [b"1", b"12", b"1:", b"12:short", b"00:", b"01:a", b"1a:b", b"9x"]:
            error = self.assertRaises(BencodeError, decode, bad, maxValues=10)
            self.assertFalse(error.limit)

    def test_sharedKeys(self) -> None:
        """
        A key repeated in many dictionaries is one object, as the keys of a
        torrent's many file dictionaries are.
        """
        first, second = decode(b"ld6:lengthi1eed6:lengthi2eee", maxValues=10)
        self.assertIs(next(iter(first)), next(iter(second)))

    def test_digitLimit(self) -> None:
        """
        Integers and string lengths of up to L{MAX_INTEGER_DIGITS} (20)
        digits are read; longer ones are refused, saying so.
        """
        self.assertEqual(MAX_INTEGER_DIGITS, 20)
        self.assertEqual(decode(b"i-" + b"9" * 20 + b"e", maxValues=1), -(10**20 - 1))
        error = self.assertRaises(BencodeError, decode, b"i" + b"1" * 21 + b"e", maxValues=1)
        self.assertIn("longer than 20 digits", str(error))
        error = self.assertRaises(BencodeError, decode, b"1" * 21 + b":", maxValues=1)
        self.assertIn("longer than 20 digits", str(error))

    def test_repeatedKey(self) -> None:
        """
        A key repeated in one dictionary, at any depth, is refused, naming
        the key: which of the two counts would be a guess.  The same key in
        two dictionaries is fine.
        """
        for data in [b"d1:ai1e1:ai2ee", b"d1:xd1:ai1e1:bi1e1:ai2eee"]:
            error = self.assertRaises(BencodeError, decode, data, maxValues=100)
            self.assertEqual(error.key, b"a")
            self.assertIn("appears twice", str(error))
        self.assertEqual(
            decode(b"ld1:ai1eed1:ai2eee", maxValues=100), [{b"a": 1}, {b"a": 2}]
        )

    def test_unsortedKeys(self) -> None:
        """
        Keys out of order are accepted: some clients do not sort them.
        """
        self.assertEqual(decode(b"d1:bi1e1:ai2ee", maxValues=10), {b"a": 2, b"b": 1})

    def test_spans(self) -> None:
        """
        L{decodeWithSpans} says where each value of the top-level
        dictionary stands, nested dictionaries' keys aside; a value that is
        not a dictionary has none.
        """
        data = b"d1:bd1:ai1e1:bi2ee4:infod1:zi1e1:ali1eee1:ci3ee"
        value, spans = decodeWithSpans(data, maxValues=100)
        self.assertEqual(value, decode(data, maxValues=100))
        self.assertEqual(set(spans), {b"b", b"info", b"c"})
        for key, (start, end) in spans.items():
            self.assertEqual(decode(data[start:end], maxValues=100), value[key])
        self.assertEqual(data[slice(*spans[b"info"])], b"d1:zi1e1:ali1eee")
        self.assertEqual(decodeWithSpans(b"li1ee", maxValues=10), ([1], {}))
        self.assertRaises(BencodeError, decodeWithSpans, b"de1", maxValues=10)

    @settings(max_examples=500, deadline=None)
    @given(st.binary(max_size=300))
    def test_arbitraryBytes(self, data: bytes) -> None:
        """
        Arbitrary bytes give a value or a L{BencodeError}, nothing else.
        """
        try:
            decode(data, maxValues=50, maxDepth=8)
        except BencodeError:
            pass
