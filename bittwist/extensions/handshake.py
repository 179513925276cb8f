# -*- test-case-name: tests.test_extensions -*-
"""
The extended handshake of the extension protocol (BEP 10) as data, and the
registry of the extension ids of one connection.

Each side announces in its handshake (extended message id 0) the extensions
it speaks, each with the id it wants to I{receive} them under.  So an
outgoing message carries the peer's id for its extension, and an incoming
one carries ours: L{ExtensionRegistry} keeps both.

Decoding is lenient where libtorrent is lenient (unknown keys are ignored;
an optional key of the wrong type is as good as absent) and strict about
bounds (too many or too long extension names, an id that is not a byte, an
impossible C{metadata_size} are errors).
"""

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Mapping

import bencodepy

from bittwist.bdecode import decodePrefix
from bittwist.clientname import MAX_CLIENT_NAME_LENGTH, sanitiseClientName
from bittwist.errors import BencodeError, ExtensionError
from bittwist.metainfo import MAX_METAINFO_SIZE
from bittwist.wire import Extended

__all__ = [
    "HANDSHAKE_ID",
    "MAX_EXTENSIONS",
    "MAX_EXTENSION_NAME_LENGTH",
    "MAX_METADATA_SIZE",
    "MAX_REQUEST_QUEUE",
    "ExtendedHandshake",
    "ExtensionRegistry",
    "MAX_EXTENSION_VALUES",
    "MAX_EXTENSION_DEPTH",
    "decodeDictionary",
    "decodeDictionaryPrefix",
]

HANDSHAKE_ID = 0
"""
The extended message id of the extended handshake.  In the handshake's
C{m}, id 0 means the extension is disabled.
"""

MAX_EXTENSIONS = 64
"""
The most entries a handshake's C{m} may have.  Clients announce a handful;
libtorrent with every plugin announces fewer than 10.
"""

MAX_EXTENSION_NAME_LENGTH = 64
"""
The longest extension name accepted, in bytes (C{ut_metadata} is 11).
"""

MAX_METADATA_SIZE = MAX_METAINFO_SIZE
"""
The largest C{metadata_size} accepted (BEP 9): the size of the largest
C{.torrent} we accept at all (L{bittwist.metainfo.MAX_METAINFO_SIZE}),
since the metadata is the biggest part of one.
"""

MAX_REQUEST_QUEUE = 2048
"""
A peer's C{reqq} above this is taken as this: we never pipeline more
requests to one peer than that anyway.
"""


MAX_EXTENSION_VALUES = 1024
"""
The most bencoded values (keys included) one extension message may hold: a
handshake with L{MAX_EXTENSIONS} entries in C{m} and every other key takes
under 200; a PEX message about a dozen.
"""

MAX_EXTENSION_DEPTH = 8
"""
The deepest nesting of lists and dictionaries in an extension message (the
extended handshake needs 2).
"""


def decodeDictionaryPrefix(
    payload: bytes, extension: str, maxValues: int = MAX_EXTENSION_VALUES
) -> tuple[dict[bytes, Any], int]:
    """
    Decode the bencoded dictionary at the start of an extension message
    (a C{ut_metadata} data message's raw bytes follow it).

    @param payload: the bytes, starting with one bencoded value.
    @param extension: the extension's name, for the error.
    @param maxValues: the most values to decode (see L{bittwist.bdecode}).
    @return: the dictionary, with bytes keys, and where it ends.
    @raise ExtensionError: if C{payload} does not start with a bencoded
        dictionary within L{MAX_EXTENSION_DEPTH} and C{maxValues}.
    """
    try:
        value, end = decodePrefix(payload, maxValues=maxValues, maxDepth=MAX_EXTENSION_DEPTH)
    except BencodeError as e:
        raise ExtensionError(extension, f"not valid bencode ({e.reason})") from None
    if not isinstance(value, dict):
        raise ExtensionError(extension, f"a {type(value).__name__}, not a dictionary")
    return value, end


