# -*- test-case-name: tests.test_fetch -*-
"""
Fetch a C{.torrent} file from an C{http://} or C{https://} address, bounded
in size and time, from public addresses only unless told otherwise (see
L{bittwist.addressguard}).
"""

from typing import Any, Optional
from urllib.parse import urlsplit

from twisted.internet.defer import CancelledError, Deferred, fail, maybeDeferred
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool

from bittwist.addressguard import PublicEndpointFactory, checkHost
from bittwist.errors import AddressRefused, MetainfoError, TorrentFetchError
from bittwist.httpbody import BodyTooLarge, cancelAfter, readBoundedBody
from bittwist.metainfo import Metainfo, parse

__all__ = ["fetchTorrent", "MAX_TORRENT_SIZE", "FETCH_TIMEOUT", "MAX_URL_LENGTH"]

MAX_TORRENT_SIZE = 10 * 2**20
"""
The largest C{.torrent} accepted by URL or by upload. Real ones are
kilobytes, a few megabytes for huge payloads: 10 MiB of piece hashes
describe 500,000 pieces, 8 TiB in 16 MiB pieces. libtorrent refuses to load
a torrent file over 10 MB by default (C{load_torrent_limits}); we accept
slightly more. This bounds what one fetch or upload makes us hold and parse.
"""

FETCH_TIMEOUT = 30.0
"""
Seconds a fetch may take, from asking to the last byte of the body.
"""

MAX_URL_LENGTH = 4096
"""
The longest address accepted (browsers and servers rarely take more than a
few thousand characters).
"""


def _defaultClient(reactor: Any, allowPrivate: bool) -> Any:
    from treq.client import HTTPClient

    pool = HTTPConnectionPool(reactor, persistent=False)
    if allowPrivate:
        return HTTPClient(Agent(reactor, pool=pool))
    return HTTPClient(Agent.usingEndpointFactory(reactor, PublicEndpointFactory(reactor), pool=pool))


def fetchTorrent(
    url: str,
    httpClient: Any = None,
    reactor: Any = None,
    maxSize: int = MAX_TORRENT_SIZE,
    timeout: float = FETCH_TIMEOUT,
    allowPrivate: bool = False,
) -> Deferred[Metainfo]:
    """
    Fetch and parse the C{.torrent} at C{url}. Redirects are followed (by
    the client; treq's follows up to 20).

    @param url: an C{http://} or C{https://} address.
    @param httpClient: a treq-like client (C{get(url)} giving a response
        with C{code}, C{phrase}, C{length} and C{deliverBody}); by default
        a new treq client without persistent connections, which connects to
        public addresses only (unless C{allowPrivate}), checked on the
        resolved address of every connection, redirects included.  A
        client given is used as it is: only the address of C{url} is
        checked before it is asked.
    @param reactor: times the fetch out (the global one by default).
    @param maxSize: the most bytes read; past it the connection is closed.
    @param timeout: seconds the whole fetch may take.
    @param allowPrivate: whether loopback, private and other non-public
        addresses may be fetched from (kind C{"address"} otherwise).
    @return: fires with the parsed torrent, or fails with
        L{TorrentFetchError} and nothing else.
    """
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    shown = url if len(url) <= 200 else url[:200] + "..."
    if len(url) > MAX_URL_LENGTH:
        return fail(
            TorrentFetchError(shown, f"the address is longer than {MAX_URL_LENGTH} characters", "url")
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as e:
        return fail(TorrentFetchError(shown, f"not a valid address ({e})", "url"))
    if parts.scheme.lower() not in ("http", "https") or not host:
        return fail(
            TorrentFetchError(
                shown, "only http:// and https:// addresses of .torrent files can be fetched", "url"
            )
        )
    if not allowPrivate:
        try:
            checkHost(host)
        except AddressRefused as e:
            return fail(TorrentFetchError(shown, str(e), "address"))
    if httpClient is None:
        httpClient = _defaultClient(reactor, allowPrivate)

    def gotResponse(response: Any) -> Deferred[bytes]:
        if response.code != 200:
            phrase = (response.phrase or b"").decode("ascii", "replace")[:100]
            readBoundedBody(response, 0).addErrback(lambda _: None)
            answered = f"the server answered {response.code} {phrase}".rstrip()
            raise TorrentFetchError(shown, answered + "; check the address", "status")
        # (A Content-Length past the limit is refused before any reading.)
        return readBoundedBody(response, maxSize)

    def parsed(data: bytes) -> Metainfo:
        try:
            return parse(data, source=shown)
        except MetainfoError as e:
            raise TorrentFetchError(shown, f"this is not a .torrent file ({e})", "metainfo")

    def failed(failure: Failure) -> Failure:
        if failure.check(TorrentFetchError):
            return failure
        refused = _refusal(failure)
        if refused is not None:
            return Failure(TorrentFetchError(shown, str(refused), "address"))
        if failure.check(BodyTooLarge):
            error = TorrentFetchError(
                shown, f"the file is larger than {maxSize} bytes; that is no .torrent file", "size"
            )
        elif timedOut():
            # Cancelling reaches the failure in many wrappings (the
            # client's ResponseNeverReceived, for one): go by the timer.
            error = TorrentFetchError(shown, f"no complete answer within {timeout:g} seconds", "timeout")
        elif failure.check(CancelledError):
            error = TorrentFetchError(shown, "the fetch was cancelled", "network")
        else:
            error = TorrentFetchError(
                shown, f"could not fetch it: {failure.getErrorMessage() or failure.type.__name__}", "network"
            )
        return Failure(error)

    # Unbuffered: the body is read once, by the bounded reader.
    d = maybeDeferred(httpClient.get, url, unbuffered=True)
    d.addCallback(gotResponse)
    timedOut = cancelAfter(d, timeout, reactor)
    d.addCallback(parsed)
    d.addErrback(failed)
    return d


def _refusal(failure: Failure) -> Optional[AddressRefused]:
    """
    @return: the L{AddressRefused} that failed a fetch, if one did: as it
        is, or among the reasons of the client's C{ResponseNeverReceived}
        or C{RequestTransmissionFailed}.
    """
    if failure.check(AddressRefused):
        return failure.value
    for reason in getattr(failure.value, "reasons", ()):
        if isinstance(reason, Failure) and reason.check(AddressRefused):
            return reason.value
    return None
