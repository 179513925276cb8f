# -*- test-case-name: tests.test_ut_metadata -*-
"""
Metadata exchange (BEP 9): the C{ut_metadata} messages, fetching the
metadata (the C{info} dictionary) from peers, and serving ours.

The metadata is cut into pieces of L{METADATA_PIECE_SIZE} (the last one
shorter).  A peer asks for a piece with a L{MetadataRequest} and gets a
L{MetadataData}, whose raw bytes follow its bencoded dictionary, or a
L{MetadataReject}.  L{MetadataAssembler} decides which piece to ask which
peer for, collects the pieces and checks the result against the info hash;
L{answerRequest} serves ours.  Nothing here touches a transport or a clock:
request timeouts are the caller's (see L{MetadataAssembler.cancelRequest}).
"""

import enum
import hashlib
from dataclasses import dataclass
from typing import Hashable, Union

import bencodepy

from bittwist.errors import ExtensionError, MetadataHashError
from bittwist.extensions.handshake import MAX_METADATA_SIZE, decodeDictionaryPrefix

__all__ = [
    "EXTENSION_NAME",
    "METADATA_PIECE_SIZE",
    "MAX_METADATA_PIECES",
    "MAX_REQUESTS_PER_PIECE",
    "MetadataMessageType",
    "MetadataRequest",
    "MetadataData",
    "MetadataReject",
    "MetadataMessage",
    "decodeMetadataMessage",
    "metadataPieceCount",
    "metadataPieceSize",
    "MetadataAssembler",
    "answerRequest",
]

EXTENSION_NAME = "ut_metadata"
"""
The name of the extension in the extended handshake's C{m}.
"""

METADATA_PIECE_SIZE = 16384
"""
The size of every metadata piece but the last (BEP 9).
"""

