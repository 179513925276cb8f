# -*- test-case-name: tests.test_dht_routing -*-
"""
The DHT routing table (BEP 5): k-buckets over the 160-bit id space.

The table starts as one bucket covering every id.  A full bucket is split in
two only when it covers our own id, so the table holds at most 160 buckets of
L{K} nodes, plus a replacement cache of at most L{K} per bucket: its size is
bounded whatever the network sends.  Times are plain numbers (seconds) given
by the caller, so the table is tested without a clock.

A node is I{good} if it answered one of our queries in the last 15 minutes,
or answered once and queried us in the last 15 minutes, and has not failed
to answer since; I{bad} once it failed to answer L{MAX_FAILURES} queries in a row; I{questionable}
otherwise.  A bad node gives its place to the freshest node of its bucket's
replacement cache.  One address holds one id: a node claiming the address of
another live node is ignored, so nobody can push an entry out by spoofing.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import random
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Optional

from bittwist.dht.krpc import NODE_ID_LENGTH, NodeInfo

__all__ = ["K", "GOOD_FOR", "MAX_FAILURES", "NodeState", "NodeRecord", "RoutingTable", "distance"]

#: Nodes per bucket, and the replication factor of lookups.
K = 8

#: Seconds a node stays good after it last answered us (BEP 5: 15 minutes).
GOOD_FOR = 15 * 60

#: Failed queries in a row that make a node bad.
MAX_FAILURES = 2

_ID_BITS = NODE_ID_LENGTH * 8
_ID_SPACE = 1 << _ID_BITS

Address = tuple[str, int]


def distance(a: bytes, b: bytes) -> int:
    """
    @return: the XOR distance between two node ids, as an integer.
    """
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


class NodeState(enum.Enum):
    GOOD = "good"
    QUESTIONABLE = "questionable"
    BAD = "bad"


@dataclass
class NodeRecord:
    """
    What the table knows of one node.

    @ivar lastResponse: when it last answered one of our queries, or C{None}.
    @ivar lastQuery: when it last queried us, or C{None}.
    @ivar failures: queries it failed to answer since its last answer.
    """

    nodeId: bytes
    address: Address
    lastResponse: Optional[float] = None
    lastQuery: Optional[float] = None
    failures: int = 0

    def state(self, now: float) -> NodeState:
        """
        @return: the node's state at time C{now}.
        """
        if self.failures >= MAX_FAILURES:
            return NodeState.BAD
        if self.lastResponse is not None and not self.failures:
            if now - self.lastResponse < GOOD_FOR:
                return NodeState.GOOD
            if self.lastQuery is not None and now - self.lastQuery < GOOD_FOR:
                return NodeState.GOOD
        return NodeState.QUESTIONABLE

    @cached_property
    def info(self) -> NodeInfo:
        """
        The node as L{NodeInfo}, made once (with its compact form, once
        asked for) since a record's id and address never change.
        """
        return NodeInfo(self.nodeId, self.address)


class _Bucket:
    """
    The nodes whose ids fall in C{[low, high)}.

    @ivar nodes: the bucket's nodes by id, least recently seen first.
    @ivar replacements: nodes waiting for a place, most recent last.
    @ivar lastChanged: when a node of the bucket last answered or joined.
    """

    def __init__(self, low: int, high: int, now: float) -> None:
        self.low = low
        self.high = high
        self.nodes: OrderedDict[bytes, NodeRecord] = OrderedDict()
        self.replacements: OrderedDict[bytes, NodeRecord] = OrderedDict()
        self.lastChanged = now

    def covers(self, value: int) -> bool:
        return self.low <= value < self.high


class RoutingTable:
    """
    The k-buckets of one node.

    @ivar ownId: our node id.
    """

    def __init__(self, ownId: bytes, now: float = 0.0, k: int = K, rng: Optional[random.Random] = None) -> None:
        """
        @param ownId: our 20-byte node id.
        @param now: the time the table is made.
        @param k: nodes per bucket.
        @param rng: for the random ids of bucket refreshes.
        """
        if len(ownId) != NODE_ID_LENGTH:
            raise ValueError("a node id is 20 bytes")
        self.ownId = ownId
        self._own = int.from_bytes(ownId, "big")
        self._k = k
        self._rng = rng or random.Random()
        self._buckets = [_Bucket(0, _ID_SPACE, now)]
        self._lows = [0]
        self._byAddress: dict[Address, bytes] = {}

    def __len__(self) -> int:
        return len(self._byAddress)

    @property
    def bucketCount(self) -> int:
        return len(self._buckets)

    def _bucketFor(self, nodeId: bytes) -> _Bucket:
        value = int.from_bytes(nodeId, "big")
        return self._buckets[bisect.bisect_right(self._lows, value) - 1]

    def get(self, nodeId: bytes) -> Optional[NodeRecord]:
        """
        @return: the record of a node in the table (not in a replacement
            cache), or C{None}.
        """
        return self._bucketFor(nodeId).nodes.get(nodeId)

    def idAt(self, address: Address) -> Optional[bytes]:
        """
        @return: the id of the node in the table at C{address}, or C{None}.
        """
        return self._byAddress.get(address)

    def heard(self, nodeId: bytes, address: Address, now: float, responded: bool) -> bool:
        """
        Learn that a node is alive: it answered our query (C{responded}) or
        queried us.

        @return: whether the node is now in the table (rather than in a
            replacement cache, or ignored).
        """
        if len(nodeId) != NODE_ID_LENGTH or nodeId == self.ownId:
            return False
        owner = self._byAddress.get(address)
        if owner is not None and owner != nodeId:
            existing = self.get(owner)
            if existing is not None and existing.state(now) is not NodeState.BAD:
                return False
            self.remove(owner)
        bucket = self._bucketFor(nodeId)
        record = bucket.nodes.get(nodeId)
        if record is not None:
            if record.address != address:
                # Same id, another address: keep the one we know answers.
                return True
            self._touch(record, now, responded)
            bucket.nodes.move_to_end(nodeId)
            if responded:
                bucket.lastChanged = now
            return True
        while True:
            if len(bucket.nodes) < self._k:
                self._insert(bucket, NodeRecord(nodeId, address), now, responded)
                return True
            if bucket.covers(self._own) and bucket.high - bucket.low > self._k:
                self._split(bucket)
                bucket = self._bucketFor(nodeId)
                continue
            break
        for other in bucket.nodes.values():
            if other.state(now) is NodeState.BAD:
                self.remove(other.nodeId)
                self._insert(bucket, NodeRecord(nodeId, address), now, responded)
                return True
        replacement = bucket.replacements.pop(nodeId, None) or NodeRecord(nodeId, address)
        self._touch(replacement, now, responded)
        bucket.replacements[nodeId] = replacement
        while len(bucket.replacements) > self._k:
            bucket.replacements.popitem(last=False)
        return False

    def failed(self, nodeId: bytes, now: float) -> None:
        """
        A node did not answer our query.  Once bad, it gives its place to
        the freshest replacement, if its bucket has one.
        """
        bucket = self._bucketFor(nodeId)
        record = bucket.nodes.get(nodeId)
        if record is None:
            bucket.replacements.pop(nodeId, None)
            return
        record.failures += 1
        if record.state(now) is NodeState.BAD and bucket.replacements:
            self.remove(nodeId)
            _, replacement = bucket.replacements.popitem(last=True)
            if replacement.address not in self._byAddress:
                self._insert(bucket, replacement, now, False)

    def remove(self, nodeId: bytes) -> None:
        """
        Forget a node.
        """
        bucket = self._bucketFor(nodeId)
        record = bucket.nodes.pop(nodeId, None)
        if record is not None:
            self._byAddress.pop(record.address, None)

    def closest(self, target: bytes, count: int = K) -> list[NodeInfo]:
        """
        @return: up to C{count} nodes that are not bad, closest to C{target}
            first.
        """
        t = int.from_bytes(target, "big")
        # A bucket covers an aligned power-of-two range of ids, so their
        # distances to t fill an aligned range of the same size starting at
        # low ^ t with the range's own bits cleared; the buckets' ranges
        # being disjoint, so are those.  Every node of a bucket nearer by
        # that floor is closer than any node of a farther one: only the
        # nearest buckets are looked at, not the whole table.
        order = sorted(self._buckets, key=lambda b: (b.low ^ t) & ~(b.high - b.low - 1))
        candidates: list[NodeRecord] = []
        for bucket in order:
            candidates.extend(r for r in bucket.nodes.values() if r.failures < MAX_FAILURES)
            if len(candidates) >= count:
                break
        best = heapq.nsmallest(count, candidates, key=lambda r: int.from_bytes(r.nodeId, "big") ^ t)
        return [r.info for r in best]

    def nodes(self) -> Iterator[NodeRecord]:
        """
        @return: every node in the table (not the replacement caches).
        """
        for bucket in self._buckets:
            yield from bucket.nodes.values()

    def staleBuckets(self, now: float, age: float = GOOD_FOR) -> list[bytes]:
        """
        @return: one random id in the range of each bucket that has not
            changed for C{age} seconds: looking it up refreshes the bucket.
        """
        targets = []
        for bucket in self._buckets:
            if now - bucket.lastChanged >= age:
                value = bucket.low + self._rng.randrange(bucket.high - bucket.low)
                targets.append(value.to_bytes(NODE_ID_LENGTH, "big"))
                bucket.lastChanged = now
        return targets

    def questionable(self, now: float) -> list[NodeInfo]:
        """
        @return: the nodes whose state is questionable: pinging them tells
            good from bad.
        """
        return [r.info for r in self.nodes() if r.state(now) is NodeState.QUESTIONABLE]

    def counts(self, now: float) -> dict[NodeState, int]:
        """
        @return: how many nodes of the table are in each state.
        """
        result = {state: 0 for state in NodeState}
        for record in self.nodes():
            result[record.state(now)] += 1
        return result

    def _touch(self, record: NodeRecord, now: float, responded: bool) -> None:
        if responded:
            record.lastResponse = now
            record.failures = 0
        else:
            record.lastQuery = now

    def _insert(self, bucket: _Bucket, record: NodeRecord, now: float, responded: bool) -> None:
        self._touch(record, now, responded)
        bucket.nodes[record.nodeId] = record
        bucket.replacements.pop(record.nodeId, None)
        self._byAddress[record.address] = record.nodeId
        bucket.lastChanged = now

    def _split(self, bucket: _Bucket) -> None:
        middle = (bucket.low + bucket.high) // 2
        lower = _Bucket(bucket.low, middle, bucket.lastChanged)
        upper = _Bucket(middle, bucket.high, bucket.lastChanged)
        for source, attribute in ((bucket.nodes, "nodes"), (bucket.replacements, "replacements")):
            for nodeId, record in source.items():
                half = lower if int.from_bytes(nodeId, "big") < middle else upper
                getattr(half, attribute)[nodeId] = record
        index = self._buckets.index(bucket)
        self._buckets[index : index + 1] = [lower, upper]
        self._lows[index : index + 1] = [lower.low, upper.low]
