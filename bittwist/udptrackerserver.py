# -*- test-case-name: tests.test_udptrackerserver -*-
"""
Our tracker on UDP (BEP 15): a C{DatagramProtocol} front-end over the same
transport-free store (L{bittwist.trackerstore.Tracker}) the HTTP side
serves (L{bittwist.trackerserver.TrackerResource.tracker}), called directly.

No state is kept for a client before it proves its address: a connection id
is an HMAC of the client's address and the current minute under a secret,
so checking one needs no table, and a spoofed source never gets more than it
sent.  Answers are bounded: a connect or error reply is no longer than its
request, an announce reply carries at most L{MAX_PEERS} peers, a scrape
reply is smaller than its request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from bittwist.errors import AnnounceRefused, UDPPacketError
from bittwist.trackerstore import Tracker
from bittwist.udptrackercodec import (
    AnnounceReply,
    AnnounceRequest,
    ConnectReply,
    ConnectRequest,
    ErrorReply,
    ScrapeEntry,
    ScrapeReply,
    ScrapeRequest,
    decodeRequest,
    encode,
)

__all__ = [
    "UDPTrackerServer",
    "MAX_PEERS",
]

#: The most peers in one announce reply: 20 + 6 * 200 = 1220 bytes, one
#: unfragmented datagram on any usual link.
MAX_PEERS = 200
#: Peers sent when the client leaves C{num_want} to us (-1).
DEFAULT_NUMWANT = 50
#: Seconds in one connection id time slot; an id is accepted in its slot
#: and the next, so it lives one to two minutes (BEP 15: clients use it for
#: one, servers accept it for two).
SLOT_SECONDS = 60
#: The longest refusal text sent, in characters: with its 8-byte header, an error
#: reply stays shorter than the 98-byte announce it answers.
MAX_ERROR_TEXT = 40


class UDPTrackerServer(DatagramProtocol):
    """
    Answers BEP 15 connect, announce and scrape requests from a tracker.

    Malformed packets are dropped unanswered; a request with a connection
    id that is not the client's (or has expired) gets a short error.
    """

    log = Logger()

    def __init__(self, tracker: Tracker, reactor: Any = None, secret: bytes | None = None) -> None:
        """
        @param tracker: the store announces and scrapes are served from,
            shared with the HTTP side (C{TrackerResource.tracker}).
        @param reactor: provides C{seconds()}; the global reactor if C{None}.
        @param secret: the connection id key; random if C{None}.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        self._tracker = tracker
        self._secret = os.urandom(32) if secret is None else secret

    def connectionId(self, address: tuple[str, int], slot: int | None = None) -> int:
        """
        The connection id of C{address} in time slot C{slot} (the current
        one if C{None}).
        """
        if slot is None:
            slot = int(self._reactor.seconds() // SLOT_SECONDS)
        message = f"{address[0]}|{address[1]}|{slot}".encode("ascii")
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big")

    def _validConnectionId(self, address: tuple[str, int], connectionId: int) -> bool:
        slot = int(self._reactor.seconds() // SLOT_SECONDS)
        return any(
            hmac.compare_digest(
                self.connectionId(address, s).to_bytes(8, "big"), connectionId.to_bytes(8, "big")
            )
            for s in (slot, slot - 1)
        )

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        address = (addr[0], addr[1])
        try:
            request = decodeRequest(data)
        except UDPPacketError as e:
            self.log.debug("Dropped a packet from {addr}: {reason}", addr=address, reason=e.reason)
            return
        if isinstance(request, ConnectRequest):
            self._reply(ConnectReply(request.transactionId, self.connectionId(address)), address)
            return
        if not self._validConnectionId(address, request.connectionId):
            self._reply(ErrorReply(request.transactionId, "connection id expired; connect again"), address)
            return
        try:
            if isinstance(request, AnnounceRequest):
                reply = self._announce(request, address)
            else:
                reply = self._scrape(request, address)
        except AnnounceRefused as e:
            # Its text is for the client.
            self.log.debug("Refused {addr}: {reason}", addr=address, reason=e.reason)
            reply = ErrorReply(request.transactionId, e.reason[:MAX_ERROR_TEXT])
        except Exception:
            self.log.failure("Internal error answering {addr}", addr=address)
            reply = ErrorReply(request.transactionId, "internal tracker error")
        self._reply(reply, address)

    def _reply(self, reply: Any, address: tuple[str, int]) -> None:
        try:
            self.transport.write(encode(reply), address)
        except OSError as e:
            self.log.debug("Could not answer {addr}: {e}", addr=address, e=e)

    def _announce(self, request: AnnounceRequest, address: tuple[str, int]) -> AnnounceReply:
        if request.port == 0:
            raise AnnounceRefused("port must be between 1 and 65535")
        numwant = DEFAULT_NUMWANT if request.numwant < 0 else min(request.numwant, MAX_PEERS)
        result = self._tracker.announce(
            request.infoHash, request.peerId, address[0], request.port, request.event,
            request.left, numwant,
        )
        # A reply carries peers of the family of the socket it goes out on
        # (the store gives addresses as normalised text: IPv6 has colons).
        ipv6 = ":" in address[0]
        peers = tuple((p.ip, p.port) for p in result.peers if (":" in p.ip) == ipv6)[:numwant]
        return AnnounceReply(
            request.transactionId,
            min(result.interval, 2 ** 31 - 1),
            min(result.incomplete, 2 ** 31 - 1),
            min(result.complete, 2 ** 31 - 1),
            peers,
        )

    def _scrape(self, request: ScrapeRequest, address: tuple[str, int]) -> ScrapeReply:
        results = self._tracker.scrape(request.infoHashes)
        return ScrapeReply(
            request.transactionId,
            tuple(
                ScrapeEntry(*(min(n, 2 ** 31 - 1) for n in (r.complete, r.downloaded, r.incomplete)))
                for r in (results[h] for h in request.infoHashes)
            ),
        )
