# -*- test-case-name: tests.test_dht_storage -*-
"""
The peers other nodes announced to us (BEP 5 C{announce_peer}), for the
info hashes we are close to.

Each announcement expires after L{PEER_TTL} seconds unless renewed.  The
store is bounded three ways, so that announcements cannot exhaust memory:
peers per info hash (the oldest goes), info hashes in all (a new info hash
is refused while the store is full), and peers in all.  And one IP address
holds at most a few entries, whatever its ports and info hashes, so that a
single host can neither fill the store nor push a swarm's peers out.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Optional

from twisted.internet.interfaces import IReactorTime

__all__ = ["PEER_TTL", "PeerStore"]

#: Seconds an announcement is kept (BEP 5 leaves it to us; 30 minutes, as
#: libtorrent).
PEER_TTL = 30 * 60

Address = tuple[str, int]


class PeerStore:
    """
    Announced peers by info hash, expiring.
    """

    def __init__(
        self,
        clock: IReactorTime,
        maxPerInfoHash: int = 200,
        maxInfoHashes: int = 2000,
        maxPeers: int = 20000,
        maxPerHost: int = 32,
        rng: Optional[random.Random] = None,
    ) -> None:
        """
        @param clock: tells the time of announcements.
        @param maxPerInfoHash: peers kept per info hash.
        @param maxInfoHashes: info hashes kept.
        @param maxPeers: peers kept in all.
        @param maxPerHost: entries one IP address may hold, in all.
        @param rng: picks which peers an answer lists.
        """
        self._clock = clock
        self._maxPerInfoHash = maxPerInfoHash
        self._maxInfoHashes = maxInfoHashes
        self._maxPeers = maxPeers
        self._maxPerHost = maxPerHost
        self._rng = rng or random.Random()
        self._swarms: dict[bytes, OrderedDict[Address, float]] = {}
        self._total = 0
        # host -> entries it holds; a host is forgotten with its last entry.
        self._perHost: dict[str, int] = {}
        self._lastSweep = float("-inf")

    def __len__(self) -> int:
        """
        @return: the peers held, in all.
        """
        return self._total

    @property
    def infoHashCount(self) -> int:
        return len(self._swarms)

    def announce(self, infoHash: bytes, address: Address) -> bool:
        """
        Remember that C{address} has C{infoHash}, or renew it.

        @return: whether it is held (a new announcement may be refused when
            the store is full, or when its host holds C{maxPerHost} entries).
        """
        now = self._clock.seconds()
        self._expire(infoHash, now)
        swarm = self._swarms.get(infoHash)
        if swarm is not None and address in swarm:
            swarm[address] = now
            swarm.move_to_end(address)
            return True
        if swarm is None and len(self._swarms) >= self._maxInfoHashes:
            self._expireWhenFull(now)
            if len(self._swarms) >= self._maxInfoHashes:
                return False
        if self._total >= self._maxPeers and (swarm is None or len(swarm) < self._maxPerInfoHash):
            self._expireWhenFull(now)
            if self._total >= self._maxPeers:
                return False
        host = address[0]
        if self._perHost.get(host, 0) >= self._maxPerHost:
            self._expireWhenFull(now)
            if self._perHost.get(host, 0) >= self._maxPerHost:
                return False
        swarm = self._swarms.setdefault(infoHash, OrderedDict())
        if len(swarm) >= self._maxPerInfoHash:
            oldest, _ = swarm.popitem(last=False)
            self._forget(oldest)
        swarm[address] = now
        self._total += 1
        self._perHost[host] = self._perHost.get(host, 0) + 1
        return True

    def _forget(self, address: Address) -> None:
        self._total -= 1
        host = address[0]
        left = self._perHost[host] - 1
        if left:
            self._perHost[host] = left
        else:
            del self._perHost[host]

    def peers(self, infoHash: bytes, count: int) -> list[Address]:
        """
        @return: up to C{count} live peers of C{infoHash}, picked at random.
        """
        self._expire(infoHash, self._clock.seconds())
        swarm = self._swarms.get(infoHash)
        if not swarm:
            return []
        addresses = list(swarm)
        if len(addresses) <= count:
            return addresses
        return self._rng.sample(addresses, count)

    def _expireWhenFull(self, now: float) -> None:
        # A full store is swept at most once a minute: otherwise every
        # refused announcement would cost a sweep of the whole store.
        if now - self._lastSweep >= 60:
            self.expireAll()

    def expireAll(self) -> None:
        """
        Drop every expired announcement.
        """
        now = self._lastSweep = self._clock.seconds()
        for infoHash in list(self._swarms):
            self._expire(infoHash, now)

    def _expire(self, infoHash: bytes, now: float) -> None:
        swarm = self._swarms.get(infoHash)
        if swarm is None:
            return
        # Announcements are kept oldest first: stop at the first live one.
        while swarm:
            address, when = next(iter(swarm.items()))
            if now - when < PEER_TTL:
                break
            del swarm[address]
            self._forget(address)
        if not swarm:
            del self._swarms[infoHash]
