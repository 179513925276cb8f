# -*- test-case-name: tests.test_dht_node -*-
"""
Answering the DHT's queries: from the routing table, the token keeper and
the peer store.

L{QueryResponder} answers so that the node is not an amplifier: only a
well-formed query gets an answer (a malformed one with a transaction id gets
a short error), an answer holds at most L{K} nodes or L{MAX_VALUES} peers,
never both (under 600 bytes whatever the query), and each source IP gets at
most a few answers a second, so that a spoofed source costs its victim
little.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IReactorTime

from bittwist.dht import krpc
from bittwist.dht.krpc import ANNOUNCE_PEER, FIND_NODE, GET_PEERS, PING, Error, Query, Response
from bittwist.dht.routing import K, RoutingTable
from bittwist.dht.sourcelimit import SourceRateLimiter
from bittwist.dht.storage import PeerStore
from bittwist.dht.tokens import TokenKeeper
from bittwist.errors import KRPCError

__all__ = ["MAX_VALUES", "QueryResponder"]

#: The most peers one get_peers answer lists.
MAX_VALUES = 50

#: The longest reason a protocol error answer carries, in characters.
_MAX_REASON = 80

Address = tuple[str, int]


class QueryResponder:
    """
    Answers queries, rate limited per source IP.
    """

    def __init__(
        self,
        clock: IReactorTime,
        nodeId: bytes,
        table: RoutingTable,
        tokens: TokenKeeper,
        peerStore: PeerStore,
        limiter: SourceRateLimiter,
        send: Callable[[krpc.Message, Address], None],
    ) -> None:
        """
        @param nodeId: our id, the sender id of our answers.
        @param table: where find_node and get_peers answers come from, and
            where a querying node is heard.
        @param tokens: hands out and checks announce tokens.
        @param peerStore: the peers announced to us.
        @param limiter: the answers each source IP may have.
        @param send: writes one message to an address.
        """
        self._clock = clock
        self._nodeId = nodeId
        self._table = table
        self._tokens = tokens
        self._peerStore = peerStore
        self._limiter = limiter
        self._send = send

    def answer(self, query: Query, address: Address) -> None:
        """
        Answer a well-formed query, if its source may have one more answer,
        and hear the querying node (unless it is read-only, BEP 43).
        """
        host = address[0]
        if not self._limiter.allow(host):
            return
        if query.method == PING:
            reply: krpc.Message = Response(query.transactionId, self._nodeId)
        elif query.method == FIND_NODE:
            assert query.target is not None
            reply = Response(query.transactionId, self._nodeId, tuple(self._table.closest(query.target, K)))
        elif query.method == GET_PEERS:
            assert query.infoHash is not None
            # Peers if we have some, else nodes (BEP 5): never both, which
            # keeps the answer small.
            values = tuple(self._peerStore.peers(query.infoHash, MAX_VALUES))
            nodes = () if values else tuple(self._table.closest(query.infoHash, K))
            reply = Response(query.transactionId, self._nodeId, nodes, values, self._tokens.tokenFor(host))
        elif query.method == ANNOUNCE_PEER:
            assert query.infoHash is not None and query.token is not None
            if not self._tokens.check(query.token, host):
                reply = Error(query.transactionId, krpc.PROTOCOL_ERROR, "bad token")
            else:
                port = address[1] if query.impliedPort else query.port
                assert port is not None
                self._peerStore.announce(query.infoHash, (host, port))
                reply = Response(query.transactionId, self._nodeId)
        else:
            reply = Error(query.transactionId, krpc.METHOD_UNKNOWN, "method unknown")
        self._send(reply, address)
        if not query.readOnly:
            self._table.heard(query.senderId, address, self._clock.seconds(), responded=False)

    def refuse(self, error: KRPCError, address: Address) -> None:
        """
        A datagram did not decode: answer with a protocol error if it was a
        query with a transaction id (and its source may have an answer).
        """
        if error.isQuery and error.transactionId is not None and self._limiter.allow(address[0]):
            self._send(Error(error.transactionId, krpc.PROTOCOL_ERROR, error.reason[:_MAX_REASON]), address)
