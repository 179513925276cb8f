# -*- test-case-name: tests.test_dht_lookup -*-
"""
Iterative lookups (BEP 5): find the nodes closest to a target, and for an
info hash, the peers they know.

A L{Lookup} keeps the candidates it has heard of sorted by distance to the
target and keeps L{ALPHA} queries in flight to the closest ones not yet
asked.  It is done when the L{K} closest candidates that did not fail have
all answered, or nothing is left to ask.  Each query that takes longer than
its timeout (kept by the query function) counts as failed.  Every bound is
explicit: candidates kept, queries sent, peers gathered.

The lookup does no I/O itself: it calls a C{query} function (the node's) that
returns a Deferred of the L{Response}.  L{announce} then sends
C{announce_peer} to the closest nodes that gave a token.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger

from bittwist.dht.krpc import ANNOUNCE_PEER, FIND_NODE, GET_PEERS, NodeInfo, Response
from bittwist.dht.routing import K, distance

__all__ = [
    "ALPHA",
    "QUERY_TIMEOUT",
    "MAX_QUERIES",
    "MAX_CANDIDATES",
    "MAX_PEERS",
    "Lookup",
    "LookupResult",
    "announce",
]

#: Queries in flight per lookup.
ALPHA = 3

#: Seconds a lookup waits for one answer.
QUERY_TIMEOUT = 4.0

#: The most queries one lookup sends.
MAX_QUERIES = 120

#: The most candidates one lookup keeps (the closest are kept).
MAX_CANDIDATES = 200

#: The most peers one lookup gathers.
MAX_PEERS = 1000

Address = tuple[str, int]

#: C{query(address, method, key, port=None, token=None, timeout=None)}: send
#: one query (C{key} is the target of find_node, the info hash otherwise) and
#: return a Deferred of the L{Response} that fails if no answer comes within
#: C{timeout} seconds: the query's one timer is the node's.
QueryFunction = Callable[..., Deferred]


class _State(enum.Enum):
    NEW = "new"
    PENDING = "pending"
    ANSWERED = "answered"
    FAILED = "failed"


@dataclass
class _Candidate:
    info: NodeInfo
    distance: int
    state: _State = _State.NEW
    token: Optional[bytes] = None


@dataclass
class LookupResult:
    """
    What a lookup found.

    @ivar target: the id or info hash looked up.
    @ivar closest: the closest nodes that answered, closest first, with the
        token each gave (for get_peers), at most L{K}.
    @ivar peers: peer addresses gathered (get_peers), without repeats.
    @ivar queries: how many queries were sent.
    """

    target: bytes
    closest: list[tuple[NodeInfo, Optional[bytes]]] = field(default_factory=list)
    peers: list[Address] = field(default_factory=list)
    queries: int = 0


class Lookup:
    """
    One iterative find_node or get_peers lookup.
    """

    log = Logger()

    def __init__(
        self,
        target: bytes,
        method: str,
        query: QueryFunction,
        seeds: Iterable[NodeInfo],
        bootstrap: Sequence[Address] = (),
        ownId: Optional[bytes] = None,
        alpha: int = ALPHA,
        k: int = K,
        timeout: float = QUERY_TIMEOUT,
    ) -> None:
        """
        @param target: the id (find_node) or info hash (get_peers) sought.
        @param method: L{FIND_NODE} or L{GET_PEERS}.
        @param query: sends one query; see L{QueryFunction}.
        @param seeds: nodes to start from (the routing table's closest).
        @param bootstrap: addresses of nodes whose id we do not know (the
            bootstrap routers), asked first.
        @param ownId: our id, never a candidate.
        @param timeout: seconds each query may take, handed to C{query}.
        """
        if method not in (FIND_NODE, GET_PEERS):
            raise ValueError(f"cannot look up with {method}")
        self.target = target
        self.method = method
        self._query = query
        self._alpha = alpha
        self._k = k
        self._timeout = timeout
        self._ownId = ownId
        self._candidates: dict[bytes, _Candidate] = {}
        self._addresses: set[Address] = set()
        self._bootstrap = list(dict.fromkeys(bootstrap))
        self._inFlight: dict[object, Deferred] = {}
        self._peers: dict[Address, None] = {}
        self._queries = 0
        self._done: Optional[Deferred[LookupResult]] = None
        self._finished = False
        for info in seeds:
            self._consider(info)

    @property
    def inFlight(self) -> int:
        return len(self._inFlight)

    def start(self) -> Deferred[LookupResult]:
        """
        Start asking.

        @return: fires with the L{LookupResult} when the lookup converges (or
            is stopped); never fails.
        """
        assert self._done is None, "a lookup runs once"
        self._done = Deferred()
        for address in self._bootstrap:
            if self._queries >= MAX_QUERIES:
                break
            self._send(address, None)
        self._step()
        return self._done

    def stop(self) -> None:
        """
        Stop asking: fire the result with what was found so far.
        """
        self._finish()

    def _consider(self, info: NodeInfo) -> None:
        if info.nodeId in self._candidates or info.address in self._addresses:
            return
        if info.nodeId == self._ownId:
            return
        d = distance(info.nodeId, self.target)
        if len(self._candidates) >= MAX_CANDIDATES:
            farthest = max(
                (c for c in self._candidates.values() if c.state is _State.NEW),
                key=lambda c: c.distance,
                default=None,
            )
            if farthest is None or farthest.distance <= d:
                return
            del self._candidates[farthest.info.nodeId]
            self._addresses.discard(farthest.info.address)
        self._candidates[info.nodeId] = _Candidate(info, d)
        self._addresses.add(info.address)

    def _ranked(self) -> list[_Candidate]:
        alive = [c for c in self._candidates.values() if c.state is not _State.FAILED]
        alive.sort(key=lambda c: c.distance)
        return alive[: self._k]

    def _step(self) -> None:
        if self._finished:
            return
        for candidate in self._ranked():
            if len(self._inFlight) >= self._alpha or self._queries >= MAX_QUERIES:
                break
            if candidate.state is _State.NEW:
                candidate.state = _State.PENDING
                self._send(candidate.info.address, candidate)
        if not self._inFlight:
            self._finish()

    def _send(self, address: Address, candidate: Optional[_Candidate]) -> None:
        self._queries += 1
        key = object()
        d = self._query(address, self.method, self.target, timeout=self._timeout)
        self._inFlight[key] = d
        d.addCallbacks(
            self._answered,
            self._failed,
            callbackArgs=(key, candidate),
            errbackArgs=(key, candidate),
        )

    def _answered(self, response: Response, key: object, candidate: Optional[_Candidate]) -> None:
        if self._inFlight.pop(key, None) is None:
            return
        if candidate is not None:
            candidate.state = _State.ANSWERED
            candidate.token = response.token
        for info in response.nodes:
            self._consider(info)
        if self.method == GET_PEERS:
            for peer in response.values:
                if len(self._peers) >= MAX_PEERS:
                    break
                self._peers[peer] = None
        self._step()

    def _failed(self, failure: object, key: object, candidate: Optional[_Candidate]) -> None:
        if self._inFlight.pop(key, None) is None:
            return
        if candidate is not None:
            candidate.state = _State.FAILED
        self._step()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        inFlight, self._inFlight = self._inFlight, {}
        for d in inFlight.values():
            d.cancel()
        answered = sorted(
            (c for c in self._candidates.values() if c.state is _State.ANSWERED),
            key=lambda c: c.distance,
        )[: self._k]
        result = LookupResult(
            self.target,
            [(c.info, c.token) for c in answered],
            list(self._peers),
            self._queries,
        )
        if self._done is not None:
            self._done.callback(result)


def announce(result: LookupResult, query: QueryFunction, port: Optional[int]) -> Deferred[int]:
    """
    Announce a peer to the closest nodes of a get_peers lookup, with the
    tokens they gave.

    @param result: a finished get_peers lookup.
    @param query: sends one query; see L{QueryFunction}.
    @param port: the TCP port to announce, or C{None} for the UDP port the
        query comes from (C{implied_port}).
    @return: fires with the number of nodes that acknowledged; never fails.
    """
    sends = [
        query(info.address, ANNOUNCE_PEER, result.target, port=port, token=token)
        for info, token in result.closest
        if token is not None
    ]
    if not sends:
        return succeed(0)
    return DeferredList(sends, consumeErrors=True).addCallback(
        lambda results: sum(1 for ok, _ in results if ok)
    )
