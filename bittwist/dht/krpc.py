# -*- test-case-name: tests.test_dht_krpc -*-
"""
The KRPC codec of the mainline DHT (BEP 5), sans-IO.

A KRPC message is one bencoded dictionary in one UDP datagram: a query
(C{"y": "q"}), a response (C{"y": "r"}) or an error (C{"y": "e"}).  This
module turns datagrams into L{Query}, L{Response} and L{Error} values and
back.  It never touches a socket.

Every datagram comes from anyone on the Internet, so decoding is bounded
before it starts: a datagram longer than L{MAX_DATAGRAM} is refused unread,
and L{bittwist.bdecode} refuses nesting deeper than L{MAX_DEPTH} and more
than L{MAX_ITEMS} values as it reads, so a hostile datagram costs at most a
few kilobytes.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Union

import bencodepy

from bittwist.bdecode import decode as bdecode
from bittwist.errors import BencodeError, KRPCError

__all__ = [
    "MAX_DATAGRAM",
    "NODE_ID_LENGTH",
    "COMPACT_NODE_LENGTH",
    "COMPACT_PEER_LENGTH",
    "NodeInfo",
    "Query",
    "Response",
    "Error",
    "Message",
    "PING",
    "FIND_NODE",
    "GET_PEERS",
    "ANNOUNCE_PEER",
    "GENERIC_ERROR",
    "SERVER_ERROR",
    "PROTOCOL_ERROR",
    "METHOD_UNKNOWN",
    "decode",
    "encode",
    "encodeNodes",
    "decodeNodes",
    "encodePeer",
    "decodePeers",
]

#: The largest datagram we read, in bytes; larger ones are dropped unread.
#: Mainline DHT messages fit an Ethernet frame (a get_peers answer with 100
#: peers and 8 nodes is about 1,100 bytes).
MAX_DATAGRAM = 1500

#: The deepest nesting of lists and dictionaries we decode.  A KRPC message
#: needs 3 (the message, its C{a}/C{r} dictionary, the C{values} list).
MAX_DEPTH = 4

#: The most values (strings, integers, lists, dictionaries) one datagram may
#: hold (a get_peers answer listing 100 peers holds about 120).
MAX_ITEMS = 256

#: The longest transaction id we accept, in bytes (clients use 2 to 4).
MAX_TRANSACTION_ID = 16

#: The longest token we accept or hand out, in bytes.
MAX_TOKEN = 64

#: The longest error message we keep, in characters.
MAX_ERROR_MESSAGE = 200

NODE_ID_LENGTH = 20
COMPACT_NODE_LENGTH = 26
COMPACT_PEER_LENGTH = 6

PING = "ping"
FIND_NODE = "find_node"
GET_PEERS = "get_peers"
ANNOUNCE_PEER = "announce_peer"

GENERIC_ERROR = 201
SERVER_ERROR = 202
PROTOCOL_ERROR = 203
METHOD_UNKNOWN = 204

Address = tuple[str, int]


# ---------------------------------------------------------------------------
# Compact node and peer info.


@dataclass(frozen=True)
class NodeInfo:
    """
    A DHT node: its id and its UDP address.

    @ivar nodeId: the 20-byte node id.
    @ivar address: C{(IPv4 address, port)}.
    """

    nodeId: bytes
    address: Address

    @cached_property
    def compact(self) -> bytes:
        """
        The node's 26-byte compact form, made once: the routing table keeps
        its nodes' L{NodeInfo}, so answers join cached bytes.
        """
        return self.nodeId + _compactAddress(self.address)


_PORT = struct.Struct("!H")


def _compactAddress(address: Address) -> bytes:
    # inet_pton is strict (dotted quads only) and ~20 times cheaper than
    # ipaddress, which dominated the cost of an answer.
    host, port = address
    try:
        return socket.inet_pton(socket.AF_INET, host) + _PORT.pack(port)
    except (OSError, struct.error):
        raise ValueError(f"{address!r} is not an IPv4 address and port") from None


def _addressAt(blob: bytes, offset: int) -> Address:
    host = socket.inet_ntop(socket.AF_INET, blob[offset : offset + 4])
    (port,) = _PORT.unpack_from(blob, offset + 4)
    return host, port


def encodeNodes(nodes: Iterable[NodeInfo]) -> bytes:
    """
    @return: the compact node info of C{nodes} (26 bytes each, IPv4 only).
    @raise ValueError: if a node's address is not an IPv4 one.
    """
    return b"".join([n.compact for n in nodes])


def decodeNodes(blob: object) -> tuple[NodeInfo, ...]:
    """
    Read compact node info, skipping entries with port 0.

    @raise KRPCError: if C{blob} is not a string of 26-byte entries.
    """
    if not isinstance(blob, bytes) or len(blob) % COMPACT_NODE_LENGTH:
        raise KRPCError("nodes is not a string of 26-byte entries")
    nodes = []
    for offset in range(0, len(blob), COMPACT_NODE_LENGTH):
        address = _addressAt(blob, offset + NODE_ID_LENGTH)
        if address[1]:
            nodes.append(NodeInfo(blob[offset : offset + NODE_ID_LENGTH], address))
    return tuple(nodes)


def encodePeer(address: Address) -> bytes:
    """
    @return: the 6-byte compact form of an IPv4 peer address.
    @raise ValueError: if it is not one.
    """
    return _compactAddress(address)


def decodePeers(values: object) -> tuple[Address, ...]:
    """
    Read the C{values} list of a get_peers answer: 6-byte IPv4 peers
    (18-byte IPv6 ones, which we do not use yet, are skipped), skipping
    port 0.

    @raise KRPCError: if C{values} is not a list of strings.
    """
    if not isinstance(values, list):
        raise KRPCError("values is not a list")
    peers = []
    for value in values:
        if not isinstance(value, bytes):
            raise KRPCError("values holds something other than strings")
        if len(value) == COMPACT_PEER_LENGTH:
            address = _addressAt(value, 0)
            if address[1]:
                peers.append(address)
        elif len(value) != 18:
            raise KRPCError("a peer in values is neither 6 nor 18 bytes")
    return tuple(peers)


# ---------------------------------------------------------------------------
# Messages.


@dataclass(frozen=True)
class Query:
    """
    A KRPC query.

    @ivar transactionId: the sender's transaction id, echoed in the answer.
    @ivar method: C{"ping"}, C{"find_node"}, C{"get_peers"},
        C{"announce_peer"}, or another name we do not know (answered with
        error 204).
    @ivar senderId: the querying node's id.
    @ivar target: for C{find_node}, the id sought.
    @ivar infoHash: for C{get_peers} and C{announce_peer}.
    @ivar port: for C{announce_peer}, the peer's TCP port.
    @ivar token: for C{announce_peer}, the token from our get_peers answer.
    @ivar impliedPort: for C{announce_peer}: use the UDP source port instead of
        C{port}.
    @ivar readOnly: the sender is a read-only node (BEP 43): answer it, but do
        not add it to the routing table.
    """

    transactionId: bytes
    method: str
    senderId: bytes
    target: bytes | None = None
    infoHash: bytes | None = None
    port: int | None = None
    token: bytes | None = None
    impliedPort: bool = False
    readOnly: bool = False


@dataclass(frozen=True)
class Response:
    """
    A KRPC response.

    @ivar transactionId: the transaction id of the query it answers.
    @ivar senderId: the answering node's id.
    @ivar nodes: compact nodes, for find_node and get_peers.
    @ivar values: peer addresses, for get_peers.
    @ivar token: the token to announce with, for get_peers.
    """

    transactionId: bytes
    senderId: bytes
    nodes: tuple[NodeInfo, ...] = ()
    values: tuple[Address, ...] = ()
    token: bytes | None = None


@dataclass(frozen=True)
class Error:
    """
    A KRPC error.

    @ivar transactionId: the transaction id of the query it answers.
    @ivar code: 201 generic, 202 server, 203 protocol, 204 method unknown.
    @ivar message: the error's text, decoded leniently and truncated.
    """

    transactionId: bytes
    code: int
    message: str = field(default="")


Message = Union[Query, Response, Error]


def _nodeId(value: object, what: str, tid: bytes | None, isQuery: bool) -> bytes:
    if not isinstance(value, bytes) or len(value) != NODE_ID_LENGTH:
        raise KRPCError(f"{what} is not a 20-byte id", tid, isQuery)
    return value


def decode(data: bytes) -> Message:
    """
    Decode one KRPC datagram.

    @param data: the datagram.
    @return: a L{Query}, L{Response} or L{Error}.
    @raise KRPCError: if the datagram is too long, not bounded bencode, or not
        a well-formed KRPC message; its C{transactionId} and C{isQuery} say
        whether an error answer is possible.
    """
    if len(data) > MAX_DATAGRAM:
        raise KRPCError(f"datagram of {len(data)} bytes is longer than {MAX_DATAGRAM}")
    # Most junk fails here, before the decoder's own error costs anything.
    if data[:1] != b"d":
        raise KRPCError("not a dictionary")
    try:
        top = bdecode(data, maxValues=MAX_ITEMS, maxDepth=MAX_DEPTH)
    except BencodeError as e:
        raise KRPCError(e.reason) from None
    tid = top.get(b"t")
    if not isinstance(tid, bytes) or not 0 < len(tid) <= MAX_TRANSACTION_ID:
        raise KRPCError("missing or bad transaction id")
    kind = top.get(b"y")
    if kind == b"q":
        return _decodeQuery(top, tid)
    if kind == b"r":
        return _decodeResponse(top, tid)
    if kind == b"e":
        return _decodeError(top, tid)
    raise KRPCError("message type y is not q, r or e", tid)


def _decodeQuery(top: dict, tid: bytes) -> Query:
    method = top.get(b"q")
    args = top.get(b"a")
    if not isinstance(method, bytes) or not 0 < len(method) <= 32:
        raise KRPCError("query without a method name", tid, True)
    if not isinstance(args, dict):
        raise KRPCError("query without arguments", tid, True)
    name = method.decode("ascii", "replace")
    senderId = _nodeId(args.get(b"id"), "sender id", tid, True)
    readOnly = top.get(b"ro") == 1
    if name == PING:
        return Query(tid, name, senderId, readOnly=readOnly)
    if name == FIND_NODE:
        target = _nodeId(args.get(b"target"), "target", tid, True)
        return Query(tid, name, senderId, target=target, readOnly=readOnly)
    if name == GET_PEERS:
        infoHash = _nodeId(args.get(b"info_hash"), "info_hash", tid, True)
        return Query(tid, name, senderId, infoHash=infoHash, readOnly=readOnly)
    if name == ANNOUNCE_PEER:
        infoHash = _nodeId(args.get(b"info_hash"), "info_hash", tid, True)
        port = args.get(b"port")
        if not isinstance(port, int) or not 0 < port < 65536:
            port = None
        impliedPort = args.get(b"implied_port") == 1
        if not impliedPort and port is None:
            raise KRPCError("announce_peer with a bad port", tid, True)
        token = args.get(b"token")
        if not isinstance(token, bytes) or not 0 < len(token) <= MAX_TOKEN:
            raise KRPCError("announce_peer with a bad token", tid, True)
        return Query(
            tid,
            name,
            senderId,
            infoHash=infoHash,
            port=port,
            token=token,
            impliedPort=impliedPort,
            readOnly=readOnly,
        )
    return Query(tid, name, senderId, readOnly=readOnly)


def _decodeResponse(top: dict, tid: bytes) -> Response:
    body = top.get(b"r")
    if not isinstance(body, dict):
        raise KRPCError("response without a body", tid)
    senderId = _nodeId(body.get(b"id"), "responder id", tid, False)
    nodes: tuple[NodeInfo, ...] = ()
    if b"nodes" in body:
        nodes = decodeNodes(body[b"nodes"])
    values: tuple[Address, ...] = ()
    if b"values" in body:
        values = decodePeers(body[b"values"])
    token = body.get(b"token")
    if token is not None and (not isinstance(token, bytes) or not 0 < len(token) <= MAX_TOKEN):
        raise KRPCError("bad token", tid)
    return Response(tid, senderId, nodes, values, token)


def _decodeError(top: dict, tid: bytes) -> Error:
    body = top.get(b"e")
    if (
        not isinstance(body, list)
        or len(body) < 2
        or not isinstance(body[0], int)
        or not isinstance(body[1], bytes)
    ):
        raise KRPCError("error without [code, message]", tid)
    message = body[1][:MAX_ERROR_MESSAGE].decode("utf-8", "replace")
    return Error(tid, body[0], message)


def encode(message: Message, version: bytes | None = None) -> bytes:
    """
    Encode a message as one datagram.

    @param message: a L{Query}, L{Response} or L{Error}.
    @param version: our client version (C{"v"}), if any.
    """
    if isinstance(message, Response):
        return _encodeResponse(message, version)
    top: dict[bytes, object] = {b"t": message.transactionId}
    if version is not None:
        top[b"v"] = version
    if isinstance(message, Query):
        args: dict[bytes, object] = {b"id": message.senderId}
        if message.target is not None:
            args[b"target"] = message.target
        if message.infoHash is not None:
            args[b"info_hash"] = message.infoHash
        if message.method == ANNOUNCE_PEER:
            args[b"port"] = message.port or 0
            args[b"implied_port"] = int(message.impliedPort)
        if message.token is not None:
            args[b"token"] = message.token
        top[b"y"] = b"q"
        top[b"q"] = message.method.encode("ascii")
        top[b"a"] = args
        if message.readOnly:
            top[b"ro"] = 1
    else:
        top[b"y"] = b"e"
        top[b"e"] = [message.code, message.message]
    return bencodepy.encode(top)



def _string(value: bytes) -> bytes:
    return b"%d:%s" % (len(value), value)


def _encodeResponse(message: Response, version: bytes | None) -> bytes:
    # Every answer we send is a response: written out directly, keys in
    # bencode's sorted order, rather than through bencodepy's generic walk.
    parts = [b"d1:rd2:id", _string(message.senderId)]
    if message.nodes:
        parts += (b"5:nodes", _string(encodeNodes(message.nodes)))
    if message.token is not None:
        parts += (b"5:token", _string(message.token))
    if message.values:
        parts.append(b"6:valuesl")
        # Up to 50 peers an answer: inlined, one C call each for address and port.
        pton, pack = socket.inet_pton, _PORT.pack
        try:
            parts += [b"6:" + pton(socket.AF_INET, host) + pack(port) for host, port in message.values]
        except (OSError, struct.error):
            raise ValueError("a peer in values is not an IPv4 address and port") from None
        parts.append(b"e")
    parts += (b"e1:t", _string(message.transactionId))
    if version is not None:
        parts += (b"1:v", _string(version))
    parts.append(b"1:y1:re")
    return b"".join(parts)
