"""
Tests for L{bittwist.dht.lookup}: iterative lookups over a simulated
network on a L{Clock}.
"""

import random

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.dht.krpc import ANNOUNCE_PEER, FIND_NODE, GET_PEERS, NodeInfo, Response
from bittwist.dht.lookup import ALPHA, MAX_QUERIES, QUERY_TIMEOUT, Lookup, announce
from bittwist.dht.routing import K, distance
from bittwist.errors import DHTQueryError


class SimulatedNetwork:
    """
    Nodes whose routing tables are perfect k-buckets over the others;
    answers arrive 0.1 s after a query, dead nodes never answer.
    """

    def __init__(self, clock: Clock, size: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.clock = clock
        self.nodes = [
            NodeInfo(rng.randbytes(20), (f"10.0.{i // 256}.{i % 256}", 6881)) for i in range(size)
        ]
        self.byAddress = {n.address: n for n in self.nodes}
        self.known = {}
        for node in self.nodes:
            buckets: dict = {}
            for other in self.nodes:
                if other is not node:
                    buckets.setdefault(distance(node.nodeId, other.nodeId).bit_length(), []).append(other)
            self.known[node.address] = [n for bucket in buckets.values() for n in bucket[:K]]
        self.dead: set = set()
        self.peers: dict = {}
        self.sent: list = []
        self.inFlight = 0
        self.maxInFlight = 0
        self.announced: list = []
        self.timeouts: list = []

    def query(self, address, method, key, port=None, token=None, timeout=None) -> Deferred:
        self.sent.append((address, method))
        d: Deferred = Deferred()
        if address in self.dead:
            # As the node does: the query fails once its timeout passes.
            if timeout is not None:
                self.timeouts.append(timeout)
                self.clock.callLater(timeout, d.errback, DHTQueryError(address, "no answer"))
            return d
        node = self.byAddress[address]
        self.inFlight += 1
        self.maxInFlight = max(self.maxInFlight, self.inFlight)

        def answer() -> None:
            self.inFlight -= 1
            if d.called:
                return
            if method == ANNOUNCE_PEER:
                self.announced.append((address, key, port, token))
                d.callback(Response(b"t", node.nodeId))
                return
            closest = sorted(self.known[address], key=lambda n: distance(n.nodeId, key))[:K]
            values = tuple(self.peers.get(address, ())) if method == GET_PEERS else ()
            d.callback(Response(b"t", node.nodeId, tuple(closest), values, b"tok" + node.nodeId[:2]))

        self.clock.callLater(0.1, answer)
        return d

    def trueClosest(self, target: bytes, count: int = K) -> list:
        alive = [n for n in self.nodes if n.address not in self.dead]
        return sorted(alive, key=lambda n: distance(n.nodeId, target))[:count]


class LookupTests(SynchronousTestCase):
    """
    Lookups converge on the closest nodes, in bounded steps.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.network = SimulatedNetwork(self.clock, 300)

    def runLookup(self, lookup: Lookup):
        results: list = []
        lookup.start().addCallback(results.append)
        for _ in range(2000):
            if results:
                break
            self.clock.advance(0.1)
        self.assertTrue(results, "the lookup did not finish")
        return results[0]

    def test_converges(self) -> None:
        target = random.Random(5).randbytes(20)
        lookup = Lookup(target, FIND_NODE, self.network.query, self.network.nodes[:3])
        result = self.runLookup(lookup)
        self.assertEqual([info for info, _ in result.closest], self.network.trueClosest(target))
        self.assertLessEqual(self.network.maxInFlight, ALPHA)
        self.assertLessEqual(result.queries, MAX_QUERIES)

    def test_getPeers(self) -> None:
        target = random.Random(6).randbytes(20)
        closest = self.network.trueClosest(target)
        self.network.peers[closest[0].address] = [("10.9.9.9", 1234)]
        result = self.runLookup(
            Lookup(target, GET_PEERS, self.network.query, self.network.nodes[:3])
        )
        self.assertEqual(result.peers, [("10.9.9.9", 1234)])
        self.assertTrue(all(token for _, token in result.closest))

    def test_deadNodesTimeOut(self) -> None:
        """
        Nodes that never answer count as failed after the timeout and are
        not among the result.
        """
        target = random.Random(7).randbytes(20)
        for n in self.network.trueClosest(target, 4):
            self.network.dead.add(n.address)
        result = self.runLookup(
            Lookup(target, FIND_NODE, self.network.query, self.network.nodes[:3])
        )
        found = [info for info, _ in result.closest]
        self.assertEqual(len(found), K)
        self.assertFalse({n.address for n in found} & self.network.dead)
        # The dead nodes took what they alone knew with them; the rest is found.
        self.assertGreaterEqual(len(set(found) & set(self.network.trueClosest(target))), K - 2)
        self.assertGreaterEqual(self.clock.seconds(), QUERY_TIMEOUT)
        # The lookup hands its timeout to the query function, which keeps
        # the one timer per query.
        self.assertEqual(set(self.network.timeouts), {QUERY_TIMEOUT})

    def test_bootstrapByAddress(self) -> None:
        """
        A lookup can start from addresses alone (bootstrap routers).
        """
        target = random.Random(8).randbytes(20)
        bootstrap = [n.address for n in self.network.nodes[:2]]
        result = self.runLookup(Lookup(target, FIND_NODE, self.network.query, [], bootstrap))
        self.assertEqual([info for info, _ in result.closest], self.network.trueClosest(target))

    def test_nothingToAsk(self) -> None:
        lookup = Lookup(b"\x00" * 20, FIND_NODE, self.network.query, [])
        result = self.successResultOf(lookup.start())
        self.assertEqual((result.closest, result.queries), ([], 0))

    def test_stop(self) -> None:
        """
        Stopping fires the result with what was found and cancels what is in
        flight.
        """
        lookup = Lookup(b"\x00" * 20, FIND_NODE, self.network.query, self.network.nodes[:3])
        d = lookup.start()
        self.assertEqual(lookup.inFlight, 3)
        lookup.stop()
        result = self.successResultOf(d)
        self.assertEqual(result.queries, 3)
        self.assertEqual(lookup.inFlight, 0)

    def test_ownIdNotCandidate(self) -> None:
        own = self.network.nodes[0]
        lookup = Lookup(own.nodeId, FIND_NODE, self.network.query, self.network.nodes[:3], ownId=own.nodeId)
        result = self.runLookup(lookup)
        self.assertNotIn(own, [info for info, _ in result.closest])
        self.assertNotIn((own.address, FIND_NODE), self.network.sent)

    def test_hostileAnswersBounded(self) -> None:
        """
        Nodes that answer with ever new far-away nodes cannot make a lookup
        send more than L{MAX_QUERIES} queries.
        """
        rng = random.Random(9)

        def query(address, method, key, port=None, token=None, timeout=None) -> Deferred:
            d: Deferred = Deferred()
            # Always a closer node than before: the lookup never converges by itself.
            nodes = tuple(
                NodeInfo(bytes(2) + rng.randbytes(18), (f"10.1.{rng.randrange(256)}.{rng.randrange(256)}", rng.randrange(1, 65535)))
                for _ in range(K)
            )
            self.clock.callLater(0.1, d.callback, Response(b"t", rng.randbytes(20), nodes))
            return d

        result = self.runLookup(
            Lookup(b"\x00" * 20, FIND_NODE, query, self.network.nodes[:3])
        )
        self.assertLessEqual(result.queries, MAX_QUERIES)

    def test_announce(self) -> None:
        target = random.Random(10).randbytes(20)
        result = self.runLookup(
            Lookup(target, GET_PEERS, self.network.query, self.network.nodes[:3])
        )
        d = announce(result, self.network.query, 6881)
        self.clock.advance(1)
        self.assertEqual(self.successResultOf(d), K)
        self.assertEqual(
            sorted(self.network.announced),
            sorted((info.address, target, 6881, token) for info, token in result.closest),
        )
