"""
Tests for L{bittwist.ipaddr}.
"""

import ipaddress

from twisted.trial.unittest import SynchronousTestCase

from bittwist.ipaddr import ipAddress


class IPAddressTests(SynchronousTestCase):
    """
    L{ipAddress} parses as C{ipaddress.ip_address} does, unmapping
    IPv4-mapped IPv6 addresses.
    """

    def test_mapped(self) -> None:
        self.assertEqual(ipAddress("::ffff:10.0.0.1"), ipaddress.IPv4Address("10.0.0.1"))
        self.assertEqual(
            ipAddress(ipaddress.IPv6Address("::ffff:127.0.0.1")), ipaddress.IPv4Address("127.0.0.1")
        )

    def test_others(self) -> None:
        self.assertEqual(ipAddress("10.0.0.1"), ipaddress.IPv4Address("10.0.0.1"))
        self.assertEqual(ipAddress("2001:db8::1"), ipaddress.IPv6Address("2001:db8::1"))
        self.assertEqual(ipAddress(b"\x0a\x00\x00\x01"), ipaddress.IPv4Address("10.0.0.1"))

    def test_notAnAddress(self) -> None:
        for bad in ["example.com", "", "10.0.0.256"]:
            self.assertRaises(ValueError, ipAddress, bad)
