"""
Tests for L{bittwist.torrent.periodic}: a torrent's work of every second.
"""

from types import SimpleNamespace
from typing import Any, Optional

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist.torrent.lifecycle import TorrentState
from bittwist.torrent.periodic import PeriodicWork
from bittwist.torrent.ticks import TICK, ITickable, TickService
from tests.faketorrent import FakePeer, FakeTorrent
from tests.test_status import makeMetainfo

S = TorrentState


class PeriodicWorkTests(SynchronousTestCase):
    """
    Tests for L{PeriodicWork}.
    """

    def setUp(self) -> None:
        self.metainfo = makeMetainfo(self)
        self.clock = Clock()
        self.clock.advance(100)
        self.ticks = TickService(self.clock)
        self.snubbed: set[Any] = set()
        self.goal: Optional[str] = None
        self.short = False

    def makeWork(self, state: TorrentState, peers: tuple[FakePeer, ...] = ()) -> PeriodicWork:
        answers: dict[str, Any] = {
            "download": {"record": None},
            "upload": {"goalReached": lambda: self.goal},
            "swarm": {"shortOfPeers": lambda: self.short},
        }
        self.torrent = FakeTorrent(self.metainfo, state, peers, **answers)
        # The records of snubbing peers say so.
        self.torrent.download.record = lambda peer: SimpleNamespace(snubbed=peer in self.snubbed)
        return PeriodicWork(self.torrent, self.clock, self.ticks)  # type: ignore[arg-type]

    def test_interface(self) -> None:
        """
        L{PeriodicWork} provides L{ITickable}.
        """
        verifyObject(ITickable, self.makeWork(S.DOWNLOADING))

    def test_downloading(self) -> None:
        """
        A downloading torrent's round: the download's tick at the time, a
        choking round, dialling; more work next round.
        """
        peer = FakePeer(1)
        work = self.makeWork(S.DOWNLOADING, (peer,))
        self.assertTrue(work.tick())
        self.assertEqual(self.torrent.called("download"), [("tick", 100.0)])
        self.assertEqual(self.torrent.called("upload"), [("choke", {peer}, False, set())])
        self.assertEqual(self.torrent.called("swarm"), [("connectMore",), ("shortOfPeers",)])
        self.assertEqual(self.torrent.called("sources"), [])

    def test_shortOfPeers(self) -> None:
        """
        Short of peers, a downloading torrent asks its sources for more.
        """
        self.short = True
        self.makeWork(S.DOWNLOADING).tick()
        self.assertEqual(self.torrent.called("sources"), [("wantPeers",)])

    def test_snubbedCountedOut(self) -> None:
        """
        The choking round hears which peers snub us.
        """
        snubbing, other = FakePeer(1), FakePeer(2)
        self.snubbed.add(snubbing)
        self.makeWork(S.SEEDING, (snubbing, other)).choke()
        self.assertEqual(
            self.torrent.called("upload"), [("choke", {snubbing, other}, True, {snubbing})]
        )

    def test_seedGoal(self) -> None:
        """
        A seed goal reached ends seeding: no choking, no more work.
        """
        self.goal = "seed ratio 2.0 reached"
        work = self.makeWork(S.SEEDING, (FakePeer(1),))
        self.assertFalse(work.tick())
        self.assertEqual(self.torrent.called("moves"), [("seedGoalReached", self.goal)])
        self.assertEqual(self.torrent.called("swarm"), [])

    def test_seedWithoutPeersSleeps(self) -> None:
        """
        A seed without peers or a time goal has no work left; one with
        peers, or a seed time to reach, has.
        """
        self.assertFalse(self.makeWork(S.SEEDING).tick())
        self.assertTrue(self.makeWork(S.SEEDING, (FakePeer(1),)).tick())
        work = self.makeWork(S.SEEDING)
        self.torrent.upload.seedTime = 60.0
        self.assertTrue(work.tick())

    def test_notActive(self) -> None:
        """
        A torrent neither downloading nor seeding has no work left.
        """
        self.assertFalse(self.makeWork(S.PAUSED).tick())

    def test_wakeAndSleep(self) -> None:
        """
        Woken, it is ticked each period; put to sleep, no more.
        """
        work = self.makeWork(S.DOWNLOADING)
        work.wake()
        self.clock.advance(TICK)
        self.clock.advance(TICK)
        self.assertEqual(len(self.torrent.called("download")), 2)
        work.sleep()
        self.clock.advance(TICK)
        self.assertEqual(len(self.torrent.called("download")), 2)
