# -*- test-case-name: tests.test_metadataserver -*-
"""
Serving our metadata (BEP 9, C{ut_metadata}): the C{ut_metadata} extension
of a torrent whose metadata we have.

A peer that joined from a magnet link asks for the C{info} dictionary in
16 KiB pieces; each request is answered at once from
L{bittwist.metainfo.Metainfo.infoBytes} (held in memory anyway), with the
piece or a reject. Bounds: a connection gets each piece of our metadata at
most L{MAX_ANSWERS_PER_PIECE} times (it needs it once) and is rejected
after that; a peer that keeps asking past L{MAX_REQUESTS_PER_PIECE} requests
a piece is dropped; and nothing is answered while the peer does not read
what we send, so answers never pile up in memory.
"""

from typing import Any, Optional

from zope.interface import implementer

from bittwist.errors import ExtensionError
from bittwist.extensions.table import IExtensionHandler
from bittwist.extensions.ut_metadata import (
    EXTENSION_NAME,
    MetadataReject,
    MetadataRequest,
    answerRequest,
    decodeMetadataMessage,
    metadataPieceCount,
)
from bittwist.peer import PeerProtocol

__all__ = ["MetadataServer", "MAX_ANSWERS_PER_PIECE", "MAX_REQUESTS_PER_PIECE"]

MAX_ANSWERS_PER_PIECE = 2
"""
How many times one connection is sent each piece of our metadata.
"""

MAX_REQUESTS_PER_PIECE = 8
"""
How many requests per piece of our metadata one connection may make before
it is dropped as flooding us.
"""


@implementer(IExtensionHandler)
class MetadataServer:
    """
    The C{ut_metadata} extension of one torrent: serves its metadata.
    """

    name = EXTENSION_NAME

    def __init__(self, infoBytes: Optional[bytes]) -> None:
        """
        @param infoBytes: our metadata (the bencoded C{info} dictionary), or
            C{None} (or empty) if we do not have it: every request is then
            rejected.
        """
        self._infoBytes = infoBytes or None
        pieces = metadataPieceCount(len(infoBytes)) if infoBytes else 1
        self._maxAnswers = MAX_ANSWERS_PER_PIECE * pieces
        self._maxRequests = MAX_REQUESTS_PER_PIECE * pieces
        self._answered: dict[PeerProtocol, int] = {}
        self._requests: dict[PeerProtocol, int] = {}

    def handshakeFields(self) -> dict[str, Any]:
        if self._infoBytes is None:
            return {}
        return {"metadataSize": len(self._infoBytes)}

    def peerReady(self, peer: PeerProtocol) -> None:
        pass

    def received(self, peer: PeerProtocol, payload: bytes) -> None:
        message = decodeMetadataMessage(payload)
        if not isinstance(message, MetadataRequest):
            # Data or rejects we never asked for (we have the metadata), or
            # a message type BEP 9 says to ignore.
            return
        requests = self._requests.get(peer, 0) + 1
        self._requests[peer] = requests
        if requests > self._maxRequests:
            raise ExtensionError(self.name, f"more than {self._maxRequests} requests")
        if peer.writePaused:
            # It does not read what we send: answering would only fill
            # memory. It may ask again.
            return
        answered = self._answered.get(peer, 0)
        if answered >= self._maxAnswers:
            answer: Any = MetadataReject(message.piece)
        else:
            answer = answerRequest(self._infoBytes, message)
            if not isinstance(answer, MetadataReject):
                self._answered[peer] = answered + 1
        peer.sender.sendExtended(self.name, answer.encode())

    def peerGone(self, peer: PeerProtocol) -> None:
        self._answered.pop(peer, None)
        self._requests.pop(peer, None)
