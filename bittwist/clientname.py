# -*- test-case-name: tests.test_clientname -*-
"""
Which client a peer runs, for display: from its peer id (BEP 20 and the
conventions before it) or from the C{v} of its extended handshake (BEP 10).

Everything here comes from the peer, so every name returned is sanitised
(no control or format characters, whitespace collapsed) and at most
L{MAX_CLIENT_NAME_LENGTH} characters long.
"""

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "MAX_CLIENT_NAME_LENGTH",
    "AZUREUS_CLIENTS",
    "SHADOW_CLIENTS",
    "ClientInfo",
    "sanitiseClientName",
    "clientFromPeerId",
    "describeClient",
]

MAX_CLIENT_NAME_LENGTH = 64
"""
The longest client name returned, in characters; longer ones are cut.
"""

AZUREUS_CLIENTS = {
    "7T": "aTorrent",
    "AG": "Ares",
    "A~": "Ares",
    "AR": "Arctic Torrent",
    "AT": "Artemis",
    "AV": "Avicora",
    "AX": "BitPump",
    "AZ": "Vuze",
    "BB": "BitBuddy",
    "BC": "BitComet",
    "BE": "baretorrent",
    "BF": "Bitflu",
    "BG": "BTG",
    "BI": "BiglyBT",
    "BL": "BitBlinder",
    "BP": "BitTorrent Pro",
    "BR": "BitRocket",
    "BS": "BTSlave",
    "BT": "BitTorrent",
    "BW": "bittwist",
    "BX": "BittorrentX",
    "CD": "Enhanced CTorrent",
    "CT": "CTorrent",
    "DE": "Deluge",
    "DP": "Propagate Data Client",
    "EB": "EBit",
    "ES": "electric sheep",
    "FC": "FileCroc",
    "FD": "Free Download Manager",
    "FT": "FoxTorrent",
    "FW": "FrostWire",
    "FX": "Freebox BitTorrent",
    "GS": "GSTorrent",
    "HK": "Hekate",
    "HL": "Halite",
    "HN": "Hydranode",
    "IL": "iLivid",
    "KG": "KGet",
    "KT": "KTorrent",
    "LC": "LeechCraft",
    "LH": "LH-ABC",
    "LK": "Linkage",
    "LP": "lphant",
    "LT": "libtorrent (Rasterbar)",
    "lt": "libTorrent (rakshasa)",
    "LW": "LimeWire",
    "ML": "MLDonkey",
    "MO": "MonoTorrent",
    "MP": "MooPolice",
    "MR": "Miro",
    "MT": "Moonlight Torrent",
    "NX": "Net Transport",
    "OS": "OneSwarm",
    "OT": "OmegaTorrent",
    "PD": "Pando",
    "PI": "PicoTorrent",
    "qB": "qBittorrent",
    "QD": "QQDownload",
    "QT": "Qt 4 Torrent example",
    "RT": "Retriever",
    "RZ": "RezTorrent",
    "SB": "Swiftbit",
    "SD": "Thunder",
    "SK": "spark",
    "SN": "ShareNet",
    "SS": "SwarmScope",
    "ST": "SymTorrent",
    "st": "SharkTorrent",
    "SZ": "Shareaza",
    "S~": "Shareaza (beta)",
    "TB": "Torch",
    "TL": "Tribler",
    "TN": "Torrent.NET",
    "TR": "Transmission",
    "TS": "TorrentStorm",
    "TT": "TuoTu",
    "UL": "uLeecher!",
    "UM": "\u00b5Torrent for Mac",
    "UT": "\u00b5Torrent",
    "UW": "\u00b5Torrent Web",
    "VG": "Vagaa",
    "WD": "WebTorrent Desktop",
    "WT": "BitLet",
    "WW": "WebTorrent",
    "WY": "FireTorrent",
    "XF": "Xfplay",
    "XL": "Xunlei",
    "XS": "XSwifter",
    "XT": "XanTorrent",
    "XX": "Xtorrent",
    "ZT": "ZipTorrent",
}
"""
The two-character codes of Azureus-style peer ids (C{-LT20A0-}): libtorrent
(Rasterbar's, used by qBittorrent and Deluge too) is C{LT}, rakshasa's
libTorrent (rTorrent) is C{lt}, as in libtorrent's own table.
"""

SHADOW_CLIENTS = {
    "A": "ABC",
    "O": "Osprey Permaseed",
    "Q": "BTQueue",
    "R": "Tribler",
    "S": "Shadow's client",
    "T": "BitTornado",
    "U": "UPnP NAT Bit Torrent",
}
"""
The one-character codes of Shadow-style peer ids (C{T03I-----}).
"""

