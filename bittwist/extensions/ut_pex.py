# -*- test-case-name: tests.test_ut_pex -*-
"""
Peer exchange (BEP 11): the C{ut_pex} message, and the diff that makes the
next one.

Each connection periodically (once a minute) tells its peer which peers it
has connected to (C{added}, with L{PexFlags}) and which it has lost
(C{dropped}) since the last message, IPv4 and IPv6 in separate compact
lists.  L{PexMessage} encodes and decodes one; L{nextPexMessage} computes
the next one from what the peer was told and who is connected now, so the
engine only has to schedule it.

Bounds: by the convention Azureus and uTorrent agreed on, we send at most
L{MAX_PEX_PEERS} added and as many dropped peers a message, IPv4 and IPv6
together (L{PexMessage.encode} refuses more; L{nextPexMessage} leaves the
rest for the next message).  We read at most L{MAX_PEX_PEERS_RECEIVED} of
each, since libtorrent's first message lists up to 100 peers, and silently
ignore the rest.
"""

import enum
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import bencodepy

from bittwist.extensions.handshake import decodeDictionary

__all__ = [
    "EXTENSION_NAME",
    "MAX_PEX_PEERS",
    "MAX_PEX_PEERS_RECEIVED",
    "PexFlags",
    "PeerAddress",
    "PexMessage",
    "nextPexMessage",
]

EXTENSION_NAME = "ut_pex"
"""
The name of the extension in the extended handshake's C{m}.
"""

MAX_PEX_PEERS = 50
"""
The most peers we send in a message's added lists (IPv4 and IPv6
together), and again in its dropped lists.
"""

MAX_PEX_PEERS_RECEIVED = 100
"""
The most peers read from a message's added lists (IPv4 first), and again
from its dropped lists; the rest are ignored.
"""

PeerAddress = tuple[str, int]
"""
A peer's address: its IP address as text, in the form
C{ipaddress.ip_address} gives, and its TCP port.
"""


class PexFlags(enum.IntFlag):
    """
    What a C{ut_pex} message says of an added peer (one byte a peer).
    Bits not named here are kept as they came.
    """

    NONE = 0
    #: The peer prefers encrypted connections (C{e} in its handshake).
    ENCRYPTION = 0x01
    #: The peer is a seed, or only uploads.
    SEED = 0x02
    #: The peer supports uTP.
    UTP = 0x04
    #: The peer supports the holepunch extension (C{ut_holepunch}).
    HOLEPUNCH = 0x08
    #: The sender connected to the peer: it is reachable.
    REACHABLE = 0x10


def _compact(address: PeerAddress) -> tuple[bool, bytes]:
    """
    @return: whether C{address} is IPv6, and its compact form (BEP 23).
    @raise ValueError: if it is not an IP address and a port 1 to 65535.
    """
    host, port = address
    if type(port) is not int or not 0 < port < 65536:
        raise ValueError(f"port of {address!r} is not 1..65535")
    ip = ipaddress.ip_address(host)
    return ip.version == 6, ip.packed + port.to_bytes(2, "big")


