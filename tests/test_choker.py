# -*- test-case-name: tests.test_choker -*-
"""
Tests for L{bittwist.choker}: the choking policy, on synthetic peers and
rates, with time moved by hand on a L{Clock}.
"""

import random
from collections import Counter
from dataclasses import dataclass, field

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.choker import (
    NEW_PEER_WEIGHT,
    OPTIMISTIC_INTERVAL,
    REGULAR_INTERVAL,
    UPLOAD_SLOTS,
    Choker,
)


@dataclass
class FixedRate:
    """
    A rate meter that always says C{value}.
    """

    value: float = 0.0

    def rate(self) -> float:
        return self.value


@dataclass(eq=False)
class FakePeer:
    """
    A peer as the choker sees it, rates set by the test.
    """

    name: str
    peerInterested: bool = True
    amChoking: bool = True
    downloadRate: FixedRate = field(default_factory=FixedRate)
    uploadRate: FixedRate = field(default_factory=FixedRate)

    def __repr__(self) -> str:
        return self.name


def makePeers(count: int, prefix: str = "p") -> list[FakePeer]:
    """
    @return: C{count} interested peers downloading at 0.
    """
    return [FakePeer(f"{prefix}{i}") for i in range(count)]


class ChokerTestCase(SynchronousTestCase):
    """
    Runs a L{Choker} on a L{Clock} and applies its decisions to the peers,
    as the torrent does.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.choker = Choker(random=random.Random(1))

    def decide(
        self, peers: list[FakePeer], seeding: bool = False, snubbed: frozenset = frozenset()
    ) -> set[FakePeer]:
        """
        Ask the choker now, C{snubbed} peers snubbing us, and set each peer's
        C{amChoking} accordingly.
        """
        unchoked = self.choker.unchoked(peers, seeding, self.clock.seconds(), snubbed)
        for peer in peers:
            peer.amChoking = peer not in unchoked
        return unchoked

    def advance(self, peers: list[FakePeer], seconds: float, seeding: bool = False) -> set[FakePeer]:
        """
        Move time on by C{seconds}, a second at a time, deciding each second
        as the torrent's tick does.
        """
        unchoked = self.decide(peers, seeding)
        for _ in range(int(seconds)):
            self.clock.advance(1)
            unchoked = self.decide(peers, seeding)
        return unchoked


class RegularSlotTests(ChokerTestCase):
    """
    Regular slots: the fastest interested peers, re-decided every ten
    seconds.
    """

    def test_defaultSlots(self) -> None:
        """
        There are four regular slots by default, as in BEP 3.
        """
        self.assertEqual(UPLOAD_SLOTS, 4)
        self.assertEqual(Choker().slots, 4)

    def test_fastestDownloadersWhileLeeching(self) -> None:
        """
        While leeching, the regular slots go to the interested peers we
        download from fastest; uninterested peers get none, however fast.
        """
        peers = makePeers(8)
        for i, peer in enumerate(peers):
            peer.downloadRate.value = i * 1000
            peer.uploadRate.value = (8 - i) * 1000
        peers[7].peerInterested = False
        self.decide(peers)
        self.assertEqual(self.choker.regular, set(peers[3:7]))

    def test_fastestUploadsWhileSeeding(self) -> None:
        """
        While seeding, the regular slots go to the interested peers we upload
        to fastest.
        """
        peers = makePeers(8)
        for i, peer in enumerate(peers):
            peer.downloadRate.value = i * 1000
            peer.uploadRate.value = (8 - i) * 1000
        self.decide(peers, seeding=True)
        self.assertEqual(self.choker.regular, set(peers[:4]))

    def test_slotsParameter(self) -> None:
        """
        The number of regular slots is a parameter.
        """
        self.choker = Choker(slots=2, random=random.Random(1))
        peers = makePeers(6)
        for i, peer in enumerate(peers):
            peer.downloadRate.value = i
        unchoked = self.decide(peers)
        self.assertEqual(self.choker.regular, set(peers[4:]))
        self.assertEqual(len(unchoked), 3)

    def test_optimisticOnTop(self) -> None:
        """
        With more interested peers than slots, one more peer, outside the
        regular slots, is unchoked optimistically.
        """
        peers = makePeers(6)
        unchoked = self.decide(peers)
        self.assertEqual(len(unchoked), UPLOAD_SLOTS + 1)
        self.assertIsNotNone(self.choker.optimistic)
        self.assertNotIn(self.choker.optimistic, self.choker.regular)
        self.assertEqual(unchoked, self.choker.regular | {self.choker.optimistic})

    def test_fewPeersAllUnchoked(self) -> None:
        """
        With fewer interested peers than slots, all get a regular slot and
        there is no optimistic unchoke.
        """
        peers = makePeers(3)
        self.assertEqual(self.decide(peers), set(peers))
        self.assertIsNone(self.choker.optimistic)

    def test_reDecidedEveryTenSeconds(self) -> None:
        """
        A peer that becomes faster takes a regular slot at the next
        ten-second round, not before.
        """
        self.assertEqual(REGULAR_INTERVAL, 10.0)
        peers = makePeers(6)
        for i, peer in enumerate(peers[:4]):
            peer.downloadRate.value = 1000 + i
        self.decide(peers)
        self.assertEqual(self.choker.regular, set(peers[:4]))
        peers[5].downloadRate.value = 10**6
        self.advance(peers, REGULAR_INTERVAL - 1)
        self.assertNotIn(peers[5], self.choker.regular)
        self.advance(peers, 1)
        self.assertIn(peers[5], self.choker.regular)
        self.assertNotIn(peers[0], self.choker.regular)

    def test_freeSlotFilledAtOnce(self) -> None:
        """
        A peer that becomes interested between rounds gets a free regular
        slot at once.
        """
        peers = makePeers(2)
        self.decide(peers)
        self.clock.advance(1)
        newcomer = FakePeer("new")
        peers.append(newcomer)
        self.assertIn(newcomer, self.decide(peers))
        self.assertIn(newcomer, self.choker.regular)

    def test_lostInterestFreesSlot(self) -> None:
        """
        A peer that loses interest loses its slot at once, and the slot goes
        to the fastest other interested peer.
        """
        peers = makePeers(6)
        for i, peer in enumerate(peers):
            peer.downloadRate.value = i * 1000
        self.decide(peers)
        self.assertEqual(self.choker.regular, set(peers[2:]))
        self.clock.advance(1)
        peers[5].peerInterested = False
        self.decide(peers)
        self.assertNotIn(peers[5], self.choker.regular)
        self.assertEqual(len(self.choker.regular), UPLOAD_SLOTS)

    def test_snubbedPeerLosesRegularSlot(self) -> None:
        """
        A peer that snubs us loses its regular slot at once, however fast it
        was.
        """
        peers = makePeers(6)
        for i, peer in enumerate(peers):
            peer.downloadRate.value = i * 1000
        self.decide(peers)
        self.assertIn(peers[5], self.choker.regular)
        self.clock.advance(1)
        snubbed = frozenset({peers[5]})
        self.decide(peers, snubbed=snubbed)
        self.assertNotIn(peers[5], self.choker.regular)
        self.clock.advance(REGULAR_INTERVAL)
        self.decide(peers, snubbed=snubbed)
        self.assertNotIn(peers[5], self.choker.regular)

    def test_disconnectedPeerForgotten(self) -> None:
        """
        A peer no longer given is neither in a slot nor remembered.
        """
        peers = makePeers(6)
        self.decide(peers)
        gone = next(iter(self.choker.regular))
        peers.remove(gone)
        self.assertNotIn(gone, self.decide(peers))
        self.assertNotIn(gone, self.choker._firstSeen)

    def test_tieKeepsUnchokedPeers(self) -> None:
        """
        Among equally fast peers, the regular slots of the next round go to
        peers already unchoked: no churn for nothing.
        """
        peers = makePeers(10)
        before = self.decide(peers)
        self.advance(peers, REGULAR_INTERVAL - 1)
        self.clock.advance(1)
        self.choker.unchoked(peers, False, self.clock.seconds())
        self.assertEqual(len(self.choker.regular), UPLOAD_SLOTS)
        self.assertTrue(self.choker.regular <= before, f"{self.choker.regular} not in {before}")

    def test_negativeSlots(self) -> None:
        """
        A negative number of slots is refused.
        """
        self.assertRaises(ValueError, Choker, slots=-1)


class OptimisticTests(ChokerTestCase):
    """
    The optimistic unchoke: a random peer outside the regular slots, rotated
    every thirty seconds, new peers favoured.
    """

    def test_rotatesEveryThirtySeconds(self) -> None:
        """
        The optimistic peer stays for thirty seconds, then another takes
        its place.
        """
        self.assertEqual(OPTIMISTIC_INTERVAL, 30.0)
        peers = makePeers(10)
        for i, peer in enumerate(peers[:4]):
            peer.downloadRate.value = 1000 + i
        self.decide(peers)
        first = self.choker.optimistic
        self.assertIsNotNone(first)
        self.advance(peers, OPTIMISTIC_INTERVAL - 1)
        self.assertIs(self.choker.optimistic, first)
        self.advance(peers, 1)
        self.assertIsNot(self.choker.optimistic, first)
        self.assertTrue(first.amChoking)

    def test_everyoneGetsAChance(self) -> None:
        """
        Over many rotations every choked interested peer is unchoked
        optimistically at some point.
        """
        peers = makePeers(10)
        for i, peer in enumerate(peers[:4]):
            peer.downloadRate.value = 1000 + i
        seen = set()
        for _ in range(40):
            self.advance(peers, OPTIMISTIC_INTERVAL)
            seen.add(self.choker.optimistic)
        self.assertEqual(seen, set(peers[4:]))

    def test_snubbedPeerMayBeOptimistic(self) -> None:
        """
        A snubbed peer, without a regular slot, can still be unchoked
        optimistically: this is its way back.
        """
        peers = makePeers(5)
        for i, peer in enumerate(peers[:4]):
            peer.downloadRate.value = 1000 + i
        self.assertIn(peers[4], self.decide(peers, snubbed=frozenset({peers[4]})))
        self.assertIs(self.choker.optimistic, peers[4])

    def test_uninterestedLosesOptimistic(self) -> None:
        """
        An optimistic peer that loses interest is replaced at once.
        """
        peers = makePeers(7)
        for i, peer in enumerate(peers[:4]):
            peer.downloadRate.value = 1000 + i
        self.decide(peers)
        first = self.choker.optimistic
        self.clock.advance(1)
        first.peerInterested = False
        self.decide(peers)
        self.assertIsNotNone(self.choker.optimistic)
        self.assertIsNot(self.choker.optimistic, first)

    def test_newPeersThreeTimesAsLikely(self) -> None:
        """
        A peer connected less than one rotation ago is picked for the
        optimistic unchoke about three times as often as an old one.
        """
        self.assertEqual(NEW_PEER_WEIGHT, 3)
        counts: Counter[str] = Counter()
        trials = 3000
        for trial in range(trials):
            self.choker = Choker(slots=0, random=random.Random(trial))
            holder, old, new = FakePeer("holder"), FakePeer("old", peerInterested=False), FakePeer("new")
            self.choker.unchoked([holder, old], False, 0.0)
            self.assertIs(self.choker.optimistic, holder)
            # At the next rotation "old" was seen long ago and "new" just
            # now; the holder makes way for one of them.
            old.peerInterested = True
            now = OPTIMISTIC_INTERVAL * 1.5
            picked = self.choker.unchoked([holder, old, new], False, now)
            self.assertEqual(len(picked), 1)
            counts[next(iter(picked)).name] += 1
        ratio = counts["new"] / counts["old"]
        self.assertTrue(2.5 < ratio < 3.6, f"new/old picked {ratio:.2f} times as often")
