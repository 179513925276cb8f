"""
Tests for L{bittwist.magnet}.
"""

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import MagnetError, UsageError
from bittwist.magnet import (
    MAX_MAGNET_LENGTH,
    MAX_PEERS,
    MAX_TRACKERS,
    MAX_VALUE_LENGTH,
    MagnetLink,
    parseMagnet,
)

INFO_HASH = bytes(range(20))
HEX = INFO_HASH.hex()
BASE32 = base64.b32encode(INFO_HASH).decode("ascii")


class ParseMagnetTests(SynchronousTestCase):
    """
    Tests for L{parseMagnet}.
    """

    def assertRefused(self, uri: str, field: str, *fragments: str) -> MagnetError:
        with self.assertRaises(MagnetError) as cm:
            parseMagnet(uri)
        self.assertEqual(cm.exception.field, field)
        for fragment in fragments:
            self.assertIn(fragment, str(cm.exception))
        return cm.exception

    def test_hex(self) -> None:
        """
        A hex info hash (either case) is read; with nothing else, the name
        is the hash.
        """
        for digits in (HEX, HEX.upper()):
            link = parseMagnet(f"magnet:?xt=urn:btih:{digits}")
            self.assertEqual(link, MagnetLink(INFO_HASH))
            self.assertEqual(link.name, HEX)

    def test_base32(self) -> None:
        """
        A base32 info hash (either case) is read.
        """
        for chars in (BASE32, BASE32.lower()):
            self.assertEqual(parseMagnet(f"magnet:?xt=urn:btih:{chars}").infoHash, INFO_HASH)

    def test_everything(self) -> None:
        """
        C{dn}, C{tr} (numbered or not, duplicates dropped) and C{x.pe} (IPv4,
        IPv6, host names) are read, percent-decoded, in order; unknown
        parameters are ignored.
        """
        link = parseMagnet(
            f"magnet:?xt=urn:btih:{HEX}&dn=My%20Files&xl=1234"
            "&tr=http%3A%2F%2Ftracker.example%2Fannounce&tr.1=udp://t2.example:6969"
            "&tr=http%3A%2F%2Ftracker.example%2Fannounce"
            "&x.pe=10.0.0.1:6881&x.pe=[2001:db8::1]:51413&x.pe=peer.example:7000"
        )
        self.assertEqual(link.displayName, "My Files")
        self.assertEqual(link.name, "My Files")
        self.assertEqual(
            link.trackers, ("http://tracker.example/announce", "udp://t2.example:6969")
        )
        self.assertEqual(
            link.peers, (("10.0.0.1", 6881), ("2001:db8::1", 51413), ("peer.example", 7000))
        )

    def test_roundTrip(self) -> None:
        """
        C{toURI} writes a link that reads back the same.
        """
        link = MagnetLink(
            INFO_HASH,
            "a & b = c",
            ("http://t.example/announce?x=1&y=2",),
            (("10.0.0.1", 6881), ("2001:db8::1", 1)),
        )
        self.assertEqual(parseMagnet(link.toURI()), link)

    def test_sameHashTwice(self) -> None:
        """
        The same torrent named twice (hex and base32) is one torrent.
        """
        link = parseMagnet(f"magnet:?xt=urn:btih:{HEX}&xt.1=urn:btih:{BASE32}")
        self.assertEqual(link.infoHash, INFO_HASH)

    def test_notMagnet(self) -> None:
        """
        Anything but C{magnet:?} is refused saying what a magnet link starts
        with.
        """
        for uri in ("http://example.com/x.torrent", "magnet:xt=urn:btih:" + HEX, "", "magnet"):
            self.assertRefused(uri, "uri", "magnet:?")

    def test_noHash(self) -> None:
        """
        A link without C{xt} is refused.
        """
        self.assertRefused("magnet:?dn=name", "xt", "missing")

    def test_badHash(self) -> None:
        """
        A hash of the wrong length or alphabet, or another URN, is refused.
        """
        for value in ("urn:btih:" + HEX[:-1], "urn:btih:" + "g" * 40, "urn:btih:" + "1" * 32):
            self.assertRefused(f"magnet:?xt={value}", "xt", "not an info hash")
        self.assertRefused("magnet:?xt=urn:sha1:" + "A" * 32, "xt", "not a BitTorrent hash")

    def test_v2Only(self) -> None:
        """
        A v2-only link (C{urn:btmh}) is recognised and refused as not yet
        supported; a hybrid link with both hashes is read by its v1 hash.
        """
        btmh = "urn:btmh:1220" + "ab" * 32
        self.assertRefused(f"magnet:?xt={btmh}", "xt", "v2", "not support")
        self.assertEqual(
            parseMagnet(f"magnet:?xt={btmh}&xt=urn:btih:{HEX}").infoHash, INFO_HASH
        )

    def test_twoTorrents(self) -> None:
        """
        Two different info hashes in one link are refused.
        """
        other = bytes(20).hex()
        self.assertRefused(f"magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{other}", "xt", "2 different")

    def test_badTracker(self) -> None:
        """
        A C{tr} that is not an http, https or udp URL with a host is refused.
        """
        for tracker in ("notaurl", "wss://t.example/announce", "http://", "file:///etc/passwd"):
            self.assertRefused(f"magnet:?xt=urn:btih:{HEX}&tr={tracker}", "tr", "tracker URL")

    def test_badPeer(self) -> None:
        """
        An C{x.pe} that is not HOST:PORT is refused.
        """
        for peer in ("10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", ":6881", "2001:db8::1:6881", "[zz]:1"):
            self.assertRefused(f"magnet:?xt=urn:btih:{HEX}&x.pe={peer}", "x.pe", "HOST:PORT")

    def test_bounds(self) -> None:
        """
        Over-long links, over-long values, and too many trackers or peers are
        refused, naming the limit.
        """
        base = f"magnet:?xt=urn:btih:{HEX}"
        self.assertRefused(base + "&dn=" + "x" * MAX_MAGNET_LENGTH, "uri", f"{MAX_MAGNET_LENGTH:,}")
        self.assertRefused(base + "&dn=" + "x" * (MAX_VALUE_LENGTH + 1), "dn", f"{MAX_VALUE_LENGTH:,}")
        trackers = "".join(f"&tr=http://t{n}.example/a" for n in range(MAX_TRACKERS + 1))
        self.assertRefused(base + trackers, "tr", str(MAX_TRACKERS))
        peers = "".join(f"&x.pe=10.0.0.{n % 250 + 1}:{n + 1}" for n in range(MAX_PEERS + 1))
        self.assertRefused(base + peers, "x.pe", str(MAX_PEERS))
        self.assertEqual(len(parseMagnet(base + trackers.rsplit("&", 1)[0]).trackers), MAX_TRACKERS)

    def test_isUsageError(self) -> None:
        """
        A L{MagnetError} is a L{UsageError}: the API answers it as a bad
        request.
        """
        self.assertIsInstance(MagnetError("xt", "is missing"), UsageError)

    @settings(max_examples=300, deadline=None)
    @given(
        st.one_of(
            st.text(max_size=400),
            st.lists(
                st.tuples(
                    st.sampled_from(["xt", "dn", "tr", "x.pe", "xt.1", "tr.2", "ws", ""]),
                    st.one_of(
                        st.text(max_size=80),
                        st.just("urn:btih:" + HEX),
                        st.just("urn:btmh:1220" + "0" * 64),
                    ),
                ),
                max_size=12,
            ).map(lambda ps: "magnet:?" + "&".join(f"{k}={v}" for k, v in ps)),
        )
    )
    def test_hostile(self, uri: str) -> None:
        """
        Any text either reads as a link within the bounds or is refused with
        a L{MagnetError}; nothing else escapes.
        """
        try:
            link = parseMagnet(uri)
        except MagnetError:
            return
        self.assertEqual(len(link.infoHash), 20)
        self.assertLessEqual(len(link.trackers), MAX_TRACKERS)
        self.assertLessEqual(len(link.peers), MAX_PEERS)
