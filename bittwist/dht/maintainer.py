# -*- test-case-name: tests.test_dht_node -*-
"""
Keeping a DHT node's routing table useful: joining, refreshing, and what is
worth remembering across a restart.

L{Maintainer} pings the nodes remembered from the last run, joins through
the bootstrap nodes (resolved, then a lookup of our own id), and every
L{MAINTENANCE_INTERVAL} seconds expires stored peers, refreshes stale
buckets and pings questionable nodes, a few of each per round, so that its
own traffic stays small; with fewer than L{K} nodes it bootstraps again.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from bittwist.dht.krpc import NodeInfo
from bittwist.dht.routing import K, RoutingTable
from bittwist.dht.storage import PeerStore
from bittwist.dht.tablefile import SAVED_NODES

__all__ = ["MAINTENANCE_INTERVAL", "PINGS_PER_ROUND", "REFRESHES_PER_ROUND", "Maintainer", "isIPv4"]

#: Seconds between maintenance rounds (refresh, pings, expiry).
MAINTENANCE_INTERVAL = 60.0

#: Questionable nodes pinged per maintenance round.
PINGS_PER_ROUND = 8

#: Bucket refresh lookups started per maintenance round.
REFRESHES_PER_ROUND = 3

Address = tuple[str, int]


def isIPv4(host: str) -> bool:
    """
    @return: whether C{host} is an IPv4 address (not a name).
    """
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _ignore(failure: object) -> None:
    return None


class Maintainer:
    """
    The upkeep of one node's routing table.

    @ivar bootstrapAddresses: the bootstrap nodes' resolved addresses, for
        lookups that find too few nodes in the table.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        nodeId: bytes,
        table: RoutingTable,
        peerStore: PeerStore,
        findNode: Callable[[bytes], Deferred],
        ping: Callable[[Address], Deferred],
        bootstrap: Sequence[Address],
        knownNodes: Iterable[NodeInfo],
    ) -> None:
        """
        @param reactor: provides C{IReactorTime}, and C{resolve} for
            bootstrap host names.
        @param findNode: runs a find_node lookup.
        @param ping: pings one address.
        @param bootstrap: C{(host, port)} of nodes to join through.
        @param knownNodes: nodes from an earlier run, pinged on start.
        """
        self._reactor = reactor
        self._nodeId = nodeId
        self._table = table
        self._peerStore = peerStore
        self._findNode = findNode
        self._ping = ping
        self._bootstrap = tuple(bootstrap)
        self._knownNodes = list(knownNodes)[:SAVED_NODES]
        self._rounds: Optional[LoopingCall] = None
        self._bootstrapping: Optional[Deferred] = None
        self.bootstrapAddresses: list[Address] = []

    def start(self) -> None:
        """
        Ping the remembered nodes, start the rounds, and join.
        """
        for info in self._knownNodes:
            self._ping(info.address).addErrback(_ignore)
        self._rounds = LoopingCall(self.maintain)
        self._rounds.clock = self._reactor
        self._rounds.start(MAINTENANCE_INTERVAL, now=False)
        self.bootstrap()

    def stop(self) -> None:
        """
        Stop the rounds.
        """
        if self._rounds is not None and self._rounds.running:
            self._rounds.stop()
        self._rounds = None

    def bootstrap(self) -> Deferred[None]:
        """
        Resolve the bootstrap nodes and look up our own id through them.

        @return: fires when the lookup is done; never fails.
        """
        if self._bootstrapping is not None:
            return succeed(None)
        resolutions = [self._resolve(host, port) for host, port in self._bootstrap]
        d = DeferredList(resolutions, consumeErrors=True)

        def resolved(results: list) -> Deferred:
            addresses = [value for ok, value in results if ok and value is not None]
            if addresses:
                self.bootstrapAddresses = addresses
            return self._findNode(self._nodeId)

        def done(_: object) -> None:
            self._bootstrapping = None
            self.log.info(
                "DHT node {id}: {count} nodes in the routing table",
                id=self._nodeId.hex()[:8],
                count=len(self._table),
            )

        self._bootstrapping = d
        d.addCallback(resolved).addBoth(done)
        return d

    def _resolve(self, host: str, port: int) -> Deferred:
        if isIPv4(host):
            return succeed((host, port))
        d = self._reactor.resolve(host)

        def failed(f: Any) -> None:
            self.log.info(
                "DHT bootstrap node {host}:{port} not found: {e}", host=host, port=port, e=f.getErrorMessage()
            )
            return None

        return d.addCallbacks(lambda ip: (ip, port) if isIPv4(ip) else None, failed)

    def maintain(self) -> None:
        """
        One round: expire stored peers; bootstrap again if the table is
        short of nodes, else refresh a few stale buckets and ping a few
        questionable nodes.
        """
        now = self._reactor.seconds()
        self._peerStore.expireAll()
        if len(self._table) < K:
            self.bootstrap()
            return
        for target in self._table.staleBuckets(now)[:REFRESHES_PER_ROUND]:
            self._findNode(target)
        for info in self._table.questionable(now)[:PINGS_PER_ROUND]:
            self._ping(info.address).addErrback(_ignore)

    def savedNodes(self) -> list[NodeInfo]:
        """
        @return: the nodes worth remembering across a restart: the table's,
            those that answered us most recently first, then those
            remembered from the last run.
        """
        records = sorted(self._table.nodes(), key=lambda r: r.lastResponse or 0.0, reverse=True)
        nodes = [r.info for r in records]
        # Those remembered from before that we could not reach this time
        # still beat nothing (a run without network must not forget them).
        addresses = {n.address for n in nodes}
        nodes.extend(n for n in self._knownNodes if n.address not in addresses)
        return nodes[:SAVED_NODES]
