# -*- test-case-name: tests.test_magnet -*-
"""
Magnet links (BEP 9): the info hash, a display name, trackers and peers to
start from, read from a C{magnet:?...} URI, and written back.

Magnet links come from web pages, chat and clipboards: every part is
bounded (the URI's length, how many trackers and peers, each one's length),
and anything we cannot use is a L{MagnetError} saying what and why, never a
silently ignored field that makes the download fail later.
"""

import base64
import binascii
import ipaddress
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qsl, quote, urlsplit

from bittwist.errors import MagnetError

__all__ = [
    "MagnetLink",
    "parseMagnet",
    "torrentFile",
    "MAX_MAGNET_LENGTH",
    "MAX_TRACKERS",
    "MAX_PEERS",
    "MAX_VALUE_LENGTH",
]

MAX_MAGNET_LENGTH = 16 * 1024
"""
The longest magnet URI read, in characters. Real ones are a few hundred;
a long tracker list stays well under this.
"""

MAX_TRACKERS = 64
"""
The most C{tr} (tracker) parameters taken from one link.
"""

MAX_PEERS = 64
"""
The most C{x.pe} (peer address) parameters taken from one link.
"""

MAX_VALUE_LENGTH = 2048
"""
The longest single value (a tracker URL, a name), in characters.
"""

_TRACKER_SCHEMES = ("http", "https", "udp")


@dataclass(frozen=True)
class MagnetLink:
    """
    What a magnet link says.

    @ivar infoHash: the 20-byte v1 info hash.
    @ivar displayName: the C{dn} parameter, a name to show until the
        metadata is known, or C{None}.
    @ivar trackers: the C{tr} announce URLs, in order, without duplicates.
    @ivar peers: the C{x.pe} peer addresses, as C{(host, port)}.
    """

    infoHash: bytes
    displayName: Optional[str] = None
    trackers: tuple[str, ...] = ()
    peers: tuple[tuple[str, int], ...] = ()

    @property
    def name(self) -> str:
        """
        The display name, or the info hash in hex when there is none.
        """
        return self.displayName or self.infoHash.hex()

    def toURI(self) -> str:
        """
        @return: the link as a C{magnet:?} URI (hex info hash).
        """
        parts = [f"xt=urn:btih:{self.infoHash.hex()}"]
        if self.displayName is not None:
            parts.append("dn=" + quote(self.displayName, safe=""))
        parts.extend("tr=" + quote(url, safe="") for url in self.trackers)
        for host, port in self.peers:
            shown = f"[{host}]" if ":" in host else host
            parts.append(f"x.pe={quote(shown, safe='[]:')}:{port}")
        return "magnet:?" + "&".join(parts)


def _infoHash(value: str) -> bytes:
    """
    @return: the 20 bytes of a C{btih} hash in hex (40 digits) or base32
        (32 characters).
    @raise MagnetError: for anything else.
    """
    if len(value) == 40:
        try:
            return binascii.unhexlify(value)
        except binascii.Error:
            pass
    elif len(value) == 32:
        try:
            return base64.b32decode(value.upper())
        except binascii.Error:
            pass
    raise MagnetError(
        "xt",
        f"urn:btih:{value[:64]!r} is not an info hash",
        "expected 40 hex digits or 32 base32 characters",
    )


