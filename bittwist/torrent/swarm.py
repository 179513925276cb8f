# -*- test-case-name: tests.test_swarm_part -*-
"""
The swarm of one torrent: the peer addresses it knows, the connections it
makes and accepts, and the peers it will not talk to.

L{Swarm} remembers candidate addresses from every peer source (bounded, the
fresh preferred), dials them through an injected L{bittwist.factory.PeerDialer}
with at most a few attempts in progress, backs off from addresses that fail,
admits handshaken peers up to the connection limit, and bans peers that
sent corrupt data. It decides nothing about pieces or uploads.
"""

import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist.config import TorrentConfig
from bittwist.errors import EncryptionError
from bittwist.mse import Policy
from bittwist.peer import PeerProtocol
from bittwist.peerevents import IPeerEvents

__all__ = ["Swarm", "CandidateBudget", "BAN_STRIKES", "MAX_ADDRESSES_PER_CALL", "MIN_CANDIDATE_SHARE"]

BAN_STRIKES = 4
"""
A peer that sent data for failed pieces is struck: twice if it alone sent
the piece, once if it shared it. At this many strikes it is banned.
"""

MAX_ADDRESSES_PER_CALL = 500
"""
The most addresses one source may hand over at once: more than any tracker
answer we ask for (50) or a PEX message may carry, so a hostile source
cannot flush the candidates the others found.
"""

MIN_CANDIDATE_SHARE = 100
"""
The fewest addresses a torrent may remember however many torrents share a
L{CandidateBudget}.
"""

RETRY_AFTER_CLOSE = 60.0
"""
Seconds before an address whose connection closed after the handshake is
dialled again.
"""

Address = tuple[str, int]


@dataclass
class _Candidate:
    """
    A peer address we may connect to.
    """

    source: str
    failures: int = 0
    nextTry: float = 0.0
    attempt: Optional[Deferred[PeerProtocol]] = None
    """
    The connection attempt in progress, if any.
    """
    connected: bool = False
    """
    Whether a connection to it is up (handshaken or not).
    """
    handshaking: bool = False
    """
    Whether its connection is up but not yet admitted or refused.
    """
    banned: bool = False
    plaintext: bool = False
    """
    Whether to dial it without encryption (its encrypted handshake failed).
    """

    @property
    def inUse(self) -> bool:
        return self.attempt is not None or self.connected or self.banned


