# -*- test-case-name: tests.test_httptracker -*-
"""
Announcing to HTTP(S) trackers (BEP 3, BEP 23, BEP 7).

L{announce} makes one announce request and parses the answer
(L{parseAnnounceBody}) into an L{AnnounceResponse};
L{HTTPTrackerClient} is the L{ITrackerClient} an announcer uses for
C{http} and C{https} URLs.

Everything a tracker sends is untrusted: the body is read up to
L{MAX_RESPONSE_SIZE} and no further, decoded under a bound on the values it
may hold, at most L{MAX_PEERS_PER_ANSWER} peers are taken from it, every
field is type-checked, malformed peer entries are dropped, and its text is
escaped (L{bittwist.safetext.printable}) before it is logged or shown.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import quote_from_bytes

import treq
from twisted.internet.defer import CancelledError, Deferred, fail, maybeDeferred, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist.bdecode import decode as bdecode
from bittwist.errors import BencodeError, TrackerError
from bittwist.httpbody import BodyTooLarge, cancelAfter, readBoundedBody
from bittwist.safetext import printable
from bittwist.trackerclient import AnnounceQuery, AnnounceResponse, ITrackerClient, addCompactPeers, urlScheme

__all__ = [
    "announce",
    "HTTPTrackerClient",
    "parseAnnounceBody",
    "MAX_RESPONSE_SIZE",
    "MAX_PEERS_PER_ANSWER",
    "MAX_ANSWER_VALUES",
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

def _quote(value: bytes) -> str:
    """
    Percent-encode C{value} byte by byte, leaving only RFC 3986 unreserved
    characters as they are.
    """
    return quote_from_bytes(value, safe="")


def _announceURL(url: str, query: AnnounceQuery) -> str:
    """
    Build the full announce URL: C{url} plus our query parameters, joined
    with C{?} or C{&} depending on whether C{url} already has a query.
    """
    base, _, _ = url.partition("#")
    params = [
        ("info_hash", _quote(query.infoHash)),
        ("peer_id", _quote(query.peerId)),
        ("port", str(query.port)),
        ("uploaded", str(query.uploaded)),
        ("downloaded", str(query.downloaded)),
        ("left", str(query.left)),
        ("compact", "1"),
        ("numwant", str(query.numwant)),
    ]
    if query.event is not None:
        params.append(("event", query.event))
    if query.key is not None:
        params.append(("key", _quote(query.key)))
    if query.trackerId is not None:
        params.append(("trackerid", _quote(query.trackerId)))
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
    addCompactPeers(blob, size, peers, MAX_PEERS_PER_ANSWER)


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
    query: AnnounceQuery,
    httpClient: Any = treq,
    timeout: float = 30,
    reactor: Any = None,
) -> Deferred[AnnounceResponse]:
    """
    Announce to one HTTP(S) tracker and parse its answer.

    Always asks for a compact peer list (BEP 23) but also understands
    dictionary lists and C{peers6} (BEP 7).

    @param url: the tracker's announce URL; it may carry a query already.
    @param query: the announce.
    @param httpClient: a treq-like object with a C{get(url)} method.
    @param timeout: seconds to wait for the whole answer.
    @param reactor: the reactor that times the request out; the global one
        if C{None}.
    @return: a Deferred firing with an L{AnnounceResponse}, or failing with
        L{TrackerError} and nothing else.
    """
    if urlScheme(url) not in ("http", "https"):
        return fail(TrackerError(url, "not an http:// or https:// tracker"))
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    fullURL = _announceURL(url, query)

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


@implementer(ITrackerClient)
class HTTPTrackerClient:
    """
    Announces to HTTP(S) trackers with L{announce}.
    """

    def __init__(self, reactor: Any, httpClient: Any = treq, timeout: float = 30) -> None:
        """
        @param httpClient: a treq-like object with a C{get(url)} method.
        @param timeout: seconds an announce may take when a call gives none.
        """
        self._reactor = reactor
        self._httpClient = httpClient
        self._timeout = timeout

    def announce(self, url: str, query: AnnounceQuery, timeout: float | None = None) -> Deferred[AnnounceResponse]:
        return announce(
            url, query, httpClient=self._httpClient, reactor=self._reactor,
            timeout=self._timeout if timeout is None else timeout,
        )

    def close(self) -> Deferred[None]:
        return succeed(None)

