# -*- test-case-name: tests.test_dht_node -*-
"""
A mainline DHT node (BEP 5) on Twisted: the KRPC codec over UDP.

L{DHTNode} is a C{DatagramProtocol}.  It answers queries from the routing
table, the token keeper and the peer store; sends our own queries with
transaction ids and timeouts; runs lookups; and keeps its table fresh.
L{DHTService} runs a node on a UDP port and keeps its routing table in a
small file across restarts.

Answers are bounded so that the node is not an amplifier: an answer goes
only to a well-formed query (never to a response, an error, or bytes without
a transaction id), holds at most L{K} nodes or L{MAX_VALUES} peers (under
600 bytes, whatever the query), and each source IP gets at most a few
answers a second, so that a spoofed source costs its victim little.  We
also read at most a few dozen datagrams a second from each source IP,
dropping the rest before decoding, so that a flood costs little CPU.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import bencodepy
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from bittwist import __version__
from bittwist.atomicfile import writeAtomically
from bittwist.bdecode import decode as bdecode
from bittwist.dht import IDHTNode, krpc
from bittwist.dht.krpc import (
    ANNOUNCE_PEER,
    FIND_NODE,
    GET_PEERS,
    PING,
    Error,
    NodeInfo,
    Query,
    Response,
)
from bittwist.dht.lookup import Lookup, LookupResult, announce
from bittwist.dht.routing import K, NodeState, RoutingTable
from bittwist.dht.storage import PeerStore
from bittwist.dht.tokens import TokenKeeper
from bittwist.errors import BencodeError, DHTQueryError, KRPCError
from bittwist.safetext import printable

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

#: The most peers one get_peers answer lists.
MAX_VALUES = 50

#: Seconds we wait for an answer to one of our queries.
QUERY_TIMEOUT = 10.0

#: Our queries in flight at once, in all.
MAX_PENDING = 512

#: Seconds between maintenance rounds (refresh, pings, expiry).
MAINTENANCE_INTERVAL = 60.0

#: Questionable nodes pinged per maintenance round.
PINGS_PER_ROUND = 8

#: Bucket refresh lookups started per maintenance round.
REFRESHES_PER_ROUND = 3

#: The most nodes kept in the routing table file.
SAVED_NODES = 200

#: The largest routing table file we read, in bytes.
MAX_TABLE_FILE = 16 * 1024

_VERSION = b"BW" + bytes(int(part) % 256 for part in (__version__.split(".") + ["0", "0"])[:2])

Address = tuple[str, int]


class SourceRateLimiter:
    """
    A token bucket per source IP, bounded in the number of sources it
    remembers.
    """

    def __init__(self, clock: IReactorTime, rate: float, burst: float, maxSources: int = 4096) -> None:
        """
        @param rate: answers per second each source earns.
        @param burst: answers a source may get at once.
        @param maxSources: sources remembered; beyond that, new sources are
            refused until old ones have refilled and are forgotten.
        """
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._maxSources = maxSources
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, host: str) -> bool:
        """
        @return: whether C{host} may have one more answer now (and spend it).
        """
        now = self._clock.seconds()
        entry = self._buckets.get(host)
        if entry is None:
            if len(self._buckets) >= self._maxSources:
                self._forgetFull(now)
                if len(self._buckets) >= self._maxSources:
                    return False
            tokens = self._burst
        else:
            tokens, then = entry
            tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1:
            self._buckets[host] = (tokens, now)
            return False
        self._buckets[host] = (tokens - 1, now)
        return True

    def _forgetFull(self, now: float) -> None:
        for host, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self._rate >= self._burst:
                del self._buckets[host]


@dataclass
class _Pending:
    address: Address
    deferred: Deferred
    timeout: Any

    def stopTimer(self) -> None:
        if self.timeout.active():
            self.timeout.cancel()


def _isIPv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


@implementer(IDHTNode)
class DHTNode(DatagramProtocol):
    """
    One DHT node.

    @ivar nodeId: our 20-byte node id.
    @ivar table: the L{RoutingTable}.
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
        self._randomBytes = randomBytes
        self.table = RoutingTable(self.nodeId, reactor.seconds())
        self.tokens = TokenKeeper(reactor, randomBytes)
        self.peerStore = PeerStore(reactor)
        self._limiter = SourceRateLimiter(reactor, answerRate, answerBurst)
        self._inputLimiter = SourceRateLimiter(reactor, inputRate, inputBurst)
        self._bootstrap = tuple(bootstrap)
        self._bootstrapAddresses: list[Address] = []
        self._knownNodes = list(knownNodes)[:SAVED_NODES]
        self._queryTimeout = queryTimeout
        self._pending: dict[bytes, _Pending] = {}
        self._lookups: set[Lookup] = set()
        self._maintenance: Optional[LoopingCall] = None
        self._bootstrapping: Optional[Deferred] = None
        self.lookupsDone = 0

    # -- lifecycle ---------------------------------------------------------

    def startProtocol(self) -> None:
        for info in self._knownNodes:
            self.ping(info.address).addErrback(lambda f: None)
        self._maintenance = LoopingCall(self._maintain)
        self._maintenance.clock = self._reactor
        self._maintenance.start(MAINTENANCE_INTERVAL, now=False)
        self.bootstrap()

    def stopProtocol(self) -> None:
        if self._maintenance is not None and self._maintenance.running:
            self._maintenance.stop()
        self._maintenance = None
        for lookup in list(self._lookups):
            lookup.stop()
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            entry.stopTimer()
            entry.deferred.errback(DHTQueryError(entry.address, "the DHT node stopped"))

    @property
    def lookupsRunning(self) -> int:
        return len(self._lookups)

    @property
    def nodeCount(self) -> int:
        """
        The nodes in our routing table.
        """
        return len(self.table)

    # -- receiving ---------------------------------------------------------

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
            if e.isQuery and e.transactionId is not None and self._limiter.allow(host):
                self._send(Error(e.transactionId, krpc.PROTOCOL_ERROR, e.reason[:80]), address)
            return
        if isinstance(message, Query):
            self._answer(message, (host, port))
        else:
            self._settle(message, (host, port))

    def _answer(self, query: Query, address: Address) -> None:
        host = address[0]
        if not self._limiter.allow(host):
            return
        now = self._reactor.seconds()
        if query.method == PING:
            reply: krpc.Message = Response(query.transactionId, self.nodeId)
        elif query.method == FIND_NODE:
            assert query.target is not None
            reply = Response(query.transactionId, self.nodeId, tuple(self.table.closest(query.target, K)))
        elif query.method == GET_PEERS:
            assert query.infoHash is not None
            # Peers if we have some, else nodes (BEP 5): never both, which
            # keeps the answer small.
            values = tuple(self.peerStore.peers(query.infoHash, MAX_VALUES))
            nodes = () if values else tuple(self.table.closest(query.infoHash, K))
            reply = Response(query.transactionId, self.nodeId, nodes, values, self.tokens.tokenFor(host))
        elif query.method == ANNOUNCE_PEER:
            assert query.infoHash is not None and query.token is not None
            if not self.tokens.check(query.token, host):
                reply = Error(query.transactionId, krpc.PROTOCOL_ERROR, "bad token")
            else:
                port = address[1] if query.impliedPort else query.port
                assert port is not None
                self.peerStore.announce(query.infoHash, (host, port))
                reply = Response(query.transactionId, self.nodeId)
        else:
            reply = Error(query.transactionId, krpc.METHOD_UNKNOWN, "method unknown")
        self._send(reply, address)
        if not query.readOnly:
            self.table.heard(query.senderId, address, now, responded=False)

    def _settle(self, message: Response | Error, address: Address) -> None:
        entry = self._pending.get(message.transactionId)
        if entry is None or entry.address != address:
            # Not ours, late, or from another address than we asked: spoofed.
            return
        del self._pending[message.transactionId]
        entry.stopTimer()
        if isinstance(message, Response):
            self.table.heard(message.senderId, address, self._reactor.seconds(), responded=True)
            entry.deferred.callback(message)
        else:
            entry.deferred.errback(
                DHTQueryError(address, f"error {message.code}: {printable(message.message)}", message.code)
            )

    # -- sending -----------------------------------------------------------

    def _send(self, message: krpc.Message, address: Address) -> None:
        if self.transport is None:
            return
        self.transport.write(krpc.encode(message, _VERSION), address)

    def _transactionId(self) -> bytes:
        # Random, so that an answer spoofed from the address we asked must
        # also guess it; at most MAX_PENDING of 65,536 are taken.
        for _ in range(64):
            tid = self._randomBytes(2)
            if tid not in self._pending:
                return tid
        return next(
            tid for tid in (n.to_bytes(2, "big") for n in range(65536)) if tid not in self._pending
        )

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
            (no answer in time, a KRPC error, too many queries in flight).
            Cancelling it counts as no answer.
        """
        if self.transport is None:
            return fail(DHTQueryError(address, "the DHT node is not running"))
        if len(self._pending) >= MAX_PENDING:
            return fail(DHTQueryError(address, f"{MAX_PENDING} queries already in flight"))
        tid = self._transactionId()
        if method == FIND_NODE:
            message = Query(tid, method, self.nodeId, target=key)
        elif method == GET_PEERS:
            message = Query(tid, method, self.nodeId, infoHash=key)
        elif method == ANNOUNCE_PEER:
            message = Query(
                tid, method, self.nodeId, infoHash=key, port=port, token=token, impliedPort=port is None
            )
        else:
            message = Query(tid, method, self.nodeId)

        def cancel(d: Deferred) -> None:
            self._giveUp(tid, None)

        d: Deferred[Response] = Deferred(cancel)
        if timeout is None:
            timeout = self._queryTimeout
        call = self._reactor.callLater(timeout, self._giveUp, tid, "no answer within %g s" % timeout)
        self._pending[tid] = _Pending(address, d, call)
        self._send(message, address)
        return d

    def _giveUp(self, tid: bytes, reason: Optional[str]) -> None:
        entry = self._pending.pop(tid, None)
        if entry is None:
            return
        entry.stopTimer()
        nodeId = self.table.idAt(entry.address)
        if nodeId is not None:
            self.table.failed(nodeId, self._reactor.seconds())
        if reason is not None:
            entry.deferred.errback(DHTQueryError(entry.address, reason))

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
        if not _isIPv4(host) or not 0 < port < 65536 or self.transport is None:
            return
        if len(self._pending) >= MAX_PENDING // 2:
            return
        self.ping((host, port)).addErrback(lambda f: None)

    # -- lookups -----------------------------------------------------------

    def _lookup(self, target: bytes, method: str) -> Deferred[LookupResult]:
        seeds = self.table.closest(target, K)
        bootstrap = self._bootstrapAddresses if len(seeds) < K else []
        lookup = Lookup(
            target, method, self.query, seeds, bootstrap, ownId=self.nodeId
        )
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

    # -- bootstrap and upkeep ---------------------------------------------

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
                self._bootstrapAddresses = addresses
            return self.findNode(self.nodeId)

        def done(_: object) -> None:
            self._bootstrapping = None
            self.log.info(
                "DHT node {id}: {count} nodes in the routing table",
                id=self.nodeId.hex()[:8],
                count=len(self.table),
            )

        self._bootstrapping = d
        d.addCallback(resolved).addBoth(done)
        return d

    def _resolve(self, host: str, port: int) -> Deferred:
        if _isIPv4(host):
            return succeed((host, port))
        d = self._reactor.resolve(host)

        def failed(f: Any) -> None:
            self.log.info("DHT bootstrap node {host}:{port} not found: {e}", host=host, port=port, e=f.getErrorMessage())
            return None

        return d.addCallbacks(lambda ip: (ip, port) if _isIPv4(ip) else None, failed)

    def _maintain(self) -> None:
        now = self._reactor.seconds()
        self.peerStore.expireAll()
        if len(self.table) < K:
            self.bootstrap()
            return
        for target in self.table.staleBuckets(now)[:REFRESHES_PER_ROUND]:
            self.findNode(target)
        for info in self.table.questionable(now)[:PINGS_PER_ROUND]:
            self.ping(info.address).addErrback(lambda f: None)

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

    def savedNodes(self) -> list[NodeInfo]:
        """
        @return: the nodes worth remembering across a restart: the table's,
            those that answered us most recently first, then those
            remembered from the last run.
        """
        records = sorted(self.table.nodes(), key=lambda r: r.lastResponse or 0.0, reverse=True)
        nodes = [r.info for r in records]
        # Those remembered from before that we could not reach this time
        # still beat nothing (a run without network must not forget them).
        addresses = {n.address for n in nodes}
        nodes.extend(n for n in self._knownNodes if n.address not in addresses)
        return nodes[:SAVED_NODES]


def saveTable(path: str, nodeId: bytes, nodes: Iterable[NodeInfo]) -> None:
    """
    Write our node id and some nodes to C{path}, atomically.
    """
    writeAtomically(path, bencodepy.encode({b"id": nodeId, b"nodes": krpc.encodeNodes(nodes)}))


def loadTable(path: str) -> Optional[tuple[bytes, list[NodeInfo]]]:
    """
    Read a routing table file written by L{saveTable}.

    @return: our node id and the nodes, or C{None} if the file is missing,
        too large or malformed (it is only a cache: we join afresh).
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TABLE_FILE + 1)
    except OSError:
        return None
    if len(data) > MAX_TABLE_FILE:
        return None
    try:
        top = bdecode(data, maxValues=5, maxDepth=1)
        if not isinstance(top, dict):
            return None
        nodeId = top.get(b"id")
        if not isinstance(nodeId, bytes) or len(nodeId) != 20:
            return None
        nodes = list(krpc.decodeNodes(top.get(b"nodes", b"")))
    except (BencodeError, KRPCError):
        return None
    return nodeId, nodes[:SAVED_NODES]


