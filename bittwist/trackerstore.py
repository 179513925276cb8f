# -*- test-case-name: tests.test_trackerstore -*-
"""
The state of our tracker, without any transport: who is in which swarm.

L{Tracker} answers announces and scrapes; the HTTP front-end
(L{bittwist.trackerserver}) and a UDP one (BEP 15) parse requests, call it,
and encode what it returns.  Everything here is sized for hostile askers:

  - an announce costs O(C{numwant}) whatever the swarm's size: each swarm
    keeps its seeders and its leechers in a list plus an index map (removal
    swaps the last entry into the gap), and the peers returned are drawn at
    random indices;
  - counts are the lists' lengths;
  - peers expire in the order they last announced (one ordered map over all
    swarms), a few at every request, never by walking a swarm;
  - one address may hold only so many peer ids in a swarm and be in only so
    many swarms, and the swarms and peers in all are bounded
    (L{TrackerLimits}).

A swarm is forgotten with its last peer, and its C{downloaded} count with
it: keeping empty swarms would let anyone fill the tracker with them.
"""

from __future__ import annotations

import ipaddress
import random as _random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

from bittwist.errors import AnnounceRefused
from bittwist.ipaddr import ipAddress

__all__ = [
    "Tracker",
    "TrackerLimits",
    "TrackerPeer",
    "AnnounceResult",
    "ScrapeResult",
    "DEFAULT_NUMWANT",
    "MAX_NUMWANT",
    "MAX_SCRAPE",
]

DEFAULT_NUMWANT = 50
"""
Peers returned when the asker does not say how many it wants.
"""

MAX_NUMWANT = 200
"""
The most peers returned in one answer.
"""

MAX_SCRAPE = 200
"""
The most info hashes one scrape may ask about.
"""

EVENTS = (None, "started", "completed", "stopped")
"""
The announce events L{Tracker.announce} understands.
"""


@dataclass(frozen=True)
class TrackerLimits:
    """
    How much of the tracker one asker, and all of them, may take.

    @ivar maxPeerIdsPerAddress: peer ids one IP address may hold in one
        swarm (a few clients behind one NAT are fine; thousands of made-up
        ids are not).
    @ivar maxSwarmsPerAddress: swarms one IP address may be in at once.
    @ivar maxSwarms: swarms tracked at once.
    @ivar maxPeers: peers tracked at once, in all swarms.
    """

    maxPeerIdsPerAddress: int = 8
    maxSwarmsPerAddress: int = 2000
    maxSwarms: int = 50_000
    maxPeers: int = 500_000


class TrackerPeer(NamedTuple):
    """
    A peer as the tracker hands it out.
    """

    peerId: bytes
    ip: str
    port: int

    @property
    def compact(self) -> bytes:
        """
        The BEP 23 (IPv4, 6 bytes) or BEP 7 (IPv6, 18 bytes) compact form.
        """
        return ipaddress.ip_address(self.ip).packed + self.port.to_bytes(2, "big")


class AnnounceResult(NamedTuple):
    """
    The answer to an announce.

    @ivar peers: peers for the asker, never itself, no seeders for a seeder.
    @ivar complete: seeders in the swarm.
    @ivar incomplete: leechers in the swarm.
    @ivar interval: seconds until the asker should announce again.
    """

    peers: list[TrackerPeer]
    complete: int
    incomplete: int
    interval: int


class ScrapeResult(NamedTuple):
    """
    One swarm's counts, as a scrape returns them.
    """

    complete: int
    incomplete: int
    downloaded: int


class _Entry:
    """
    A peer in a swarm.
    """

    __slots__ = ("peer", "left", "lastSeen")

    def __init__(self, peer: TrackerPeer, left: int, lastSeen: float) -> None:
        self.peer = peer
        self.left = left
        self.lastSeen = lastSeen


_Key = tuple[bytes, str]


class _PeerSet:
    """
    Entries in a list, with their indices in a map: adding, finding and
    removing cost O(1), and so does reaching the i-th entry.
    """

    __slots__ = ("entries", "index")

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.index: dict[_Key, int] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: _Key) -> _Entry | None:
        position = self.index.get(key)
        return None if position is None else self.entries[position]

    def add(self, key: _Key, entry: _Entry) -> None:
        self.index[key] = len(self.entries)
        self.entries.append(entry)

    def remove(self, key: _Key) -> _Entry:
        position = self.index.pop(key)
        entries = self.entries
        entry = entries[position]
        last = entries.pop()
        if last is not entry:
            # Swap the last entry into the gap.
            entries[position] = last
            self.index[last.peer.peerId, last.peer.ip] = position
        return entry


class _Swarm:
    __slots__ = ("seeders", "leechers", "downloaded", "idsByAddress")

    def __init__(self) -> None:
        self.seeders = _PeerSet()
        self.leechers = _PeerSet()
        self.downloaded = 0
        self.idsByAddress: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.seeders) + len(self.leechers)

    def find(self, key: _Key) -> tuple[_PeerSet, _Entry] | None:
        for peers in (self.seeders, self.leechers):
            entry = peers.get(key)
            if entry is not None:
                return peers, entry
        return None


