# -*- test-case-name: tests.test_metadatafetch -*-
"""
Fetching a torrent's metadata (its C{info} dictionary) from peers, for a
torrent added by magnet link: the C{ut_metadata} extension (BEP 9) on the
side that lacks the metadata.

L{MetadataFetcher} is the extension handler: it asks each peer that offers
the metadata for pieces (L{MetadataAssembler} chooses which), gives up on a
request after L{REQUEST_TIMEOUT} seconds and asks another peer, answers
peers' own requests with a reject, and fires L{MetadataFetcher.whenFetched}
with the verified bytes.
"""

from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from bittwist.errors import ExtensionError, MetadataHashError
from bittwist.extensions.ut_metadata import (
    EXTENSION_NAME,
    MetadataAssembler,
    MetadataData,
    MetadataReject,
    MetadataRequest,
    decodeMetadataMessage,
)
from bittwist.waiters import Waiters

__all__ = ["MetadataFetcher", "REQUEST_TIMEOUT", "REQUESTS_PER_PEER", "RETRY_AFTER"]

REQUEST_TIMEOUT = 10.0
"""
Seconds a peer has to answer a request for a piece of metadata.
"""

RETRY_AFTER = 5.0
"""
Seconds after a peer rejected a piece, or let a request time out, before
it may be asked for that piece again.
"""

REQUESTS_PER_PEER = 4
"""
How many metadata requests one peer has in flight at most (a metadata of
a few hundred KiB then comes from a few peers in a few round trips).
"""


class MetadataFetcher:
    """
    The C{ut_metadata} extension of a torrent that has no metadata yet.

    Peers are L{bittwist.peer.PeerProtocol}s: it reads their
    C{extendedHandshake} and C{supports}, and calls C{sendExtended} and
    C{drop}.

    @ivar name: the extension's name.
    @ivar metadataSize: the size the first offering peer announced, once
        one did.
    """

    name = EXTENSION_NAME
    log = Logger()

    def __init__(self, infoHash: bytes, reactor: IReactorTime) -> None:
        """
        @param infoHash: the info hash the metadata must match.
        @param reactor: for request timeouts.
        """
        self.infoHash = infoHash
        self._reactor = reactor
        self._assembler: Optional[MetadataAssembler] = None
        self.metadataSize: Optional[int] = None
        self._peers: set[Any] = set()
        self._timers: dict[tuple[Any, int], IDelayedCall] = {}
        self._retries: dict[Any, IDelayedCall] = {}
        self._result: Optional[bytes] = None
        self._waiting: Waiters[bytes] = Waiters()

    # What the extension table asks.

    def handshakeFields(self) -> dict[str, Any]:
        return {}

    def peerReady(self, peer: Any) -> None:
        if self._result is not None:
            return
        handshake = peer.extendedHandshake
        size = handshake.metadataSize if handshake is not None else None
        if size is None:
            return
        if self._assembler is None:
            self._assembler = MetadataAssembler(self.infoHash, size)
            self.metadataSize = size
        elif size != self._assembler.metadataSize:
            # Someone announces the wrong size: only the hash check can
            # tell who, so keep asking the peers that agree with the first.
            self.log.debug(
                "{peer} announces metadata of {size} bytes, others {first}",
                peer=peer,
                size=size,
                first=self._assembler.metadataSize,
            )
            return
        self._peers.add(peer)
        self._askMore(peer)

    def received(self, peer: Any, payload: bytes) -> None:
        message = decodeMetadataMessage(payload)
        if message is None:
            return
        if isinstance(message, MetadataRequest):
            # We have nothing to serve yet.
            peer.sender.sendExtended(self.name, MetadataReject(message.piece).encode())
            return
        if peer not in self._peers or self._assembler is None:
            raise ExtensionError(EXTENSION_NAME, f"{type(message).__name__} we did not ask for")
        timer = self._timers.pop((peer, message.piece), None)
        if timer is None:
            # An answer after its request timed out, or one never asked
            # for: nothing is kept of it either way.
            return
        timer.cancel()
        if isinstance(message, MetadataReject):
            self._assembler.receiveReject(peer, message)
            self._retryLater(peer)
            self._askOthers()
            return
        assert isinstance(message, MetadataData)
        try:
            metadata = self._assembler.receiveData(peer, message)
        except MetadataHashError as e:
            self.log.warn("{error}", error=e)
            for sender in e.peers:
                sender.drop("sent metadata that does not match the info hash")
            self._askOthers()
            return
        if metadata is None:
            self._askMore(peer)
            return
        self._finish(metadata)

    def peerGone(self, peer: Any) -> None:
        self._peers.discard(peer)
        for key in [key for key in self._timers if key[0] is peer]:
            self._timers.pop(key).cancel()
        retry = self._retries.pop(peer, None)
        if retry is not None:
            retry.cancel()
        if self._assembler is not None:
            self._assembler.peerLost(peer)
            self._askOthers()

    # The result.

    def whenFetched(self) -> Deferred[bytes]:
        """
        @return: fires with the metadata (the C{info} dictionary's bytes),
            verified against the info hash.
        """
        if self._result is not None:
            return succeed(self._result)
        return self._waiting.wait()

    @property
    def progress(self) -> float:
        """
        The fraction of the metadata's pieces in.
        """
        if self._result is not None:
            return 1.0
        if self._assembler is None:
            return 0.0
        return self._assembler.receivedPieces / self._assembler.numPieces

    def stop(self) -> None:
        """
        Stop fetching: forget every request and peer.
        """
        for timer in list(self._timers.values()) + list(self._retries.values()):
            timer.cancel()
        self._timers.clear()
        self._retries.clear()
        self._peers.clear()

    # Asking.

    def _askMore(self, peer: Any) -> None:
        assert self._assembler is not None
        inFlight = sum(1 for key in self._timers if key[0] is peer)
        while inFlight < REQUESTS_PER_PEER:
            request = self._assembler.nextRequest(peer)
            if request is None:
                return
            if not peer.sender.sendExtended(self.name, request.encode()):
                self._assembler.peerLost(peer)
                return
            self._timers[(peer, request.piece)] = self._reactor.callLater(
                REQUEST_TIMEOUT, self._timedOut, peer, request.piece
            )
            inFlight += 1

    def _askOthers(self) -> None:
        for peer in list(self._peers):
            if self._result is not None:
                return
            self._askMore(peer)

    def _timedOut(self, peer: Any, piece: int) -> None:
        del self._timers[(peer, piece)]
        assert self._assembler is not None
        self._assembler.cancelRequest(peer, piece)
        self._retryLater(peer)
        self._askOthers()

    def _retryLater(self, peer: Any) -> None:
        """
        Let C{peer} be asked again, after L{RETRY_AFTER}, for what it
        rejected or let time out.
        """
        if peer not in self._retries:
            self._retries[peer] = self._reactor.callLater(RETRY_AFTER, self._retry, peer)

    def _retry(self, peer: Any) -> None:
        del self._retries[peer]
        if self._assembler is None or peer not in self._peers or self._result is not None:
            return
        self._assembler.forgive(peer)
        self._askMore(peer)

    def _finish(self, metadata: bytes) -> None:
        self._result = metadata
        self.stop()
        self.log.info(
            "metadata of {size} bytes received and verified", size=len(metadata)
        )
        self._waiting.fire(metadata)
