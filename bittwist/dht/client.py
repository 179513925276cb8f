# -*- test-case-name: tests.test_dht_node -*-
"""
Our side of KRPC: queries sent, and their answers matched or timed out.

L{KRPCClient} gives each query a random transaction id and one timer of its
own, and takes an answer only from the address the query went to, with
that id, in time: a spoofed answer must guess both.  A node that answers
is heard in the routing table; one that does not is marked failed there.
At most L{MAX_PENDING} queries are in flight, so the state it keeps is
bounded whatever the network does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from bittwist.dht import krpc
from bittwist.dht.krpc import ANNOUNCE_PEER, FIND_NODE, GET_PEERS, Error, Query, Response
from bittwist.dht.routing import RoutingTable
from bittwist.errors import DHTQueryError
from bittwist.safetext import printable

__all__ = ["MAX_PENDING", "QUERY_TIMEOUT", "KRPCClient"]

#: Seconds we wait for an answer to one of our queries.
QUERY_TIMEOUT = 10.0

#: Our queries in flight at once, in all.
MAX_PENDING = 512

Address = tuple[str, int]


@dataclass
class _Pending:
    address: Address
    deferred: Deferred
    timeout: IDelayedCall

    def stopTimer(self) -> None:
        if self.timeout.active():
            self.timeout.cancel()


class KRPCClient:
    """
    Sends our queries and settles them.
    """

    def __init__(
        self,
        clock: IReactorTime,
        nodeId: bytes,
        table: RoutingTable,
        send: Callable[[krpc.Message, Address], None],
        queryTimeout: float = QUERY_TIMEOUT,
        randomBytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """
        @param nodeId: our id, the sender id of our queries.
        @param table: told who answered and who did not.
        @param send: writes one message to an address.
        @param queryTimeout: seconds to wait for an answer by default.
        @param randomBytes: where transaction ids come from.
        """
        self._clock = clock
        self._nodeId = nodeId
        self._table = table
        self._send = send
        self._queryTimeout = queryTimeout
        self._randomBytes = randomBytes
        self._pending: dict[bytes, _Pending] = {}

    @property
    def pendingCount(self) -> int:
        """
        Our queries in flight.
        """
        return len(self._pending)

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
        Send one query, timed by one timer of its own.  The arguments are
        L{bittwist.dht.node.DHTNode.query}'s.

        @return: fires with the L{Response}; fails with L{DHTQueryError}
            (no answer in time, a KRPC error, too many queries in flight).
            Cancelling it counts as no answer.
        """
        if len(self._pending) >= MAX_PENDING:
            return fail(DHTQueryError(address, f"{MAX_PENDING} queries already in flight"))
        tid = self._transactionId()
        if method == FIND_NODE:
            message = Query(tid, method, self._nodeId, target=key)
        elif method == GET_PEERS:
            message = Query(tid, method, self._nodeId, infoHash=key)
        elif method == ANNOUNCE_PEER:
            message = Query(
                tid, method, self._nodeId, infoHash=key, port=port, token=token, impliedPort=port is None
            )
        else:
            message = Query(tid, method, self._nodeId)

        def cancel(d: Deferred) -> None:
            self._giveUp(tid, None)

        d: Deferred[Response] = Deferred(cancel)
        if timeout is None:
            timeout = self._queryTimeout
        call = self._clock.callLater(timeout, self._giveUp, tid, "no answer within %g s" % timeout)
        self._pending[tid] = _Pending(address, d, call)
        self._send(message, address)
        return d

    def settle(self, message: Response | Error, address: Address) -> None:
        """
        An answer arrived: fire its query's Deferred, if it answers one of
        ours from the address we asked.
        """
        entry = self._pending.get(message.transactionId)
        if entry is None or entry.address != address:
            # Not ours, late, or from another address than we asked: spoofed.
            return
        del self._pending[message.transactionId]
        entry.stopTimer()
        if isinstance(message, Response):
            self._table.heard(message.senderId, address, self._clock.seconds(), responded=True)
            entry.deferred.callback(message)
        else:
            entry.deferred.errback(
                DHTQueryError(address, f"error {message.code}: {printable(message.message)}", message.code)
            )

    def stop(self) -> None:
        """
        Fail every query in flight: the node stopped.
        """
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            entry.stopTimer()
            entry.deferred.errback(DHTQueryError(entry.address, "the DHT node stopped"))

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

    def _giveUp(self, tid: bytes, reason: Optional[str]) -> None:
        entry = self._pending.pop(tid, None)
        if entry is None:
            return
        entry.stopTimer()
        nodeId = self._table.idAt(entry.address)
        if nodeId is not None:
            self._table.failed(nodeId, self._clock.seconds())
        if reason is not None:
            entry.deferred.errback(DHTQueryError(entry.address, reason))
