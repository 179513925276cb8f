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
    "InternalError",
    "TorrentStopped",
    "ListenError",
    "MagnetError",
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


class InternalError(BittwistError):
    """
    A bug in bittwist itself: something it should never do. It is logged
    with its traceback; please report it.
    """


class TorrentStopped(BittwistError):
    """
    A torrent was stopped (or removed) before what was waited for happened.

    @ivar name: the torrent's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name}: stopped before the download completed")


class ListenError(BittwistError):
    """
    The service cannot accept peer connections where it was told to.

    @ivar endpoint: the endpoint description, e.g. C{"tcp:6881"}.
    @ivar reason: why.
    """

    #: What could not be done, and what to do instead, for the message.
    _what = "accept peers"
    _fix = "choose another --port (e.g. --port tcp:6882) or stop the program using it"

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"cannot {self._what} on {endpoint}: {reason}; {self._fix}")


class StateFolderError(BittwistError):
    """
    The state folder (see L{bittwist.state.StateFolder}) cannot be used:
    it cannot be created, or its lock file cannot be opened.

    @ivar path: the state folder.
    @ivar reason: what is wrong.
    """

    def __init__(
        self, path: str, reason: str, hint: str = "fix it or choose another --state-dir"
    ) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"state folder {path}: {reason}; {hint}")


class StateFolderLocked(StateFolderError):
    """
    The state folder is in use by another bittwist service, in this
    process or another: two services writing the same state files would
    undo each other's saves.

    @ivar pid: the process holding it, if known.
    """

    def __init__(self, path: str, pid: int | None) -> None:
        self.pid = pid
        owner = "pid unknown" if pid is None else f"pid {pid}"
        reason = f"in use by another bittwist ({owner})"
        self.path = path
        self.reason = reason
        BittwistError.__init__(
            self,
            f"state folder {path} is in use by another bittwist ({owner}); "
            f"stop it or choose another --state-dir",
        )


__all__ += ["StateFolderError", "StateFolderLocked"]


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


# Magnet links


class MagnetError(UsageError):
    """
    A magnet link cannot be used.

    @ivar field: the parameter at fault (C{"xt"}, C{"tr"}, C{"x.pe"}, ...),
        or C{"uri"} for the link as a whole.
    @ivar reason: what is wrong with it.
    @ivar hint: what the user can do about it.
    """

    def __init__(self, field: str, reason: str, hint: str = "check the magnet link") -> None:
        self.field = field
        self.reason = reason
        self.hint = hint
        super().__init__(f"magnet link: {field} {reason}; {hint}")


# Trackers: bounded answers, our tracker server's refusals.

__all__ += ["BencodeError", "AnnounceRefused"]


class BencodeError(BittwistError):
    """
    Bencoded input is malformed or breaks one of the bounds it is decoded
    under (L{bittwist.bdecode.decode}).

    @ivar reason: what is wrong with it.
    @ivar key: the dictionary key that appears twice, if that is what is
        wrong.
    @ivar limit: whether it breaks a bound (values, depth) rather than the
        format.
    """

    def __init__(self, reason: str, key: bytes | None = None, limit: bool = False) -> None:
        self.reason = reason
        self.key = key
        self.limit = limit
        super().__init__(f"bad bencode: {reason}")


class AnnounceRefused(BittwistError):
    """
    Our tracker (L{bittwist.trackerstore.Tracker}) refuses an announce or a
    scrape: the request is malformed or the asker hit one of its limits.
    The message is what the tracker sends back as C{failure reason}.

    @ivar reason: why, for the asking client.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- UDP trackers (BEP 15) ---------------------------------------------------

__all__ += ["UDPTrackerError", "UDPPacketError"]


class UDPTrackerError(TrackerError):
    """
    An announce or scrape to a UDP tracker (BEP 15) failed: the tracker
    never answered, answered with an error, or sent a malformed packet.

    @ivar url: the tracker's URL, e.g. C{udp://tracker.example:6969}.
    @ivar reason: what went wrong, and what to do about it.
    """


