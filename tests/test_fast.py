# -*- test-case-name: tests.test_fast -*-
"""
Tests for L{bittwist.fast}.
"""

import ipaddress

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.fast import DEFAULT_ALLOWED_FAST, MAX_ALLOWED_FAST, allowedFastSet

INFO_HASH = b"\xaa" * 20


class AllowedFastSetTests(SynchronousTestCase):
    """
    Tests for L{allowedFastSet}.
    """

    def test_bepVectorSeven(self) -> None:
        """
        BEP 6's first test vector: info hash 0xaa * 20, IP 80.4.4.200, 1313
        pieces, k = 7.
        """
        self.assertEqual(
            allowedFastSet("80.4.4.200", INFO_HASH, 1313, 7),
            (1059, 431, 808, 1217, 287, 376, 1188),
        )

    def test_bepVectorNine(self) -> None:
        """
        BEP 6's second test vector: the same with k = 9.
        """
        self.assertEqual(
            allowedFastSet("80.4.4.200", INFO_HASH, 1313, 9),
            (1059, 431, 808, 1217, 287, 376, 1188, 353, 508),
        )

    def test_sameNetwork(self) -> None:
        """
        Every address of the same /24 network gets the same set, given as a
        string or an address object; another network gets another set.
        """
        expected = allowedFastSet("80.4.4.200", INFO_HASH, 1313, 9)
        for ip in ["80.4.4.0", "80.4.4.255", ipaddress.IPv4Address("80.4.4.1")]:
            self.assertEqual(allowedFastSet(ip, INFO_HASH, 1313, 9), expected)
        self.assertNotEqual(allowedFastSet("80.4.5.200", INFO_HASH, 1313, 9), expected)

    def test_ipv4Mapped(self) -> None:
        """
        An IPv4-mapped IPv6 address gets the set of its IPv4 address.
        """
        self.assertEqual(
            allowedFastSet("::ffff:80.4.4.200", INFO_HASH, 1313, 7),
            (1059, 431, 808, 1217, 287, 376, 1188),
        )

    def test_ipv6Empty(self) -> None:
        """
        BEP 6 defines no set for IPv6: an IPv6 address gets none.
        """
        self.assertEqual(allowedFastSet("2001:db8::1", INFO_HASH, 1313), ())

    def test_unmasked(self) -> None:
        """
        With C{maskNetwork=False}, as libtorrent computes it, the whole
        address is hashed: each address of a network has its own set, and
        IPv6 addresses have one too.
        """
        unmasked = allowedFastSet("80.4.4.200", INFO_HASH, 1313, 7, maskNetwork=False)
        self.assertEqual(len(unmasked), 7)
        self.assertNotEqual(unmasked, allowedFastSet("80.4.4.200", INFO_HASH, 1313, 7))
        self.assertNotEqual(
            unmasked, allowedFastSet("80.4.4.201", INFO_HASH, 1313, 7, maskNetwork=False)
        )
        self.assertEqual(
            allowedFastSet("80.4.4.0", INFO_HASH, 1313, 7, maskNetwork=False),
            allowedFastSet("80.4.4.200", INFO_HASH, 1313, 7),
        )
        self.assertEqual(
            len(allowedFastSet("2001:db8::1", INFO_HASH, 1313, 7, maskNetwork=False)), 7
        )

    def test_defaultK(self) -> None:
        """
        By default the set has L{DEFAULT_ALLOWED_FAST} pieces, and starts as
        the BEP's vectors do.
        """
        result = allowedFastSet("80.4.4.200", INFO_HASH, 1313)
        self.assertEqual(len(result), DEFAULT_ALLOWED_FAST)
        self.assertEqual(result[:9], (1059, 431, 808, 1217, 287, 376, 1188, 353, 508))

    def test_smallTorrent(self) -> None:
        """
        With no more pieces than C{k}, every piece is allowed fast; with no
        piece, none is.
        """
        self.assertEqual(allowedFastSet("10.0.0.1", INFO_HASH, 3, 10), (0, 1, 2))
        self.assertEqual(allowedFastSet("10.0.0.1", INFO_HASH, 10, 10), tuple(range(10)))
        self.assertEqual(allowedFastSet("10.0.0.1", INFO_HASH, 0, 10), ())
        self.assertEqual(allowedFastSet("10.0.0.1", INFO_HASH, 100, 0), ())

    def test_badArguments(self) -> None:
        """
        A bad address, info hash, number of pieces or C{k} is refused with
        L{ValueError}.
        """
        self.assertRaises(ValueError, allowedFastSet, "not an ip", INFO_HASH, 10)
        self.assertRaises(ValueError, allowedFastSet, "10.0.0.1", INFO_HASH[:19], 10)
        self.assertRaises(ValueError, allowedFastSet, "10.0.0.1", INFO_HASH, -1)
        self.assertRaises(ValueError, allowedFastSet, "10.0.0.1", INFO_HASH, 10, -1)
        self.assertRaises(
            ValueError, allowedFastSet, "10.0.0.1", INFO_HASH, 10**6, MAX_ALLOWED_FAST + 1
        )

    @given(
        st.integers(min_value=0, max_value=2**32 - 1),
        st.binary(min_size=20, max_size=20),
        st.integers(min_value=1, max_value=2**32 - 1),
        st.integers(min_value=0, max_value=64),
    )
    def test_anyInput(self, ip, infoHash, numPieces, k) -> None:
        """
        For any IPv4 address, info hash and size, the set has C{min(k, n)}
        distinct valid piece indices, and a smaller C{k} gives a prefix.
        """
        address = ipaddress.IPv4Address(ip)
        result = allowedFastSet(address, infoHash, numPieces, k)
        self.assertEqual(len(result), min(k, numPieces))
        self.assertEqual(len(set(result)), len(result))
        self.assertTrue(all(0 <= index < numPieces for index in result))
        if k < numPieces and k:
            self.assertEqual(allowedFastSet(address, infoHash, numPieces, k - 1), result[:-1])
