# -*- test-case-name: tests.test_pieceorder -*-
"""
Which pieces to start next: availability counts, rarest first, random first
pieces, sequential order, and piece priorities from file priorities.

Pure policy: no I/O, no reactor.  L{bittwist.picker.PiecePicker} asks it
for fresh pieces and takes their blocks from its
L{bittwist.blocktable.BlockTable}.
"""

import random
from typing import Any, Iterable

from bittwist.bitfield import Bitfield

__all__ = ["PieceOrder", "SKIP", "NORMAL", "HIGH", "piecePriorities"]

SKIP = 0
"""A file or piece not to download."""
NORMAL = 1
"""A file or piece downloaded in the usual order."""
HIGH = 2
"""A file or piece downloaded before every normal one."""

# Random order for the first pieces: a rare piece is slow to come from the one
# peer that has it, and until we hold a few pieces we have nothing to trade.
_RANDOM_FIRST_PIECES = 4

# The tie-breaking randomness of every order not given its own: seeding one
# per torrent read 2.5 KB from os.urandom each, a thousand times when a
# thousand torrents finish their checks together.
_SHARED_RANDOM = random.Random()


def piecePriorities(metainfo: Any, filePriorities: Iterable[int]) -> list[int]:
    """
    The priority of each piece, from those of the files: a piece is wanted
    if any byte of it belongs to a file not skipped, and takes the highest
    priority of the files it holds bytes of.

    @param metainfo: a L{bittwist.metainfo.Metainfo}.
    @param filePriorities: per file but pad files, in order, L{SKIP},
        L{NORMAL} or L{HIGH}; files beyond its end are L{NORMAL}.
    @return: per piece, its priority.
    """
    pieceLength = metainfo.pieceLength
    numPieces = metainfo.numPieces
    priorities = [SKIP] * numPieces
    given = list(filePriorities)
    position = 0
    for entry in metainfo.files:
        if entry.pad:
            continue
        priority = given[position] if position < len(given) else NORMAL
        position += 1
        if not entry.length or priority == SKIP:
            continue
        first = entry.offset // pieceLength
        last = (entry.offset + entry.length - 1) // pieceLength
        for index in range(first, last + 1):
            if priorities[index] < priority:
                priorities[index] = priority
    return priorities


