# -*- test-case-name: tests.test_progress -*-
"""
Tests for L{bittwist.progress}.
"""

import io

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from bittwist.progress import (
    ProgressLine,
    ProgressLogger,
    describeProgress,
    formatDuration,
    formatRate,
    formatSize,
)
from bittwist.terminal import CLEAR_LINE, StatusLine
from bittwist.torrent import TorrentState, TorrentStatus


class FormatTests(SynchronousTestCase):
    """
    Tests for L{formatSize} and L{formatRate}.
    """

    def test_bytes(self) -> None:
        """
        Under 1 KiB, sizes are whole bytes.
        """
        self.assertEqual(formatSize(0), "0 B")
        self.assertEqual(formatSize(1), "1 B")
        self.assertEqual(formatSize(1023), "1023 B")
        self.assertEqual(formatSize(12.4), "12 B")

    def test_binaryUnits(self) -> None:
        """
        Larger sizes are in binary units with one decimal.
        """
        self.assertEqual(formatSize(1024), "1.0 KiB")
        self.assertEqual(formatSize(1536), "1.5 KiB")
        self.assertEqual(formatSize(3 * 2**20 + 2**19), "3.5 MiB")
        self.assertEqual(formatSize(1.5 * 2**30), "1.5 GiB")
        self.assertEqual(formatSize(2**40), "1.0 TiB")

    def test_largestUnit(self) -> None:
        """
        Beyond the largest unit, the number grows instead of the unit.
        """
        self.assertEqual(formatSize(3000 * 2**50), "3000.0 PiB")

    def test_roundingUpChangesUnit(self) -> None:
        """
        A size that rounds up to 1024 of a unit is written in the next unit.
        """
        self.assertEqual(formatSize(1023.7), "1.0 KiB")
        self.assertEqual(formatSize(2**20 - 1), "1.0 MiB")
        self.assertEqual(formatSize(2**30 - 1), "1.0 GiB")

    def test_negative(self) -> None:
        """
        Negative sizes keep their sign and scale like positive ones.
        """
        self.assertEqual(formatSize(-2048), "-2.0 KiB")

    def test_formatRate(self) -> None:
        """
        A rate is a size per second.
        """
        self.assertEqual(formatRate(0), "0 B/s")
        self.assertEqual(formatRate(3.2 * 2**20), "3.2 MiB/s")


class FormatDurationTests(SynchronousTestCase):
    """
    Tests for L{formatDuration}.
    """

    def test_units(self) -> None:
        """
        A duration is given in its two largest units, the second padded.
        """
        self.assertEqual(formatDuration(0), "0s")
        self.assertEqual(formatDuration(44.6), "45s")
        self.assertEqual(formatDuration(185), "3m05s")
        self.assertEqual(formatDuration(2 * 3600 + 10 * 60 + 59), "2h10m")
        self.assertEqual(formatDuration(3 * 86400 + 4 * 3600), "3d04h")

    def test_unknown(self) -> None:
        """
        An unknown duration is a question mark; a negative one is none.
        """
        self.assertEqual(formatDuration(None), "?")
        self.assertEqual(formatDuration(-5), "0s")


def makeStatus(name: str, verifiedLength: int = 0, **kwargs: object) -> TorrentStatus:
    """
    @return: the status of a 4 MiB torrent, with fields overridden by
        C{kwargs}.
    """
    fields: dict[str, object] = dict(
        name=name,
        infoHash="00" * 20,
        state=TorrentState.DOWNLOADING,
        totalLength=4 * 2**20,
        verifiedLength=verifiedLength,
        piecesVerified=0,
        numPieces=16,
        downloadRate=1.5 * 2**20,
        uploadRate=512.0,
        downloaded=0,
        uploaded=0,
        peers=7,
        knownPeers=20,
        hashFailures=0,
        error=None,
    )
    fields.update(kwargs)
    return TorrentStatus(**fields)  # type: ignore[arg-type]


class FakeTorrent:
    """
    A torrent that only reports a status.

    @ivar current: what L{status} returns.
    """

    def __init__(self, status: TorrentStatus) -> None:
        self.current = status

    def status(self) -> TorrentStatus:
        return self.current


