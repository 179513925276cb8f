# -*- test-case-name: tests.test_tracker -*-
"""
Announcing torrents to trackers (BEP 3, BEP 12, BEP 23, BEP 7).

L{announce} makes one announce request to an HTTP tracker and parses the
answer into an L{AnnounceResponse}; L{Announcer} keeps one torrent announced
to all its trackers, tier by tier, for as long as the torrent runs, through
the client L{TRACKER_CLIENTS} holds for each URL's scheme (UDP trackers:
L{bittwist.udptracker}).

Everything a tracker sends is untrusted: the body is read up to
L{MAX_RESPONSE_SIZE} and no further, decoded under a bound on the values it
may hold, at most L{MAX_PEERS_PER_ANSWER} peers are taken from it, every
field is type-checked, malformed peer entries are dropped, and its text is
escaped (L{bittwist.safetext.printable}) before it is logged or shown.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence
from urllib.parse import quote_from_bytes, urlsplit

import treq
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    fail,
    gatherResults,
    inlineCallbacks,
    maybeDeferred,
    succeed,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist.bdecode import decode as bdecode
from bittwist.errors import BencodeError, TrackerError
from bittwist.httpbody import BodyTooLarge, cancelAfter, readBoundedBody
from bittwist.safetext import printable

__all__ = [
    "TrackerStatus",
    "AnnounceResponse",
    "announce",
    "Announcer",
    "HTTPTrackerClient",
    "TRACKER_CLIENTS",
    "trackerScheme",
    "MAX_RESPONSE_SIZE",
    "MAX_PEERS_PER_ANSWER",
    "MAX_ANSWER_VALUES",
    "parseAnnounceBody",
]

#: The largest tracker answer we read, in bytes: reading stops and the
#: connection is closed past it.  An answer of 500 IPv6 peers is 9 KB.
MAX_RESPONSE_SIZE = 1024 * 1024

#: The most peers taken from one answer (ten times the 50 we ask for); the
#: rest are ignored without being parsed.
MAX_PEERS_PER_ANSWER = 500

#: The most bencoded values (strings, integers, lists, dictionaries) one
#: answer may hold: 500 peers as dictionaries take 3,500.  It bounds what
#: decoding a body of tiny values (C{lelele...}) can build.
MAX_ANSWER_VALUES = 50_000

#: The longest C{failure reason} or C{warning message} we keep, in characters.
_MAX_MESSAGE = 300

_EVENTS = (None, "started", "completed", "stopped")

# Tests replace this to make tier order predictable.
_shuffle = random.shuffle


@dataclass(frozen=True)
class AnnounceResponse:
    """
    A tracker's successful answer to an announce.

    @ivar interval: seconds the tracker wants between regular announces.
    @ivar minInterval: seconds the tracker demands between any two announces,
        if it said.
    @ivar peers: C{(host, port)} pairs, IPv4 and IPv6 hosts as text, without
        duplicates, in the tracker's order.
    @ivar warning: the tracker's C{warning message}, if any.
    @ivar complete: number of seeders, if the tracker said.
    @ivar incomplete: number of leechers, if the tracker said.
    @ivar trackerId: the C{tracker id} to send back next time, if any.
    """

    interval: int
    minInterval: int | None
    peers: tuple[tuple[str, int], ...]
    warning: str | None
    complete: int | None
    incomplete: int | None
    trackerId: bytes | None


@dataclass(frozen=True)
class TrackerStatus:
    """
    What is known of one tracker of a torrent, for the status page.

    @ivar url: its announce URL.
    @ivar tier: its BEP 12 tier, from 0.
    @ivar state: C{"not contacted"}, C{"announcing"}, C{"working"} (its last
        answer was good) or C{"error"}.
    @ivar lastAnnounce: when it last answered or failed (reactor time),
        or C{None}.
    @ivar nextAnnounce: when the torrent announces next (to this tier
        first), or C{None} if nothing is scheduled.
    @ivar peers: how many peers its last answer listed.
    @ivar seeders: its last C{complete} count, if it gave one.
    @ivar leechers: its last C{incomplete} count, if it gave one.
    @ivar error: its last failure, if its last announce failed.
    """

    url: str
    tier: int
    state: str
    lastAnnounce: float | None = None
    nextAnnounce: float | None = None
    peers: int = 0
    seeders: int | None = None
    leechers: int | None = None
    error: str | None = None


def _quote(value: bytes) -> str:
    """
    Percent-encode C{value} byte by byte, leaving only RFC 3986 unreserved
    characters as they are.
    """
    return quote_from_bytes(value, safe="")


def _announceURL(
    url: str,
    infoHash: bytes,
    peerId: bytes,
    port: int,
    uploaded: int,
    downloaded: int,
    left: int,
    event: str | None,
    numwant: int,
    key: bytes | None,
    trackerId: bytes | None,
) -> str:
    """
    Build the full announce URL: C{url} plus our query parameters, joined
    with C{?} or C{&} depending on whether C{url} already has a query.
    """
    base, _, _ = url.partition("#")
    params = [
        ("info_hash", _quote(infoHash)),
        ("peer_id", _quote(peerId)),
        ("port", str(port)),
        ("uploaded", str(uploaded)),
        ("downloaded", str(downloaded)),
        ("left", str(left)),
        ("compact", "1"),
        ("numwant", str(numwant)),
    ]
    if event is not None:
        params.append(("event", event))
    if key is not None:
        params.append(("key", _quote(key)))
    if trackerId is not None:
        params.append(("trackerid", _quote(trackerId)))
    query = "&".join(f"{name}={value}" for name, value in params)
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return base + separator + query


def _readBody(response: Any) -> Deferred[bytes]:
    """
    Read a tracker's answer, at most L{MAX_RESPONSE_SIZE} bytes of it.
    """
    return readBoundedBody(response, MAX_RESPONSE_SIZE)


def _text(value: bytes) -> str:
    """
    A tracker's message made safe for display: escaped and bounded.
    """
    return printable(value, _MAX_MESSAGE)


def _describe(failure: Failure) -> str:
    """
    Say why a request failed, in words: Twisted's web client wraps its
    reasons in a list (C{ResponseNeverReceived}, C{ResponseFailed}), whose
    own message is the list's C{repr}.
    """
    reasons = getattr(failure.value, "reasons", None)
    if isinstance(reasons, list) and reasons:
        return "; ".join(
            _describe(reason) if isinstance(reason, Failure) else str(reason)
            for reason in reasons
        )
    message = failure.getErrorMessage()
    if not message or message == failure.type.__name__:
        message = failure.type.__name__
    return printable(message, _MAX_MESSAGE)


def _optionalInt(value: object) -> int | None:
    """
    C{value} if it is a non-negative integer, else C{None}.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _compactPeers(
    url: str, blob: bytes, size: int, key: str, peers: dict[tuple[str, int], None]
) -> None:
    """
    Parse a compact peer string: 4 (or 16) address bytes then 2 port bytes,
    big-endian, per peer, into C{peers} until it holds
    L{MAX_PEERS_PER_ANSWER}.

    @raise TrackerError: if C{blob}'s length is not a multiple of C{size}.
    """
    if len(blob) % size:
        raise TrackerError(
            url,
            f"{key!r} is {len(blob)} bytes long, not a multiple of {size}; "
            f"the tracker is broken",
        )
    addressFactory = ipaddress.IPv4Address if size == 6 else ipaddress.IPv6Address
    for offset in range(0, len(blob), size):
        if len(peers) >= MAX_PEERS_PER_ANSWER:
            return
        entry = blob[offset : offset + size]
        port = int.from_bytes(entry[-2:], "big")
        if port == 0:
            continue
        peers[str(addressFactory(entry[:-2])), port] = None