_AZUREUS = re.compile(rb"-([A-Za-z0-9~]{2})([0-9A-Za-z]{4})-")
_MAINLINE = re.compile(rb"M([0-9]{1,3})-([0-9]{1,3})-([0-9]{1,3})-")
_SHADOW = re.compile(rb"([A-Z])([0-9A-Za-z.]{1,5})(-*)")
_SHADOW_DIGITS = (
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz."
)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ClientInfo:
    """
    A client as its peer id names it.

    @ivar name: the client's name, e.g. C{"qBittorrent"}.
    @ivar version: its version, e.g. C{"4.6.3"}; C{""} if unknown.
    """

    name: str
    version: str = ""

    def __str__(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


def sanitiseClientName(text: str | bytes, limit: int = MAX_CLIENT_NAME_LENGTH) -> str:
    """
    Make a client name sent by a peer safe to show and to log: bytes are
    decoded as UTF-8 (undecodable bytes become U+FFFD), control and format
    characters (C{\\x00}, escapes, bidirectional overrides, ...) are
    dropped, runs of whitespace become one space, and the result is
    stripped and cut to C{limit} characters.

    @param text: what the peer sent.
    @param limit: the longest result, in characters.
    @return: the sanitised name, maybe empty.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        # Never decode more than could survive the cut (4 bytes a character).
        text = bytes(text[: 4 * limit + 4]).decode("utf-8", "replace")
    else:
        text = text[: 4 * limit + 4]
    kept = "".join(
        " " if c.isspace() else c
        for c in text
        if c.isspace() or unicodedata.category(c)[0] != "C"
    )
    return _WHITESPACE.sub(" ", kept).strip()[:limit].strip()


def _versionComponent(character: int) -> int | None:
    """
    @return: the number an Azureus-style version character stands for
        (C{0}-C{9}, then C{A}-C{Z} for 10 to 35, as libtorrent writes them),
        or C{None} for any other character.
    """
    if 0x30 <= character <= 0x39:
        return character - 0x30
    if 0x41 <= character <= 0x5A:
        return character - 0x41 + 10
    return None


def _azureusVersion(digits: bytes) -> str:
    """
    @return: the version of an Azureus-style peer id: its first three
        characters are major, minor and revision; the fourth is a fourth
        component if it is a non-zero digit, and otherwise (a zero, or a
        letter some clients use for a build or a beta) left out.
    """
    components = [_versionComponent(c) for c in digits[:3]]
    if None in components:
        return ""
    fourth = digits[3]
    if 0x31 <= fourth <= 0x39:
        components.append(fourth - 0x30)
    return ".".join(map(str, components))


def clientFromPeerId(peerId: bytes) -> ClientInfo | None:
    """
    Tell the client from its peer id: Azureus style (C{-qB4630-...}, the
    code looked up in L{AZUREUS_CLIENTS}), Mainline style (C{M7-2-3--}) or
    Shadow style (C{T03I-----}, the code looked up in L{SHADOW_CLIENTS}).

    @param peerId: the peer id of the peer's handshake.
    @return: the client, or C{None} if the peer id follows no known style
        or names an unknown client.
    """
    head = bytes(peerId[:8])
    match = _AZUREUS.fullmatch(head)
    if match is not None:
        name = AZUREUS_CLIENTS.get(match.group(1).decode("ascii"))
        if name is None:
            return None
        return ClientInfo(name, _azureusVersion(match.group(2)))
    match = _MAINLINE.match(head)
    if match is not None:
        return ClientInfo(
            "BitTorrent Mainline", ".".join(str(int(g)) for g in match.groups())
        )
    match = _SHADOW.fullmatch(head)
    if match is not None and len(match.group(3)) >= 2:
        name = SHADOW_CLIENTS.get(match.group(1).decode("ascii"))
        if name is None:
            return None
        version = ".".join(
            str(_SHADOW_DIGITS.index(chr(c))) for c in match.group(2)
        )
        return ClientInfo(name, version)
    return None


def describeClient(peerId: bytes, extendedVersion: str | bytes | None = None) -> str:
    """
    Name the client a peer runs, for display.  The C{v} of its extended
    handshake is preferred when it has any printable character (clients put
    their exact name and version there); else the peer id is read (see
    L{clientFromPeerId}); else the peer id's first 8 bytes are shown.

    @param peerId: the peer id of the peer's handshake.
    @param extendedVersion: the C{v} of its extended handshake, if any.
    @return: a sanitised name of at most L{MAX_CLIENT_NAME_LENGTH}
        characters, never empty.
    """
    if extendedVersion is not None:
        name = sanitiseClientName(extendedVersion)
        if name:
            return name
    info = clientFromPeerId(peerId)
    if info is not None:
        return sanitiseClientName(str(info))
    shown = sanitiseClientName(bytes(peerId[:8]).decode("latin-1"))
    return f"unknown ({shown})" if shown else "unknown"
