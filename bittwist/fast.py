# -*- test-case-name: tests.test_fast -*-
"""
The allowed fast set of the fast extension (BEP 6).

A peer may request the pieces of its allowed fast set even while we choke
it.  The set depends only on the peer's address and the torrent, so both
sides can compute it; L{allowedFastSet} does so exactly as BEP 6 specifies.
"""

import hashlib
import ipaddress
import struct

from bittwist.ipaddr import ipAddress

__all__ = ["DEFAULT_ALLOWED_FAST", "MAX_ALLOWED_FAST", "allowedFastSet"]

DEFAULT_ALLOWED_FAST = 10
"""
How many pieces BEP 6 suggests to allow fast (C{k}), as libtorrent does.
"""

MAX_ALLOWED_FAST = 1024
"""
The largest C{k} accepted: a peer gets at most this many pieces allowed
fast, so the set stays small and cheap to compute.
"""

_MASK = 0xFFFFFF00
_WORD = struct.Struct(">I")


def allowedFastSet(
    ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    infoHash: bytes,
    numPieces: int,
    k: int = DEFAULT_ALLOWED_FAST,
    maskNetwork: bool = True,
) -> tuple[int, ...]:
    """
    Compute the allowed fast set of BEP 6 for the peer at C{ip}: the
    address masked to its /24 network, followed by the info hash, is hashed
    with SHA-1 again and again; each digest gives five big-endian 32-bit
    words, each taken modulo C{numPieces}, and new indices are kept in order
    until there are C{k}.

    BEP 6 defines the set for IPv4 only: for an IPv6 address (other than an
    IPv4-mapped one) the set is empty, and nothing is allowed fast.  If
    C{k} is at least C{numPieces}, every piece is allowed fast (the
    algorithm would find them all, in some order).

    libtorrent (2.x) departs from the BEP: it hashes the whole address,
    unmasked, and IPv6 addresses too.  C{maskNetwork=False} computes that
    variant.  Both are fine on the wire, since each side sends its set in
    C{allowed fast} messages and never recomputes the other's.

    @param ip: the peer's IP address as we see it.
    @param infoHash: the torrent's 20-byte info hash.
    @param numPieces: the number of pieces of the torrent.
    @param k: how many pieces to allow fast.
    @param maskNetwork: C{True} for the BEP's algorithm; C{False} for
        libtorrent's.
    @return: the piece indices, in the order the algorithm finds them.
    @raise ValueError: if C{ip} is not an IP address, C{infoHash} is not 20
        bytes, C{numPieces} is negative, or C{k} is not 0 to
        L{MAX_ALLOWED_FAST}.
    """
    address = ipAddress(ip)
    if len(infoHash) != 20:
        raise ValueError(f"info hash must be 20 bytes, not {len(infoHash)}")
    if numPieces < 0:
        raise ValueError(f"number of pieces {numPieces} is negative")
    if not 0 <= k <= MAX_ALLOWED_FAST:
        raise ValueError(f"allowed fast set size {k} is not 0 to {MAX_ALLOWED_FAST}")
    if isinstance(address, ipaddress.IPv6Address) and maskNetwork:
        return ()
    if k >= numPieces:
        return tuple(range(numPieces))
    if maskNetwork:
        x = _WORD.pack(int(address) & _MASK) + bytes(infoHash)
    else:
        x = address.packed + bytes(infoHash)
    found: dict[int, None] = {}
    while len(found) < k:
        x = hashlib.sha1(x).digest()
        for offset in range(0, 20, 4):
            if len(found) >= k:
                break
            found.setdefault(_WORD.unpack_from(x, offset)[0] % numPieces)
    return tuple(found)