def _normalisedAddress(ip: str) -> str:
    try:
        return str(ipAddress(ip))
    except (TypeError, ValueError):
        raise AnnounceRefused("cannot tell your IP address; announce over TCP/IP or UDP/IP")


class Tracker:
    """
    The peers of every swarm our tracker knows, in memory.

    Peers are keyed by peer id and address, so one host cannot remove or
    overwrite another host's entry.  A peer that has not announced for
    C{peerTimeout} seconds is forgotten.

    @ivar interval: the C{interval} peers are asked to announce at.
    @ivar minInterval: the C{min interval} told to peers, if any.
    @ivar peerTimeout: seconds after which a silent peer is forgotten.
    @ivar limits: the bounds on what askers may take.
    """

    def __init__(
        self,
        reactor: Any = None,
        interval: int = 1800,
        minInterval: int | None = None,
        peerTimeout: float | None = None,
        limits: TrackerLimits = TrackerLimits(),
        random: _random.Random | None = None,
    ) -> None:
        """
        @param reactor: provides C{seconds()}; the global reactor if C{None}.
        @param interval: see L{interval}.
        @param minInterval: see L{minInterval}.
        @param peerTimeout: see L{peerTimeout}; twice C{interval} if C{None}.
        @param limits: see L{limits}.
        @param random: draws the peers returned; a new C{random.Random} if
            C{None}.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        self.interval = interval
        self.minInterval = minInterval
        self.peerTimeout = 2 * interval if peerTimeout is None else peerTimeout
        self.limits = limits
        self._swarms: dict[bytes, _Swarm] = {}
        # Every peer of every swarm, the least recently seen first.
        self._byAge: OrderedDict[tuple[bytes, _Key], _Entry] = OrderedDict()
        self._swarmsByAddress: dict[str, int] = {}
        self._random = _random.Random() if random is None else random

    @property
    def swarmCount(self) -> int:
        """
        How many swarms have peers.
        """
        return len(self._swarms)

    @property
    def peerCount(self) -> int:
        """
        How many peers are tracked, in all swarms.
        """
        return len(self._byAge)

    def announce(
        self,
        infoHash: bytes,
        peerId: bytes,
        ip: str,
        port: int,
        event: str | None,
        left: int,
        numwant: int | None = None,
    ) -> AnnounceResult:
        """
        A peer announces itself: remember it (or forget it, on C{stopped})
        and choose peers for it.  Costs O(C{numwant}), whatever the swarm's
        size.

        @param infoHash: the swarm's 20-byte info hash.
        @param peerId: the asker's 20-byte peer id.
        @param ip: the address the request came from, as text; IPv4-mapped
            IPv6 addresses count as IPv4.
        @param port: the asker's listening port.
        @param event: one of L{EVENTS}.
        @param left: bytes the asker still needs; 0 for a seeder.
        @param numwant: peers wanted; L{DEFAULT_NUMWANT} if C{None}, at
            most L{MAX_NUMWANT}.
        @return: the peers chosen, the swarm's counts and the interval.
        @raise AnnounceRefused: if a value is out of range, or the asker
            would pass one of the L{limits}.
        """
        if not isinstance(infoHash, bytes) or len(infoHash) != 20:
            raise AnnounceRefused("'info_hash' must be 20 bytes")
        if not isinstance(peerId, bytes) or len(peerId) != 20:
            raise AnnounceRefused("'peer_id' must be 20 bytes")
        if not 0 < port < 65536:
            raise AnnounceRefused("'port' must be between 1 and 65535")
        if left < 0:
            raise AnnounceRefused("'left' must not be negative")
        if event not in EVENTS:
            raise AnnounceRefused("'event' must be started, completed or stopped")
        numwant = DEFAULT_NUMWANT if numwant is None else max(0, min(numwant, MAX_NUMWANT))
        ip = _normalisedAddress(ip)
        now = self._reactor.seconds()
        self._expire(now)
        key = (peerId, ip)
        swarm = self._swarms.get(infoHash)
        found = None if swarm is None else swarm.find(key)

        if event == "stopped":
            if found is not None:
                self._remove(infoHash, swarm, key)
                swarm = self._swarms.get(infoHash)
            counts = (0, 0) if swarm is None else (len(swarm.seeders), len(swarm.leechers))
            return AnnounceResult([], *counts, self.interval)

        peer = TrackerPeer(peerId, ip, port)
        if found is None:
            swarm = self._admit(infoHash, swarm, ip)
            entry = _Entry(peer, left, now)
            (swarm.leechers if left else swarm.seeders).add(key, entry)
            self._byAge[infoHash, key] = entry
            if event == "completed":
                swarm.downloaded += 1
        else:
            assert swarm is not None
            peers, entry = found
            if event == "completed" and entry.left != 0:
                swarm.downloaded += 1
            wanted = swarm.leechers if left else swarm.seeders
            if wanted is not peers:
                peers.remove(key)
                wanted.add(key, entry)
            entry.peer, entry.left, entry.lastSeen = peer, left, now
            self._byAge.move_to_end((infoHash, key))

        return AnnounceResult(
            self._choose(swarm, peer, left == 0, numwant),
            len(swarm.seeders),
            len(swarm.leechers),
            self.interval,
        )

    def scrape(self, infoHashes: Sequence[bytes]) -> dict[bytes, ScrapeResult]:
        """
        The counts of some swarms (BEP 48); an unknown swarm has all zero.

        @param infoHashes: 20-byte info hashes, at most L{MAX_SCRAPE}.
        @raise AnnounceRefused: if there are too many, or one is not 20
            bytes.
        """
        if len(infoHashes) > MAX_SCRAPE:
            raise AnnounceRefused(f"at most {MAX_SCRAPE} 'info_hash' per scrape")
        for infoHash in infoHashes:
            if not isinstance(infoHash, bytes) or len(infoHash) != 20:
                raise AnnounceRefused("'info_hash' must be 20 bytes")
        self._expire(self._reactor.seconds())
        files = {}
        for infoHash in infoHashes:
            swarm = self._swarms.get(infoHash)
            if swarm is None:
                files[infoHash] = ScrapeResult(0, 0, 0)
            else:
                files[infoHash] = ScrapeResult(
                    len(swarm.seeders), len(swarm.leechers), swarm.downloaded
                )
        return files

    def _admit(self, infoHash: bytes, swarm: _Swarm | None, ip: str) -> _Swarm:
        """
        Make room for a new peer from C{ip}, within the limits.

        @return: the swarm, created if need be.
        @raise AnnounceRefused: if a limit would be passed.
        """
        limits = self.limits
        if len(self._byAge) >= limits.maxPeers:
            raise AnnounceRefused("this tracker is full; try again later")
        ids = 0 if swarm is None else swarm.idsByAddress.get(ip, 0)
        if ids >= limits.maxPeerIdsPerAddress:
            raise AnnounceRefused(
                f"too many peer ids from {ip} in this torrent "
                f"(at most {limits.maxPeerIdsPerAddress}); stop the others first"
            )
        if ids == 0 and self._swarmsByAddress.get(ip, 0) >= limits.maxSwarmsPerAddress:
            raise AnnounceRefused(
                f"{ip} is in too many torrents on this tracker "
                f"(at most {limits.maxSwarmsPerAddress})"
            )
        if swarm is None:
            if len(self._swarms) >= limits.maxSwarms:
                raise AnnounceRefused("this tracker tracks too many torrents; try again later")
            swarm = self._swarms[infoHash] = _Swarm()
        swarm.idsByAddress[ip] = ids + 1
        if ids == 0:
            self._swarmsByAddress[ip] = self._swarmsByAddress.get(ip, 0) + 1
        return swarm

    def _remove(self, infoHash: bytes, swarm: _Swarm, key: _Key) -> None:
        """
        Forget one peer, and its swarm if it was the last.
        """
        found = swarm.find(key)
        assert found is not None
        found[0].remove(key)
        del self._byAge[infoHash, key]
        ip = key[1]
        ids = swarm.idsByAddress[ip] - 1
        if ids:
            swarm.idsByAddress[ip] = ids
        else:
            del swarm.idsByAddress[ip]
            swarms = self._swarmsByAddress[ip] - 1
            if swarms:
                self._swarmsByAddress[ip] = swarms
            else:
                del self._swarmsByAddress[ip]
        if not swarm:
            del self._swarms[infoHash]

    def _expire(self, now: float) -> None:
        """
        Forget the peers silent for L{peerTimeout} seconds: the oldest are
        first in line, so this stops at the first one still fresh.
        """
        deadline = now - self.peerTimeout
        byAge = self._byAge
        while byAge:
            (infoHash, key), entry = next(iter(byAge.items()))
            if entry.lastSeen > deadline:
                return
            self._remove(infoHash, self._swarms[infoHash], key)

    def _choose(
        self, swarm: _Swarm, asker: TrackerPeer, seeding: bool, numwant: int
    ) -> list[TrackerPeer]:
        """
        Up to C{numwant} peers of C{swarm} at random, never the asker (by
        peer id or by address), and only leechers for a seeder.
        """
        seeders, leechers = swarm.seeders.entries, swarm.leechers.entries
        pool = len(leechers) if seeding else len(seeders) + len(leechers)
        if not numwant or not pool:
            return []
        # One more than wanted, in case the asker itself is drawn.
        draws = self._random.sample(range(pool), min(pool, numwant + 1))
        split = 0 if seeding else len(seeders)
        askerId, askerAddress = asker.peerId, (asker.ip, asker.port)
        chosen = []
        for draw in draws:
            peer = seeders[draw].peer if draw < split else leechers[draw - split].peer
            if peer.peerId == askerId or peer[1:] == askerAddress:
                continue
            chosen.append(peer)
            if len(chosen) == numwant:
                break
        return chosen