class DHTService(Service):
    """
    A DHT node on a UDP port, its routing table kept in a file.

    The node is made at once (so that peer sources can be given it before
    the service starts); it listens while the service runs.

    @ivar node: the L{DHTNode}.
    @ivar port: the listening UDP port, while running.
    @ivar portNumber: the UDP port number asked for.
    @ivar bootstrap: C{(host, port)} of the nodes it joins through.
    @ivar tablePath: the routing table file, or C{None}.
    """

    log = Logger()

    def __init__(
        self,
        port: int = 6881,
        interface: str = "",
        bootstrap: Sequence[Address] = DEFAULT_BOOTSTRAP,
        tablePath: Optional[str] = None,
        reactor: Any = None,
        saveInterval: float = 600.0,
        **nodeOptions: Any,
    ) -> None:
        """
        @param port: the UDP port to listen on (0: any).
        @param interface: the address to listen on (all by default).
        @param bootstrap: C{(host, port)} of nodes to join through.
        @param tablePath: the routing table file, read now and written every
            C{saveInterval} seconds and on stop; C{None} for none.
        @param nodeOptions: more keyword arguments for L{DHTNode}.
        """
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self.portNumber = port
        self._interface = interface
        self.bootstrap = tuple(bootstrap)
        self.tablePath = tablePath
        self._saveInterval = saveInterval
        self._saver: Optional[LoopingCall] = None
        nodeId = None
        known: list[NodeInfo] = []
        if tablePath is not None:
            saved = loadTable(tablePath)
            if saved is not None:
                nodeId, known = saved
        self._known = len(known)
        self.node = DHTNode(reactor, nodeId=nodeId, bootstrap=self.bootstrap, knownNodes=known, **nodeOptions)
        self.port: Any = None

    def startService(self) -> None:
        """
        Listen, and join the DHT.  If the UDP port cannot be had, say so and
        run without the DHT (torrents still have their trackers).
        """
        super().startService()
        try:
            self.port = self._reactor.listenUDP(self.portNumber, self.node, interface=self._interface)
        except CannotListenError as e:
            self.log.error(
                "No DHT: cannot listen on UDP port {port} ({reason}); choose another "
                "with --dht-port, or turn the DHT off with --no-dht",
                port=self.portNumber,
                reason=str(e.socketError),
            )
            return
        self.log.info(
            "DHT node listening on UDP port {port}, {known} nodes remembered",
            port=self.port.getHost().port,
            known=self._known,
        )
        if self.tablePath is not None:
            self._saver = LoopingCall(self.save)
            self._saver.clock = self._reactor
            self._saver.start(self._saveInterval, now=False)

    def save(self) -> None:
        """
        Write the routing table file now.
        """
        if self.tablePath is None:
            return
        try:
            saveTable(self.tablePath, self.node.nodeId, self.node.savedNodes())
        except OSError as e:
            self.log.warn("could not save the DHT routing table to {path}: {e}", path=self.tablePath, e=e)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        if self._saver is not None and self._saver.running:
            self._saver.stop()
        self._saver = None
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        self.save()
        d = port.stopListening()
        return d if isinstance(d, Deferred) else succeed(None)
