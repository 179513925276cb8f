# -*- test-case-name: tests.test_udptrackerserver -*-
"""
Our tracker on UDP (BEP 15): a C{DatagramProtocol} front-end over the same
in-memory tracker the HTTP side serves (L{bittwist.trackerserver}).

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
from typing import Any, Protocol

import bencodepy
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from bittwist.errors import AnnounceRefused, TrackerError, UDPPacketError
from bittwist.tracker import AnnounceResponse, parseAnnounceBody
from bittwist.udptracker import (
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
    "TrackerAdapter",
    "StoreTrackerAdapter",
    "WebTrackerAdapter",
    "adapterFor",
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


class TrackerAdapter(Protocol):
    """
    The tracker the UDP front-end serves: announce and scrape by value.
    """

    def announce(
        self, host: str, infoHash: bytes, peerId: bytes, port: int, uploaded: int,
        downloaded: int, left: int, event: str | None, numwant: int,
    ) -> AnnounceResponse:
        """
        @param host: the announcing client's IP address, as text.
        @raise TrackerError: to refuse, with the reason the client hears.
        """

    def scrape(self, host: str, infoHashes: tuple[bytes, ...]) -> list[ScrapeEntry]:
        """
        @return: one entry per info hash, in order.
        @raise TrackerError: to refuse.
        """


class _Request:
    """
    The part of C{twisted.web.server.Request} a tracker resource reads and
    writes when rendering an announce or scrape.
    """

    method = b"GET"

    def __init__(self, host: str, args: dict[bytes, list[bytes]]) -> None:
        self.args = args
        self.prepath: list[bytes] = []
        self.postpath: list[bytes] = []
        self.code = 200
        addressType = IPv6Address if ":" in host else IPv4Address
        self._address = addressType("UDP", host, 0)

    def getClientAddress(self) -> Any:
        return self._address

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        self.code = code

    def setHeader(self, name: bytes, value: bytes) -> None:
        pass


class WebTrackerAdapter:
    """
    Serves a L{bittwist.trackerserver.TrackerResource} (any resource with
    C{announce} and C{scrape} children speaking BEP 3) by rendering its
    children with a request made from the UDP packet: the HTTP and UDP
    sides share one swarm store, through the resource's public interface.
    """

    def __init__(self, resource: Any) -> None:
        self._resource = resource

    def _render(self, name: bytes, host: str, args: dict[bytes, list[bytes]]) -> bytes:
        request = _Request(host, args)
        child = self._resource.getChildWithDefault(name, request)
        body = child.render(request)
        if request.code != 200 or not isinstance(body, bytes):
            raise TrackerError(name.decode(), "internal tracker error")
        return body

    def announce(
        self, host: str, infoHash: bytes, peerId: bytes, port: int, uploaded: int,
        downloaded: int, left: int, event: str | None, numwant: int,
    ) -> AnnounceResponse:
        args = {
            b"info_hash": [infoHash],
            b"peer_id": [peerId],
            b"port": [b"%d" % port],
            b"uploaded": [b"%d" % uploaded],
            b"downloaded": [b"%d" % downloaded],
            b"left": [b"%d" % left],
            b"numwant": [b"%d" % numwant],
            b"compact": [b"1"],
        }
        if event is not None:
            args[b"event"] = [event.encode("ascii")]
        return parseAnnounceBody("announce", self._render(b"announce", host, args))

    def scrape(self, host: str, infoHashes: tuple[bytes, ...]) -> list[ScrapeEntry]:
        body = bencodepy.decode(self._render(b"scrape", host, {b"info_hash": list(infoHashes)}))
        if b"failure reason" in body:
            raise TrackerError("scrape", body[b"failure reason"].decode("utf-8", "replace"))
        files = body[b"files"]
        return [
            ScrapeEntry(files[h][b"complete"], files[h][b"downloaded"], files[h][b"incomplete"])
            for h in infoHashes
        ]


class StoreTrackerAdapter:
    """
    Serves a transport-free tracker store (C{bittwist.trackerstore.Tracker}:
    C{announce(infoHash, peerId, ip, port, event, left, numwant)} returning
    C{peers}, C{complete}, C{incomplete}, C{interval}, and C{scrape(infoHashes)}
    returning C{complete}, C{incomplete}, C{downloaded} per hash), the store
    the HTTP front-end shares as C{TrackerResource.tracker}.
    """

    def __init__(self, store: Any) -> None:
        self._store = store

    def announce(
        self, host: str, infoHash: bytes, peerId: bytes, port: int, uploaded: int,
        downloaded: int, left: int, event: str | None, numwant: int,
    ) -> AnnounceResponse:
        try:
            result = self._store.announce(infoHash, peerId, host, port, event, left, numwant)
        except AnnounceRefused as e:
            # Its text is for the client.
            raise TrackerError("announce", e.reason)
        return AnnounceResponse(
            interval=result.interval,
            minInterval=None,
            peers=tuple((peer.ip, peer.port) for peer in result.peers),
            warning=None,
            complete=result.complete,
            incomplete=result.incomplete,
            trackerId=None,
        )

    def scrape(self, host: str, infoHashes: tuple[bytes, ...]) -> list[ScrapeEntry]:
        try:
            results = self._store.scrape(infoHashes)
        except AnnounceRefused as e:
            raise TrackerError("scrape", e.reason)
        return [
            ScrapeEntry(results[h].complete, results[h].downloaded, results[h].incomplete)
            for h in infoHashes
        ]


def adapterFor(resource: Any) -> TrackerAdapter:
    """
    What a UDP front-end serves to share C{resource}'s swarms: its store
    (C{resource.tracker}) when it has one, else the resource itself
    through its web interface.  The one place that knows how the HTTP
    tracker keeps its swarms.
    """
    store = getattr(resource, "tracker", None)
    if store is not None:
        return StoreTrackerAdapter(store)
    return WebTrackerAdapter(resource)


class UDPTrackerServer(DatagramProtocol):
    """
    Answers BEP 15 connect, announce and scrape requests from a tracker.

    Malformed packets are dropped unanswered; a request with a connection
    id that is not the client's (or has expired) gets a short error.
    """

    log = Logger()

    def __init__(self, tracker: TrackerAdapter, reactor: Any = None, secret: bytes | None = None) -> None:
        """
        @param tracker: what announces and scrapes are served from.
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
        except TrackerError as e:
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
            raise TrackerError("announce", "port must be between 1 and 65535")
        numwant = DEFAULT_NUMWANT if request.numwant < 0 else min(request.numwant, MAX_PEERS)
        answer = self._tracker.announce(
            address[0], request.infoHash, request.peerId, request.port, request.uploaded,
            request.downloaded, request.left, request.event, numwant,
        )
        # A reply carries peers of the family of the socket it goes out on
        # (the store gives addresses as normalised text: IPv6 has colons).
        ipv6 = ":" in address[0]
        peers = tuple(peer for peer in answer.peers if (":" in peer[0]) == ipv6)[:numwant]
        return AnnounceReply(
            request.transactionId,
            min(answer.interval, 2 ** 31 - 1),
            min(answer.incomplete or 0, 2 ** 31 - 1),
            min(answer.complete or 0, 2 ** 31 - 1),
            peers,
        )

    def _scrape(self, request: ScrapeRequest, address: tuple[str, int]) -> ScrapeReply:
        entries = self._tracker.scrape(address[0], request.infoHashes)
        return ScrapeReply(
            request.transactionId,
            tuple(ScrapeEntry(*(min(n, 2 ** 31 - 1) for n in (e.seeders, e.completed, e.leechers)))
                  for e in entries),
        )
