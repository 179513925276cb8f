# -*- test-case-name: tests.test_choker -*-
"""
Whom to upload to: the choking algorithm of BEP 3 and the mainline client.

A few regular upload slots go to the interested peers that give us the most
(the fastest to download from while leeching, the fastest to upload to while
seeding), re-decided every L{REGULAR_INTERVAL} seconds so that a peer has
time to show what it gives. One more, optimistic, slot goes to a random
interested peer for L{OPTIMISTIC_INTERVAL} seconds, so that peers we have not
tried, and new ones above all, get a chance to prove faster. A peer that
snubs us (sends nothing for a long while though asked) loses its regular
slot.

L{Choker} is pure policy: it is given the peers and the time, and answers
whom to unchoke; it does no I/O and keeps no timer.
"""

import random as _random
from typing import Collection, Iterable, Optional, Protocol as TypingProtocol

__all__ = [
    "Choker",
    "IChokeable",
    "UPLOAD_SLOTS",
    "REGULAR_INTERVAL",
    "OPTIMISTIC_INTERVAL",
    "NEW_PEER_WEIGHT",
]

UPLOAD_SLOTS = 4
"""
Regular upload slots, as in BEP 3.
"""

REGULAR_INTERVAL = 10.0
"""
Seconds between decisions on the regular slots (BEP 3: "every ten seconds"),
so that slots do not flap with every change of rate.
"""

OPTIMISTIC_INTERVAL = 30.0
"""
Seconds the optimistic unchoke stays on one peer (BEP 3: "rotates every 30
seconds"): long enough for TCP to reach full speed and for the peer to
reciprocate.
"""

NEW_PEER_WEIGHT = 3
"""
How much likelier a new connection is to get the optimistic unchoke than an
old one: a new peer has nothing to offer yet, so without a head start it
would rarely get a piece to trade (mainline inserts new connections so that
they are three times as likely to be chosen).
"""


class _Rate(TypingProtocol):
    def rate(self) -> float: ...


class IChokeable(TypingProtocol):
    """
    What the choker reads of a peer; L{bittwist.peer.PeerProtocol} has it.

    @ivar peerInterested: whether the peer wants something we have.
    @ivar amChoking: whether we choke it now.
    @ivar downloadRate: bytes per second from the peer.
    @ivar uploadRate: bytes per second to the peer.
    """

    peerInterested: bool
    amChoking: bool
    downloadRate: _Rate
    uploadRate: _Rate


class Choker:
    """
    Decides which peers are unchoked.

    Call L{unchoked} whenever something changes (a peer comes, goes, or
    changes its interest) and at least once a second: regular slots are
    re-decided only every L{REGULAR_INTERVAL} seconds, but a slot left free
    (its peer left, lost interest or snubbed us) is filled at once, so a new
    interested peer need not wait for the next round.

    @ivar slots: the number of regular slots.
    @ivar regular: the peers holding a regular slot.
    @ivar optimistic: the peer holding the optimistic slot, if any.
    """

    def __init__(
        self,
        slots: int = UPLOAD_SLOTS,
        regularInterval: float = REGULAR_INTERVAL,
        optimisticInterval: float = OPTIMISTIC_INTERVAL,
        random: Optional[_random.Random] = None,
    ) -> None:
        """
        @param slots: regular upload slots (at least 0; the optimistic one
            comes on top).
        @param regularInterval: seconds between decisions on regular slots.
        @param optimisticInterval: seconds between optimistic rotations; a
            peer first seen less than this long ago counts as new.
        @param random: the source of randomness (tests pass a seeded one).
        """
        if slots < 0:
            raise ValueError(f"slots must not be negative, not {slots}")
        self.slots = slots
        self.regularInterval = regularInterval
        self.optimisticInterval = optimisticInterval
        self._random = random if random is not None else _random.Random()
        self.regular: set[IChokeable] = set()
        self.optimistic: Optional[IChokeable] = None
        self._firstSeen: dict[IChokeable, float] = {}
        self._nextRegular: Optional[float] = None
        self._nextOptimistic: Optional[float] = None

    def unchoked(
        self,
        peers: Iterable[IChokeable],
        seeding: bool,
        now: float,
        snubbed: Collection[IChokeable] = (),
    ) -> set[IChokeable]:
        """
        Decide whom to unchoke.

        @param peers: every connected peer.
        @param seeding: whether we have everything (then peers are ranked by
            how fast we upload to them, since none uploads to us).
        @param now: the time, in seconds.
        @param snubbed: the peers that sent nothing for long though asked.
        @return: the peers to unchoke; every other peer is to be choked.
        """
        peers = list(peers)
        present = set(peers)
        firstSeen = self._firstSeen
        for peer in list(firstSeen):
            if peer not in present:
                del firstSeen[peer]
        for peer in peers:
            firstSeen.setdefault(peer, now)

        # A peer that left, lost interest or snubs us loses its slot now.
        self.regular = {
            p for p in self.regular if p in present and p.peerInterested and p not in snubbed
        }
        if self.optimistic is not None and (
            self.optimistic not in present or not self.optimistic.peerInterested
        ):
            self.optimistic = None

        candidates = [p for p in peers if p.peerInterested and p not in snubbed]
        if seeding:
            score = lambda p: p.uploadRate.rate()  # noqa: E731
        else:
            score = lambda p: p.downloadRate.rate()  # noqa: E731
        # Fastest first; on a tie, peers already unchoked keep their slot
        # (no needless choke/unchoke churn), then chance decides.
        ranked = sorted(
            candidates,
            key=lambda p: (score(p), not p.amChoking, self._random.random()),
            reverse=True,
        )
        if self._nextRegular is None or now >= self._nextRegular:
            self.regular = set(ranked[: self.slots])
            self._nextRegular = now + self.regularInterval
        else:
            for peer in ranked:
                if len(self.regular) >= self.slots:
                    break
                self.regular.add(peer)

        if self.optimistic in self.regular:
            self.optimistic = None
        if (
            self.optimistic is None
            or self._nextOptimistic is None
            or now >= self._nextOptimistic
        ):
            self._rotateOptimistic(peers, now)
        unchoke = set(self.regular)
        if self.optimistic is not None:
            unchoke.add(self.optimistic)
        return unchoke

    def _rotateOptimistic(self, peers: list[IChokeable], now: float) -> None:
        """
        Give the optimistic slot to a random interested peer outside the
        regular slots, other than the one holding it if possible; new peers
        weigh L{NEW_PEER_WEIGHT} times as much.
        """
        # Snubbed peers may be picked: this is how one gets a new chance.
        pool = [p for p in peers if p.peerInterested and p not in self.regular]
        others = [p for p in pool if p is not self.optimistic]
        if others:
            pool = others
        if not pool:
            self.optimistic = None
            self._nextOptimistic = None
            return
        weights = [
            NEW_PEER_WEIGHT if now - self._firstSeen[p] < self.optimisticInterval else 1
            for p in pool
        ]
        self.optimistic = self._random.choices(pool, weights)[0]
        self._nextOptimistic = now + self.optimisticInterval
