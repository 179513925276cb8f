# -*- test-case-name: tests.test_udptracker -*-
"""
The UDP tracker client (BEP 15).

L{UDPTrackerClient} speaks the protocol (packets:
L{bittwist.udptrackercodec}) on one UDP socket shared by every tracker it
talks to: a C{connect} exchange gets a connection id (valid for
L{CONNECTION_ID_LIFETIME} seconds), then C{announce} or C{scrape} use it.
A request without an answer is sent again after 15 * 2 ** n seconds (n = 0,
1, ...), as the BEP asks, up to a number of tries.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import CancelledError, Deferred, inlineCallbacks, succeed
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist.errors import UDPPacketError, UDPTrackerError
from bittwist.safetext import printable
from bittwist.trackerclient import AnnounceQuery, AnnounceResponse, ITrackerClient
from bittwist.udptrackercodec import (
    HEADER,
    MAX_SCRAPE_HASHES,
    AnnounceReply,
    AnnounceRequest,
    ConnectReply,
    ConnectRequest,
    ErrorReply,
    Reply,
    ScrapeEntry,
    ScrapeReply,
    ScrapeRequest,
    decodeReply,
    encode,
)

__all__ = [
    "retryDelay",
    "UDPTrackerClient",
    "CONNECTION_ID_LIFETIME",
    "DEFAULT_TRIES",
    "MAX_TRIES",
]

#: Seconds a connection id stays usable for a client (the BEP's minute).
CONNECTION_ID_LIFETIME = 60
#: The first wait for an answer, in seconds; it doubles on every retry.
RETRY_BASE = 15
#: The largest exponent of the retry schedule (15 * 2 ** 8 = 3840 s).
MAX_RETRY_EXPONENT = 8
#: Tries per request by default: 15 + 30 + 60 + 120 seconds before giving up.
DEFAULT_TRIES = 4
#: The most tries a client may be asked to make: the whole BEP schedule.
MAX_TRIES = MAX_RETRY_EXPONENT + 1
#: The largest datagram a client reads; bigger ones are cut by the kernel.
MAX_DATAGRAM = 8192


def retryDelay(attempt: int) -> int:
    """
    BEP 15's wait for an answer to try number C{attempt} (0 for the first):
    15 * 2 ** n seconds, n capped at L{MAX_RETRY_EXPONENT}.
    """
    return RETRY_BASE * 2 ** min(attempt, MAX_RETRY_EXPONENT)


def _trackerAddress(url: str) -> tuple[str, int]:
    """
    @return: the host and port of a C{udp://host:port[/...]} URL.
    @raise UDPTrackerError: if the URL has no host or port.
    """
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError:
        scheme = host = port = None
    if (scheme or "").lower() != "udp" or not host:
        raise UDPTrackerError(url, "not a udp://host:port tracker URL")
    if port is None or port == 0:
        raise UDPTrackerError(url, "the URL has no port; UDP trackers need one, e.g. udp://host:6969")
    return host, port


class _Transaction:
    """
    One request waiting for its answer.
    """

    def __init__(self, deferred: Deferred, packet: bytes, address: tuple[str, int], tries: int) -> None:
        self.deferred = deferred
        self.packet = packet
        self.address = address
        self.tries = tries
        self.attempt = 0
        self.timer: Any = None


@implementer(ITrackerClient)
class UDPTrackerClient(DatagramProtocol):
    """
    Announces to and scrapes UDP trackers (BEP 15) from one UDP socket.

    The socket is opened (on an ephemeral port) by the first request and
    closed by L{close}.  Answers are matched to requests by transaction id
    and by the address they come from; anything else is dropped.

    @ivar tries: tries per request when a call does not say.
    """

    log = Logger()

    DEFAULT_TRIES = DEFAULT_TRIES

    def __init__(self, reactor: Any = None, tries: int = DEFAULT_TRIES, interface: str = "") -> None:
        """
        @param reactor: provides C{listenUDP}, C{resolve}, C{callLater} and
            C{seconds}; the global reactor if C{None}.
        @param tries: how many times a request is sent before giving up,
            1 to L{MAX_TRIES}; 2 suits a torrent with several trackers.
        @param interface: the local address to send from; all by default.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        if not 1 <= tries <= MAX_TRIES:
            raise ValueError(f"tries must be between 1 and {MAX_TRIES}, not {tries}")
        self._reactor = reactor
        self.tries = tries
        self._interface = interface
        self._port: Any = None
        self._pending: dict[int, _Transaction] = {}
        self._connectionIds: dict[tuple[str, int], tuple[int, float]] = {}

    # --- the socket -------------------------------------------------------

    def _listen(self) -> None:
        if self._port is None:
            self._port = self._reactor.listenUDP(
                0, self, interface=self._interface, maxPacketSize=MAX_DATAGRAM
            )

    def close(self) -> Deferred[None]:
        """
        Fail every request in flight and close the socket.

        @return: fires when the socket is closed.
        """
        for transaction in list(self._pending.values()):
            transaction.deferred.cancel()
        self._connectionIds.clear()
        port, self._port = self._port, None
        if port is None:
            return succeed(None)
        d = port.stopListening()
        if isinstance(d, Deferred):
            return d.addCallback(lambda _: None)
        return succeed(None)

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < HEADER.size:
            return
        _, transactionId = HEADER.unpack_from(data)
        transaction = self._pending.get(transactionId)
        if transaction is None or tuple(addr[:2]) != transaction.address:
            self.log.debug("Dropped a stray datagram from {addr}", addr=addr)
            return
        self._finish(transactionId, transaction)
        try:
            reply = decodeReply(data)
        except UDPPacketError as e:
            transaction.deferred.errback(e)
        else:
            transaction.deferred.callback(reply)

    # --- transactions -------------------------------------------------------

    def _newTransactionId(self) -> int:
        while True:
            transactionId = int.from_bytes(os.urandom(4), "big")
            if transactionId not in self._pending:
                return transactionId

    def _finish(self, transactionId: int, transaction: _Transaction) -> None:
        self._pending.pop(transactionId, None)
        if transaction.timer is not None and transaction.timer.active():
            transaction.timer.cancel()
        transaction.timer = None

    def _request(self, transactionId: int, packet: bytes, address: tuple[str, int], tries: int) -> Deferred[Reply]:
        """
        Send C{packet} to C{address} until it is answered or C{tries} sends
        went unanswered.

        @return: fires with the L{Reply}; fails with L{UDPPacketError} for a
            malformed one, or with L{_NoAnswer}.
        """
        def cancel(_: Deferred) -> None:
            self._finish(transactionId, transaction)

        d: Deferred[Reply] = Deferred(cancel)
        transaction = _Transaction(d, packet, address, tries)
        self._pending[transactionId] = transaction
        self._send(transactionId, transaction)
        return d

    def _send(self, transactionId: int, transaction: _Transaction) -> None:
        if self._port is None:
            return
        try:
            self.transport.write(transaction.packet, transaction.address)
        except OSError as e:
            # An ICMP error from an earlier send, or no route: keep waiting,
            # the schedule retries.
            self.log.debug("Sending to {addr} failed: {e}", addr=transaction.address, e=e)
        delay = retryDelay(transaction.attempt)
        transaction.timer = self._reactor.callLater(delay, self._timedOut, transactionId, transaction)

    def _timedOut(self, transactionId: int, transaction: _Transaction) -> None:
        transaction.timer = None
        transaction.attempt += 1
        if transaction.attempt < transaction.tries:
            self._send(transactionId, transaction)
            return
        self._finish(transactionId, transaction)
        waited = sum(retryDelay(n) for n in range(transaction.tries))
        transaction.deferred.errback(_NoAnswer(transaction.tries, waited))

    # --- the protocol ---------------------------------------------------------

    @inlineCallbacks
    def _resolve(self, url: str) -> Any:
        host, port = _trackerAddress(url)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            try:
                ip = yield self._reactor.resolve(host)
            except CancelledError:
                raise
            except Exception as e:
                raise UDPTrackerError(url, f"cannot resolve {host}: {e}; check the tracker URL")
            address = ipaddress.ip_address(ip)
        if address.version != 4:
            raise UDPTrackerError(url, "IPv6 UDP trackers are not supported yet; use an IPv4 tracker")
        return (str(address), port)

    @inlineCallbacks
    def _exchange(self, url: str, address: tuple[str, int], build: Any, tries: int) -> Any:
        """
        Get a connection id for C{address} if ours expired, then send the
        request C{build(connectionId, transactionId)} and return its reply.
        """
        self._listen()
        now = self._reactor.seconds()
        cached = self._connectionIds.get(address)
        if cached is None or now - cached[1] >= CONNECTION_ID_LIFETIME:
            self._connectionIds.pop(address, None)
            transactionId = self._newTransactionId()
            reply = yield self._checked(
                url, self._request(transactionId, encode(ConnectRequest(transactionId)), address, tries),
                ConnectReply,
            )
            # The minute runs from when the id was sent; the request went
            # out at least this late.
            cached = (reply.connectionId, self._reactor.seconds())
            self._connectionIds[address] = cached
        transactionId = self._newTransactionId()
        packet = encode(build(cached[0], transactionId))
        reply = yield self._request(transactionId, packet, address, tries)
        if isinstance(reply, ErrorReply):
            # Perhaps the tracker no longer takes our connection id.
            self._connectionIds.pop(address, None)
        return reply

    @inlineCallbacks
    def _checked(self, url: str, d: Deferred, expected: type) -> Any:
        reply = yield d
        if isinstance(reply, ErrorReply):
            raise UDPTrackerError(url, f"the tracker refused: {printable(reply.message)}")
        if not isinstance(reply, expected):
            raise UDPTrackerError(url, f"answered with a {type(reply).__name__}, not a "
                                       f"{expected.__name__}; the tracker is broken")
        return reply

    def _failed(self, failure: Failure, url: str) -> Failure:
        if failure.check(UDPTrackerError):
            return failure
        if failure.check(CancelledError):
            return Failure(UDPTrackerError(url, "the announce was cancelled"))
        if failure.check(_NoAnswer):
            e = failure.value
            return Failure(UDPTrackerError(
                url, f"no answer from {_shortURL(url)} after {e.tries} tries "
                     f"({e.waited} seconds); check the tracker URL, or try later"))
        if failure.check(UDPPacketError):
            return Failure(UDPTrackerError(url, f"{failure.value.reason}; the tracker is broken"))
        # No socket (CannotListenError), a field that does not fit, ...
        return Failure(UDPTrackerError(url, f"could not announce: {failure.getErrorMessage()}"))

    def announce(
        self, url: str, query: AnnounceQuery, timeout: float | None = None, tries: int | None = None
    ) -> Deferred[AnnounceResponse]:
        """
        Announce to a UDP tracker.

        @param url: C{udp://host:port}, maybe with a path (ignored).
        @param query: the announce; of its key, the first 4 bytes (or their
            hex text) are sent; its C{trackerId} is ignored: UDP trackers
            have none.
        @param timeout: if given, give up after this many seconds whatever
            the retry schedule (for the C{stopped} announce).
        @param tries: tries per request; L{tries} if C{None}.
        @return: a Deferred firing with a
            L{bittwist.trackerclient.AnnounceResponse}, or failing with
            L{UDPTrackerError}; cancelling it stops the retries.
        @raise ValueError: if C{tries} is out of range.
        """
        if tries is not None and not 1 <= tries <= MAX_TRIES:
            raise ValueError(f"tries must be between 1 and {MAX_TRIES}, not {tries}")
        keyNumber = _keyNumber(query.key)
        numwant = max(-1, min(query.numwant, 2 ** 31 - 1))

        def build(connectionId: int, transactionId: int) -> AnnounceRequest:
            return AnnounceRequest(
                connectionId, transactionId, query.infoHash, query.peerId, query.downloaded,
                query.left, query.uploaded, query.event, 0, keyNumber, numwant, query.port,
            )

        @inlineCallbacks
        def run() -> Any:
            address = yield self._resolve(url)
            reply = yield self._checked(
                url, self._exchange(url, address, build, tries or self.tries), AnnounceReply
            )
            return AnnounceResponse(
                interval=reply.interval,
                minInterval=None,
                peers=reply.peers,
                warning=None,
                complete=reply.seeders,
                incomplete=reply.leechers,
                trackerId=None,
            )

        return self._run(url, run, timeout)

    def scrape(self, url: str, infoHashes: list[bytes], tries: int | None = None) -> Deferred[dict[bytes, ScrapeEntry]]:
        """
        Ask a UDP tracker for the counts of up to L{MAX_SCRAPE_HASHES}
        torrents.

        @return: a Deferred firing with a L{ScrapeEntry} per info hash, or
            failing with L{UDPTrackerError}.
        """
        hashes = tuple(infoHashes)
        if not 1 <= len(hashes) <= MAX_SCRAPE_HASHES:
            raise ValueError(f"a scrape asks for 1 to {MAX_SCRAPE_HASHES} info hashes")

        @inlineCallbacks
        def run() -> Any:
            address = yield self._resolve(url)
            reply = yield self._checked(
                url,
                self._exchange(url, address, lambda c, t: ScrapeRequest(c, t, hashes), tries or self.tries),
                ScrapeReply,
            )
            if len(reply.entries) != len(hashes):
                raise UDPTrackerError(
                    url, f"scrape answer has {len(reply.entries)} entries for "
                         f"{len(hashes)} torrents; the tracker is broken")
            return dict(zip(hashes, reply.entries))

        return self._run(url, run, timeout=None)

    def _run(self, url: str, run: Any, timeout: float | None) -> Deferred:
        d = run()
        d.addErrback(self._failed, url)
        if timeout is not None:
            def timedOut(result: object, seconds: float) -> Failure:
                return Failure(UDPTrackerError(
                    url, f"no answer from {_shortURL(url)} within {seconds:g} seconds"))

            d.addTimeout(timeout, self._reactor, onTimeoutCancel=timedOut)
        return d


class _NoAnswer(Exception):
    """
    A request went unanswered C{tries} times, C{waited} seconds in all.
    """

    def __init__(self, tries: int, waited: int) -> None:
        self.tries = tries
        self.waited = waited


def _shortURL(url: str) -> str:
    """
    C{udp://host:port}, without path or query, for messages.
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _keyNumber(key: bytes | None) -> int:
    """
    Our announce key as BEP 15's 32-bit number: the hex text HTTP trackers
    see, read as a number, or the first 4 bytes of a binary key.
    """
    if not key:
        return 0
    try:
        return int(key[:8].decode("ascii"), 16) & 0xFFFFFFFF
    except (UnicodeDecodeError, ValueError):
        return int.from_bytes(key[:4].ljust(4, b"\0"), "big")
