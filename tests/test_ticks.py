"""
Tests for L{bittwist.torrent.ticks}: one timer for the periodic work of many
torrents, and the torrents' use of it.
"""

from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from bittwist.config import TorrentConfig
from bittwist.metainfo import createTorrent, parse
from bittwist.storage import MemoryStorage
from bittwist.torrent import Torrent, TorrentState
from bittwist.torrent.ticks import TICK, ITickable, ITickService, TickService
from tests.test_torrent import OUR_ID, TorrentTestCase


@implementer(ITickable)
class Counter:
    """
    Counts its ticks; busy for C{rounds} ticks, or raising.
    """

    def __init__(self, rounds: int = 1000, error: bool = False) -> None:
        self.ticks = 0
        self.rounds = rounds
        self.error = error
        self.onTick: Any = None

    def tick(self) -> bool:
        self.ticks += 1
        if self.onTick is not None:
            self.onTick()
        if self.error:
            raise RuntimeError("a bug")
        return self.ticks < self.rounds


class TickServiceTests(SynchronousTestCase):
    """
    L{TickService} ticks what is awake, once a period, and nothing else.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.ticks = TickService(self.clock)

    def test_interfaces(self) -> None:
        """
        L{TickService} provides L{ITickService}; the test double is an
        L{ITickable}.
        """
        verifyObject(ITickService, self.ticks)
        verifyObject(ITickable, Counter())

    def test_idleSchedulesNothing(self) -> None:
        """
        With nothing awake, no call is scheduled.
        """
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_wakeTicksEachPeriod(self) -> None:
        """
        What is woken is ticked one period later, then every period, by one
        scheduled call whatever their number.
        """
        counters = [Counter() for _ in range(50)]
        for counter in counters:
            self.ticks.wake(counter)
        self.ticks.wake(counters[0])
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(TICK - 0.01)
        self.assertEqual(counters[0].ticks, 0)
        self.clock.advance(0.01)
        self.clock.advance(TICK)
        self.assertEqual({c.ticks for c in counters}, {2})
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_doneStopsTicks(self) -> None:
        """
        A tickable whose C{tick} returns C{False} is ticked no more; once
        none is awake, nothing is scheduled.
        """
        short, long = Counter(rounds=1), Counter(rounds=3)
        self.ticks.wake(short)
        self.ticks.wake(long)
        self.clock.pump([TICK] * 5)
        self.assertEqual((short.ticks, long.ticks), (1, 3))
        self.assertEqual(len(self.ticks), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_wakeAgain(self) -> None:
        """
        A tickable woken again after it was done is ticked again.
        """
        counter = Counter(rounds=1)
        self.ticks.wake(counter)
        self.clock.pump([TICK] * 2)
        counter.rounds = 2
        self.ticks.wake(counter)
        self.clock.pump([TICK] * 2)
        self.assertEqual(counter.ticks, 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sleep(self) -> None:
        """
        A tickable put to sleep is not ticked; the last one put to sleep
        stops the timer.
        """
        counter = Counter()
        self.ticks.wake(counter)
        self.ticks.sleep(counter)
        self.ticks.sleep(counter)
        self.clock.advance(TICK)
        self.assertEqual(counter.ticks, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sleepOtherDuringRound(self) -> None:
        """
        A tickable put to sleep by another's tick in the same round is not
        ticked in that round.
        """
        first, second = Counter(), Counter()
        first.onTick = lambda: self.ticks.sleep(second)
        self.ticks.wake(first)
        self.ticks.wake(second)
        self.clock.advance(TICK)
        self.assertEqual((first.ticks, second.ticks), (1, 0))

    def test_sleepAndWakeDuringRound(self) -> None:
        """
        The last tickable put to sleep and woken again within a round is
        ticked once a period still, not twice.
        """
        counter = Counter()

        def sleepAndWake() -> None:
            self.ticks.sleep(counter)
            self.ticks.wake(counter)

        counter.onTick = sleepAndWake
        self.ticks.wake(counter)
        self.clock.pump([TICK] * 3)
        self.assertEqual(counter.ticks, 3)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_failureLoggedOthersTickOn(self) -> None:
        """
        A tick that raises is logged and that tickable dropped; the others
        tick on.
        """
        broken, fine = Counter(error=True), Counter()
        self.ticks.wake(broken)
        self.ticks.wake(fine)
        self.clock.pump([TICK] * 3)
        self.assertEqual((broken.ticks, fine.ticks), (1, 3))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class TorrentTickTests(TorrentTestCase):
    """
    A torrent is ticked while it has periodic work, and costs nothing per
    second when it has none.
    """

    def test_seedingWithoutPeersSleeps(self) -> None:
        """
        A seeding torrent without peers or a time goal is ticked once (its
        goals are looked at), then schedules nothing.
        """
        torrent = self.makeTorrent(full=True)
        self.assertIs(torrent.state, TorrentState.SEEDING)
        self.clock.advance(TICK)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_downloadingTicks(self) -> None:
        """
        A downloading torrent is ticked every period, peers or not.
        """
        self.makeTorrent()
        for _ in range(3):
            self.clock.advance(TICK)
            self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_peerWakes(self) -> None:
        """
        A peer connecting to a sleeping seed wakes it (the choker runs on
        ticks); once the peer left, it sleeps again.
        """
        ticks = TickService(self.clock)
        self.makeTorrent(full=True, ticks=ticks)
        self.clock.advance(TICK)
        self.assertEqual(len(ticks), 0)
        remote = self.accept(1, pieces=[])
        self.assertEqual(len(ticks), 1)
        self.clock.advance(TICK)
        self.assertEqual(len(ticks), 1)
        remote.proto.connectionLost(Failure(ConnectionDone()))
        self.clock.advance(TICK)
        self.assertEqual(len(ticks), 0)

    def test_seedTimeWithoutPeers(self) -> None:
        """
        A seed time goal is reached without any peer: the torrent ticks
        until then.
        """
        torrent = self.makeTorrent(full=True, seedTime=3.0)
        self.clock.pump([TICK] * 2)
        self.assertIs(torrent.state, TorrentState.SEEDING)
        self.clock.pump([TICK] * 2)
        self.assertIs(torrent.state, TorrentState.FINISHED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_goalSetWhileAsleep(self) -> None:
        """
        A seed goal set on a sleeping seed is looked at within a tick.
        """
        torrent = self.makeTorrent(full=True)
        self.clock.advance(TICK)
        torrent.setOptions(seedRatio=0.0)
        self.clock.advance(TICK)
        self.assertIs(torrent.state, TorrentState.FINISHED)

    def test_pausedSleeps(self) -> None:
        """
        A paused downloading torrent schedules nothing.
        """
        torrent = self.makeTorrent()
        self.successResultOf(torrent.pause())
        self.clock.advance(TICK)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_thousandIdleTorrents(self) -> None:
        """
        A thousand seeding torrents without peers sharing one
        L{TickService} schedule no call at all once each was ticked once;
        one of them downloading schedules one.
        """
        clock = Clock()
        ticks = TickService(clock)
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"x" * 40000)
        metainfo = parse(createTorrent(path, pieceLength=16384))
        torrents = []
        for _ in range(1000):
            torrent = Torrent(
                metainfo,
                MemoryStorage(metainfo, b"x" * 40000),
                OUR_ID,
                clock,
                TorrentConfig(announce=False),
                ticks=ticks,
            )
            self.successResultOf(torrent.start())
            torrents.append(torrent)
        self.assertEqual({t.state for t in torrents}, {TorrentState.SEEDING})
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(TICK)
        self.assertEqual(clock.getDelayedCalls(), [])
        downloading = Torrent(
            metainfo, MemoryStorage(metainfo), OUR_ID, clock, TorrentConfig(announce=False), ticks=ticks
        )
        self.successResultOf(downloading.start())
        clock.pump([TICK] * 3)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        self.assertEqual(len(ticks), 1)