def _dictionaryPeers(entries: list[object], peers: dict[tuple[str, int], None]) -> None:
    """
    Parse a list of peer dictionaries (C{ip}, C{port}) into C{peers} until
    it holds L{MAX_PEERS_PER_ANSWER}; drop malformed ones.
    """
    for entry in entries:
        if len(peers) >= MAX_PEERS_PER_ANSWER:
            return
        if not isinstance(entry, dict):
            continue
        ip = entry.get(b"ip")
        port = entry.get(b"port")
        if not isinstance(ip, bytes) or isinstance(port, bool):
            continue
        if not isinstance(port, int) or not 0 < port < 65536:
            continue
        try:
            address = ipaddress.ip_address(ip.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            continue
        peers[str(address), port] = None


def parseAnnounceBody(url: str, body: bytes) -> AnnounceResponse:
    """
    Parse the bencoded body of a tracker's announce answer.

    @param url: the tracker, for error messages.
    @param body: the raw body.
    @return: the answer.
    @raise TrackerError: if the body is not a bencoded dictionary, holds
        more than L{MAX_ANSWER_VALUES} values, carries a C{failure reason},
        or lacks a valid C{interval} or peer list.
    """
    try:
        decoded = bdecode(body, maxValues=MAX_ANSWER_VALUES)
    except BencodeError as e:
        raise TrackerError(url, f"the answer is not valid bencode ({e.reason}); the tracker is broken")
    if not isinstance(decoded, dict):
        raise TrackerError(url, "the answer is not a bencoded dictionary; the tracker is broken")
    reason = decoded.get(b"failure reason")
    if reason is not None:
        if isinstance(reason, bytes):
            raise TrackerError(url, _text(reason))
        raise TrackerError(url, "the tracker refused the announce without a readable reason")

    interval = _optionalInt(decoded.get(b"interval"))
    if interval is None:
        raise TrackerError(url, "the answer has no valid 'interval'; the tracker is broken")

    # An ordered set: duplicates dropped, the tracker's order kept.
    peers: dict[tuple[str, int], None] = {}
    rawPeers = decoded.get(b"peers")
    rawPeers6 = decoded.get(b"peers6")
    if rawPeers is None and rawPeers6 is None:
        raise TrackerError(url, "the answer has no 'peers'; the tracker is broken")
    if isinstance(rawPeers, bytes):
        _compactPeers(url, rawPeers, 6, "peers", peers)
    elif isinstance(rawPeers, list):
        _dictionaryPeers(rawPeers, peers)
    elif rawPeers is not None:
        raise TrackerError(url, "'peers' is neither a string nor a list; the tracker is broken")
    if isinstance(rawPeers6, bytes):
        _compactPeers(url, rawPeers6, 18, "peers6", peers)
    elif rawPeers6 is not None:
        raise TrackerError(url, "'peers6' is not a string; the tracker is broken")

    warning = decoded.get(b"warning message")
    trackerId = decoded.get(b"tracker id")
    return AnnounceResponse(
        interval=interval,
        minInterval=_optionalInt(decoded.get(b"min interval")),
        peers=tuple(peers),
        warning=_text(warning) if isinstance(warning, bytes) else None,
        complete=_optionalInt(decoded.get(b"complete")),
        incomplete=_optionalInt(decoded.get(b"incomplete")),
        trackerId=trackerId if isinstance(trackerId, bytes) and trackerId else None,
    )


def announce(
    url: str,
    infoHash: bytes,
    peerId: bytes,
    port: int,
    uploaded: int,
    downloaded: int,
    left: int,
    event: str | None = None,
    numwant: int = 50,
    key: bytes | None = None,
    trackerId: bytes | None = None,
    httpClient: Any = treq,
    timeout: float = 30,
    reactor: Any = None,
) -> Deferred[AnnounceResponse]:
    """
    Announce to one HTTP(S) tracker and parse its answer.

    Always asks for a compact peer list (BEP 23) but also understands
    dictionary lists and C{peers6} (BEP 7).

    @param url: the tracker's announce URL; it may carry a query already.
    @param infoHash: the torrent's 20-byte info hash.
    @param peerId: our 20-byte peer id.
    @param port: the port we accept peer connections on.
    @param event: C{"started"}, C{"completed"}, C{"stopped"} or C{None}.
    @param numwant: how many peers we would like.
    @param key: our random announce key, if any.
    @param trackerId: the C{tracker id} this tracker gave us last time.
    @param httpClient: a treq-like object with a C{get(url)} method.
    @param timeout: seconds to wait for the whole answer.
    @param reactor: the reactor that times the request out; the global one
        if C{None}.
    @return: a Deferred firing with an L{AnnounceResponse}, or failing with
        L{TrackerError} and nothing else.
    @raise ValueError: if C{event} is not one of BEP 3's.
    """
    if event not in _EVENTS:
        raise ValueError(f"unknown announce event {event!r}")
    if _scheme(url) not in ("http", "https"):
        return fail(TrackerError(url, "not an http:// or https:// tracker"))
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    fullURL = _announceURL(
        url, infoHash, peerId, port, uploaded, downloaded, left, event, numwant,
        key, trackerId,
    )

    def gotResponse(response: Any) -> Deferred[AnnounceResponse]:
        code = response.code
        d = _readBody(response)
        if code != 200:
            def badStatus(_: object) -> None:
                phrase = _text(response.phrase or b"")
                raise TrackerError(
                    url, f"HTTP status {code} {phrase}".rstrip() + "; check the tracker URL"
                )

            d.addBoth(badStatus)
        else:
            d.addCallback(lambda body: parseAnnounceBody(url, body))
        return d

    def failed(failure: Failure) -> Failure:
        if failure.check(TrackerError) and not timedOut():
            return failure
        if timedOut():
            reason = f"no answer within {timeout:g} seconds"
        elif failure.check(BodyTooLarge):
            reason = f"the answer is larger than {MAX_RESPONSE_SIZE} bytes; stopped reading it"
        elif failure.check(CancelledError):
            reason = "the announce was cancelled"
        else:
            reason = f"could not reach the tracker: {_describe(failure)}"
        return Failure(TrackerError(url, reason))

    d = maybeDeferred(httpClient.get, fullURL)
    d.addCallback(gotResponse)
    timedOut = cancelAfter(d, timeout, reactor)
    d.addErrback(failed)
    return d


class HTTPTrackerClient:
    """
    Announces to HTTP(S) trackers with L{announce}, as the tracker clients
    of L{TRACKER_CLIENTS} do: C{announce(url, infoHash, peerId, port,
    uploaded, downloaded, left, event, numwant, key, trackerId, timeout)}
    returns a Deferred of L{AnnounceResponse} failing only with
    L{TrackerError}; C{close()} returns a Deferred.
    """

    def __init__(self, reactor: Any, httpClient: Any = treq, timeout: float = 30) -> None:
        """
        @param timeout: seconds an announce may take when a call gives none.
        """
        self._reactor = reactor
        self._httpClient = httpClient
        self._timeout = timeout

    def announce(self, url: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Deferred[AnnounceResponse]:
        return announce(
            url, *args, httpClient=self._httpClient, reactor=self._reactor,
            timeout=self._timeout if timeout is None else timeout, **kwargs,
        )

    def close(self) -> Deferred[None]:
        return succeed(None)


def _udpTrackerClient(announcer: Announcer) -> Any:
    from bittwist.udptracker import UDPTrackerClient

    # Several trackers to fall back on: do not wait minutes for one.
    tries = 2 if announcer.trackerCount > 1 else UDPTrackerClient.DEFAULT_TRIES
    return UDPTrackerClient(announcer.reactor, tries=tries)


#: Tracker clients by URL scheme: each makes, for an L{Announcer}, an
#: object with C{announce} and C{close} (see L{HTTPTrackerClient}).
TRACKER_CLIENTS: dict[str, Callable[[Announcer], Any]] = {
    "http": lambda a: HTTPTrackerClient(a.reactor, a.httpClient, a.ANNOUNCE_TIMEOUT),
    "https": lambda a: HTTPTrackerClient(a.reactor, a.httpClient, a.ANNOUNCE_TIMEOUT),
    "udp": _udpTrackerClient,
}


def _scheme(url: str) -> str | None:
    """
    @return: the scheme of C{url}, lower case; C{None} if C{url} cannot be
        parsed (C{urlsplit} raises for a bad IPv6 literal such as C{[2J}).
    """
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return None


def trackerScheme(url: str) -> str:
    """
    @return: the scheme of C{url}, lower case, if L{TRACKER_CLIENTS} has a
        client for it.
    @raise TrackerError: if it has none.
    """
    scheme = _scheme(url)
    if scheme is None:
        raise TrackerError(url, "not a URL; the torrent is damaged")
    if scheme not in TRACKER_CLIENTS:
        raise TrackerError(url, f"unsupported tracker scheme {scheme!r}")
    return scheme


class Announcer:
    """
    Keeps one torrent announced to its trackers (BEP 12 tiers).

    Each tier is shuffled once. An announce tries the trackers of the first
    tier in order, then those of the next tier, and so on; a tracker that
    answers moves to the front of its tier. When every tracker fails the
    announce is retried after a delay that doubles from L{BACKOFF_START} up to
    L{BACKOFF_MAX} seconds.

    @ivar lastError: the last failure, cleared by the next success.
    @ivar lastResponse: the last successful answer.
    @ivar reactor: the reactor the tracker clients use.
    @ivar httpClient: the treq-like client HTTP trackers are asked with.
    @ivar trackerCount: how many usable trackers there are, in all tiers.
    """

    log = Logger()

    #: Seconds before the first retry after every tracker failed.
    BACKOFF_START = 30
    #: The longest retry delay, in seconds.
    BACKOFF_MAX = 30 * 60
    #: The shortest time between two regular announces, whatever the tracker says.
    INTERVAL_FLOOR = 30
    #: The shortest time between two announces asked for by L{announceNow}.
    ANNOUNCE_NOW_FLOOR = 60
    #: Seconds an announce may take before the next tracker is tried.
    ANNOUNCE_TIMEOUT = 30
    #: Seconds the C{stopped} announce may take.
    STOP_TIMEOUT = 5

    lastError: TrackerError | None
    lastResponse: AnnounceResponse | None

    def __init__(
        self,
        tiers: Sequence[Sequence[str]],
        infoHash: bytes,
        peerId: bytes,
        port: int,
        stats: Callable[[], tuple[int, int, int]],
        onPeers: Callable[[list[tuple[str, int]]], None],
        reactor: Any = None,
        httpClient: Any = treq,
        numwant: int = 50,
    ) -> None:
        """
        @param tiers: announce URLs grouped in tiers, best tier first
            (C{announce-list}, or C{[[announce]]}).
        @param stats: returns C{(uploaded, downloaded, left)} in bytes.
        @param onPeers: called with the peers of every successful answer.
        @param reactor: provides C{callLater} and C{seconds}; the global
            reactor if C{None}.
        @param httpClient: a treq-like object with a C{get(url)} method.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = self.reactor = reactor
        self._httpClient = self.httpClient = httpClient
        self._clients: dict[str, Any] = {}
        self._infoHash = infoHash
        self._peerId = peerId
        self._port = port
        self._stats = stats
        self._onPeers = onPeers
        self._numwant = numwant
        self._key = os.urandom(4).hex().encode("ascii")
        self._tiers: list[list[str]] = []
        for tier in tiers:
            usable = []
            for url in tier:
                try:
                    trackerScheme(url)
                except TrackerError as e:
                    self.log.info("Skipping tracker {url}: {reason}", url=printable(url), reason=e.reason)
                    continue
                if url not in usable:
                    usable.append(url)
            if usable:
                self._tiers.append(usable)
        self.trackerCount = sum(len(tier) for tier in self._tiers)
        # What the status page shows of each tracker, by URL.
        self._statuses: dict[str, TrackerStatus] = {
            url: TrackerStatus(url, number, "not contacted")
            for number, tier in enumerate(self._tiers)
            for url in tier
        }
        self._trackerIds: dict[str, bytes] = {}
        self._running = False
        self._startedSent = False
        self._completedWanted = False
        self._completedSent = False
        self._again = False
        self._inFlight: Deferred[None] | None = None
        self._call: Any = None
        self._failures = 0
        self._lastAttempt: float | None = None
        self._lastURL: str | None = None
        self.lastError = None
        self.lastResponse = None

    def start(self) -> None:
        """
        Announce C{started} now, then keep announcing every C{interval}.
        """
        if self._running:
            return
        self._running = True
        if not self._tiers:
            self.log.warn("No usable tracker for this torrent; not announcing")
            return
        for tier in self._tiers:
            _shuffle(tier)
        self._announce()

    def completed(self) -> None:
        """
        Tell the trackers the download is complete, once.
        """
        if self._completedWanted:
            return
        self._completedWanted = True
        if self._running:
            self._announce()

    def announceNow(self) -> None:
        """
        Ask for more peers early: announce as soon as the tracker's
        C{min interval} (and L{ANNOUNCE_NOW_FLOOR}) since the last announce
        allow.
        """
        if not self._running or not self._tiers or self._inFlight is not None:
            return
        floor = self.ANNOUNCE_NOW_FLOOR
        if self.lastResponse is not None and self.lastResponse.minInterval:
            floor = max(floor, self.lastResponse.minInterval)
        now = self._reactor.seconds()
        earliest = now if self._lastAttempt is None else self._lastAttempt + floor
        if earliest <= now:
            self._announce()
        elif self._call is None or self._call.getTime() > earliest:
            self._schedule(earliest - now)

    def stop(self) -> Deferred[None]:
        """
        Stop announcing and tell the tracker that last answered that we left.

        @return: a Deferred that fires with C{None} within
            L{STOP_TIMEOUT} seconds and never fails.
        """
        wasRunning, self._running = self._running, False
        self._cancelCall()
        if self._inFlight is not None:
            inFlight, self._inFlight = self._inFlight, None
            inFlight.cancel()
        if not wasRunning or not self._startedSent or self._lastURL is None:
            return self._closeClients()
        self._startedSent = False
        url = self._lastURL
        uploaded, downloaded, left = self._stats()
        d = self._clientFor(url).announce(
            url, self._infoHash, self._peerId, self._port, uploaded, downloaded,
            left, event="stopped", numwant=0, key=self._key,
            trackerId=self._trackerIds.get(url), timeout=self.STOP_TIMEOUT,
        )

        def stopFailed(failure: Failure) -> None:
            self.log.info(
                "Tracker {url} did not hear that we stopped: {reason}",
                url=printable(url),
                reason=getattr(failure.value, "reason", None) or printable(failure.getErrorMessage()),
            )

        d.addCallbacks(lambda _: None, stopFailed)
        d.addCallback(lambda _: self._closeClients())
        return d

    def _clientFor(self, url: str) -> Any:
        """
        The tracker client for C{url}'s scheme, made on first use.
        """
        scheme = trackerScheme(url)
        client = self._clients.get(scheme)
        if client is None:
            client = self._clients[scheme] = TRACKER_CLIENTS[scheme](self)
        return client

    def _closeClients(self) -> Deferred[None]:
        clients, self._clients = list(self._clients.values()), {}
        ds = [client.close() for client in clients]
        return gatherResults(ds).addCallback(lambda _: None)

    def _cancelCall(self) -> None:
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def trackerStatuses(self) -> list[TrackerStatus]:
        """
        @return: each usable tracker's status, by tier, in the order they
            are tried.
        """
        nextAnnounce = self._call.getTime() if self._call is not None and self._call.active() else None
        return [
            dataclasses.replace(self._statuses[url], nextAnnounce=nextAnnounce)
            for tier in self._tiers
            for url in tier
        ]

    def _note(self, url: str, **changes: Any) -> None:
        self._statuses[url] = dataclasses.replace(self._statuses[url], **changes)

    def _schedule(self, delay: float) -> None:
        self._cancelCall()
        self._call = self._reactor.callLater(delay, self._timerFired)

    def _timerFired(self) -> None:
        self._call = None
        self._announce()

    def _nextEvent(self) -> str | None:
        if not self._startedSent:
            return "started"
        if self._completedWanted and not self._completedSent:
            return "completed"
        return None

    def _announce(self) -> None:
        """
        Announce now, unless an announce is in flight, in which case announce
        again as soon as it ends.
        """
        if not self._running or not self._tiers:
            return
        if self._inFlight is not None:
            self._again = True
            return
        self._cancelCall()
        self._again = False
        event = self._nextEvent()
        self._lastAttempt = self._reactor.seconds()
        d = self._tryTrackers(event)
        self._inFlight = d
        d.addCallbacks(self._succeeded, self._allFailed, callbackArgs=(d, event),
                       errbackArgs=(d,))

    @inlineCallbacks
    def _tryTrackers(self, event: str | None) -> Any:
        """
        Try each tracker in tier order until one answers.

        @return: a Deferred firing with C{(url, response)}, or failing with
            the last L{TrackerError}.
        """
        uploaded, downloaded, left = self._stats()
        lastError = None
        for tier in self._tiers:
            for url in list(tier):
                self._note(url, state="announcing")
                try:
                    response = yield self._clientFor(url).announce(
                        url, self._infoHash, self._peerId, self._port, uploaded,
                        downloaded, left, event=event, numwant=self._numwant,
                        key=self._key, trackerId=self._trackerIds.get(url),
                    )
                except TrackerError as e:
                    if not self._running:
                        raise
                    lastError = e
                    self._note(
                        url, state="error", error=printable(e.reason, 300),
                        lastAnnounce=self._reactor.seconds(),
                    )
                    self.log.info("Tracker {url} failed: {reason}", url=printable(url), reason=e.reason)
                    continue
                self._note(
                    url, state="working", error=None, lastAnnounce=self._reactor.seconds(),
                    peers=len(response.peers), seeders=response.complete,
                    leechers=response.incomplete,
                )
                tier.remove(url)
                tier.insert(0, url)
                return url, response
        raise lastError

    def _succeeded(self, result: tuple[str, AnnounceResponse], d: Deferred, event: str | None) -> None:
        if self._inFlight is not d:
            return
        self._inFlight = None
        url, response = result
        self._lastURL = url
        self._failures = 0
        self.lastError = None
        self.lastResponse = response
        if response.trackerId is not None:
            self._trackerIds[url] = response.trackerId
        if event == "started":
            self._startedSent = True
        elif event == "completed":
            self._completedSent = True
        if response.warning is not None:
            self.log.warn(
                "Tracker {url} warns: {trackerWarning}", url=printable(url), trackerWarning=response.warning
            )
        try:
            self._onPeers(list(response.peers))
        except Exception:
            self.log.failure("Error handling peers from tracker {url}", url=printable(url))
        if self._again or self._nextEvent() is not None:
            delay = 0.0
        else:
            delay = max(response.interval, response.minInterval or 0, self.INTERVAL_FLOOR)
        if self._running:
            self._schedule(delay)

    def _allFailed(self, failure: Failure, d: Deferred) -> None:
        if self._inFlight is not d:
            return
        self._inFlight = None
        error = failure.value
        if not isinstance(error, TrackerError):
            error = TrackerError("<all trackers>", str(error))
        self.lastError = error
        delay = min(self.BACKOFF_START * 2 ** min(self._failures, 16), self.BACKOFF_MAX)
        self._failures += 1
        self.log.warn(
            "Every tracker failed; last: {url}: {reason}; retrying in {delay} seconds",
            url=printable(error.url), reason=error.reason, delay=delay,
        )
        if self._running:
            self._schedule(delay)
