# -*- test-case-name: tests.test_udptrackercodec -*-
"""
The UDP tracker protocol's packets (BEP 15), sans-IO: L{encode} turns a
packet into bytes, L{decodeReply} (what a client reads) and L{decodeRequest}
(what a tracker reads) turn bytes into packets or raise L{UDPPacketError}.
Every length is checked exactly and peer lists are bounded.

The client is L{bittwist.udptracker}'s, the tracker
L{bittwist.udptrackerserver}'s.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Union

from bittwist.errors import UDPPacketError
from bittwist.trackerclient import addCompactPeers

__all__ = [
    "PROTOCOL_ID",
    "ConnectRequest",
    "ConnectReply",
    "AnnounceRequest",
    "AnnounceReply",
    "ScrapeRequest",
    "ScrapeReply",
    "ScrapeEntry",
    "ErrorReply",
    "Request",
    "Reply",
    "encode",
    "decodeReply",
    "decodeRequest",
    "HEADER",
    "MAX_SCRAPE_HASHES",
    "MAX_REPLY_PEERS",
]

#: The magic number that opens every C{connect} request.
PROTOCOL_ID = 0x41727101980

ACTION_CONNECT = 0
ACTION_ANNOUNCE = 1
ACTION_SCRAPE = 2
ACTION_ERROR = 3

#: BEP 15's event codes.
EVENTS = {None: 0, "completed": 1, "started": 2, "stopped": 3}
_EVENT_NAMES = {code: name for name, code in EVENTS.items()}

#: The most info hashes in one scrape (the BEP's limit, so the answer fits
#: in one datagram).
MAX_SCRAPE_HASHES = 74
#: The most peers we read from one announce answer; the rest are dropped.
MAX_REPLY_PEERS = 1000
#: The longest error message we keep, in bytes.
MAX_ERROR_MESSAGE = 1024
#: The longest announce request we accept: BEP 41 options may follow the
#: 98 fixed bytes; we ignore them, but bound them.
MAX_ANNOUNCE_REQUEST = 98 + 512

#: What opens every reply: the action and the transaction id.
HEADER = struct.Struct(">iI")
_CONNECT_REQUEST = struct.Struct(">QiI")
_CONNECT_REPLY = struct.Struct(">iIQ")
_ANNOUNCE_REQUEST = struct.Struct(">QiI20s20sQQQiIIiH")
_ANNOUNCE_REPLY = struct.Struct(">iIiii")
_SCRAPE_REQUEST = struct.Struct(">QiI")
_SCRAPE_ENTRY = struct.Struct(">iii")


@dataclass(frozen=True)
class ConnectRequest:
    """
    Ask a tracker for a connection id.
    """

    transactionId: int


@dataclass(frozen=True)
class ConnectReply:
    """
    A tracker's connection id.
    """

    transactionId: int
    connectionId: int


@dataclass(frozen=True)
class AnnounceRequest:
    """
    An announce, as BEP 15 packs it.

    @ivar event: C{None}, C{"started"}, C{"completed"} or C{"stopped"}.
    @ivar ip: the address to announce instead of the source address (0:
        the source address).
    @ivar numwant: peers wanted; -1 leaves it to the tracker.
    """

    connectionId: int
    transactionId: int
    infoHash: bytes
    peerId: bytes
    downloaded: int
    left: int
    uploaded: int
    event: str | None
    ip: int
    key: int
    numwant: int
    port: int


@dataclass(frozen=True)
class AnnounceReply:
    """
    A tracker's answer to an announce.

    @ivar peers: C{(host, port)} pairs, at most L{MAX_REPLY_PEERS}.
    """

    transactionId: int
    interval: int
    leechers: int
    seeders: int
    peers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ScrapeRequest:
    """
    Ask for the counts of up to L{MAX_SCRAPE_HASHES} torrents.
    """

    connectionId: int
    transactionId: int
    infoHashes: tuple[bytes, ...]


@dataclass(frozen=True)
class ScrapeEntry:
    """
    One torrent's counts in a scrape answer.
    """

    seeders: int
    completed: int
    leechers: int


@dataclass(frozen=True)
class ScrapeReply:
    """
    A tracker's answer to a scrape, one entry per info hash asked, in order.
    """

    transactionId: int
    entries: tuple[ScrapeEntry, ...]


@dataclass(frozen=True)
class ErrorReply:
    """
    A tracker's refusal, with its message.
    """

    transactionId: int
    message: str


Request = Union[ConnectRequest, AnnounceRequest, ScrapeRequest]
Reply = Union[ConnectReply, AnnounceReply, ScrapeReply, ErrorReply]


def _peerList(blob: bytes, size: int) -> tuple[tuple[str, int], ...]:
    """
    Compact peers (address then big-endian port), at most
    L{MAX_REPLY_PEERS}, without port 0 entries or duplicates.
    """
    peers: dict[tuple[str, int], None] = {}
    addCompactPeers(blob, size, peers, MAX_REPLY_PEERS)
    return tuple(peers)


def encode(packet: Request | Reply) -> bytes:
    """
    @return: the packet's bytes.
    @raise ValueError: if a field does not fit its BEP 15 slot.
    """
    try:
        return _encode(packet)
    except (struct.error, OSError) as e:
        raise ValueError(f"cannot encode {type(packet).__name__}: {e}") from None


def _encode(packet: Request | Reply) -> bytes:
    if isinstance(packet, ConnectRequest):
        return _CONNECT_REQUEST.pack(PROTOCOL_ID, ACTION_CONNECT, packet.transactionId)
    if isinstance(packet, ConnectReply):
        return _CONNECT_REPLY.pack(ACTION_CONNECT, packet.transactionId, packet.connectionId)
    if isinstance(packet, AnnounceRequest):
        return _ANNOUNCE_REQUEST.pack(
            packet.connectionId, ACTION_ANNOUNCE, packet.transactionId,
            packet.infoHash, packet.peerId, packet.downloaded, packet.left,
            packet.uploaded, EVENTS[packet.event], packet.ip, packet.key,
            packet.numwant, packet.port,
        )
    if isinstance(packet, AnnounceReply):
        blob = b"".join(
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            + port.to_bytes(2, "big")
            for host, port in packet.peers
        )
        return _ANNOUNCE_REPLY.pack(
            ACTION_ANNOUNCE, packet.transactionId, packet.interval,
            packet.leechers, packet.seeders,
        ) + blob
    if isinstance(packet, ScrapeRequest):
        if not 1 <= len(packet.infoHashes) <= MAX_SCRAPE_HASHES:
            raise ValueError(f"a scrape asks for 1 to {MAX_SCRAPE_HASHES} info hashes")
        if any(len(h) != 20 for h in packet.infoHashes):
            raise ValueError("info hashes are 20 bytes")
        return _SCRAPE_REQUEST.pack(
            packet.connectionId, ACTION_SCRAPE, packet.transactionId
        ) + b"".join(packet.infoHashes)
    if isinstance(packet, ScrapeReply):
        return HEADER.pack(ACTION_SCRAPE, packet.transactionId) + b"".join(
            _SCRAPE_ENTRY.pack(e.seeders, e.completed, e.leechers) for e in packet.entries
        )
    if isinstance(packet, ErrorReply):
        message = packet.message.encode("utf-8")[:MAX_ERROR_MESSAGE]
        return HEADER.pack(ACTION_ERROR, packet.transactionId) + message
    raise TypeError(f"not a UDP tracker packet: {packet!r}")


def decodeReply(data: bytes, peerSize: int = 6) -> Reply:
    """
    Decode what a tracker sent a client.

    @param peerSize: 6 for IPv4 peers, 18 for IPv6 peers (BEP 15: the
        address family of the tracker).
    @raise UDPPacketError: if C{data} is not a well-formed reply.
    """
    if len(data) < HEADER.size:
        raise UDPPacketError(f"{len(data)} bytes, shorter than any reply")
    action, transactionId = HEADER.unpack_from(data)
    if action == ACTION_CONNECT:
        if len(data) != _CONNECT_REPLY.size:
            raise UDPPacketError(f"a connect reply is 16 bytes, not {len(data)}")
        _, _, connectionId = _CONNECT_REPLY.unpack(data)
        return ConnectReply(transactionId, connectionId)
    if action == ACTION_ANNOUNCE:
        if len(data) < _ANNOUNCE_REPLY.size or (len(data) - _ANNOUNCE_REPLY.size) % peerSize:
            raise UDPPacketError(
                f"an announce reply is 20 bytes plus {peerSize} per peer, not {len(data)}"
            )
        _, _, interval, leechers, seeders = _ANNOUNCE_REPLY.unpack_from(data)
        if interval < 0 or leechers < 0 or seeders < 0:
            raise UDPPacketError("negative interval or peer count in an announce reply")
        peers = _peerList(data[_ANNOUNCE_REPLY.size :], peerSize)
        return AnnounceReply(transactionId, interval, leechers, seeders, peers)
    if action == ACTION_SCRAPE:
        body = len(data) - HEADER.size
        if body % _SCRAPE_ENTRY.size or body // _SCRAPE_ENTRY.size > MAX_SCRAPE_HASHES:
            raise UDPPacketError(f"a scrape reply is 8 bytes plus 12 per torrent, not {len(data)}")
        entries = tuple(
            ScrapeEntry(*_SCRAPE_ENTRY.unpack_from(data, offset))
            for offset in range(HEADER.size, len(data), _SCRAPE_ENTRY.size)
        )
        if any(min(e.seeders, e.completed, e.leechers) < 0 for e in entries):
            raise UDPPacketError("negative count in a scrape reply")
        return ScrapeReply(transactionId, entries)
    if action == ACTION_ERROR:
        message = data[HEADER.size : HEADER.size + MAX_ERROR_MESSAGE]
        return ErrorReply(transactionId, message.decode("utf-8", "replace"))
    raise UDPPacketError(f"unknown action {action}")


def decodeRequest(data: bytes) -> Request:
    """
    Decode what a client sent a tracker.

    @raise UDPPacketError: if C{data} is not a well-formed request.
    """
    if len(data) < 16:
        raise UDPPacketError(f"{len(data)} bytes, shorter than any request")
    connectionId, action, transactionId = _CONNECT_REQUEST.unpack_from(data)
    if action == ACTION_CONNECT:
        if len(data) != _CONNECT_REQUEST.size:
            raise UDPPacketError(f"a connect request is 16 bytes, not {len(data)}")
        if connectionId != PROTOCOL_ID:
            raise UDPPacketError("a connect request without the protocol id")
        return ConnectRequest(transactionId)
    if action == ACTION_ANNOUNCE:
        if not _ANNOUNCE_REQUEST.size <= len(data) <= MAX_ANNOUNCE_REQUEST:
            raise UDPPacketError(
                f"an announce request is 98 to {MAX_ANNOUNCE_REQUEST} bytes, not {len(data)}"
            )
        (connectionId, _, transactionId, infoHash, peerId, downloaded, left,
         uploaded, event, ip, key, numwant, port) = _ANNOUNCE_REQUEST.unpack_from(data)
        if event not in _EVENT_NAMES:
            raise UDPPacketError(f"unknown announce event {event}")
        if downloaded >= 2 ** 63 or left >= 2 ** 63 or uploaded >= 2 ** 63:
            raise UDPPacketError("negative byte count in an announce")
        return AnnounceRequest(
            connectionId, transactionId, infoHash, peerId, downloaded, left,
            uploaded, _EVENT_NAMES[event], ip, key, numwant, port,
        )
    if action == ACTION_SCRAPE:
        body = len(data) - _SCRAPE_REQUEST.size
        count = body // 20
        if body % 20 or not 1 <= count <= MAX_SCRAPE_HASHES:
            raise UDPPacketError(
                f"a scrape request is 16 bytes plus 20 per torrent (1 to "
                f"{MAX_SCRAPE_HASHES}), not {len(data)}"
            )
        hashes = tuple(data[offset : offset + 20] for offset in range(16, len(data), 20))
        return ScrapeRequest(connectionId, transactionId, hashes)
    raise UDPPacketError(f"unknown action {action}")
