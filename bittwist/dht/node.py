# -*- test-case-name: tests.test_dht_node -*-
"""
A mainline DHT node (BEP 5) on Twisted: the KRPC codec over UDP.

L{DHTNode} is a C{DatagramProtocol} and a small facade over parts with one
job each: L{QueryResponder} answers queries, L{KRPCClient} sends ours and
settles their answers and timeouts, L{Maintainer} joins and keeps the
routing table fresh; the node itself drops what it will not read, decodes,
hands each message to its part, and runs lookups.  L{bittwist.dht.service.DHTService}
runs a node on a UDP port.

Every datagram costs O(1) before the rate limits: an IPv6 or port-0 source
is dropped on sight, and each source IP may send a few dozen datagrams a
second, the rest dropped before decoding, so that a flood costs little CPU.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, fail
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from zope.interface import implementer

from bittwist import __version__
from bittwist.dht import IDHTNode, krpc
from bittwist.dht.client import MAX_PENDING, QUERY_TIMEOUT, KRPCClient
from bittwist.dht.krpc import FIND_NODE, GET_PEERS, PING, NodeInfo, Query, Response
from bittwist.dht.lookup import Lookup, LookupResult, announce
from bittwist.dht.maintainer import Maintainer, isIPv4
from bittwist.dht.responder import MAX_VALUES, QueryResponder
from bittwist.dht.routing import K, NodeState, RoutingTable
from bittwist.dht.sourcelimit import SourceRateLimiter
from bittwist.dht.storage import PeerStore
from bittwist.dht.tablefile import loadTable, saveTable
from bittwist.dht.tokens import TokenKeeper
from bittwist.errors import DHTQueryError, KRPCError

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "MAX_VALUES",
    "DHTNode",
    "DHTService",
    "SourceRateLimiter",
    "loadTable",
    "saveTable",
]

#: The well-known routers, used when no bootstrap node is given.
DEFAULT_BOOTSTRAP: tuple[tuple[str, int], ...] = (
    ("router.bittorrent.com", 6881),
    ("dht.transmissionbt.com", 6881),
    ("router.utorrent.com", 6881),
)

_VERSION = b"BW" + bytes(int(part) % 256 for part in (__version__.split(".") + ["0", "0"])[:2])

Address = tuple[str, int]


@implementer(IDHTNode)
class DHTNode(DatagramProtocol):
    """
    One DHT node.

    @ivar nodeId: our 20-byte node id.
    @ivar table: the L{RoutingTable}.
    @ivar tokens: the L{TokenKeeper} of announce tokens.
    @ivar peerStore: the L{PeerStore} of peers announced to us.
    @ivar lookupsRunning: lookups in progress.
    @ivar lookupsDone: lookups finished since start.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        nodeId: Optional[bytes] = None,
        bootstrap: Sequence[Address] = DEFAULT_BOOTSTRAP,
        knownNodes: Iterable[NodeInfo] = (),
        queryTimeout: float = QUERY_TIMEOUT,
        answerRate: float = 5.0,
        answerBurst: float = 20.0,
        inputRate: float = 50.0,
        inputBurst: float = 200.0,
        randomBytes=os.urandom,
    ) -> None:
        """
        @param reactor: provides C{IReactorTime}, and C{resolve} for
            bootstrap host names.
        @param nodeId: our id; random if C{None}.
        @param bootstrap: C{(host, port)} of nodes to join through.
        @param knownNodes: nodes from an earlier run, pinged on start.
        @param queryTimeout: seconds to wait for an answer.
        @param answerRate: answers per second per source IP.
        @param answerBurst: answers a source IP may get at once.
        @param inputRate: datagrams per second per source IP that we read at
            all; beyond it they are dropped before decoding.
        @param inputBurst: datagrams a source IP may send at once.
        """
        self._reactor = reactor
        self.nodeId = nodeId if nodeId is not None else randomBytes(20)
        if len(self.nodeId) != 20:
            raise ValueError("a node id is 20 bytes")
        self.table = RoutingTable(self.nodeId, reactor.seconds())
        self.tokens = TokenKeeper(reactor, randomBytes)
        self.peerStore = PeerStore(reactor)
        self._inputLimiter = SourceRateLimiter(reactor, inputRate, inputBurst)
        self._responder = QueryResponder(
            reactor,
            self.nodeId,
            self.table,
            self.tokens,
            self.peerStore,
            SourceRateLimiter(reactor, answerRate, answerBurst),
            self._send,
        )
        self._client = KRPCClient(reactor, self.nodeId, self.table, self._send, queryTimeout, randomBytes)
        self._maintainer = Maintainer(
            reactor, self.nodeId, self.table, self.peerStore, self.findNode, self.ping, bootstrap, knownNodes
        )
        self._lookups: set[Lookup] = set()
        self.lookupsDone = 0

    # -- lifecycle ---------------------------------------------------------

    def startProtocol(self) -> None:
        self._maintainer.start()

    def stopProtocol(self) -> None:
        self._maintainer.stop()
        for lookup in list(self._lookups):
            lookup.stop()
        self._client.stop()

    @property
    def lookupsRunning(self) -> int:
        return len(self._lookups)

    @property
    def nodeCount(self) -> int:
        """
        The nodes in our routing table.
        """
        return len(self.table)

    # -- datagrams ---------------------------------------------------------

    def datagramReceived(self, data: bytes, address: Address) -> None:
        host, port = address[0], address[1]
        # Our UDP port is IPv4, whose sources come as dotted quads: a colon
        # is all it takes to tell an IPv6 one, no address parsing per
        # datagram.  Then the input limit, before any decoding.
        if ":" in host or not 0 < port < 65536 or not self._inputLimiter.allow(host):
            return
        try:
            message = krpc.decode(data)
        except KRPCError as e:
            self._responder.refuse(e, (host, port))
            return
        if isinstance(message, Query):
            self._responder.answer(message, (host, port))
        else:
            self._client.settle(message, (host, port))

    def _send(self, message: krpc.Message, address: Address) -> None:
        if self.transport is None:
            return
        self.transport.write(krpc.encode(message, _VERSION), address)

    # -- queries -----------------------------------------------------------

    def query(
        self,
        address: Address,
        method: str,
        key: Optional[bytes] = None,
        port: Optional[int] = None,
        token: Optional[bytes] = None,
        timeout: Optional[float] = None,
    ) -> Deferred[Response]:
        """
        Send one query, timed by one timer of its own.

        @param address: the node's C{(IPv4 address, port)}.
        @param method: L{PING}, L{FIND_NODE}, L{GET_PEERS} or
            L{ANNOUNCE_PEER}.
        @param key: the target (find_node) or info hash (the others).
        @param port: for announce_peer, the TCP port; C{None} for the UDP
            source port (C{implied_port}).
        @param token: for announce_peer, the node's token.
        @param timeout: seconds to wait for the answer; the node's
            C{queryTimeout} if C{None}.
        @return: fires with the L{Response}; fails with L{DHTQueryError}
            (no answer in time, a KRPC error, too many queries in flight,
            the node not running).  Cancelling it counts as no answer.
        """
        if self.transport is None:
            return fail(DHTQueryError(address, "the DHT node is not running"))
        return self._client.query(address, method, key, port, token, timeout)

    def ping(self, address: Address) -> Deferred[Response]:
        """
        Ping a node; its answer adds it to the routing table.
        """
        return self.query(address, PING)

    def listeningPort(self) -> Optional[int]:
        if self.transport is None:
            return None
        return self.transport.getHost().port

    def addNode(self, host: str, port: int) -> None:
        """
        A peer told us its DHT port (the peer wire C{port} message): ping it,
        and if it answers it joins our routing table.

        @param host: the peer's IPv4 address (others are ignored).
        @param port: its DHT UDP port.
        """
        if not isIPv4(host) or not 0 < port < 65536 or self.transport is None:
            return
        # Peers' port messages may fill only half the queries in flight.
        if self._client.pendingCount >= MAX_PENDING // 2:
            return
        self.ping((host, port)).addErrback(lambda f: None)

    # -- lookups -----------------------------------------------------------

    def _lookup(self, target: bytes, method: str) -> Deferred[LookupResult]:
        seeds = self.table.closest(target, K)
        bootstrap = self._maintainer.bootstrapAddresses if len(seeds) < K else []
        lookup = Lookup(target, method, self.query, seeds, bootstrap, ownId=self.nodeId)
        self._lookups.add(lookup)

        def done(result: LookupResult) -> LookupResult:
            self._lookups.discard(lookup)
            self.lookupsDone += 1
            return result

        return lookup.start().addCallback(done)

    def findNode(self, target: bytes) -> Deferred[LookupResult]:
        """
        Look up the nodes closest to C{target}.
        """
        return self._lookup(target, FIND_NODE)

    def getPeers(self, infoHash: bytes) -> Deferred[LookupResult]:
        """
        Look up the peers of C{infoHash}.

        @return: fires with the L{LookupResult}; never fails.
        """
        return self._lookup(infoHash, GET_PEERS)

    def announcePeer(self, result: LookupResult, port: Optional[int]) -> Deferred[int]:
        """
        Announce that we have C{result.target}, to the nodes of a get_peers
        lookup.

        @param port: our TCP port, or C{None} for our UDP port.
        @return: fires with the number of nodes that acknowledged.
        """
        return announce(result, self.query, port)

    # -- upkeep ------------------------------------------------------------

    def bootstrap(self) -> Deferred[None]:
        """
        Resolve the bootstrap nodes and look up our own id through them.

        @return: fires when the lookup is done; never fails.
        """
        return self._maintainer.bootstrap()

    def savedNodes(self) -> list[NodeInfo]:
        """
        @return: the nodes worth remembering across a restart (see
            L{Maintainer.savedNodes}).
        """
        return self._maintainer.savedNodes()

    def stats(self) -> dict[str, int]:
        """
        @return: the node's figures for display: nodes in the routing table
            (and how many are good), lookups running and done, peers and
            info hashes stored for others.
        """
        counts = self.table.counts(self._reactor.seconds())
        return {
            "nodes": len(self.table),
            "goodNodes": counts[NodeState.GOOD],
            "lookupsRunning": self.lookupsRunning,
            "lookupsDone": self.lookupsDone,
            "peersStored": len(self.peerStore),
            "infoHashesStored": self.peerStore.infoHashCount,
        }


def __getattr__(name: str) -> Any:
    # DHTService lives in bittwist.dht.service, which imports this module;
    # the old import path still works, resolved lazily to avoid a cycle.
    if name == "DHTService":
        from bittwist.dht.service import DHTService

        return DHTService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
