# -*- test-case-name: tests.test_bdecode -*-
"""
Tests for L{bittwist.bdecode}.
"""

import bencodepy
from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.bdecode import decode, decodePrefix
from bittwist.errors import BencodeError

values = st.recursive(
    st.integers(min_value=-(10**30), max_value=10**30) | st.binary(max_size=20),
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
        self.assertIn("more than 3 values", str(error))
        error = self.assertRaises(BencodeError, decode, b"l" + b"le" * 500_000 + b"e", maxValues=1000)
        self.assertIn("more than 1000 values", str(error))

    def test_maxDepth(self) -> None:
        """
        Nesting deeper than C{maxDepth} is a L{BencodeError}, not a
        C{RecursionError}.
        """
        self.assertEqual(decode(b"llee", maxValues=10, maxDepth=2), [[]])
        self.assertRaises(BencodeError, decode, b"llleee", maxValues=10, maxDepth=2)
        self.assertRaises(BencodeError, decode, b"l" * 100_000, maxValues=10**6)

    def test_malformed(self) -> None:
        """
        Truncated input, trailing data, leading zeros, C{-0}, non-string
        keys, bad lengths and stray bytes are L{BencodeError}s.
        """
        for bad in [
            b"", b"i1", b"i1ex", b"i01e", b"i-0e", b"ie", b"i-e", b"i1.5e",
            b"5:abc", b"05:abcde", b"-1:a", b"3abc", b"di1ei2ee", b"l", b"d1:a",
            b"x", b"i" + b"9" * 100 + b"e", b"1" * 100 + b":",
        ]:
            self.assertRaises(BencodeError, decode, bad, maxValues=100)

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