class PieceOrder:
    """
    The order in which pieces not yet started are taken: high priority
    before normal (skipped ones never), then lowest index first if
    sequential, else rarest first, ties broken at random; the first few
    pieces at random.

    It reads, never changes, the containers it is given: the pieces
    verified, started and waiting for their hash check.

    @ivar availability: per piece, how many connected peers have it.
    @ivar sequential: whether new pieces are taken in order, lowest index
        first, instead of rarest first; see L{setSequential}.
    @ivar priorities: per piece, L{SKIP}, L{NORMAL} or L{HIGH}; C{None}
        while every piece is L{NORMAL}.  Do not change it: use
        L{setPriorities}.
    @ivar highMissing: how many L{HIGH} pieces are not verified yet.
    @ivar wantedMissing: how many pieces not skipped are not verified yet
        (0 while every piece is L{NORMAL}).
    """

    def __init__(
        self,
        numPieces: int,
        done: Bitfield,
        started: dict[int, Any],
        filled: set[int],
        rng: random.Random | None = None,
    ) -> None:
        """
        @param numPieces: the number of pieces of the torrent.
        @param done: the pieces verified.
        @param started: the pieces in progress, as keys.
        @param filled: the pieces waiting for their hash check.
        @param rng: randomness for tie-breaking (seed it in tests); one
            shared by the orders not given one by default.
        """
        self.numPieces = numPieces
        self._done = done
        self._started = started
        self._filled = filled
        self._random = rng or _SHARED_RANDOM
        # Plain attributes, not properties: the picker reads them on every
        # pick. Change them with setSequential and setPriorities.
        self.sequential = False
        # None while every piece is NORMAL, the common case, which then
        # costs nothing.
        self.priorities: list[int] | None = None
        # While there are wanted high pieces not yet verified, they go
        # first, and the random first pieces are not taken.
        self.highMissing = 0
        self.wantedMissing = 0
        self.availability = [0] * numPieces
        # Pieces not yet started, in order; rebuilt when None. A piece going
        # back to the pool (abandoned untouched, failed) or a peer's whole
        # bitfield coming or going invalidates it; a single `have` does not,
        # as a slightly stale order costs less than a sort per message.
        self._order: list[int] | None = None
        self._orderStart = 0

    def setSequential(self, sequential: bool) -> None:
        """
        Take new pieces in order, lowest index first (to play a file while
        it downloads), instead of rarest first; or not.
        """
        self.sequential = sequential
        self._order = None

    def priority(self, index: int) -> int:
        """
        @return: the priority of piece C{index}.
        """
        return NORMAL if self.priorities is None else self.priorities[index]

    def setPriorities(self, priorities: list[int] | None) -> None:
        """
        Take only wanted pieces, L{HIGH} ones first.

        @param priorities: per piece, L{SKIP}, L{NORMAL} or L{HIGH} (see
            L{piecePriorities}); C{None} for every piece L{NORMAL}.
        """
        if priorities is not None and all(p == NORMAL for p in priorities):
            priorities = None
        self.priorities = priorities
        done = self._done
        self.highMissing = 0 if priorities is None else sum(
            1 for i, p in enumerate(priorities) if p == HIGH and i not in done
        )
        # Kept up to date by verified: completeness is asked once per piece
        # verified, and must not walk every piece each time.
        self.wantedMissing = 0 if priorities is None else sum(
            1 for i, p in enumerate(priorities) if p and i not in done
        )
        self._order = None

    def verified(self, index: int) -> None:
        """
        Count piece C{index} as no longer missing; call before adding it to
        the pieces verified.
        """
        priorities = self.priorities
        if priorities is not None and priorities[index] and index not in self._done:
            self.wantedMissing -= 1
            if priorities[index] == HIGH:
                self.highMissing -= 1

    def reorder(self) -> None:
        """
        A piece went back to the pool: sort again on the next pick.
        """
        self._order = None

    def peerHasPieces(self, pieces: Iterable[int]) -> None:
        """
        Count a peer's pieces (its bitfield, or one C{have}).
        """
        availability = self.availability
        count = 0
        for index in pieces:
            availability[index] += 1
            count += 1
        if count > 1:
            self._order = None

    def peerLostPieces(self, pieces: Iterable[int]) -> None:
        """
        Uncount a departing peer's pieces.
        """
        availability = self.availability
        count = 0
        for index in pieces:
            availability[index] -= 1
            count += 1
        if count > 1:
            self._order = None

    def newPieces(self, pieces: Bitfield, wanted: int) -> list[int]:
        """
        @param pieces: the pieces the peer has.
        @param wanted: how many pieces to return at most.
        @return: pieces of C{pieces} to start, in order.
        """
        done, started, filled = self._done, self._started, self._filled
        if len(done) < _RANDOM_FIRST_PIECES and not self.sequential and not self.highMissing:
            return self._randomPieces(pieces, wanted)
        order = self._order
        if order is None:
            # Sorting once and walking the order is what keeps a pick cheap:
            # scanning every piece per pick made the picker the bottleneck of
            # a fast download.
            order = self._order = self._freshOrder()
            self._orderStart = 0
        start, end = self._orderStart, len(order)
        while start < end and (
            order[start] in started or order[start] in done or order[start] in filled
        ):
            start += 1
        self._orderStart = start
        chosen: list[int] = []
        for position in range(start, end):
            i = order[position]
            if i in pieces and i not in started and i not in done and i not in filled:
                chosen.append(i)
                if len(chosen) >= wanted:
                    break
        return chosen

    def _freshOrder(self) -> list[int]:
        """
        @return: the wanted pieces not yet started, in the order to take
            them.
        """
        done, started, filled = self._done, self._started, self._filled
        priorities = self.priorities
        fresh = [
            i
            for i in range(self.numPieces)
            if i not in done and i not in started and i not in filled
            and (priorities is None or priorities[i])
        ]
        sequential = self.sequential
        if priorities is None and sequential:
            return fresh
        availability = self.availability
        rand = self._random.random
        if priorities is None:
            return sorted(fresh, key=lambda i: (availability[i], rand()))
        return sorted(
            fresh, key=lambda i: (-priorities[i], i if sequential else availability[i], rand())
        )

    def _randomPieces(self, pieces: Bitfield, wanted: int) -> list[int]:
        """
        @return: up to C{wanted} pieces of C{pieces} not yet started, chosen
            at random.
        """
        done, started, filled = self._done, self._started, self._filled
        # Every piece wanted (None), or per piece whether it is.
        wantedPiece = self.priorities
        chosen: list[int] = []
        # Draw indexes at random and keep the eligible ones: at the start of
        # a download nearly every piece is, and listing them all on each
        # pick (dozens of picks before the first pieces are verified) cost
        # more than the rest of the download's picking. Too many misses
        # mean few are eligible: list those and sample them instead.
        randrange = self._random.randrange
        misses = 0
        while len(chosen) < wanted and misses < 32:
            i = randrange(self.numPieces)
            if (
                i in pieces and i not in started and i not in done
                and i not in filled and i not in chosen
                and (wantedPiece is None or wantedPiece[i])
            ):
                chosen.append(i)
            else:
                misses += 1
        if len(chosen) < wanted:
            candidates = [
                i
                for i in pieces
                if i not in done and i not in started and i not in filled and i not in chosen
                and (wantedPiece is None or wantedPiece[i])
            ]
            chosen += self._random.sample(candidates, min(wanted - len(chosen), len(candidates)))
        return chosen
