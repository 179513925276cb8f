# -*- test-case-name: tests.test_trackerstore -*-
"""
Tests for L{bittwist.trackerstore}.
"""

import random

from hypothesis import given, settings, strategies as st
from twisted.internet.testing import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import AnnounceRefused
from bittwist.trackerstore import (
    MAX_NUMWANT,
    AnnounceResult,
    ScrapeResult,
    Tracker,
    TrackerLimits,
    TrackerPeer,
)

INFO_HASH = bytes(range(20))


def infoHash(n: int) -> bytes:
    return n.to_bytes(20, "big")


def peerId(n: int) -> bytes:
    return b"-BT0001-" + b"%012d" % n


def host(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


class RecordingRandom(random.Random):
    """
    A C{random.Random} that records the populations and sizes it is asked
    to sample.
    """

    def __init__(self) -> None:
        super().__init__(1)
        self.samples: list[tuple[object, int]] = []

    def sample(self, population, k, **kwargs):
        self.samples.append((population, k))
        return super().sample(population, k, **kwargs)


class AnnounceTests(SynchronousTestCase):
    """
    L{Tracker.announce}: what it remembers and what it returns.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.tracker = Tracker(reactor=self.clock)

    def join(self, n: int, left: int = 100, event=None, tracker=None, **kwargs) -> AnnounceResult:
        kwargs.setdefault("infoHash", INFO_HASH)
        kwargs.setdefault("ip", host(n))
        return (tracker or self.tracker).announce(
            kwargs["infoHash"], peerId(n), kwargs["ip"], 6881, event, left, kwargs.get("numwant")
        )

    def test_resultUnpacks(self) -> None:
        """
        The result unpacks as C{(peers, complete, incomplete, interval)};
        peers are L{TrackerPeer}s with a compact form.
        """
        self.join(1, left=0)
        peers, complete, incomplete, interval = self.join(2)
        self.assertEqual(peers, [TrackerPeer(peerId(1), "10.0.0.1", 6881)])
        self.assertEqual((complete, incomplete, interval), (1, 1, 1800))
        self.assertEqual(peers[0].compact, bytes([10, 0, 0, 1, 26, 225]))
        self.assertEqual(TrackerPeer(b"x" * 20, "::1", 1).compact, bytes(15) + b"\x01\x00\x01")

    def test_sampleIsOfIndices(self) -> None:
        """
        An announce to a swarm of 10,000 draws C{numwant} + 1 indices of a
        C{range}: the swarm's peers are neither copied nor walked.
        """
        recording = RecordingRandom()
        tracker = Tracker(reactor=self.clock, random=recording)
        for n in range(10_000):
            self.join(n, tracker=tracker, numwant=0)
        recording.samples.clear()
        result = self.join(10_001, tracker=tracker, numwant=5)
        self.assertEqual(len(result.peers), 5)
        [(population, k)] = recording.samples
        self.assertEqual((population, k), (range(10_000 + 1), 6))

    def test_neverTheAsker(self) -> None:
        """
        The asker is never in its own answer, even when it asks for all.
        """
        for n in range(5):
            self.join(n)
        for n in range(5):
            ids = {p.peerId for p in self.join(n, numwant=MAX_NUMWANT).peers}
            self.assertEqual(ids, {peerId(m) for m in range(5)} - {peerId(n)})

    def test_seederGetsLeechersOnly(self) -> None:
        """
        A seeder is only given leechers; a leecher is given both.
        """
        for n in range(3):
            self.join(n, left=0)
        for n in range(3, 6):
            self.join(n)
        self.assertEqual(
            {p.peerId for p in self.join(0, left=0).peers}, {peerId(n) for n in (3, 4, 5)}
        )
        self.assertEqual(len(self.join(3).peers), 5)

    def test_becomingSeederMoves(self) -> None:
        """
        A leecher that reports C{left=0} is counted as a seeder, once;
        C{completed} counts one download.
        """
        self.join(1)
        self.join(1, left=0, event="completed")
        self.join(1, left=0, event="completed")
        self.assertEqual(self.tracker.scrape([INFO_HASH]), {INFO_HASH: ScrapeResult(1, 0, 1)})

    def test_stoppedRemoves(self) -> None:
        """
        C{stopped} removes the peer; a removal from the middle keeps every
        other peer findable (swap-remove).
        """
        for n in range(5):
            self.join(n)
        self.join(2, event="stopped")
        self.join(0, event="stopped")
        ids = {p.peerId for p in self.join(9, numwant=50).peers}
        self.assertEqual(ids, {peerId(n) for n in (1, 3, 4)})
        self.join(4, event="stopped")
        self.join(3, event="stopped")
        self.assertEqual(self.tracker.scrape([INFO_HASH])[INFO_HASH], ScrapeResult(0, 2, 0))

    def test_badValues(self) -> None:
        """
        Wrong sizes, ports, events or addresses are refused with a reason.
        """
        t = self.tracker
        for args, words in [
            ((b"x" * 19, peerId(1), "10.0.0.1", 1, None, 0), "'info_hash' must be 20 bytes"),
            ((INFO_HASH, b"x", "10.0.0.1", 1, None, 0), "'peer_id' must be 20 bytes"),
            ((INFO_HASH, peerId(1), "10.0.0.1", 0, None, 0), "'port'"),
            ((INFO_HASH, peerId(1), "10.0.0.1", 65536, None, 0), "'port'"),
            ((INFO_HASH, peerId(1), "10.0.0.1", 1, "paused", 0), "'event'"),
            ((INFO_HASH, peerId(1), "10.0.0.1", 1, None, -1), "'left'"),
            ((INFO_HASH, peerId(1), "unix", 1, None, 0), "IP address"),
        ]:
            error = self.assertRaises(AnnounceRefused, t.announce, *args)
            self.assertIn(words, str(error))
            self.assertEqual(error.reason, str(error))
        self.assertEqual(t.peerCount, 0)

    def test_ipv4MappedNormalised(self) -> None:
        """
        An IPv4-mapped IPv6 address is the IPv4 address.
        """
        self.join(1, ip="::ffff:10.0.0.7")
        self.assertEqual(self.join(2).peers[0].ip, "10.0.0.7")


class LimitTests(SynchronousTestCase):
    """
    The bounds of L{TrackerLimits}.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def tracker(self, **limits: int) -> Tracker:
        return Tracker(reactor=self.clock, limits=TrackerLimits(**limits))

    def test_peerIdsPerAddress(self) -> None:
        """
        One address may hold C{maxPeerIdsPerAddress} peer ids in a swarm;
        the next is refused, saying why; re-announcing an id it holds is
        fine; another address or another swarm is not affected; stopping
        one makes room.
        """
        t = self.tracker(maxPeerIdsPerAddress=3)
        for n in range(3):
            t.announce(INFO_HASH, peerId(n), "10.0.0.1", 6881 + n, None, 1)
        error = self.assertRaises(
            AnnounceRefused, t.announce, INFO_HASH, peerId(3), "10.0.0.1", 7000, None, 1
        )
        self.assertIn("too many peer ids from 10.0.0.1", str(error))
        t.announce(INFO_HASH, peerId(0), "10.0.0.1", 6881, None, 1)
        t.announce(INFO_HASH, peerId(3), "10.0.0.2", 7000, None, 1)
        t.announce(infoHash(2), peerId(3), "10.0.0.1", 7000, None, 1)
        t.announce(INFO_HASH, peerId(1), "10.0.0.1", 6882, "stopped", 1)
        t.announce(INFO_HASH, peerId(3), "10.0.0.1", 7000, None, 1)
        self.assertEqual(t.scrape([INFO_HASH])[INFO_HASH].incomplete, 4)

    def test_swarmsPerAddress(self) -> None:
        """
        One address may be in C{maxSwarmsPerAddress} swarms; the next is
        refused, another address is not; leaving one makes room.
        """
        t = self.tracker(maxSwarmsPerAddress=2)
        t.announce(infoHash(1), peerId(1), "10.0.0.1", 1, None, 1)
        t.announce(infoHash(2), peerId(1), "10.0.0.1", 1, None, 1)
        t.announce(infoHash(2), peerId(2), "10.0.0.1", 2, None, 1)
        error = self.assertRaises(
            AnnounceRefused, t.announce, infoHash(3), peerId(1), "10.0.0.1", 1, None, 1
        )
        self.assertIn("10.0.0.1 is in too many torrents", str(error))
        t.announce(infoHash(3), peerId(1), "10.0.0.2", 1, None, 1)
        t.announce(infoHash(1), peerId(1), "10.0.0.1", 1, "stopped", 1)
        t.announce(infoHash(3), peerId(1), "10.0.0.1", 1, None, 1)

    def test_swarmsInAll(self) -> None:
        """
        At C{maxSwarms} swarms a new swarm is refused; a swarm forgotten
        makes room.
        """
        t = self.tracker(maxSwarms=2)
        t.announce(infoHash(1), peerId(1), "10.0.0.1", 1, None, 1)
        t.announce(infoHash(2), peerId(1), "10.0.0.2", 1, None, 1)
        error = self.assertRaises(
            AnnounceRefused, t.announce, infoHash(3), peerId(1), "10.0.0.3", 1, None, 1
        )
        self.assertIn("too many torrents", str(error))
        t.announce(infoHash(2), peerId(2), "10.0.0.3", 1, None, 1)
        t.announce(infoHash(1), peerId(1), "10.0.0.1", 1, "stopped", 1)
        self.assertEqual(t.swarmCount, 1)
        t.announce(infoHash(3), peerId(1), "10.0.0.3", 1, None, 1)

    def test_peersInAll(self) -> None:
        """
        At C{maxPeers} peers a new peer is refused; known peers still
        announce.
        """
        t = self.tracker(maxPeers=3)
        for n in range(3):
            t.announce(infoHash(n % 2), peerId(n), host(n), 1, None, 1)
        error = self.assertRaises(AnnounceRefused, t.announce, INFO_HASH, peerId(9), host(9), 1, None, 1)
        self.assertIn("full", str(error))
        self.assertEqual(len(t.announce(infoHash(0), peerId(0), host(0), 1, None, 1).peers), 1)

    def test_expiryFreesLimits(self) -> None:
        """
        Silent peers expire in the order they last announced, whichever
        swarm they are in, and give back their room.
        """
        t = Tracker(reactor=self.clock, peerTimeout=100,
                    limits=TrackerLimits(maxPeerIdsPerAddress=1, maxPeers=3))
        t.announce(infoHash(1), peerId(1), "10.0.0.1", 1, None, 1)
        self.clock.advance(50)
        t.announce(infoHash(2), peerId(2), "10.0.0.2", 1, None, 1)
        t.announce(infoHash(1), peerId(3), "10.0.0.3", 1, None, 1)
        self.clock.advance(49)
        t.announce(infoHash(1), peerId(1), "10.0.0.1", 1, None, 1)
        self.clock.advance(51)
        self.assertEqual(t.scrape([infoHash(1), infoHash(2)]), {
            infoHash(1): ScrapeResult(0, 1, 0), infoHash(2): ScrapeResult(0, 0, 0)})
        self.assertEqual((t.peerCount, t.swarmCount), (1, 1))
        t.announce(infoHash(1), peerId(4), "10.0.0.3", 1, None, 1)
        t.announce(infoHash(3), peerId(4), "10.0.0.2", 1, None, 1)

    def test_scrapeBounds(self) -> None:
        """
        A scrape of too many hashes, or of a malformed one, is refused.
        """
        t = self.tracker()
        self.assertRaises(AnnounceRefused, t.scrape, [INFO_HASH] * 201)
        self.assertRaises(AnnounceRefused, t.scrape, [b"short"])


operations = st.lists(
    st.tuples(
        st.integers(0, 5),  # peer
        st.integers(0, 2),  # address
        st.sampled_from([None, "started", "completed", "stopped"]),
        st.sampled_from([0, 7]),  # left
        st.integers(0, 30),  # seconds before it
    ),
    max_size=60,
)


class ModelTests(SynchronousTestCase):
    """
    L{Tracker} against a plain dictionary of the same peers.
    """

    @settings(max_examples=200, deadline=None)
    @given(operations)
    def test_matchesModel(self, steps) -> None:
        """
        After any sequence of announces, the counts and the peers returned
        (asking for all) are those of a dictionary keyed by peer id and
        address, expiring peers silent for 60 seconds.
        """
        clock = Clock()
        tracker = Tracker(reactor=clock, peerTimeout=60)
        model: dict[tuple[bytes, str], tuple[int, int, float]] = {}
        for peer, address, event, left, wait in steps:
            clock.advance(wait)
            now = clock.seconds()
            model = {k: v for k, v in model.items() if v[2] > now - 60}
            key = (peerId(peer), host(address))
            if event == "stopped":
                model.pop(key, None)
            else:
                model[key] = (6000 + peer, left, now)
            result = tracker.announce(INFO_HASH, key[0], key[1], 6000 + peer, event, left, 200)
            seeders = sum(1 for v in model.values() if v[1] == 0)
            self.assertEqual((result.complete, result.incomplete), (seeders, len(model) - seeders))
            if event == "stopped":
                self.assertEqual(result.peers, [])
                continue
            expected = {
                (k[0], k[1], v[0]) for k, v in model.items()
                if k[0] != key[0] and (k[1], v[0]) != (key[1], 6000 + peer)
                and not (left == 0 and v[1] == 0)
            }
            self.assertEqual({tuple(p) for p in result.peers}, expected)
            self.assertEqual(len(result.peers), len(expected))
        self.assertEqual(tracker.peerCount, len(model))