def _tracker(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in _TRACKER_SCHEMES or not parts.hostname:
        raise MagnetError(
            "tr",
            f"{value[:200]!r} is not a tracker URL",
            "a tracker is an http://, https:// or udp:// URL with a host",
        )
    return value


def _peer(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            host = ""
    elif ":" in host:
        host = ""
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MagnetError(
            "x.pe", f"{value[:200]!r} is not a peer address", "expected HOST:PORT or [IPv6]:PORT"
        )
    return host, int(port)


def parseMagnet(uri: str) -> MagnetLink:
    """
    Read a magnet link.

    Parameters other than C{xt}, C{dn}, C{tr} and C{x.pe} (C{xl}, C{ws},
    C{as}, C{so}, ...) are ignored: they do not change what is downloaded
    from whom.

    @param uri: C{magnet:?xt=urn:btih:...&dn=...&tr=...&x.pe=...}.
    @return: the link.
    @raise MagnetError: if it is too long, not a magnet link, has no (or
        more than one) C{urn:btih} hash, names only a v2 (C{urn:btmh})
        hash, or has a malformed or over-long part.
    """
    uri = uri.strip()
    if len(uri) > MAX_MAGNET_LENGTH:
        raise MagnetError(
            "uri",
            f"is {len(uri):,} characters long, more than the {MAX_MAGNET_LENGTH:,} accepted",
            "a magnet link is a few hundred characters; check what was pasted",
        )
    scheme, sep, query = uri.partition(":")
    if scheme.lower() != "magnet" or not sep or not query.startswith("?"):
        raise MagnetError("uri", f"{uri[:60]!r} is not a magnet link", "it must start with magnet:?")
    try:
        params = parse_qsl(query[1:], keep_blank_values=True, strict_parsing=False, errors="strict")
    except (ValueError, UnicodeDecodeError) as e:
        raise MagnetError("uri", f"cannot be read: {e}", "check what was pasted") from None
    hashes: list[bytes] = []
    v2 = False
    displayName: Optional[str] = None
    trackers: list[str] = []
    peers: list[tuple[str, int]] = []
    for key, value in params:
        if len(value) > MAX_VALUE_LENGTH:
            raise MagnetError(
                key[:20],
                f"is {len(value):,} characters long, more than the {MAX_VALUE_LENGTH:,} accepted",
            )
        # BEP 9 numbers repeated keys (xt.1, tr.2); the number carries nothing.
        base = key.split(".", 1)[0] if key.startswith(("xt.", "tr.")) else key
        if base == "xt":
            lowered = value.lower()
            if lowered.startswith("urn:btih:"):
                infoHash = _infoHash(value[len("urn:btih:") :])
                if infoHash not in hashes:
                    hashes.append(infoHash)
            elif lowered.startswith("urn:btmh:"):
                v2 = True
            else:
                raise MagnetError(
                    "xt", f"{value[:100]!r} is not a BitTorrent hash", "expected urn:btih:<info hash>"
                )
        elif key == "dn":
            displayName = value
        elif base == "tr":
            if len(trackers) >= MAX_TRACKERS:
                raise MagnetError("tr", f"more than {MAX_TRACKERS} trackers", "keep the first few")
            url = _tracker(value)
            if url not in trackers:
                trackers.append(url)
        elif key == "x.pe":
            if len(peers) >= MAX_PEERS:
                raise MagnetError("x.pe", f"more than {MAX_PEERS} peers", "keep the first few")
            peers.append(_peer(value))
    if not hashes:
        if v2:
            raise MagnetError(
                "xt",
                "names only a BitTorrent v2 hash (urn:btmh), which bittwist does not support yet",
                "use a v1 or hybrid magnet link (urn:btih) or the .torrent file",
            )
        raise MagnetError("xt", "is missing", "a magnet link needs xt=urn:btih:<info hash>")
    if len(hashes) > 1:
        raise MagnetError(
            "xt", f"names {len(hashes)} different torrents", "add each magnet link on its own"
        )
    return MagnetLink(hashes[0], displayName, tuple(trackers), tuple(peers))


def _string(value: bytes) -> bytes:
    return b"%d:%s" % (len(value), value)


def torrentFile(infoBytes: bytes, trackers: tuple[str, ...] = ()) -> bytes:
    """
    Make the C{.torrent} file of a torrent whose metadata was fetched from
    peers: the C{info} dictionary's bytes exactly as received (so the info
    hash stays the same; bencoding a decoded copy again could change it),
    and the magnet link's trackers, each in a tier of its own, as libtorrent
    does.

    @param infoBytes: the verified metadata.
    @param trackers: announce URLs.
    @return: the bencoded metainfo.
    """
    parts = [b"d"]
    if trackers:
        # Keys in sorted order, as bencoding requires.
        parts += [b"8:announce", _string(trackers[0].encode("utf-8"))]
        parts += [b"13:announce-list", b"l"]
        parts += [b"l" + _string(url.encode("utf-8")) + b"e" for url in trackers]
        parts.append(b"e")
    parts += [b"4:info", infoBytes, b"e"]
    return b"".join(parts)
