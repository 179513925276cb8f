# -*- test-case-name: tests.test_picker -*-
"""
Which block to ask which peer for: rarest first, pipelining, endgame.

Pure policy: no I/O, no reactor. The torrent tells the picker what peers
have and what arrived; the picker answers with blocks to request.
"""

import random
from typing import Any, Callable, Hashable, Iterable

from bittwist.bitfield import Bitfield
from bittwist.wire import BLOCK_SIZE

__all__ = ["PiecePicker", "Block", "ENDGAME_BATCH", "SKIP", "NORMAL", "HIGH", "piecePriorities"]

Block = tuple[int, int, int]
"""
A block to request: (piece index, offset in the piece, length).
"""

ENDGAME_BATCH = 4
"""
How many duplicate requests an idle peer gets at once in endgame.
"""

SKIP = 0
"""A file or piece not to download."""
NORMAL = 1
"""A file or piece downloaded in the usual order."""
HIGH = 2
"""A file or piece downloaded before every normal one."""

_MISSING = 0
_REQUESTED = 1
_RECEIVED = 2

# Random order for the first pieces: a rare piece is slow to come from the one
# peer that has it, and until we hold a few pieces we have nothing to trade.
_RANDOM_FIRST_PIECES = 4

# The tie-breaking randomness of every picker not given its own: seeding one
# per torrent read 2.5 KB from os.urandom each, a thousand times when a
# thousand torrents finish their checks together.
_SHARED_RANDOM = random.Random()

# What blockReceived answers in the common case: no one else to cancel, the
# piece not complete yet; one tuple for every such block.
_NOTHING_ELSE: tuple[tuple[Hashable, ...], bool] = ((), False)

# A block's key in the picker's tables of requests: its piece index shifted
# left by this, plus its number in the piece. Plain integers, so that those
# tables hold no object the garbage collector walks (a piece of 2**20 blocks
# would be 16 GiB).
_BLOCK_BITS = 20


def wantedPieceSizes(metainfo: Any) -> Callable[[int], int]:
    """
    How much of each piece to download: all of it, but the BEP 47 pad bytes
    that end it.  A pad file fills a file's last piece up to the piece
    boundary; its bytes are zeros by definition, so asking peers for them
    only wastes the link (a torrent of many small files can be half pad).

    @param metainfo: a L{bittwist.metainfo.Metainfo}.
    @return: the size to request of a piece, by index: the piece's size up
        to its trailing pad bytes (never 0: a piece that is all pad is
        requested whole).
    """
    pieceLength = metainfo.pieceLength
    trimmed: dict[int, int] = {}
    for entry in metainfo.files:
        if not entry.pad or not entry.length:
            continue
        end = entry.offset + entry.length
        if end % pieceLength and end != metainfo.totalLength:
            # Not at a piece boundary: not a trailing pad; ask for it.
            continue
        index = (end - 1) // pieceLength
        padStart = entry.offset - index * pieceLength
        if padStart > 0:
            trimmed[index] = padStart
    if not trimmed:
        return metainfo.pieceSize
    pieceSize = metainfo.pieceSize
    return lambda index: trimmed.get(index) or pieceSize(index)


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