def decodeDictionary(payload: bytes, extension: str) -> dict[bytes, Any]:
    """
    Decode the bencoded dictionary an extension message carries.

    @param payload: the bytes, exactly one bencoded value.
    @param extension: the extension's name, for the error.
    @return: the dictionary, with bytes keys.
    @raise ExtensionError: as L{decodeDictionaryPrefix} does, or if bytes
        follow the dictionary.
    """
    value, end = decodeDictionaryPrefix(payload, extension)
    if end != len(payload):
        raise ExtensionError(extension, f"{len(payload) - end} bytes after the dictionary")
    return value


def _address(value: object, sizes: tuple[int, ...]):
    """
    @return: the IP address of compact bytes C{value} if it has one of
        C{sizes}, else C{None}.
    """
    if isinstance(value, bytes) and len(value) in sizes:
        return ipaddress.ip_address(value)
    return None


def _integer(value: object, low: int, high: int | None = None) -> int | None:
    """
    @return: C{value} if it is an integer from C{low} to C{high}, else
        C{None}.
    """
    if type(value) is int and value >= low and (high is None or value <= high):
        return value
    return None


@dataclass(frozen=True)
class ExtendedHandshake:
    """
    The extended handshake (BEP 10), each field from a key of its
    dictionary; C{None} (or C{False}) where the key is absent.

    @ivar extensions: C{m}: extension name to the id the sender receives it
        under; id 0 disables an extension announced earlier.
    @ivar client: C{v}: the sender's client name and version, sanitised
        (see L{bittwist.clientname.sanitiseClientName}).
    @ivar listenPort: C{p}: the TCP port the sender listens on.
    @ivar requestQueue: C{reqq}: how many requests the sender queues, at
        most L{MAX_REQUEST_QUEUE}.
    @ivar yourIp: C{yourip}: the receiver's address as the sender sees it.
    @ivar ipv4: C{ipv4}: the sender's own IPv4 address.
    @ivar ipv6: C{ipv6}: the sender's own IPv6 address.
    @ivar metadataSize: C{metadata_size} (BEP 9): the size of the
        C{info} dictionary, 1 to L{MAX_METADATA_SIZE}.
    @ivar uploadOnly: C{upload_only} (BEP 21): the sender only uploads
        (it is a seed, or wants nothing more).
    @ivar completeAgo: C{complete_ago} (libtorrent): seconds since the
        sender last had every piece.
    @ivar preferEncryption: C{e}: the sender prefers encrypted connections.
    """

    extensions: Mapping[str, int] = field(default_factory=dict)
    client: str | None = None
    listenPort: int | None = None
    requestQueue: int | None = None
    yourIp: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    ipv4: ipaddress.IPv4Address | None = None
    ipv6: ipaddress.IPv6Address | None = None
    metadataSize: int | None = None
    uploadOnly: bool = False
    completeAgo: int | None = None
    preferEncryption: bool = False

    def encode(self) -> bytes:
        """
        @return: the bencoded dictionary, the payload of an L{Extended}
            message with id L{HANDSHAKE_ID}.
        @raise ValueError: if a field is out of the bounds L{decode}
            enforces.
        """
        if len(self.extensions) > MAX_EXTENSIONS:
            raise ValueError(f"more than {MAX_EXTENSIONS} extensions")
        m = {}
        for name, extendedId in self.extensions.items():
            raw = name.encode("utf-8")
            if not 0 < len(raw) <= MAX_EXTENSION_NAME_LENGTH:
                raise ValueError(f"extension name {name!r} is empty or too long")
            if type(extendedId) is not int or not 0 <= extendedId <= 255:
                raise ValueError(f"extension {name!r} has id {extendedId!r}, not 0..255")
            m[raw] = extendedId
        top: dict[bytes, object] = {b"m": m}
        if self.client is not None:
            top[b"v"] = self.client.encode("utf-8")
        if self.listenPort is not None:
            if _integer(self.listenPort, 1, 65535) is None:
                raise ValueError(f"listen port {self.listenPort!r} is not 1..65535")
            top[b"p"] = self.listenPort
        if self.requestQueue is not None:
            if _integer(self.requestQueue, 1) is None:
                raise ValueError(f"request queue {self.requestQueue!r} is not positive")
            top[b"reqq"] = self.requestQueue
        if self.yourIp is not None:
            top[b"yourip"] = self.yourIp.packed
        if self.ipv4 is not None:
            top[b"ipv4"] = ipaddress.IPv4Address(self.ipv4).packed
        if self.ipv6 is not None:
            top[b"ipv6"] = ipaddress.IPv6Address(self.ipv6).packed
        if self.metadataSize is not None:
            if _integer(self.metadataSize, 1, MAX_METADATA_SIZE) is None:
                raise ValueError(
                    f"metadata size {self.metadataSize!r} is not 1..{MAX_METADATA_SIZE}"
                )
            top[b"metadata_size"] = self.metadataSize
        if self.uploadOnly:
            top[b"upload_only"] = 1
        if self.completeAgo is not None:
            if _integer(self.completeAgo, 0) is None:
                raise ValueError(f"complete_ago {self.completeAgo!r} is negative")
            top[b"complete_ago"] = self.completeAgo
        if self.preferEncryption:
            top[b"e"] = 1
        return bencodepy.encode(top)

    @classmethod
    def decode(cls, payload: bytes) -> "ExtendedHandshake":
        """
        Decode a peer's extended handshake.

        @param payload: the payload of its L{Extended} message with id
            L{HANDSHAKE_ID}.
        @return: the handshake.
        @raise ExtensionError: if C{payload} is not a bencoded dictionary,
            C{m} has more than L{MAX_EXTENSIONS} entries or a name longer
            than L{MAX_EXTENSION_NAME_LENGTH} bytes or an integer id that
            is not 0 to 255, or C{metadata_size} is an integer that is not
            1 to L{MAX_METADATA_SIZE}.
        """
        top = decodeDictionary(payload, "extended handshake")
        extensions: dict[str, int] = {}
        m = top.get(b"m")
        if isinstance(m, dict):
            if len(m) > MAX_EXTENSIONS:
                raise ExtensionError(
                    "extended handshake",
                    f"'m' has {len(m)} extensions, more than {MAX_EXTENSIONS}",
                )
            for rawName, extendedId in m.items():
                if not len(rawName) <= MAX_EXTENSION_NAME_LENGTH:
                    raise ExtensionError(
                        "extended handshake",
                        f"extension name of {len(rawName)} bytes, more than "
                        f"{MAX_EXTENSION_NAME_LENGTH}",
                    )
                if type(extendedId) is not int:
                    continue
                if not 0 <= extendedId <= 255:
                    raise ExtensionError(
                        "extended handshake",
                        f"extension {rawName[:MAX_EXTENSION_NAME_LENGTH]!r} has id "
                        f"{extendedId}, not 0..255",
                    )
                try:
                    name = rawName.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                if name:
                    extensions[name] = extendedId
        metadataSize = top.get(b"metadata_size")
        if type(metadataSize) is int:
            if not 0 < metadataSize <= MAX_METADATA_SIZE:
                raise ExtensionError(
                    "extended handshake",
                    f"metadata_size {metadataSize} is not 1..{MAX_METADATA_SIZE}",
                )
        else:
            metadataSize = None
        client = top.get(b"v")
        if isinstance(client, bytes):
            client = sanitiseClientName(client, MAX_CLIENT_NAME_LENGTH) or None
        else:
            client = None
        requestQueue = _integer(top.get(b"reqq"), 1)
        if requestQueue is not None:
            requestQueue = min(requestQueue, MAX_REQUEST_QUEUE)
        uploadOnly = top.get(b"upload_only")
        preferEncryption = top.get(b"e")
        return cls(
            extensions=extensions,
            client=client,
            listenPort=_integer(top.get(b"p"), 1, 65535),
            requestQueue=requestQueue,
            yourIp=_address(top.get(b"yourip"), (4, 16)),
            ipv4=_address(top.get(b"ipv4"), (4,)),
            ipv6=_address(top.get(b"ipv6"), (16,)),
            metadataSize=metadataSize,
            uploadOnly=type(uploadOnly) is int and uploadOnly != 0,
            completeAgo=_integer(top.get(b"complete_ago"), 0),
            preferEncryption=type(preferEncryption) is int and preferEncryption != 0,
        )