class CandidateBudget:
    """
    The addresses all the torrents of a session may remember together.

    Each swarm that joins gets an equal share (at least
    L{MIN_CANDIDATE_SHARE}); when one joins, the others forget their oldest
    unused addresses down to the new share.  A swarm leaves when it is
    garbage collected.

    @ivar limit: the most addresses in all.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._members: "weakref.WeakSet[Swarm]" = weakref.WeakSet()

    @property
    def share(self) -> int:
        """
        How many addresses each swarm may remember now.
        """
        return max(MIN_CANDIDATE_SHARE, self.limit // max(1, len(self._members)))

    def join(self, swarm: "Swarm") -> None:
        """
        Count C{swarm} in, and shrink the others to the new share.
        """
        self._members.add(swarm)
        share = self.share
        for member in list(self._members):
            member.trim(share)


class Swarm:
    """
    The candidates and connections of one torrent.

    @ivar peers: the admitted (handshaken) peers.
    @ivar seeking: whether to dial candidates (only while downloading).
    """

    log = Logger()

    def __init__(
        self,
        torrent: IPeerEvents,
        dialer: Any,
        config: TorrentConfig,
        reactor: Any,
        budget: Optional[CandidateBudget] = None,
    ) -> None:
        """
        @param torrent: what the connections report to.
        @param dialer: makes connections (a L{bittwist.factory.PeerDialer}).
        @param config: the limits.
        @param reactor: for time.
        @param budget: the addresses shared with the session's other
            torrents, if any.
        """
        self._torrent = torrent
        self._dialer = dialer
        self._config = config
        self._reactor = reactor
        self.peers: set[PeerProtocol] = set()
        self.seeking = False
        self._candidates: dict[Address, _Candidate] = {}
        self._attempts = 0
        self._pending = 0
        self._strikes: dict[bytes, int] = {}
        self._bannedIds: set[bytes] = set()
        self._budget = budget
        if budget is not None:
            budget.join(self)

    @property
    def knownCount(self) -> int:
        """
        How many addresses we know.
        """
        return len(self._candidates)

    def shortOfPeers(self) -> bool:
        """
        @return: whether we have fewer than half the peers we may have.
        """
        return len(self.peers) + self._pending < self._config.maxPeers // 2

    # Candidates.

    def add(self, addresses: Iterable[Address], source: str) -> int:
        """
        Learn addresses, then dial as room allows.

        @return: how many were new.
        """
        candidates = self._candidates
        room = self._config.maxCandidates
        if self._budget is not None:
            room = min(room, self._budget.share)
        added = 0
        for count, address in enumerate(addresses):
            if count >= MAX_ADDRESSES_PER_CALL:
                break
            if address in candidates:
                continue
            if len(candidates) >= room and not self._evictOne():
                break
            candidates[address] = _Candidate(source)
            added += 1
        self.connectMore()
        return added

    def _evictOne(self) -> bool:
        """
        Forget the oldest address not in use, to make room for a fresh one.

        @return: whether one was forgotten.
        """
        for address, candidate in self._candidates.items():
            if not candidate.inUse:
                del self._candidates[address]
                return True
        return False

    def trim(self, most: int) -> None:
        """
        Forget the oldest addresses not in use until at most C{most} are
        left (or only addresses in use are).
        """
        excess = len(self._candidates) - most
        if excess <= 0:
            return
        for address in [a for a, c in self._candidates.items() if not c.inUse][:excess]:
            del self._candidates[address]

    def setConfig(self, config: TorrentConfig) -> None:
        """
        Take new limits (C{maxPeers} and the like); peers beyond a lower
        limit stay until they leave, none is dropped for it.
        """
        self._config = config
        self.connectMore()

    def addresses(self) -> list[tuple[Address, str]]:
        """
        @return: the addresses known and not banned, each with its source,
            connected ones first.
        """
        known = [(a, c.source) for a, c in self._candidates.items() if not c.banned]
        return sorted(known, key=lambda entry: not self._candidates[entry[0]].connected)

    def resetBackoff(self) -> None:
        """
        Make every address eligible now (after a pause).
        """
        for candidate in self._candidates.values():
            candidate.nextTry = 0.0

    # Dialling.

    def connectMore(self) -> None:
        """
        Dial eligible addresses while there is room, if seeking.
        """
        if not self.seeking:
            return
        now = self._reactor.seconds()
        config = self._config
        for address, candidate in list(self._candidates.items()):
            if len(self.peers) + self._pending >= config.maxPeers:
                return
            if self._attempts >= config.maxHalfOpen:
                return
            if candidate.inUse or candidate.nextTry > now:
                continue
            self._dial(address, candidate)

    def _dial(self, address: Address, candidate: _Candidate) -> None:
        self._attempts += 1
        self._pending += 1
        d = candidate.attempt = self._dialer.dial(
            self._torrent, address, candidate.source, encrypt=not candidate.plaintext
        )
        d.addCallbacks(self._connected, self._failed, (address, candidate), None, (address, candidate))

    def _connected(self, peer: PeerProtocol, address: Address, candidate: _Candidate) -> None:
        self._attempts -= 1
        candidate.attempt = None
        candidate.connected = candidate.handshaking = True
        peer.whenClosed().addCallback(self._closed, peer, candidate)

    def _failed(self, failure: Failure, address: Address, candidate: _Candidate) -> None:
        self._attempts -= 1
        self._pending -= 1
        candidate.attempt = None
        if failure.check(CancelledError):
            return
        self._backOff(candidate)
        self.log.debug(
            "Cannot connect to {address}: {reason}", address=address, reason=failure.getErrorMessage()
        )
        self.connectMore()

    def _closed(self, handshaked: bool, peer: PeerProtocol, candidate: _Candidate) -> None:
        candidate.connected = False
        if candidate.handshaking:
            candidate.handshaking = False
            self._pending -= 1
        reason = peer.lostReason
        if (
            not handshaked
            and not candidate.plaintext
            and reason is not None
            and reason.check(EncryptionError)
            and self._dialer.encryption is Policy.PREFER
        ):
            # The peer does not speak MSE/PE: dial it again at once, in
            # plaintext, without counting a failure.
            candidate.plaintext = True
            candidate.nextTry = 0.0
        elif peer.peerId == self._dialer.peerId:
            # Our own address (a tracker or PEX gave it back): never again.
            candidate.banned = True
        elif not handshaked:
            self._backOff(candidate)
        else:
            candidate.nextTry = self._reactor.seconds() + RETRY_AFTER_CLOSE
        self.connectMore()

    def _backOff(self, candidate: _Candidate) -> None:
        candidate.failures += 1
        candidate.nextTry = self._reactor.seconds() + min(5 * 2**candidate.failures, 1800)

    # Peers.

    def admit(self, peer: PeerProtocol) -> bool:
        """
        A peer completed the handshake: take it, unless banned, already
        connected, or over the limit.

        @return: whether it was admitted.
        """
        candidate = self._candidates.get(peer.dialed) if peer.dialed is not None else None
        if candidate is not None and candidate.handshaking:
            # No longer pending: it is admitted or about to be dropped.
            candidate.handshaking = False
            self._pending -= 1
        if peer.peerId in self._bannedIds:
            return False
        if any(p.peerId == peer.peerId for p in self.peers):
            return False
        if len(self.peers) >= self._config.maxPeers:
            return False
        if candidate is not None:
            candidate.failures = 0
        self.peers.add(peer)
        return True

    def removed(self, peer: PeerProtocol) -> bool:
        """
        An admitted peer's connection closed.

        @return: whether it was admitted.
        """
        if peer not in self.peers:
            return False
        self.peers.discard(peer)
        return True

    def strike(self, peer: PeerProtocol, strikes: int) -> None:
        """
        Count C{strikes} against a peer that sent corrupt data; at
        L{BAN_STRIKES}, ban and drop it.
        """
        if peer.peerId is None:
            return
        total = self._strikes[peer.peerId] = self._strikes.get(peer.peerId, 0) + strikes
        if total >= BAN_STRIKES:
            self.log.warn("Banning {peer}: it sent corrupt data", peer=peer)
            self._bannedIds.add(peer.peerId)
            if peer.dialed is not None:
                candidate = self._candidates.get(peer.dialed)
                if candidate is not None:
                    candidate.banned = True
            peer.drop("sent corrupt data")

    def halt(self, why: str) -> None:
        """
        Stop dialling, give up attempts in progress, and drop every peer.
        """
        self.seeking = False
        for candidate in list(self._candidates.values()):
            if candidate.attempt is not None:
                candidate.attempt.cancel()
        for peer in list(self.peers):
            peer.drop(why)