MAX_METADATA_PIECES = -(-MAX_METADATA_SIZE // METADATA_PIECE_SIZE)
"""
The number of pieces of metadata of the largest size accepted
(L{bittwist.extensions.handshake.MAX_METADATA_SIZE}); a piece index must be
below it.
"""

MAX_REQUESTS_PER_PIECE = 2
"""
How many peers L{MetadataAssembler} asks for one piece at most: a second
one only once every missing piece has been asked for, so that one slow
peer cannot hold up the end.
"""


class MetadataMessageType(enum.IntEnum):
    """
    The C{msg_type} of a C{ut_metadata} message.
    """

    REQUEST = 0
    DATA = 1
    REJECT = 2


def metadataPieceCount(totalSize: int) -> int:
    """
    @return: how many pieces metadata of C{totalSize} bytes has.
    """
    return -(-totalSize // METADATA_PIECE_SIZE)


def metadataPieceSize(totalSize: int, piece: int) -> int:
    """
    @return: the size of piece C{piece} of metadata of C{totalSize} bytes:
        L{METADATA_PIECE_SIZE}, but for the last piece what is left.
    @raise ValueError: if there is no such piece.
    """
    if not 0 <= piece < metadataPieceCount(totalSize):
        raise ValueError(f"metadata of {totalSize} bytes has no piece {piece}")
    return min(METADATA_PIECE_SIZE, totalSize - piece * METADATA_PIECE_SIZE)


@dataclass(frozen=True, slots=True)
class MetadataRequest:
    """
    The peer asks for piece C{piece} of the metadata.
    """

    piece: int

    def encode(self) -> bytes:
        """
        @return: the payload of the L{bittwist.wire.Extended} message.
        """
        return bencodepy.encode(
            {b"msg_type": MetadataMessageType.REQUEST.value, b"piece": self.piece}
        )


@dataclass(frozen=True, slots=True, repr=False)
class MetadataData:
    """
    Piece C{piece} of the metadata, which is C{totalSize} bytes in all.
    """

    piece: int
    totalSize: int
    data: bytes

    def __repr__(self) -> str:
        return (
            f"MetadataData(piece={self.piece}, totalSize={self.totalSize}, "
            f"data=<{len(self.data)} bytes>)"
        )

    def encode(self) -> bytes:
        """
        @return: the payload of the L{bittwist.wire.Extended} message: the
            bencoded dictionary, then the piece's bytes.
        """
        return (
            bencodepy.encode(
                {
                    b"msg_type": MetadataMessageType.DATA.value,
                    b"piece": self.piece,
                    b"total_size": self.totalSize,
                }
            )
            + self.data
        )


@dataclass(frozen=True, slots=True)
class MetadataReject:
    """
    The peer will not send piece C{piece} of the metadata.
    """

    piece: int

    def encode(self) -> bytes:
        """
        @return: the payload of the L{bittwist.wire.Extended} message.
        """
        return bencodepy.encode(
            {b"msg_type": MetadataMessageType.REJECT.value, b"piece": self.piece}
        )


MetadataMessage = Union[MetadataRequest, MetadataData, MetadataReject]


def _fail(reason: str) -> ExtensionError:
    return ExtensionError(EXTENSION_NAME, reason)


def decodeMetadataMessage(payload: bytes) -> MetadataMessage | None:
    """
    Decode a peer's C{ut_metadata} message.  The dictionary's end is found
    first, since the bytes of a data message follow it; unknown keys and
    bytes after a request or a reject are ignored.

    @param payload: the payload of the L{bittwist.wire.Extended} message.
    @return: the message, or C{None} for an unknown C{msg_type}, which
        BEP 9 says to ignore.
    @raise ExtensionError: if C{payload} does not start with a bencoded
        dictionary, C{msg_type} or C{piece} is missing or not an integer,
        the piece index is negative or at least L{MAX_METADATA_PIECES}, or
        a data message's C{total_size} is not 1 to
        L{bittwist.extensions.handshake.MAX_METADATA_SIZE}, has no such
        piece, or its data is not exactly that piece's size.
    """
    payload = bytes(payload)
    if payload[:1] != b"d":
        raise _fail("does not start with a bencoded dictionary")
    # The dictionary has three or four entries: a few dozen values is
    # plenty, and bounds what a hostile one costs.
    top, end = decodeDictionaryPrefix(payload, EXTENSION_NAME, maxValues=64)
    messageType = top.get(b"msg_type")
    piece = top.get(b"piece")
    if type(messageType) is not int:
        raise _fail("'msg_type' is missing or not an integer")
    if type(piece) is not int:
        raise _fail("'piece' is missing or not an integer")
    if not 0 <= piece < MAX_METADATA_PIECES:
        raise _fail(f"piece {piece} is not 0..{MAX_METADATA_PIECES - 1}")
    if messageType == MetadataMessageType.REQUEST:
        return MetadataRequest(piece)
    if messageType == MetadataMessageType.REJECT:
        return MetadataReject(piece)
    if messageType != MetadataMessageType.DATA:
        return None
    totalSize = top.get(b"total_size")
    if type(totalSize) is not int or not 0 < totalSize <= MAX_METADATA_SIZE:
        raise _fail(f"'total_size' {totalSize!r} is not 1..{MAX_METADATA_SIZE}")
    if piece >= metadataPieceCount(totalSize):
        raise _fail(f"metadata of {totalSize} bytes has no piece {piece}")
    expected = metadataPieceSize(totalSize, piece)
    data = payload[end:]
    if len(data) != expected:
        raise _fail(
            f"piece {piece} of {totalSize} bytes of metadata is {len(data)} "
            f"bytes, not {expected}"
        )
    return MetadataData(piece, totalSize, data)


def answerRequest(infoBytes: bytes | None, request: MetadataRequest) -> MetadataMessage:
    """
    Serve a peer's request for a piece of our metadata.

    @param infoBytes: our metadata (L{bittwist.metainfo.Metainfo.infoBytes}),
        or C{None} if we do not have it (or will not share it).
    @param request: the peer's request.
    @return: the piece, or a reject if we have no metadata or no such piece.
    """
    if infoBytes is None or not 0 <= request.piece < metadataPieceCount(len(infoBytes)):
        return MetadataReject(request.piece)
    start = request.piece * METADATA_PIECE_SIZE
    return MetadataData(
        request.piece, len(infoBytes), infoBytes[start : start + METADATA_PIECE_SIZE]
    )


class MetadataAssembler:
    """
    Fetch the metadata of a torrent from several peers: hand out which
    piece to ask each peer for, collect the pieces, and once all are in
    check them against the info hash.

    Peers are any hashable keys the caller chooses (a connection, an
    address).  The caller forgets a request that timed out with
    L{cancelRequest}, and a peer that went away with L{peerLost}.

    @ivar infoHash: the info hash the metadata must have.
    @ivar metadataSize: its size, as the peers announced it.
    @ivar numPieces: how many pieces it has.
    """

    def __init__(self, infoHash: bytes, metadataSize: int) -> None:
        """
        @param infoHash: the torrent's 20-byte info hash.
        @param metadataSize: the C{metadata_size} of the peers' extended
            handshakes.
        @raise ValueError: if C{infoHash} is not 20 bytes, or
            C{metadataSize} is not 1 to
            L{bittwist.extensions.handshake.MAX_METADATA_SIZE}.
        """
        if len(infoHash) != 20:
            raise ValueError(f"info hash must be 20 bytes, not {len(infoHash)}")
        if not 0 < metadataSize <= MAX_METADATA_SIZE:
            raise ValueError(f"metadata size {metadataSize} is not 1..{MAX_METADATA_SIZE}")
        self.infoHash = bytes(infoHash)
        self.metadataSize = metadataSize
        self.numPieces = metadataPieceCount(metadataSize)
        self._reset()

    def _reset(self) -> None:
        self._pieces: dict[int, bytes] = {}
        self._senders: set[Hashable] = set()
        # piece -> the peers asked for it and not yet answered
        self._requested: dict[int, set[Hashable]] = {}
        # piece -> the peers that rejected it
        self._rejected: dict[int, set[Hashable]] = {}

    @property
    def receivedPieces(self) -> int:
        """
        How many distinct pieces are in.
        """
        return len(self._pieces)

    def requestsOf(self, peer: Hashable) -> set[int]:
        """
        @return: the pieces asked of C{peer} and not yet answered.
        """
        return {piece for piece, peers in self._requested.items() if peer in peers}

    def nextRequest(self, peer: Hashable) -> MetadataRequest | None:
        """
        Choose a piece to ask C{peer} for, and note it as asked: the lowest
        piece nobody has been asked for; failing that (the end), the
        missing piece asked of the fewest other peers, fewer than
        L{MAX_REQUESTS_PER_PIECE}.  Never a piece C{peer} rejected or was
        already asked for.

        @param peer: the peer to ask.
        @return: the request to send it, or C{None} if there is nothing to
            ask it for now.
        """
        best = None
        bestCount = MAX_REQUESTS_PER_PIECE
        for piece in range(self.numPieces):
            if piece in self._pieces:
                continue
            askedOf = self._requested.get(piece, ())
            if peer in askedOf or peer in self._rejected.get(piece, ()):
                continue
            if len(askedOf) < bestCount:
                best, bestCount = piece, len(askedOf)
                if not bestCount:
                    break
        if best is None:
            return None
        self._requested.setdefault(best, set()).add(peer)
        return MetadataRequest(best)

    def cancelRequest(self, peer: Hashable, piece: int) -> None:
        """
        Forget that C{piece} was asked of C{peer} (the request timed out),
        so that it can be asked of another peer.  C{peer} will not be asked
        for it again.
        """
        self._forget(peer, piece)
        self._rejected.setdefault(piece, set()).add(peer)

    def forgive(self, peer: Hashable) -> None:
        """
        Forget what C{peer} rejected or let time out, so that it may be
        asked for those pieces again (a peer may reject while it is still
        busy, and with one peer there is nobody else to ask).
        """
        for rejecters in self._rejected.values():
            rejecters.discard(peer)

    def peerLost(self, peer: Hashable) -> None:
        """
        Forget every request to C{peer}, which is gone.
        """
        for piece in list(self._requested):
            self._forget(peer, piece)
        for rejecters in self._rejected.values():
            rejecters.discard(peer)

    def _forget(self, peer: Hashable, piece: int) -> None:
        askedOf = self._requested.get(piece)
        if askedOf is not None:
            askedOf.discard(peer)
            if not askedOf:
                del self._requested[piece]

    def receiveReject(self, peer: Hashable, message: MetadataReject) -> None:
        """
        C{peer} will not send a piece: ask someone else for it.
        """
        self.cancelRequest(peer, message.piece)

    def receiveData(self, peer: Hashable, message: MetadataData) -> bytes | None:
        """
        Take a piece from C{peer}.  A piece already in is ignored.  Once
        every piece is in, the metadata is checked against the info hash.

        @param peer: the peer that sent it.
        @param message: the data message, as L{decodeMetadataMessage} gave
            it (so its size fits its C{totalSize}).
        @return: the metadata, once complete and verified; else C{None}.
        @raise ExtensionError: if the message's C{totalSize} is not
            L{metadataSize}, or its piece does not exist or has the wrong
            size: the peer should be dropped.
        @raise MetadataHashError: if the complete metadata does not match
            the info hash; everything received is discarded, and fetching
            starts over (see L{MetadataHashError.peers}).
        """
        if message.totalSize != self.metadataSize:
            self._forget(peer, message.piece)
            raise _fail(
                f"total_size {message.totalSize}, but the metadata is "
                f"{self.metadataSize} bytes"
            )
        piece = message.piece
        if not 0 <= piece < self.numPieces:
            raise _fail(f"metadata of {self.metadataSize} bytes has no piece {piece}")
        if len(message.data) != metadataPieceSize(self.metadataSize, piece):
            self._forget(peer, piece)
            raise _fail(
                f"piece {piece} of the metadata is {len(message.data)} bytes, not "
                f"{metadataPieceSize(self.metadataSize, piece)}"
            )
        self._requested.pop(piece, None)
        if piece in self._pieces:
            return None
        self._pieces[piece] = message.data
        self._senders.add(peer)
        if len(self._pieces) < self.numPieces:
            return None
        metadata = b"".join(self._pieces[i] for i in range(self.numPieces))
        if hashlib.sha1(metadata).digest() != self.infoHash:
            senders = frozenset(self._senders)
            self._reset()
            raise MetadataHashError(self.infoHash, senders)
        return metadata
