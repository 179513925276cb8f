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


__all__ += ["EncryptionError"]


class EncryptionError(ProtocolError):
    """
    The Message Stream Encryption handshake with a peer failed: the peer sent
    something the MSE specification does not allow, offered no crypto method
    we accept, asked for a torrent we do not serve, or gave up.

    The connection to that peer is dropped. An outgoing connection under the
    C{prefer} policy may then be retried in plaintext.

    @ivar reason: what went wrong.
    @ivar hint: what the user can do about it.
    """

    def __init__(
        self,
        reason: str,
        hint: str = "the peer does not speak MSE/PE correctly; nothing to do on our side",
    ) -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"encryption handshake: {reason}; {hint}")
