"""
Tests for L{bittwist.trackerclient}: what every tracker client shares.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.trackerclient import AnnounceQuery, addCompactPeers, urlScheme

INFO_HASH = bytes(range(20))
PEER_ID = b"-BT0001-abcdefghijkl"


def entry(host: str, port: int) -> bytes:
    return bytes(int(x) for x in host.split(".")) + port.to_bytes(2, "big")


class AnnounceQueryTests(SynchronousTestCase):
    """
    L{AnnounceQuery}.
    """

    def test_unknownEvent(self) -> None:
        """
        An event that is not one of BEP 3's is a L{ValueError} naming it.
        """
        error = self.assertRaises(ValueError, AnnounceQuery, INFO_HASH, PEER_ID, 1, 0, 0, 0, event="finished")
        self.assertIn("'finished'", str(error))

    def test_defaults(self) -> None:
        """
        A regular announce asks for 50 peers, without key or tracker id.
        """
        query = AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0)
        self.assertEqual((query.event, query.numwant, query.key, query.trackerId), (None, 50, None, None))


class CompactPeersTests(SynchronousTestCase):
    """
    L{addCompactPeers}.
    """

    def test_ipv4(self) -> None:
        """
        IPv4 entries are read in order; port 0 and repeats are dropped.
        """
        peers: dict = {}
        blob = entry("10.0.0.1", 1) + entry("10.0.0.2", 0) + entry("10.0.0.1", 1) + entry("10.0.0.3", 3)
        addCompactPeers(blob, 6, peers, 10)
        self.assertEqual(list(peers), [("10.0.0.1", 1), ("10.0.0.3", 3)])

    def test_ipv6(self) -> None:
        """
        18-byte entries are IPv6 addresses, as text.
        """
        peers: dict = {}
        addCompactPeers(b"\x20\x01" + b"\0" * 13 + b"\x01" + (80).to_bytes(2, "big"), 18, peers, 10)
        self.assertEqual(list(peers), [("2001::1", 80)])

    def test_limit(self) -> None:
        """
        No more than C{limit} distinct peers are kept.
        """
        peers: dict = {}
        addCompactPeers(b"".join(entry(f"10.0.0.{n}", 1) for n in range(1, 9)), 6, peers, 3)
        self.assertEqual(len(peers), 3)

    def test_partialEntryIgnored(self) -> None:
        """
        A trailing partial entry is ignored.
        """
        peers: dict = {}
        addCompactPeers(entry("10.0.0.1", 1) + b"\x0a\x00", 6, peers, 10)
        self.assertEqual(list(peers), [("10.0.0.1", 1)])


class URLSchemeTests(SynchronousTestCase):
    """
    L{urlScheme}.
    """

    def test_scheme(self) -> None:
        """
        The scheme in lower case; C{None} for what C{urlsplit} cannot read.
        """
        self.assertEqual(urlScheme("UDP://t.example:1"), "udp")
        self.assertIsNone(urlScheme("http://x[2J/"))
