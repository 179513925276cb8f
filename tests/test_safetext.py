# -*- test-case-name: tests.test_safetext -*-
"""
Tests for L{bittwist.safetext}.
"""

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.safetext import MAX_TEXT, printable


class PrintableTests(SynchronousTestCase):
    """
    L{printable} escapes what a terminal would obey and bounds the length.
    """

    def test_plainTextUnchanged(self) -> None:
        """
        Printable text, accents and spaces included, comes back as it is.
        """
        self.assertEqual(printable("Torrent not registered: café"), "Torrent not registered: café")

    def test_terminalEscapesEscaped(self) -> None:
        """
        ESC, BEL, newline, carriage return and tab are written as escapes.
        """
        self.assertEqual(
            printable("\x1b]0;pwned\x07\x1b[2Jok\r\nfake line\t"),
            "\\x1b]0;pwned\\x07\\x1b[2Jok\\x0d\\x0afake line\\x09",
        )

    def test_c1AndFormatCharactersEscaped(self) -> None:
        """
        C1 controls (C{\\x9b} is a one-byte CSI), bidirectional overrides and
        zero-width characters are escaped.
        """
        self.assertEqual(printable("a\x9b2Jb\u202ec\u200bd"), "a\\x9b2Jb\\u202ec\\u200bd")

    def test_backslashDoubled(self) -> None:
        """
        A backslash is doubled, so no sent text can pose as an escape.
        """
        self.assertEqual(printable("\\x1b"), "\\\\x1b")

    def test_bytesDecoded(self) -> None:
        """
        Bytes are decoded as UTF-8; undecodable bytes become U+FFFD.
        """
        self.assertEqual(printable(b"caf\xc3\xa9 \xff\x1b"), "café \ufffd\\x1b")

    def test_cut(self) -> None:
        """
        Text longer than the limit is cut and ends in an ellipsis; text of
        exactly the limit is whole.
        """
        self.assertEqual(printable("abcdef", 3), "abc\N{HORIZONTAL ELLIPSIS}")
        self.assertEqual(printable("abc", 3), "abc")
        self.assertEqual(printable(b"abcdef", 3), "abc\N{HORIZONTAL ELLIPSIS}")
        self.assertEqual(len(printable("x" * 10**6)), MAX_TEXT + 1)

    def test_hugeBytesReadBounded(self) -> None:
        """
        Huge bytes are cut too (only the start is decoded).
        """
        self.assertEqual(printable(b"y" * 10**7, 5), "yyyyy\N{HORIZONTAL ELLIPSIS}")

    @settings(max_examples=300, deadline=None)
    @given(st.text() | st.binary(), st.integers(min_value=1, max_value=50))
    def test_anyInput(self, text, limit) -> None:
        """
        Whatever the input, the output has no control or format character
        and is at most 10 times the limit plus one long.
        """
        import unicodedata

        out = printable(text, limit)
        self.assertLessEqual(len(out), 10 * limit + 1)
        self.assertFalse([c for c in out if unicodedata.category(c)[0] == "C"])


class LoggedOutsideTextTests(SynchronousTestCase):
    """
    Where text from peers, trackers and torrent files reaches the log, it
    arrives escaped.
    """

    def setUp(self) -> None:
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import globalLogPublisher

        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def formatted(self) -> str:
        from twisted.logger import formatEvent

        return "\n".join(formatEvent(event) for event in self.logged)

    def test_peerDropReason(self) -> None:
        """
        The reason a peer is dropped (which may quote what it sent) is
        logged escaped.
        """
        from tests.test_peer import connectPeer

        proto, _, _ = connectPeer(lookup=lambda infoHash: None)
        proto.drop("bad name '\x1b]0;pwned\x07'")
        self.assertIn("bad name '\\x1b]0;pwned\\x07'", self.formatted())
        self.assertNotIn("\x1b", self.formatted())

    def test_trackerWarning(self) -> None:
        """
        A tracker's C{warning message} is logged escaped.
        """
        import bencodepy
        from treq.testing import StubTreq
        from twisted.internet.testing import Clock

        from bittwist.tracker import Announcer
        from tests.test_httptracker import FakeTracker

        body = bencodepy.encode(
            {b"interval": 60, b"peers": b"", b"warning message": b"\x1b[2Jgone\nfake line"}
        )
        announcer = Announcer(
            [["http://t.example/announce"]], b"\x01" * 20, b"\x02" * 20, 6881,
            lambda: (0, 0, 1), lambda peers: None, reactor=Clock(),
            httpClient=StubTreq(FakeTracker(body)),
        )
        announcer.start()
        self.assertIn("warns: \\x1b[2Jgone\\x0afake line", self.formatted())
        self.assertNotIn("\x1b", self.formatted())

    def test_trackerURLs(self) -> None:
        """
        Tracker URLs (from C{.torrent} files) are logged escaped, whether
        skipped or failing.
        """
        from twisted.internet.defer import fail
        from twisted.internet.error import ConnectionRefusedError
        from twisted.internet.testing import Clock

        from bittwist.tracker import Announcer

        class Refusing:
            def get(self, url, **kwargs):
                return fail(ConnectionRefusedError("no"))

        announcer = Announcer(
            [["gopher://evil\x1b[2J/"], ["http://t.example/\x1b]0;x\x07"]], b"\x01" * 20,
            b"\x02" * 20, 6881, lambda: (0, 0, 1), lambda peers: None, reactor=Clock(),
            httpClient=Refusing(),
        )
        announcer.start()
        text = self.formatted()
        self.assertIn("Skipping tracker gopher://evil\\x1b[2J/", text)
        self.assertIn("Tracker http://t.example/\\x1b]0;x\\x07 failed", text)
        self.assertNotIn("\x1b", text)

    def test_torrentNameInLog(self) -> None:
        """
        A torrent's name, from its C{.torrent} file, is logged escaped.
        """
        import os

        from twisted.internet.testing import MemoryReactorClock

        from bittwist.config import TorrentConfig
        from bittwist.metainfo import createTorrent, parse
        from bittwist.storage import MemoryStorage
        from bittwist.torrent import Torrent

        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = os.path.join(folder, "evil\x1b[2J.bin")
        with open(path, "wb") as f:
            f.write(b"x" * 1000)
        metainfo = parse(createTorrent(path, pieceLength=16384))
        torrent = Torrent(
            metainfo, MemoryStorage(metainfo), b"\x03" * 20, MemoryReactorClock(),
            TorrentConfig(announce=False),
        )
        self.successResultOf(torrent.start())
        self.assertIn("evil\\x1b[2J.bin: ", self.formatted())
        self.assertNotIn("\x1b", self.formatted())
        torrent.stop()
