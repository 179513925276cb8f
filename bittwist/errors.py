# -*- test-case-name: tests.test_errors -*-
"""
Exceptions raised by bittwist.

Every exception derives from L{BittwistError}, carries the facts it is about
as attributes, and has a message that names the thing at fault and what a
user can do about it.
"""

__all__ = [
    "BittwistError",
    "MetainfoError",
    "ProtocolError",
    "TrackerError",
    "StorageError",
    "UsageError",
]


class BittwistError(Exception):
    """
    Base class of every error bittwist raises on purpose.
    """


class MetainfoError(BittwistError):
    """
    A C{.torrent} file (metainfo) is malformed or inconsistent.

    @ivar source: where the metainfo came from (a path, or C{"<bytes>"}).
    @ivar field: the key or path of the offending field, e.g. C{"info.piece length"}.
    @ivar reason: what is wrong with it.
    @ivar hint: what the user can do about it.
    """

    def __init__(
        self,
        source: str,
        field: str,
        reason: str,
        hint: str = "the torrent is damaged or not a torrent, get a fresh copy",
    ) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        self.hint = hint
        super().__init__(f"{source}: {field!r} {reason}; {hint}")


class ProtocolError(BittwistError):
    """
    A peer sent bytes that break the peer wire protocol (BEP 3).

    The connection to that peer is dropped; nothing else is affected.
    """


class TrackerError(BittwistError):
    """
    A tracker announce or scrape failed.

    @ivar url: the tracker's URL.
    @ivar reason: the tracker's own C{failure reason}, or what went wrong
        reaching it.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"tracker {url}: {reason}")


class StorageError(BittwistError):
    """
    Reading or writing the downloaded data failed (disk full, permissions,
    a path that would leave the download folder).

    @ivar path: the file concerned, if any.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class UsageError(BittwistError):
    """
    A caller asked for something that cannot be done with the arguments given
    (an unknown torrent, a bad option value).
    """


__all__ += ["ExtensionError", "MetadataHashError"]


class ExtensionError(ProtocolError):
    """
    A peer sent an extension message (BEP 9, 10, 11) that is malformed or
    breaks one of our bounds.  Like any L{ProtocolError}, the connection to
    that peer is dropped.

    @ivar extension: the extension concerned, e.g. C{"ut_metadata"} or
        C{"extended handshake"}.
    @ivar reason: what is wrong with the message.
    """

    def __init__(self, extension: str, reason: str) -> None:
        self.extension = extension
        self.reason = reason
        super().__init__(f"peer sent a bad {extension} message: {reason}")


class MetadataHashError(MetainfoError):
    """
    The metadata (the C{info} dictionary) fetched from peers (BEP 9) does not
    hash to the torrent's info hash: at least one peer sent bad pieces.  What
    was fetched is discarded; ask again, preferably other peers.

    @ivar infoHash: the info hash the metadata should have.
    @ivar peers: the peers that sent pieces of the discarded metadata.
    """

    def __init__(self, infoHash: bytes, peers: frozenset) -> None:
        self.infoHash = infoHash
        self.peers = peers
        super().__init__(
            f"metadata for {infoHash.hex()}",
            "info",
            f"from {len(peers)} peer(s) does not match the info hash",
            "it was discarded; fetch it again, from other peers if possible",
        )