class PiecePicker:
    """
    Chooses blocks to request so that pieces complete quickly and rare pieces
    spread.

    Pieces a peer has in common with us are chosen in this order: pieces
    it started itself or whose starter gave them up (to finish them), then
    new pieces rarest first (random among the first few), then pieces
    other peers started (in sequential order, or while high-priority
    pieces are missing, any started piece comes first). When every missing block has been requested once,
    endgame begins: blocks still in flight are also requested from other peers,
    at most C{maxDuplicates} extra times, and whoever delivers first wins (the
    caller cancels the others).

    @ivar availability: per piece, how many connected peers have it.
    @ivar done: the pieces verified.
    """

    def __init__(
        self,
        numPieces: int,
        pieceSize: Callable[[int], int],
        have: Iterable[int] = (),
        blockSize: int = BLOCK_SIZE,
        rng: random.Random | None = None,
        maxDuplicates: int = 2,
        endgameDelay: float = 0.0,
    ) -> None:
        """
        @param numPieces: the number of pieces of the torrent.
        @param pieceSize: the size in bytes of a piece, by index.
        @param have: pieces already verified.
        @param blockSize: the size of a block request.
        @param rng: randomness for tie-breaking (seed it in tests); one
            shared by the pickers not given one by default.
        @param maxDuplicates: in endgame, how many peers beyond the first a
            block may be requested from.
        @param endgameDelay: in endgame, how long a block must have been
            waited for before it is requested again from another peer.
        """
        self._endgameDelay = endgameDelay
        self._sequential = False
        # Per piece: SKIP, NORMAL or HIGH; None while every piece is NORMAL,
        # the common case, which then costs nothing.
        self._priorities: list[int] | None = None
        # Wanted high pieces not yet verified: while there are some, they
        # go first, and the random first pieces are not taken.
        self._highMissing = 0
        self._wantedMissing = 0
        self._now = 0.0
        self.numPieces = numPieces
        self._pieceSize = pieceSize
        self._blockSize = blockSize
        self._random = rng or _SHARED_RANDOM
        self._maxDuplicates = maxDuplicates
        self.availability = [0] * numPieces
        self.done = Bitfield(numPieces, have)
        # The pieces being downloaded: per piece, its blocks' states, one
        # byte each (_MISSING, _REQUESTED, _RECEIVED). A fast link, or many
        # torrents, have tens of thousands of pieces in flight, and every
        # garbage collection walks every object they hold: a bytearray is
        # not one it walks, and neither is this dict while it holds only
        # them. Who each block is requested from is in _requesters; who sent
        # a piece's blocks, in _contributors (the peer, or a set of them if
        # several did).
        self._partial: dict[int, bytearray] = {}
        self._contributors: dict[int, Any] = {}
        # Per piece started, the peer that started it, while it may still
        # come back for the rest: a peer finishes its own pieces, then
        # starts new ones, and joins another's only when none is left. A
        # piece shared by several peers gets its blocks interleaved, out of
        # order, and its running hash in storage is lost (it is read back
        # to be verified). A piece whose starter gave requests back (choked,
        # gone, too slow, rejected) is anyone's.
        self._starters: dict[int, Hashable] = {}
        # Per block requested (key: see _BLOCK_BITS), the peer it is
        # requested from, or a set of them in endgame; and when it was
        # last requested.
        self._requesters: dict[int, Any] = {}
        self._requestedAt: dict[int, float] = {}
        self._filled: set[int] = set()
        # Pieces not yet started, rarest first; rebuilt when None. A piece
        # going back to the pool (abandoned untouched, failed) or a peer's
        # whole bitfield coming or going invalidates it; a single `have` does
        # not, as a slightly stale order costs less than a sort per message.
        self._order: list[int] | None = None
        self._orderStart = 0
        self._unrequested = sum(
            self._numBlocks(i) for i in range(numPieces) if i not in self.done
        )

    def _numBlocks(self, index: int) -> int:
        return -(-self._pieceSize(index) // self._blockSize)

    def blockLength(self, index: int, begin: int) -> int:
        """
        @return: the length of the block starting at C{begin} of piece
            C{index}, as we request it.
        """
        return min(self._blockSize, self._pieceSize(index) - begin)

    @property
    def endgame(self) -> bool:
        """
        Whether every missing block has been requested at least once.
        """
        return self._unrequested == 0 and not self.complete()

    def complete(self) -> bool:
        """
        @return: whether every wanted piece is verified (every piece, unless
            some are skipped).
        """
        if self._priorities is None:
            return self.done.complete()
        return self._wantedMissing == 0

    def setPriorities(self, priorities: list[int] | None) -> None:
        """
        Download only wanted pieces, L{HIGH} ones first.  Pieces already
        started are finished whatever their priority.

        @param priorities: per piece, L{SKIP}, L{NORMAL} or L{HIGH} (see
            L{piecePriorities}); C{None} for every piece L{NORMAL}.
        """
        if priorities is not None and all(p == NORMAL for p in priorities):
            priorities = None
        self._priorities = priorities
        self._highMissing = 0 if priorities is None else sum(
            1 for i, p in enumerate(priorities) if p == HIGH and i not in self.done
        )
        # Kept up to date by pieceVerified: complete() is asked once per
        # piece verified, and must not walk every piece each time.
        self._wantedMissing = 0 if priorities is None else sum(
            1 for i, p in enumerate(priorities) if p and i not in self.done
        )
        self._order = None
        self._unrequested = sum(self._unrequestedIn(i) for i in range(self.numPieces))

    @property
    def priorities(self) -> list[int] | None:
        """
        Per piece, its priority; C{None} while every piece is L{NORMAL}.
        Do not change it: use L{setPriorities}.
        """
        return self._priorities

    def priority(self, index: int) -> int:
        """
        @return: the priority of piece C{index}.
        """
        return NORMAL if self._priorities is None else self._priorities[index]

    def wants(self, index: int) -> bool:
        """
        @return: whether piece C{index} is still needed (wanted, not
            verified, not waiting for its hash check).
        """
        return (
            index not in self.done and index not in self._filled
            and (self._priorities is None or self._priorities[index] != SKIP)
        )

    def interestedIn(self, pieces: Bitfield) -> bool:
        """
        @return: whether a peer with C{pieces} has anything we still need.
        """
        done = self.done
        priorities = self._priorities
        if priorities is not None:
            return any(i not in done and priorities[i] for i in pieces)
        if len(pieces) > len(done) or pieces.complete():
            return not done.complete()
        return any(i not in done for i in pieces)

    # Availability.

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

    # Requests.

    def pick(
        self,
        peer: Hashable,
        pieces: Bitfield,
        count: int,
        inFlight: int = 0,
        now: float = 0.0,
    ) -> list[Block]:
        """
        Choose up to C{count} blocks to request from C{peer}, and record them
        as requested from it.

        In endgame, blocks already requested from others are given only to a
        peer with nothing in flight, and at most L{ENDGAME_BATCH} at a time:
        a deep pipeline of duplicates on a fast link downloads much of the
        end twice before the cancels arrive. Likewise only blocks requested
        at least C{endgameDelay} seconds ago are duplicated: the point of
        endgame is not to wait on a slow peer, not to race a fast one.

        @param peer: the peer, as a key.
        @param pieces: the pieces the peer has.
        @param count: how many blocks the peer's pipeline has room for.
        @param inFlight: how many requests to C{peer} are unanswered.
        @param now: the time, to tell how long a block has been waited for.
        @return: the blocks, possibly none.
        """
        self._now = now
        picked: list[Block] = []
        if count <= 0:
            return picked
        starters = self._starters
        # Pieces other peers started, joined only once no fresh piece is
        # left (see _starters); in sequential or high-priority order the
        # next pieces matter more than whole ones, and any peer joins.
        joinable: list[int] | None = None
        shareLast = not self._sequential and not self._highMissing
        for index, states in self._partial.items():
            # Most started pieces are fully requested: on a fast link dozens
            # are in flight, and skipping them here without a call keeps a
            # pick cheap.
            if _MISSING in states and index in pieces:
                starter = starters.get(index)
                if shareLast and starter is not None and starter != peer:
                    if joinable is None:
                        joinable = [index]
                    else:
                        joinable.append(index)
                    continue
                self._takeMissing(peer, index, states, picked, count)
                if len(picked) >= count:
                    return picked
        while len(picked) < count and self._unrequested:
            blocksPerPiece = max(1, self._numBlocks(0))
            wanted = (count - len(picked)) // blocksPerPiece + 1
            fresh = self._newPieces(pieces, wanted)
            if not fresh:
                break
            for index in fresh:
                states = self._partial[index] = bytearray(self._numBlocks(index))
                starters[index] = peer
                self._takeMissing(peer, index, states, picked, count)
                if len(picked) >= count:
                    break
        if joinable is not None and len(picked) < count:
            partial = self._partial
            for index in joinable:
                states = partial[index]
                if _MISSING in states:
                    self._takeMissing(peer, index, states, picked, count)
                    if len(picked) >= count:
                        break
        if not picked and not inFlight and self._unrequested == 0:
            self._takeDuplicates(peer, pieces, picked, min(count, ENDGAME_BATCH))
        return picked

    def _takeMissing(
        self,
        peer: Hashable,
        index: int,
        states: bytearray,
        picked: list[Block],
        count: int,
    ) -> None:
        requesters = self._requesters
        requestedAt = self._requestedAt
        now = self._now
        first = index << _BLOCK_BITS
        blockSize = self._blockSize
        size = self._pieceSize(index)
        block = states.find(_MISSING)
        while block >= 0 and len(picked) < count:
            states[block] = _REQUESTED
            requesters[first + block] = peer
            requestedAt[first + block] = now
            self._unrequested -= 1
            begin = block * blockSize
            picked.append((index, begin, min(blockSize, size - begin)))
            block = states.find(_MISSING, block + 1)

    @property
    def sequential(self) -> bool:
        """
        Whether new pieces are taken in order, lowest index first (to play
        a file while it downloads), instead of rarest first.
        """
        return self._sequential

    @sequential.setter
    def sequential(self, sequential: bool) -> None:
        self._sequential = sequential
        self._order = None

    def _newPieces(self, pieces: Bitfield, wanted: int) -> list[int]:
        done, partial, filled = self.done, self._partial, self._filled
        if len(done) < _RANDOM_FIRST_PIECES and not self._sequential and not self._highMissing:
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
            order[start] in partial or order[start] in done or order[start] in filled
        ):
            start += 1
        self._orderStart = start
        chosen: list[int] = []
        for position in range(start, end):
            i = order[position]
            if i in pieces and i not in partial and i not in done and i not in filled:
                chosen.append(i)
                if len(chosen) >= wanted:
                    break
        return chosen

    def _freshOrder(self) -> list[int]:
        """
        @return: the wanted pieces not yet started, in the order to take
            them: high before normal (skipped ones never), then lowest index
            first if sequential, else rarest first, ties broken at random.
        """
        done, partial, filled = self.done, self._partial, self._filled
        priorities = self._priorities
        fresh = [
            i
            for i in range(self.numPieces)
            if i not in done and i not in partial and i not in filled
            and (priorities is None or priorities[i])
        ]
        sequential = self._sequential
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
        done, partial, filled = self.done, self._partial, self._filled
        # Every piece wanted (None), or per piece whether it is.
        wantedPiece = self._priorities
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
                i in pieces and i not in partial and i not in done
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
                if i not in done and i not in partial and i not in filled and i not in chosen
                and (wantedPiece is None or wantedPiece[i])
            ]
            chosen += self._random.sample(candidates, min(wanted - len(chosen), len(candidates)))
        return chosen

    def _takeDuplicates(
        self, peer: Hashable, pieces: Bitfield, picked: list[Block], count: int
    ) -> None:
        limit = 1 + self._maxDuplicates
        blockSize = self._blockSize
        for index, states in self._partial.items():
            if index not in pieces:
                continue
            for block, state in enumerate(states):
                if state != _REQUESTED:
                    continue
                key = (index << _BLOCK_BITS) + block
                requesters = self._requesters[key]
                if isinstance(requesters, set):
                    if peer in requesters or len(requesters) >= limit:
                        continue
                elif requesters == peer or limit < 2:
                    continue
                if self._now - self._requestedAt[key] < self._endgameDelay:
                    continue
                if isinstance(requesters, set):
                    requesters.add(peer)
                else:
                    self._requesters[key] = {requesters, peer}
                begin = block * blockSize
                picked.append((index, begin, self.blockLength(index, begin)))
                if len(picked) >= count:
                    return

    def blockReceived(
        self, peer: Hashable, index: int, begin: int, length: int
    ) -> tuple[tuple[Hashable, ...], bool] | None:
        """
        Record a block that arrived from C{peer}.

        @return: C{None} if the block is not wanted (unknown, already received,
            or of the wrong size): the caller drops it. Otherwise the other
            peers it was also requested from (to cancel), and whether the
            piece is now complete and ready for its hash check.
        """
        states = self._partial.get(index)
        if states is None or begin < 0 or begin % self._blockSize:
            return None
        blockSize = self._blockSize
        block = begin // blockSize
        if block >= len(states) or length != min(blockSize, self._pieceSize(index) - begin):
            return None
        state = states[block]
        if state == _RECEIVED:
            return None
        if state == _MISSING:
            self._unrequested -= 1
        key = (index << _BLOCK_BITS) + block
        requesters = self._requesters.pop(key, None)
        self._requestedAt.pop(key, None)
        # Outside endgame the block was asked of this peer alone: spare the
        # common case building a list of the others.
        if isinstance(requesters, set):
            others: tuple[Hashable, ...] = tuple(p for p in requesters if p != peer)
        elif requesters is None or requesters == peer:
            others = ()
        else:
            others = (requesters,)
        states[block] = _RECEIVED
        contributors = self._contributors.get(index)
        if contributors is None:
            self._contributors[index] = peer
        elif isinstance(contributors, set):
            contributors.add(peer)
        elif contributors != peer:
            self._contributors[index] = {contributors, peer}
        if _MISSING in states or _REQUESTED in states:
            return (others, False) if others else _NOTHING_ELSE
        self._filled.add(index)
        return others, True

    def abandon(self, peer: Hashable, blocks: Iterable[tuple[int, int]]) -> None:
        """
        Forget requests to C{peer} that will not be answered (it choked us,
        left, or was too slow), so that other peers can be asked.

        @param blocks: (index, begin) of each request.
        """
        starters = self._starters
        for index, begin in blocks:
            states = self._partial.get(index)
            if states is None or begin < 0 or begin % self._blockSize:
                continue
            if starters.get(index) == peer:
                del starters[index]
            block = begin // self._blockSize
            if block >= len(states) or states[block] != _REQUESTED:
                continue
            key = (index << _BLOCK_BITS) + block
            requesters = self._requesters.get(key)
            if isinstance(requesters, set):
                requesters.discard(peer)
                if len(requesters) == 1:
                    self._requesters[key] = next(iter(requesters))
                still = bool(requesters)
            else:
                still = requesters is not None and requesters != peer
            if not still:
                states[block] = _MISSING
                self._requesters.pop(key, None)
                self._requestedAt.pop(key, None)
                self._unrequested += 1
            if not any(states):
                # Untouched: nothing requested, nothing received.
                del self._partial[index]
                starters.pop(index, None)
                self._order = None
                if self._priorities is not None and not self._priorities[index]:
                    # A skipped piece is no longer counted once dropped.
                    self._unrequested -= len(states)

    def _unrequestedIn(self, index: int) -> int:
        """
        @return: how many blocks of piece C{index} count in C{_unrequested}.
        """
        if index in self.done or index in self._filled:
            return 0
        states = self._partial.get(index)
        if states is None:
            if self._priorities is not None and not self._priorities[index]:
                return 0
            return self._numBlocks(index)
        return states.count(_MISSING)

    def requestedFrom(self, index: int, begin: int) -> set[Hashable]:
        """
        @return: the peers the block at C{begin} of piece C{index} is
            requested from and not yet received.
        """
        requesters = self._requesters.get((index << _BLOCK_BITS) + begin // self._blockSize)
        if requesters is None:
            return set()
        if isinstance(requesters, set):
            return set(requesters)
        return {requesters}

    def _dropPartial(self, index: int) -> set[Hashable]:
        """
        Forget piece C{index}'s progress and its requests.

        @return: the peers that sent blocks of it.
        """
        states = self._partial.pop(index, None)
        self._starters.pop(index, None)
        if states is not None:
            first = index << _BLOCK_BITS
            for block, state in enumerate(states):
                if state == _REQUESTED:
                    self._requesters.pop(first + block, None)
                    self._requestedAt.pop(first + block, None)
        contributors = self._contributors.pop(index, None)
        if contributors is None:
            return set()
        return contributors if isinstance(contributors, set) else {contributors}

    def pieceVerified(self, index: int) -> None:
        """
        The piece passed its hash check: never ask for it again.
        """
        self._unrequested -= self._unrequestedIn(index)
        self._dropPartial(index)
        self._filled.discard(index)
        priorities = self._priorities
        if priorities is not None and priorities[index] and index not in self.done:
            self._wantedMissing -= 1
            if priorities[index] == HIGH:
                self._highMissing -= 1
        self.done.add(index)

    def pieceFailed(self, index: int) -> set[Hashable]:
        """
        The piece failed its hash check: download it again from scratch.

        @return: the peers that sent blocks of it.
        """
        before = self._unrequestedIn(index)
        contributors = self._dropPartial(index)
        self._filled.discard(index)
        self._unrequested += self._unrequestedIn(index) - before
        self._order = None
        return contributors
