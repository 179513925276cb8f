# -*- test-case-name: tests.test_announcer -*-
"""
Keeping one torrent announced to all its trackers (BEP 12 tiers).

L{Announcer} schedules the announces, tries the trackers tier by tier, backs
off when they all fail and keeps each tracker's L{TrackerStatus} for the
status page.  It announces through the L{ITrackerClient} that
L{TRACKER_CLIENTS} holds for each URL's scheme.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import treq
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist.errors import TrackerError
from bittwist.httptracker import HTTPTrackerClient
from bittwist.safetext import printable
from bittwist.trackerclient import AnnounceQuery, AnnounceResponse, ITrackerClient, urlScheme
from bittwist.udptracker import UDPTrackerClient

__all__ = ["TrackerStatus", "Announcer", "TRACKER_CLIENTS", "trackerScheme"]

# Tests replace this to make tier order predictable.
_shuffle = random.shuffle


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


def _httpTrackerClient(announcer: Announcer) -> ITrackerClient:
    return HTTPTrackerClient(announcer.reactor, announcer.httpClient, announcer.ANNOUNCE_TIMEOUT)


def _udpTrackerClient(announcer: Announcer) -> ITrackerClient:
    # Several trackers to fall back on: do not wait minutes for one.
    tries = 2 if announcer.trackerCount > 1 else UDPTrackerClient.DEFAULT_TRIES
    return UDPTrackerClient(announcer.reactor, tries=tries)


#: Tracker clients by URL scheme: each makes an L{ITrackerClient} for an
#: L{Announcer}.
TRACKER_CLIENTS: dict[str, Callable[[Announcer], ITrackerClient]] = {
    "http": _httpTrackerClient,
    "https": _httpTrackerClient,
    "udp": _udpTrackerClient,
}


def trackerScheme(url: str) -> str:
    """
    @return: the scheme of C{url}, lower case, if L{TRACKER_CLIENTS} has a
        client for it.
    @raise TrackerError: if it has none.
    """
    scheme = urlScheme(url)
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
        self._clients: dict[str, ITrackerClient] = {}
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
        query = self._query(url, event="stopped", numwant=0)
        d = self._clientFor(url).announce(url, query, timeout=self.STOP_TIMEOUT)

        def stopFailed(failure: Failure) -> None:
            self.log.info(
                "Tracker {url} did not hear that we stopped: {reason}",
                url=printable(url),
                reason=getattr(failure.value, "reason", None) or printable(failure.getErrorMessage()),
            )

        d.addCallbacks(lambda _: None, stopFailed)
        d.addCallback(lambda _: self._closeClients())
        return d

    def _query(self, url: str, event: str | None, numwant: int) -> AnnounceQuery:
        """
        The announce C{url} is sent, with the torrent's stats as they are now.
        """
        uploaded, downloaded, left = self._stats()
        return AnnounceQuery(
            self._infoHash, self._peerId, self._port, uploaded, downloaded, left,
            event=event, numwant=numwant, key=self._key, trackerId=self._trackerIds.get(url),
        )

    def _clientFor(self, url: str) -> ITrackerClient:
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
        lastError = None
        for tier in self._tiers:
            for url in list(tier):
                self._note(url, state="announcing")
                try:
                    response = yield self._clientFor(url).announce(
                        url, self._query(url, event, self._numwant)
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