class UDPPacketError(BittwistError):
    """
    A UDP tracker packet (BEP 15) is malformed: wrong length, unknown action,
    or a field out of range.  A client fails the transaction it answers; a
    server drops the packet without answering.

    @ivar reason: what is wrong with the packet.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"malformed UDP tracker packet: {reason}")


# Web uploads and adding torrents by URL.

__all__ += ["FormDataError", "TorrentFetchError"]


class FormDataError(BittwistError):
    """
    A C{multipart/form-data} body is malformed or breaks one of our bounds
    (see L{bittwist.web.multipart}).

    @ivar reason: what is wrong with it.
    @ivar tooLarge: whether a field is over its size limit.
    """

    def __init__(self, reason: str, tooLarge: bool = False) -> None:
        self.reason = reason
        self.tooLarge = tooLarge
        super().__init__(f"form upload: {reason}")


class TorrentFetchError(BittwistError):
    """
    A C{.torrent} could not be fetched from its URL: the address is not
    http(s), the server could not be reached or answered with an error, took
    too long, or sent something too large or that is not a torrent.

    @ivar url: the address asked for.
    @ivar reason: what went wrong.
    @ivar kind: one of C{"url"} (the address itself is wrong), C{"address"}
        (its host is not public, see L{AddressRefused}), C{"status"} (the
        server answered with an error), C{"size"}, C{"timeout"},
        C{"network"} or C{"metainfo"} (not a torrent).
    """

    def __init__(self, url: str, reason: str, kind: str) -> None:
        self.url = url
        self.reason = reason
        self.kind = kind
        super().__init__(f"{url}: {reason}")


# DHT (BEP 5)

__all__ += ["KRPCError", "DHTQueryError"]


class KRPCError(ProtocolError):
    """
    A DHT datagram (KRPC, BEP 5) is malformed, too large, or breaks one of
    our bounds.  The datagram is dropped; if it was a query whose
    transaction id could be read, the sender hears a KRPC error 203.

    @ivar reason: what is wrong with the datagram.
    @ivar transactionId: the datagram's transaction id, if it could be read,
        else C{None}.
    @ivar isQuery: whether the datagram was a query (C{"y": "q"}).
    """

    def __init__(
        self, reason: str, transactionId: bytes | None = None, isQuery: bool = False
    ) -> None:
        self.reason = reason
        self.transactionId = transactionId
        self.isQuery = isQuery
        super().__init__(f"bad DHT message: {reason}")


class DHTQueryError(BittwistError):
    """
    A DHT query we sent failed: the node did not answer in time, answered
    with a KRPC error, or we had too many queries in flight to send it.

    @ivar address: the C{(host, port)} the query went to.
    @ivar reason: what happened.
    @ivar code: the KRPC error code the node sent, or C{None}.
    """

    def __init__(self, address: tuple[str, int], reason: str, code: int | None = None) -> None:
        self.address = address
        self.reason = reason
        self.code = code
        super().__init__(f"DHT query to {address[0]}:{address[1]} failed: {reason}")





# Fetches by URL

__all__ += ["AddressRefused"]


class AddressRefused(BittwistError):
    """
    A fetch was refused: the host of its address (or of a redirect) is, or
    resolves to, an address that is not public (loopback, private,
    link-local, ...), which a client of ours must not make bittwist reach.

    @ivar host: the host named.
    @ivar address: the address refused.
    @ivar kind: what it is: C{"loopback"}, C{"private"}, C{"link-local"},
        C{"multicast"}, C{"unspecified"} or C{"reserved"}.
    """

    def __init__(self, host: str, address: str, kind: str) -> None:
        self.host = host
        self.address = address
        self.kind = kind
        at = "" if address == host.strip("[]") else f" is at {address}, which"
        article = "an" if kind[0] in "aeiou" else "a"
        super().__init__(
            f"{host}{at} is {article} {kind} address, not a public one; bittwist fetches torrents "
            "from public addresses only, unless started with --allow-private-urls "
            "(allowPrivateURLs=True when embedded)"
        )


# The web API

__all__ += ["JsonBodyError"]


class JsonBodyError(BittwistError):
    """
    The body of a web API request is not the JSON object asked for: too
    long, not JSON, or not an object.

    @ivar reason: what is wrong with it.
    @ivar tooLarge: whether it is longer than the API reads (an HTTP 413).
    """

    def __init__(self, reason: str, tooLarge: bool = False) -> None:
        self.reason = reason
        self.tooLarge = tooLarge
        super().__init__(reason)


# The web status page

__all__ += ["WebListenError"]


class WebListenError(ListenError):
    """
    The web status page cannot listen where it was told to.
    """

    _what = "serve the web status page"
    _fix = "choose another --web endpoint, or --web none"
