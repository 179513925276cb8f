"""
Tests for L{bittwist.torrent.swarm}: candidates, dialling, admission, bans,
on a L{Clock} with fake endpoints.
"""

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.config import TorrentConfig
from bittwist.encryption import EncryptedClientFactory
from bittwist.factory import PeerClientFactory, PeerDialer
from bittwist.mse import Policy
from bittwist.peer import PeerProtocol
from bittwist.torrent.swarm import (
    BAN_STRIKES,
    MAX_ADDRESSES_PER_CALL,
    MIN_CANDIDATE_SHARE,
    CandidateBudget,
    Swarm,
)
from tests.fakes import FakeEndpoints
from tests.test_peer import INFO_HASH, OUR_ID, RecordingTorrent


def address(n: int) -> tuple[str, int]:
    return (f"10.0.{n // 250}.{n % 250 + 1}", 6881)


def remoteId(n: int) -> bytes:
    return b"-XX0001-remote%06d" % (n,)


class SwarmTests(SynchronousTestCase):
    """
    Tests for L{Swarm}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoints = FakeEndpoints()
        self.torrent = RecordingTorrent(peerId=OUR_ID)

    def makeSwarm(self, encryption: Policy = Policy.OFF, **config: int) -> Swarm:
        dialer = PeerDialer(self.clock, OUR_ID, endpointFactory=self.endpoints, encryption=encryption)
        self.swarm = Swarm(self.torrent, dialer, TorrentConfig(**config), self.clock)
        self.swarm.seeking = True
        return self.swarm

    def handshake(self, n: int) -> PeerProtocol:
        """
        Complete the pending attempt to peer C{n} and its handshake, and
        admit it as the torrent would.
        """
        proto = self.endpoints.pending(address(n))[0].succeed()
        proto.dataReceived(wire.encode(wire.Handshake(INFO_HASH, remoteId(n))))
        return proto

    def test_dialsUpToHalfOpenLimit(self) -> None:
        """
        New addresses are dialled at once, at most C{maxHalfOpen} at a time,
        each tagged with its source.
        """
        swarm = self.makeSwarm(maxHalfOpen=3)
        self.assertEqual(swarm.add([address(n) for n in range(5)], "tracker"), 5)
        self.assertEqual([e.address for e in self.endpoints.made], [address(n) for n in range(3)])
        proto = self.endpoints.made[0].succeed()
        self.assertEqual(proto.source, "tracker")
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 4)

    def test_notSeekingDoesNotDial(self) -> None:
        """
        Addresses learnt while not seeking are kept, not dialled.
        """
        swarm = self.makeSwarm()
        swarm.seeking = False
        swarm.add([address(1)], "manual")
        self.assertEqual(self.endpoints.made, [])
        self.assertEqual(swarm.knownCount, 1)

    def test_candidatesBounded(self) -> None:
        """
        The candidates never exceed C{maxCandidates}: fresh addresses replace
        the oldest ones not in use, and one call adds at most
        L{MAX_ADDRESSES_PER_CALL}.
        """
        swarm = self.makeSwarm(maxCandidates=10, maxHalfOpen=2)
        swarm.add([address(n) for n in range(10)], "tracker")
        swarm.add([address(n) for n in range(100, 105)], "pex")
        self.assertEqual(swarm.knownCount, 10)
        swarm.seeking = False
        big = self.makeSwarm(maxCandidates=10_000)
        big.seeking = False
        self.assertEqual(big.add((address(n) for n in range(5000)), "tracker"), MAX_ADDRESSES_PER_CALL)

    def test_backoff(self) -> None:
        """
        A refused address is tried again 10 s later, then 20 s after a second
        refusal.
        """
        swarm = self.makeSwarm()
        swarm.add([address(1)], "manual")
        for delay in (10, 20):
            self.endpoints.made[-1].refuse()
            made = len(self.endpoints.made)
            self.clock.advance(delay - 1)
            swarm.connectMore()
            self.assertEqual(len(self.endpoints.made), made)
            self.clock.advance(1)
            swarm.connectMore()
            self.assertEqual(len(self.endpoints.made), made + 1)

    def test_closedBeforeHandshakeBacksOff(self) -> None:
        """
        A connection that closes before its handshake counts as a failure.
        """
        swarm = self.makeSwarm()
        swarm.add([address(1)], "manual")
        proto = self.endpoints.made[0].succeed()
        proto.connectionLost(Failure(ConnectionDone()))
        self.clock.advance(9)
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 1)
        self.clock.advance(1)
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 2)

    def test_encryptionRefusedRedialsPlaintext(self) -> None:
        """
        Under C{prefer}, a peer that closes during our MSE handshake is
        dialled again at once in plaintext, without counting a failure;
        if that fails too, it backs off as usual.
        """
        swarm = self.makeSwarm(encryption=Policy.PREFER)
        swarm.add([address(1)], "manual")
        first = self.endpoints.made[0]
        self.assertIsInstance(first.factory, EncryptedClientFactory)
        wrapper = first.succeed()
        wrapper.connectionLost(Failure(ConnectionDone()))
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 2)
        second = self.endpoints.made[1]
        self.assertIsInstance(second.factory, PeerClientFactory)
        second.succeed().connectionLost(Failure(ConnectionDone()))
        self.clock.advance(9)
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 2)

    def test_encryptionRequiredNeverPlaintext(self) -> None:
        """
        Under C{require}, a failed MSE handshake backs off, and the next
        attempt is encrypted again.
        """
        swarm = self.makeSwarm(encryption=Policy.REQUIRE)
        swarm.add([address(1)], "manual")
        self.endpoints.made[0].succeed().connectionLost(Failure(ConnectionDone()))
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 1)
        self.clock.advance(10)
        swarm.connectMore()
        self.assertIsInstance(self.endpoints.made[1].factory, EncryptedClientFactory)

    def test_admitLimitsAndDuplicates(self) -> None:
        """
        C{admit} takes handshaken peers up to C{maxPeers} and refuses a
        second connection from a peer id already connected.
        """
        swarm = self.makeSwarm(maxPeers=2)
        swarm.add([address(1), address(2), address(3)], "manual")
        self.assertEqual(len(self.endpoints.made), 2)
        first, second = self.handshake(1), self.handshake(2)
        self.assertTrue(swarm.admit(first))
        self.assertFalse(swarm.admit(first))
        self.assertTrue(swarm.admit(second))
        self.assertEqual(swarm.peers, {first, second})
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 2)
        first.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(swarm.removed(first))
        self.assertFalse(swarm.removed(first))

    def test_strikesBan(self) -> None:
        """
        At L{BAN_STRIKES} strikes a peer is dropped, its id and address are
        never admitted or dialled again.
        """
        swarm = self.makeSwarm()
        swarm.add([address(1)], "manual")
        proto = self.handshake(1)
        self.assertTrue(swarm.admit(proto))
        swarm.strike(proto, BAN_STRIKES - 1)
        self.assertFalse(proto.transport.disconnecting)
        swarm.strike(proto, 1)
        self.assertTrue(proto.transport.disconnecting)
        proto.connectionLost(Failure(ConnectionDone()))
        swarm.removed(proto)
        swarm.resetBackoff()
        self.clock.advance(3600)
        swarm.connectMore()
        self.assertEqual(len(self.endpoints.made), 1)
        swarm.add([address(2)], "manual")
        again = self.handshake(2)
        again.peerId = proto.peerId
        self.assertFalse(swarm.admit(again))

    def test_haltCancelsAndDrops(self) -> None:
        """
        C{halt} stops seeking, cancels attempts in progress and drops every
        peer.
        """
        swarm = self.makeSwarm()
        swarm.add([address(1), address(2)], "manual")
        proto = self.handshake(1)
        swarm.admit(proto)
        swarm.halt("paused")
        self.assertFalse(swarm.seeking)
        self.assertTrue(self.endpoints.made[1].cancelled)
        self.assertTrue(proto.transport.disconnecting)

    def test_shortOfPeers(self) -> None:
        """
        A swarm with fewer than half its peers connected or pending is short
        of peers.
        """
        swarm = self.makeSwarm(maxPeers=4)
        self.assertTrue(swarm.shortOfPeers())
        swarm.add([address(1), address(2)], "manual")
        self.assertFalse(swarm.shortOfPeers())


class CandidateBudgetTests(SynchronousTestCase):
    """
    Tests for L{CandidateBudget}: the addresses of all a session's torrents.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.swarms: list[Swarm] = []

    def makeSwarm(self, budget: CandidateBudget, **config: int) -> Swarm:
        dialer = PeerDialer(self.clock, OUR_ID, endpointFactory=FakeEndpoints())
        swarm = Swarm(RecordingTorrent(peerId=OUR_ID), dialer, TorrentConfig(**config), self.clock, budget)
        self.swarms.append(swarm)
        return swarm

    def test_sharedEqually(self) -> None:
        """
        Torrents sharing a budget remember at most an equal share each,
        however many addresses their sources hand over: the total stays
        within the budget; a torrent that joins shrinks the others to the
        new share, forgetting their oldest addresses first.
        """
        budget = CandidateBudget(1000)
        first = self.makeSwarm(budget)
        for start in range(0, 3000, MAX_ADDRESSES_PER_CALL):
            first.add([address(n) for n in range(start, start + MAX_ADDRESSES_PER_CALL)], "tracker")
        self.assertEqual(first.knownCount, 1000)
        second = self.makeSwarm(budget)
        self.assertEqual((budget.share, first.knownCount), (500, 500))
        for start in range(0, 3000, MAX_ADDRESSES_PER_CALL):
            second.add([address(n) for n in range(start, start + MAX_ADDRESSES_PER_CALL)], "pex")
        self.assertEqual(second.knownCount, 500)
        self.assertEqual(first.add([address(2999)], "tracker"), 0)
        self.assertEqual(first.add([address(0)], "tracker"), 1)
        self.assertEqual(first.knownCount, 500)

    def test_minimumShare(self) -> None:
        """
        However many torrents share it, each may remember
        L{MIN_CANDIDATE_SHARE} addresses.
        """
        budget = CandidateBudget(150)
        swarms = [self.makeSwarm(budget) for _ in range(3)]
        self.assertEqual(budget.share, MIN_CANDIDATE_SHARE)
        swarms[2].add([address(n) for n in range(300)], "tracker")
        self.assertEqual(swarms[2].knownCount, MIN_CANDIDATE_SHARE)

    def test_ownLimitStillApplies(self) -> None:
        """
        A torrent's own C{maxCandidates} applies when smaller than its share.
        """
        swarm = self.makeSwarm(CandidateBudget(10_000), maxCandidates=30)
        swarm.add([address(n) for n in range(100)], "tracker")
        self.assertEqual(swarm.knownCount, 30)

    def test_leavesWhenCollected(self) -> None:
        """
        A swarm garbage collected no longer counts against the budget.
        """
        import gc

        budget = CandidateBudget(1000)
        self.makeSwarm(budget)
        self.makeSwarm(budget)
        self.assertEqual(budget.share, 500)
        self.swarms.pop()
        gc.collect()
        self.assertEqual(budget.share, 1000)
