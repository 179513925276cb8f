# -*- test-case-name: tests.test_clientname -*-
"""
Tests for L{bittwist.clientname}.
"""

import unicodedata

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.clientname import (
    AZUREUS_CLIENTS,
    MAX_CLIENT_NAME_LENGTH,
    ClientInfo,
    clientFromPeerId,
    describeClient,
    sanitiseClientName,
)
from bittwist.session import makePeerId


def isClean(text: str) -> bool:
    """
    @return: whether C{text} has no control or format character, no
        whitespace but single spaces, and is within the length bound.
    """
    return (
        len(text) <= MAX_CLIENT_NAME_LENGTH
        and all(unicodedata.category(c)[0] != "C" for c in text)
        and all(c == " " or not c.isspace() for c in text)
        and "  " not in text
        and text == text.strip()
    )


class ClientFromPeerIdTests(SynchronousTestCase):
    """
    Tests for L{clientFromPeerId}.
    """

    def test_azureusStyle(self) -> None:
        """
        Azureus-style peer ids of common clients give their name and
        version; letters in the first three places are numbers from 10, as
        libtorrent writes them.
        """
        cases = {
            b"-LT20A0-": ClientInfo("libtorrent (Rasterbar)", "2.0.10"),
            b"-lt0D80-": ClientInfo("libTorrent (rakshasa)", "0.13.8"),
            b"-qB4630-": ClientInfo("qBittorrent", "4.6.3"),
            b"-TR4060-": ClientInfo("Transmission", "4.0.6"),
            b"-DE2110-": ClientInfo("Deluge", "2.1.1"),
            b"-UT355W-": ClientInfo("\u00b5Torrent", "3.5.5"),
            b"-AZ5770-": ClientInfo("Vuze", "5.7.7"),
            b"-BC0205-": ClientInfo("BitComet", "0.2.0.5"),
            b"-BW0100-": ClientInfo("bittwist", "0.1.0"),
        }
        for head, expected in cases.items():
            self.assertEqual(clientFromPeerId(head + b"abcdefghijkl"), expected)

    def test_ourOwnPeerId(self) -> None:
        """
        Our own peer ids are told to be bittwist's.
        """
        self.assertEqual(clientFromPeerId(makePeerId()).name, "bittwist")

    def test_mainline(self) -> None:
        """
        Mainline-style peer ids give BitTorrent Mainline with its version,
        also with two-digit numbers.
        """
        self.assertEqual(
            clientFromPeerId(b"M7-2-3--abcdefghijkl"),
            ClientInfo("BitTorrent Mainline", "7.2.3"),
        )
        self.assertEqual(
            clientFromPeerId(b"M4-20-8-abcdefghijkl"),
            ClientInfo("BitTorrent Mainline", "4.20.8"),
        )

    def test_shadowStyle(self) -> None:
        """
        Shadow-style peer ids give the client and its version, each
        character a number in base 64.
        """
        self.assertEqual(
            clientFromPeerId(b"T03I-----abcdefghijk"), ClientInfo("BitTornado", "0.3.18")
        )
        self.assertEqual(
            clientFromPeerId(b"S58B-----abcdefghijk"),
            ClientInfo("Shadow's client", "5.8.11"),
        )

    def test_unknown(self) -> None:
        """
        Peer ids in no known style, or naming an unknown client, give
        C{None}.
        """
        for peerId in [
            bytes(20),
            b"-ZZ1234-abcdefghijkl",
            b"-qB46\x0030-abcdefghijk",
            b"exbc\x00\x38abcdefghijklmn",
            b"Z03I-----abcdefghijk",
            b"T03I5678abcdefghijkl",
            b"",
        ]:
            self.assertIsNone(clientFromPeerId(peerId))

    def test_strOfInfo(self) -> None:
        """
        A L{ClientInfo} shows as its name and version, or its name alone.
        """
        self.assertEqual(str(ClientInfo("qBittorrent", "4.6.3")), "qBittorrent 4.6.3")
        self.assertEqual(str(ClientInfo("qBittorrent")), "qBittorrent")

    def test_tableCodes(self) -> None:
        """
        Every code of L{AZUREUS_CLIENTS} is two characters that a peer id
        can carry, and every name is clean.
        """
        for code, name in AZUREUS_CLIENTS.items():
            self.assertEqual(len(code.encode("ascii")), 2)
            self.assertIsNotNone(clientFromPeerId(b"-" + code.encode() + b"1000-abcdefghijkl"))
            self.assertTrue(isClean(name))


class SanitiseTests(SynchronousTestCase):
    """
    Tests for L{sanitiseClientName}.
    """

    def test_controlCharacters(self) -> None:
        """
        Control and format characters are dropped, whitespace runs become
        one space, and the ends are stripped.
        """
        self.assertEqual(
            sanitiseClientName("\x1b[31mEvil\x00 \u202eclient\r\n\t 1.0 "),
            "[31mEvil client 1.0",
        )

    def test_bytes(self) -> None:
        """
        Bytes are decoded as UTF-8, undecodable ones replaced.
        """
        self.assertEqual(sanitiseClientName(b"\xc2\xb5Torrent 3.5"), "\u00b5Torrent 3.5")
        self.assertEqual(sanitiseClientName(b"a\xffb"), "a\ufffdb")

    def test_bounded(self) -> None:
        """
        A long name is cut to the limit.
        """
        self.assertEqual(sanitiseClientName("x" * 10000), "x" * MAX_CLIENT_NAME_LENGTH)
        self.assertEqual(sanitiseClientName(b"y" * 10000, limit=5), "yyyyy")

    @given(st.one_of(st.text(), st.binary()))
    def test_alwaysClean(self, text) -> None:
        """
        Whatever a peer sends, the result is clean and bounded.
        """
        self.assertTrue(isClean(sanitiseClientName(text)))


class DescribeClientTests(SynchronousTestCase):
    """
    Tests for L{describeClient}.
    """

    def test_prefersExtendedVersion(self) -> None:
        """
        The C{v} of the extended handshake is preferred to the peer id.
        """
        self.assertEqual(
            describeClient(b"-qB4630-abcdefghijkl", "qBittorrent/4.6.3"),
            "qBittorrent/4.6.3",
        )
        self.assertEqual(describeClient(b"-qB4630-abcdefghijkl", b"Transmission 4.0"),
                         "Transmission 4.0")

    def test_blankExtendedVersion(self) -> None:
        """
        A C{v} with nothing printable falls back to the peer id.
        """
        self.assertEqual(
            describeClient(b"-qB4630-abcdefghijkl", "\x00\x1b \n"), "qBittorrent 4.6.3"
        )
        self.assertEqual(describeClient(b"-qB4630-abcdefghijkl"), "qBittorrent 4.6.3")

    def test_unknown(self) -> None:
        """
        An unknown peer id shows its first 8 bytes, sanitised.
        """
        self.assertEqual(describeClient(b"-ZZ1234-abcdefghijkl"), "unknown (-ZZ1234-)")
        self.assertEqual(describeClient(b"\x00\x01\x02\x03\x04\x05\x06\x07" + bytes(12)),
                         "unknown")

    @given(st.binary(max_size=40), st.one_of(st.none(), st.text(), st.binary()))
    def test_alwaysClean(self, peerId, version) -> None:
        """
        Whatever the peer id and C{v}, the description is clean, bounded and
        not empty.
        """
        text = describeClient(peerId, version)
        self.assertTrue(text)
        self.assertTrue(isClean(text))