def _entries(blob: object, size: int, limit: int) -> Iterator[tuple[int, PeerAddress]]:
    """
    @return: the position and address of each of the first C{limit}
        entries of compact peer string C{blob} (C{size} 6 or 18), but those
        with port 0.  Anything but bytes has none; a trailing partial entry
        is ignored, as libtorrent does.
    """
    if not isinstance(blob, bytes):
        return
    factory = ipaddress.IPv4Address if size == 6 else ipaddress.IPv6Address
    for index in range(min(len(blob) // size, limit)):
        entry = blob[index * size : (index + 1) * size]
        port = int.from_bytes(entry[-2:], "big")
        if port:
            yield index, (str(factory(entry[:-2])), port)


@dataclass(frozen=True)
class PexMessage:
    """
    A C{ut_pex} message.

    @ivar added: the peers connected to since the last message, with
        their flags.
    @ivar dropped: the peers disconnected from since the last message.
    """

    added: tuple[tuple[PeerAddress, PexFlags], ...] = ()
    dropped: tuple[PeerAddress, ...] = ()

    def encode(self) -> bytes:
        """
        @return: the bencoded payload: C{added}, C{added.f}, C{dropped} for
            IPv4 peers and C{added6}, C{added6.f}, C{dropped6} for IPv6
            ones, each present even if empty.
        @raise ValueError: if there are more than L{MAX_PEX_PEERS} added or
            dropped peers, or an address is not an IP address and a port 1
            to 65535, or a flag is not a byte.
        """
        if len(self.added) > MAX_PEX_PEERS or len(self.dropped) > MAX_PEX_PEERS:
            raise ValueError(
                f"{len(self.added)} added and {len(self.dropped)} dropped peers; "
                f"a ut_pex message carries at most {MAX_PEX_PEERS} of each"
            )
        added = {False: bytearray(), True: bytearray()}
        flags = {False: bytearray(), True: bytearray()}
        dropped = {False: bytearray(), True: bytearray()}
        for address, peerFlags in self.added:
            isIPv6, compact = _compact(address)
            added[isIPv6] += compact
            flags[isIPv6].append(int(peerFlags))
        for address in self.dropped:
            isIPv6, compact = _compact(address)
            dropped[isIPv6] += compact
        return bencodepy.encode(
            {
                b"added": bytes(added[False]),
                b"added.f": bytes(flags[False]),
                b"dropped": bytes(dropped[False]),
                b"added6": bytes(added[True]),
                b"added6.f": bytes(flags[True]),
                b"dropped6": bytes(dropped[True]),
            }
        )

    @classmethod
    def decode(cls, payload: bytes) -> "PexMessage":
        """
        Decode a peer's C{ut_pex} message, leniently as libtorrent does: a
        missing key or one of the wrong type is an empty list, a trailing
        partial entry is ignored, and so are entries with port 0; flags
        whose length does not match their list are taken as all zero.  IPv4
        peers come before IPv6 ones; at most L{MAX_PEX_PEERS_RECEIVED}
        added and as many dropped peers are read.

        @param payload: the payload of the L{bittwist.wire.Extended}
            message.
        @return: the message.
        @raise bittwist.errors.ExtensionError: if C{payload} is not a
            bencoded dictionary.
        """
        top = decodeDictionary(payload, EXTENSION_NAME)
        added: list[tuple[PeerAddress, PexFlags]] = []
        dropped: list[PeerAddress] = []
        for size, addedKey, flagsKey, droppedKey in (
            (6, b"added", b"added.f", b"dropped"),
            (18, b"added6", b"added6.f", b"dropped6"),
        ):
            blob = top.get(addedKey)
            flags = top.get(flagsKey)
            if not (
                isinstance(blob, bytes)
                and isinstance(flags, bytes)
                and len(flags) == len(blob) // size
            ):
                flags = None
            for index, address in _entries(
                blob, size, MAX_PEX_PEERS_RECEIVED - len(added)
            ):
                added.append((address, PexFlags(flags[index] if flags else 0)))
            dropped.extend(
                address
                for _, address in _entries(
                    top.get(droppedKey), size, MAX_PEX_PEERS_RECEIVED - len(dropped)
                )
            )
        return cls(tuple(added), tuple(dropped))


def nextPexMessage(
    sent: Mapping[PeerAddress, PexFlags],
    current: Mapping[PeerAddress, PexFlags] | Iterable[PeerAddress],
    exclude: PeerAddress | None = None,
    limit: int = MAX_PEX_PEERS,
) -> tuple[PexMessage | None, dict[PeerAddress, PexFlags]]:
    """
    Compute the next C{ut_pex} message for one peer: who was added and who
    was dropped between what the peer has been told and who is connected
    now.  At most C{limit} of each go in one message; the others stay
    untold, and so come in a later message.

    The first message is the diff from nothing (C{sent} empty).  A peer
    whose flags changed is not told again (as libtorrent does).

    @param sent: the peers the recipient has been told of, as the second
        value of the previous call returned it (empty the first time).
    @param current: the peers connected now, with their flags, or just
        their addresses (flags then 0).
    @param exclude: the recipient's own address, never sent to it.
    @param limit: the most added, and the most dropped, peers in the
        message; at most L{MAX_PEX_PEERS}.
    @return: the message to send, or C{None} if there is no change to
        tell; and the peers the recipient will have been told of once it
        is sent, to pass as C{sent} next time.
    @raise ValueError: if C{limit} is not 1 to L{MAX_PEX_PEERS}.
    """
    if not 0 < limit <= MAX_PEX_PEERS:
        raise ValueError(f"limit {limit} is not 1..{MAX_PEX_PEERS}")
    if not isinstance(current, Mapping):
        current = dict.fromkeys(current, PexFlags.NONE)
    told = dict(sent)
    added: list[tuple[PeerAddress, PexFlags]] = []
    for address, flags in current.items():
        if len(added) >= limit:
            break
        if address not in told and address != exclude:
            added.append((address, PexFlags(flags)))
    dropped: list[PeerAddress] = []
    for address in told:
        if len(dropped) >= limit:
            break
        if address not in current or address == exclude:
            dropped.append(address)
    if not added and not dropped:
        return None, told
    for address in dropped:
        del told[address]
    for address, flags in added:
        told[address] = flags
    return PexMessage(tuple(added), tuple(dropped)), told