class ExtensionRegistry:
    """
    The extension ids of one connection: the ids we announce for our
    extensions (C{local}), and those the peer announced in its extended
    handshakes.  Only extensions we speak are kept from the peer's, so the
    registry stays as small as ours however often the peer re-sends its
    handshake.

    An outgoing message of extension C{name} is sent with
    L{remoteId}C{(name)}; an incoming L{Extended} message is named by
    L{localName}C{(extendedId)}.
    """

    def __init__(self, local: Mapping[str, int]) -> None:
        """
        @param local: our extension names and the ids we receive them under.
        @raise ValueError: if an id is not 1 to 255 or used twice, a name is
            empty or longer than L{MAX_EXTENSION_NAME_LENGTH} bytes, or there
            are more than L{MAX_EXTENSIONS}.
        """
        if len(local) > MAX_EXTENSIONS:
            raise ValueError(f"more than {MAX_EXTENSIONS} extensions")
        self._localIds = dict(local)
        self._localNames: dict[int, str] = {}
        for name, extendedId in self._localIds.items():
            if not 0 < len(name.encode("utf-8")) <= MAX_EXTENSION_NAME_LENGTH:
                raise ValueError(f"extension name {name!r} is empty or too long")
            if type(extendedId) is not int or not 1 <= extendedId <= 255:
                raise ValueError(f"extension {name!r} has id {extendedId!r}, not 1..255")
            if extendedId in self._localNames:
                raise ValueError(
                    f"extensions {self._localNames[extendedId]!r} and {name!r} "
                    f"share id {extendedId}"
                )
            self._localNames[extendedId] = name
        self._remoteIds: dict[str, int] = {}

    @classmethod
    def withNames(cls, *names: str) -> "ExtensionRegistry":
        """
        @param names: our extension names.
        @return: a registry giving them ids 1, 2, ... in order.
        """
        return cls({name: extendedId for extendedId, name in enumerate(names, 1)})

    @property
    def local(self) -> Mapping[str, int]:
        """
        Our extensions and their ids: the C{m} of our handshake.
        """
        return dict(self._localIds)

    def localId(self, name: str) -> int | None:
        """
        @return: the id we receive extension C{name} under, or C{None} if we
            do not speak it.
        """
        return self._localIds.get(name)

    def localName(self, extendedId: int) -> str | None:
        """
        Name an incoming message.

        @param extendedId: the extended id of an incoming L{Extended}
            message, not L{HANDSHAKE_ID}.
        @return: the extension we announced under that id, or C{None} if we
            announced none under it.
        """
        return self._localNames.get(extendedId)

    def remoteId(self, name: str) -> int | None:
        """
        @return: the id to send a message of extension C{name} with, or
            C{None} if the peer has not announced it (or disabled it).
        """
        return self._remoteIds.get(name)

    def receiveHandshake(self, handshake: ExtendedHandshake) -> None:
        """
        Take the peer's ids from its handshake.  A later handshake updates
        the earlier ones (BEP 10): a name with id 0 is disabled, a name not
        mentioned keeps its id.

        @param handshake: the peer's extended handshake.
        """
        for name, extendedId in handshake.extensions.items():
            if name not in self._localIds:
                continue
            if extendedId == 0:
                self._remoteIds.pop(name, None)
            else:
                self._remoteIds[name] = extendedId

    def makeHandshake(self, **fields: Any) -> ExtendedHandshake:
        """
        @param fields: the other fields of L{ExtendedHandshake}.
        @return: our handshake, announcing our extensions.
        """
        return ExtendedHandshake(extensions=self.local, **fields)

    def message(self, name: str, payload: bytes) -> Extended:
        """
        @param name: the extension a message is of.
        @param payload: its payload.
        @return: the L{Extended} message to send it to the peer.
        @raise ValueError: if the peer does not speak extension C{name}.
        """
        extendedId = self._remoteIds.get(name)
        if extendedId is None:
            raise ValueError(f"the peer has not announced extension {name!r}")
        return Extended(extendedId, payload)