class ProgressLoggerTests(SynchronousTestCase):
    """
    Tests for L{ProgressLogger}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.torrents = [
            FakeTorrent(makeStatus("one", verifiedLength=2**20)),
            FakeTorrent(makeStatus("two", state=TorrentState.SEEDING, verifiedLength=4 * 2**20)),
        ]
        self.logger = ProgressLogger(lambda: self.torrents, self.clock, interval=5.0)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def progressEvents(self) -> list[dict]:
        """
        @return: the events logged by L{ProgressLogger}.
        """
        namespace = "bittwist.progress"
        return [e for e in self.events if e.get("log_namespace", "").startswith(namespace)]

    def test_nothingBeforeInterval(self) -> None:
        """
        Nothing is logged when the service starts, nor before an interval has
        passed.
        """
        self.logger.startService()
        self.addCleanup(self.logger.stopService)
        self.clock.advance(4.9)
        self.assertEqual(self.progressEvents(), [])

    def test_oneLinePerTorrentPerInterval(self) -> None:
        """
        Each interval logs one line per torrent.
        """
        self.logger.startService()
        self.addCleanup(self.logger.stopService)
        self.clock.advance(5)
        self.assertEqual(len(self.progressEvents()), 2)
        self.clock.advance(5)
        events = self.progressEvents()
        self.assertEqual(len(events), 4)
        self.assertEqual([event["name"] for event in events], ["one", "two"] * 2)

    def test_lineContents(self) -> None:
        """
        A line names the torrent and gives its state, progress, size, rates
        and peers; the whole status is attached to the event.
        """
        self.logger.startService()
        self.addCleanup(self.logger.stopService)
        self.clock.advance(5)
        first, second = self.progressEvents()
        self.assertEqual(
            formatEvent(first),
            "one: downloading, 25.0% of 4.0 MiB, 1.5 MiB/s down, 512 B/s up, 7 peers",
        )
        self.assertEqual(
            formatEvent(second),
            "two: seeding, 100.0% of 4.0 MiB, 1.5 MiB/s down, 512 B/s up, 7 peers",
        )
        self.assertIs(first["status"], self.torrents[0].current)

    def test_followsTorrentList(self) -> None:
        """
        Each report asks for the torrents and their status anew.
        """
        self.logger.startService()
        self.addCleanup(self.logger.stopService)
        self.clock.advance(5)
        self.torrents[0].current = makeStatus("one", verifiedLength=2 * 2**20)
        self.torrents.append(FakeTorrent(makeStatus("three")))
        self.clock.advance(5)
        events = self.progressEvents()[2:]
        self.assertEqual([event["name"] for event in events], ["one", "two", "three"])
        self.assertEqual(events[0]["percent"], 50.0)

    def test_noTorrentsNoLines(self) -> None:
        """
        With no torrents, nothing is logged.
        """
        self.torrents.clear()
        self.logger.startService()
        self.addCleanup(self.logger.stopService)
        self.clock.advance(20)
        self.assertEqual(self.progressEvents(), [])

    def test_stopsOnStopService(self) -> None:
        """
        After L{ProgressLogger.stopService} nothing more is logged and no
        call is left pending.
        """
        self.logger.startService()
        self.clock.advance(5)
        self.logger.stopService()
        self.assertFalse(self.logger.running)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(60)
        self.assertEqual(len(self.progressEvents()), 2)

    def test_restart(self) -> None:
        """
        A stopped logger may be started again, and logs again.
        """
        self.logger.startService()
        self.logger.stopService()
        self.logger.startService()
        self.addCleanup(self.logger.stopService)
        self.clock.advance(5)
        self.assertEqual(len(self.progressEvents()), 2)

    def test_stopBeforeStart(self) -> None:
        """
        Stopping a logger that never started does nothing.
        """
        self.logger.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DescribeProgressTests(SynchronousTestCase):
    """
    Tests for L{describeProgress}.
    """

    def test_oneDownloading(self) -> None:
        """
        One downloading torrent: percentage and size, state, rates, peers,
        time left at the current rate, then its name.
        """
        status = makeStatus("one", verifiedLength=2**20)
        self.assertEqual(
            describeProgress([status]),
            "25.0% of 4.0 MiB | downloading | down 1.5 MiB/s | up 512 B/s | 7 peers | ETA 2s | one",
        )

    def test_stalled(self) -> None:
        """
        Downloading at no rate, the time left is unknown; one peer is one
        peer.
        """
        status = makeStatus("one", downloadRate=0.0, peers=1)
        self.assertEqual(
            describeProgress([status]),
            "0.0% of 4.0 MiB | downloading | down 0 B/s | up 512 B/s | 1 peer | ETA ? | one",
        )

    def test_seedingNoETA(self) -> None:
        """
        Not downloading, no time left is given.
        """
        status = makeStatus(
            "done", state=TorrentState.SEEDING, verifiedLength=4 * 2**20, downloadRate=0.0
        )
        self.assertEqual(
            describeProgress([status]),
            "100.0% of 4.0 MiB | seeding | down 0 B/s | up 512 B/s | 7 peers | done",
        )

    def test_several(self) -> None:
        """
        Several torrents are summed up: progress over all, rates and peers
        added, the time left for those downloading, and how many there are.
        """
        statuses = [
            makeStatus("one", verifiedLength=2**20),
            makeStatus("two", state=TorrentState.PAUSED, verifiedLength=3 * 2**20),
            makeStatus("three", state=TorrentState.SEEDING, verifiedLength=4 * 2**20),
        ]
        self.assertEqual(
            describeProgress(statuses),
            "66.7% of 12.0 MiB | 1 downloading | down 4.5 MiB/s | up 1.5 KiB/s | 21 peers"
            " | ETA 1s | 3 torrents",
        )

    def test_none(self) -> None:
        """
        With no torrent, the line says so.
        """
        self.assertEqual(describeProgress([]), "No torrent yet")


class ProgressLineTests(SynchronousTestCase):
    """
    Tests for L{ProgressLine} drawing on a L{StatusLine} over a fake stream,
    on a L{Clock}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.stream = io.StringIO()
        self.torrents = [FakeTorrent(makeStatus("one", verifiedLength=2**20))]
        self.line = StatusLine(self.stream, lambda: 200)
        self.progress = ProgressLine(lambda: self.torrents, self.line, self.clock, interval=0.5)

    def drawn(self) -> list[str]:
        """
        @return: each line drawn, in order.
        """
        return self.stream.getvalue().split(CLEAR_LINE)[1:]

    def test_drawnAtStartThenEachInterval(self) -> None:
        """
        The line is drawn when the service starts, then once per interval
        on the reactor's clock, and no more often.
        """
        self.progress.startService()
        self.addCleanup(self.progress.stopService)
        self.assertEqual(len(self.drawn()), 1)
        self.clock.advance(0.4)
        self.assertEqual(len(self.drawn()), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(self.drawn()), 2)
        self.clock.pump([0.1] * 20)
        self.assertEqual(len(self.drawn()), 6)

    def test_followsProgress(self) -> None:
        """
        Each redraw describes the torrents as they are then.
        """
        self.progress.startService()
        self.addCleanup(self.progress.stopService)
        self.torrents[0].current = makeStatus("one", verifiedLength=3 * 2**20)
        self.clock.advance(0.5)
        first, second = self.drawn()
        self.assertTrue(first.startswith("25.0% of 4.0 MiB | downloading"), first)
        self.assertTrue(second.startswith("75.0% of 4.0 MiB | downloading"), second)
        self.assertEqual(self.line.text, second)

    def test_stopErases(self) -> None:
        """
        Stopping erases the line and leaves no call pending.
        """
        self.progress.startService()
        self.progress.stopService()
        self.assertTrue(self.stream.getvalue().endswith(CLEAR_LINE))
        self.assertEqual(self.line.text, "")
        self.assertEqual(self.clock.getDelayedCalls(), [])
