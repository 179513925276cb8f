"""
Tests for L{bittwist.dht.routing}: the k-bucket routing table.
"""

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.dht.routing import GOOD_FOR, K, NodeState, RoutingTable, distance

OWN = b"\x00" * 20


def _id(value: int) -> bytes:
    return value.to_bytes(20, "big")


def _address(n: int) -> tuple[str, int]:
    return (f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", 6881)


class RoutingTableTests(SynchronousTestCase):
    """
    Inserting, splitting, replacing and querying.
    """

    def test_insertAndGet(self) -> None:
        table = RoutingTable(OWN)
        self.assertTrue(table.heard(_id(5), _address(5), 0, responded=True))
        self.assertEqual(len(table), 1)
        self.assertEqual(table.get(_id(5)).address, _address(5))
        self.assertEqual(table.idAt(_address(5)), _id(5))

    def test_ownIdIgnored(self) -> None:
        table = RoutingTable(OWN)
        self.assertFalse(table.heard(OWN, _address(1), 0, responded=True))
        self.assertEqual(len(table), 0)

    def test_splitsBucketHoldingOwnId(self) -> None:
        """
        Far nodes fill the top bucket; nodes near our id split buckets.
        """
        table = RoutingTable(OWN)
        far = [_id((1 << 159) + i) for i in range(K + 5)]
        for n, nodeId in enumerate(far):
            table.heard(nodeId, _address(n), 0, responded=True)
        # The first K fill the single bucket, which covers our id and splits
        # into [0, 2**159) and [2**159, 2**160); the far half stays full.
        self.assertEqual(len(table), K)
        self.assertEqual(table.bucketCount, 2)
        near = [_id(i + 1) for i in range(K)]
        for n, nodeId in enumerate(near):
            self.assertTrue(table.heard(nodeId, _address(100 + n), 0, responded=True))
        self.assertEqual(len(table), 2 * K)

    def test_fullFarBucketKeepsReplacements(self) -> None:
        table = RoutingTable(OWN)
        ids = [_id((1 << 159) + i) for i in range(K + 3)]
        results = [table.heard(nodeId, _address(n), 0, responded=True) for n, nodeId in enumerate(ids)]
        self.assertEqual(results, [True] * K + [False] * 3)

    def test_badNodeReplaced(self) -> None:
        """
        A node that fails twice in a row is bad and gives its place to the
        freshest replacement.
        """
        table = RoutingTable(OWN)
        ids = [_id((1 << 159) + i) for i in range(K + 2)]
        for n, nodeId in enumerate(ids):
            table.heard(nodeId, _address(n), 0, responded=True)
        table.failed(ids[0], 10)
        self.assertIsNotNone(table.get(ids[0]))
        self.assertIs(table.get(ids[0]).state(10), NodeState.QUESTIONABLE)
        table.failed(ids[0], 20)
        self.assertIsNone(table.get(ids[0]))
        self.assertIsNotNone(table.get(ids[K + 1]))
        self.assertEqual(len(table), K)

    def test_badNodeEvictedByNewcomer(self) -> None:
        table = RoutingTable(OWN)
        ids = [_id((1 << 159) + i) for i in range(K + 1)]
        for n, nodeId in enumerate(ids[:K]):
            table.heard(nodeId, _address(n), 0, responded=True)
        table.failed(ids[3], 1)
        table.failed(ids[3], 2)
        self.assertTrue(table.heard(ids[K], _address(K), 3, responded=True))
        self.assertIsNone(table.get(ids[3]))

    def test_states(self) -> None:
        """
        Good for 15 minutes after an answer; then questionable; good again
        if it queries us after having answered once.
        """
        table = RoutingTable(OWN)
        table.heard(_id(9), _address(9), 0, responded=True)
        record = table.get(_id(9))
        self.assertIs(record.state(GOOD_FOR - 1), NodeState.GOOD)
        self.assertIs(record.state(GOOD_FOR), NodeState.QUESTIONABLE)
        table.heard(_id(9), _address(9), GOOD_FOR + 5, responded=False)
        self.assertIs(record.state(GOOD_FOR + 6), NodeState.GOOD)

    def test_neverAnsweredIsQuestionable(self) -> None:
        table = RoutingTable(OWN)
        table.heard(_id(9), _address(9), 0, responded=False)
        self.assertIs(table.get(_id(9)).state(1), NodeState.QUESTIONABLE)
        self.assertEqual(table.questionable(1), [table.get(_id(9)).info])

    def test_spoofedAddressIgnored(self) -> None:
        """
        A node claiming the address of a live node under another id is
        ignored; the live node stays.
        """
        table = RoutingTable(OWN)
        table.heard(_id(1), _address(1), 0, responded=True)
        self.assertFalse(table.heard(_id(2), _address(1), 1, responded=True))
        self.assertEqual(table.idAt(_address(1)), _id(1))
        self.assertIsNone(table.get(_id(2)))

    def test_sameIdNewAddressIgnored(self) -> None:
        table = RoutingTable(OWN)
        table.heard(_id(1), _address(1), 0, responded=True)
        table.heard(_id(1), _address(2), 1, responded=True)
        self.assertEqual(table.get(_id(1)).address, _address(1))
        self.assertIsNone(table.idAt(_address(2)))

    def test_closest(self) -> None:
        table = RoutingTable(OWN)
        for n in range(1, 40):
            table.heard(_id(n * 1000), _address(n), 0, responded=True)
        target = _id(7100)
        closest = [info.nodeId for info in table.closest(target, 3)]
        everything = sorted((r.nodeId for r in table.nodes()), key=lambda i: distance(i, target))
        self.assertEqual(closest, everything[:3])

    def test_closestSkipsBad(self) -> None:
        table = RoutingTable(OWN)
        table.heard(_id(1), _address(1), 0, responded=True)
        table.heard(_id(2), _address(2), 0, responded=True)
        table.failed(_id(1), 1)
        table.failed(_id(1), 2)
        self.assertEqual([i.nodeId for i in table.closest(_id(1), 8)], [_id(2)])

    def test_staleBuckets(self) -> None:
        table = RoutingTable(OWN, now=0, rng=random.Random(1))
        table.heard(_id(1), _address(1), 0, responded=True)
        self.assertEqual(table.staleBuckets(GOOD_FOR - 1), [])
        targets = table.staleBuckets(GOOD_FOR)
        self.assertEqual(len(targets), 1)
        # Refreshing resets the bucket's age.
        self.assertEqual(table.staleBuckets(GOOD_FOR + 1), [])

    def test_counts(self) -> None:
        table = RoutingTable(OWN)
        table.heard(_id(1), _address(1), 0, responded=True)
        table.heard(_id(2), _address(2), 0, responded=False)
        counts = table.counts(1)
        self.assertEqual((counts[NodeState.GOOD], counts[NodeState.QUESTIONABLE]), (1, 1))


class HostileTableTests(SynchronousTestCase):
    """
    Whatever ids and addresses arrive, the table stays bounded and correct.
    """

    @settings(max_examples=60, deadline=None)
    @given(
        st.binary(min_size=20, max_size=20),
        st.lists(
            st.tuples(
                st.binary(min_size=20, max_size=20),
                st.integers(0, 300),
                st.booleans(),
                st.booleans(),
            ),
            max_size=400,
        ),
    )
    def test_bounded(self, own: bytes, events) -> None:
        """
        At most 160 buckets of K; every node in the bucket of its id; one id
        per address; closest() agrees with a brute-force sort.
        """
        table = RoutingTable(own)
        for t, (nodeId, addressNumber, responded, fail) in enumerate(events):
            if fail:
                table.failed(nodeId, t)
            else:
                table.heard(nodeId, _address(addressNumber), t, responded)
        self.assertLessEqual(table.bucketCount, 161)
        self.assertLessEqual(len(table), table.bucketCount * K)
        records = list(table.nodes())
        self.assertEqual(len(records), len(table))
        self.assertEqual(len({r.address for r in records}), len(records))
        self.assertNotIn(own, {r.nodeId for r in records})
        for r in records:
            self.assertIs(table.get(r.nodeId), r)
        target = events[0][0] if events else own
        alive = [r.nodeId for r in records if r.failures < 2]
        expected = sorted(alive, key=lambda i: distance(i, target))[:K]
        self.assertEqual([i.nodeId for i in table.closest(target)], expected)

    @settings(max_examples=150, deadline=None)
    @given(
        st.binary(min_size=20, max_size=20),
        st.lists(st.binary(min_size=20, max_size=20), max_size=300),
        st.lists(st.binary(min_size=20, max_size=20), min_size=1, max_size=5),
        st.integers(1, 20),
    )
    def test_closestExact(self, own: bytes, ids: list[bytes], targets: list[bytes], count: int) -> None:
        """
        closest() looks only at the nearest buckets, yet agrees with a
        brute-force sort for any target, including ids near our own (deep
        buckets).
        """
        table = RoutingTable(own)
        # Ids sharing 0 to 19 bytes with ours: they split the table deep.
        near = [own[: n % 20] + i[n % 20 :] for n, i in enumerate(ids[:100])]
        for n, nodeId in enumerate(ids + near):
            table.heard(nodeId, _address(n), 0, True)
        alive = [r.nodeId for r in table.nodes()]
        for target in targets + [own]:
            expected = sorted(alive, key=lambda i: distance(i, target))[:count]
            self.assertEqual([i.nodeId for i in table.closest(target, count)], expected)

    def test_nearIdsCannotGrowWithoutBound(self) -> None:
        """
        Ids sharing ever longer prefixes with ours split at most 160 times.
        """
        own = b"\xff" * 20
        table = RoutingTable(own)
        n = 0
        for bit in range(160):
            for extra in range(K + 2):
                value = (int.from_bytes(own, "big") ^ (1 << bit)) ^ extra
                table.heard(_id(value), _address(n), 0, responded=True)
                n += 1
        self.assertLessEqual(table.bucketCount, 161)
        self.assertLessEqual(len(table), 161 * K)
