# -*- test-case-name: tests.test_dht_node -*-
"""
The routing table file: our node id and some nodes, kept across restarts.

It is only a cache, so reading it is bounded (L{MAX_TABLE_FILE} bytes,
L{SAVED_NODES} nodes) and a damaged one is ignored: we join afresh.
"""

from __future__ import annotations

from typing import Iterable, Optional

import bencodepy

from bittwist.atomicfile import writeAtomically
from bittwist.bdecode import decode as bdecode
from bittwist.dht import krpc
from bittwist.dht.krpc import NodeInfo
from bittwist.errors import BencodeError, KRPCError

__all__ = ["MAX_TABLE_FILE", "SAVED_NODES", "loadTable", "saveTable"]

#: The most nodes kept in the routing table file.
SAVED_NODES = 200

#: The largest routing table file we read, in bytes.
MAX_TABLE_FILE = 16 * 1024


def saveTable(path: str, nodeId: bytes, nodes: Iterable[NodeInfo]) -> None:
    """
    Write our node id and some nodes to C{path}, atomically.
    """
    writeAtomically(path, bencodepy.encode({b"id": nodeId, b"nodes": krpc.encodeNodes(nodes)}))


def loadTable(path: str) -> Optional[tuple[bytes, list[NodeInfo]]]:
    """
    Read a routing table file written by L{saveTable}.

    @return: our node id and the nodes, or C{None} if the file is missing,
        too large or malformed (it is only a cache: we join afresh).
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TABLE_FILE + 1)
    except OSError:
        return None
    if len(data) > MAX_TABLE_FILE:
        return None
    try:
        top = bdecode(data, maxValues=5, maxDepth=1)
        if not isinstance(top, dict):
            return None
        nodeId = top.get(b"id")
        if not isinstance(nodeId, bytes) or len(nodeId) != 20:
            return None
        nodes = list(krpc.decodeNodes(top.get(b"nodes", b"")))
    except (BencodeError, KRPCError):
        return None
    return nodeId, nodes[:SAVED_NODES]
