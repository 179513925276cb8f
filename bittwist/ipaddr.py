# -*- test-case-name: tests.test_ipaddr -*-
"""
IP addresses as peers and trackers see them: an IPv4-mapped IPv6 address
(C{::ffff:10.0.0.1}, what a dual-stack socket reports for an IPv4 client)
is that IPv4 address.
"""

import ipaddress

__all__ = ["ipAddress"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ipAddress(value: str | bytes | int | IPAddress) -> IPAddress:
    """
    Parse an IP address, an IPv4-mapped IPv6 one as its IPv4 address.

    @param value: what C{ipaddress.ip_address} takes: text, packed bytes,
        an integer, or an address.
    @raise ValueError: if C{value} is not an IP address.
    """
    address = ipaddress.ip_address(value)
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
