"""
Tests for L{bittwist.torrent.pipeline}: how many requests each peer of a
download gets, and when.
"""

import random
from typing import Optional

from twisted.internet.testing import Clock
from twisted.trial import unittest

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.picker import ENDGAME_BATCH, PiecePicker
from bittwist.ratelimit import TokenBucket
from bittwist.torrent.backlog import WriteBacklog
from bittwist.torrent.pipeline import (
    INITIAL_REQUEST_DEPTH,
    MAX_REQUEST_DEPTH,
    MIN_REQUEST_DEPTH,
    SNUB_TIMEOUT,
    DownloadRecord,
    RequestPipeline,
)

BLOCK = wire.BLOCK_SIZE
NUM_PIECES = 64
PIECE_LENGTH = 16 * BLOCK


class _Rate:
    """
    A rate meter reading a fixed rate.
    """

    def __init__(self) -> None:
        self.value = 0.0

    def rate(self) -> float:
        return self.value


class _PeerState:
    """
    What the pipeline reads of a peer's state.
    """

    def __init__(self, pieces: Bitfield) -> None:
        self.requested: dict[tuple[int, int], int] = {}
        self.amInterested = True
        self.peerChoking = False
        self.allowedFastIn: set[int] = set()
        self.pieces = pieces


class _Peer:
    """
    A peer as the pipeline sees it: it records what it is asked for.

    @ivar dropping: whether it sends nothing (a connection being dropped).
    @ivar maxSent: how many requests it sends of those given, at most.
    """

    def __init__(self, pieces: Bitfield) -> None:
        self.state = _PeerState(pieces)
        self.requestQueueLimit: Optional[int] = None
        self.downloadRate = _Rate()
        self.sent: list[tuple[int, int, int]] = []
        self.cancelled: list[tuple[int, int]] = []
        self.interested = True
        self.maxSent: Optional[int] = None
        # The pipeline sends through the protocol's sender.
        self.sender = self

    def sendRequests(self, blocks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        sent = list(blocks) if self.maxSent is None else list(blocks)[: self.maxSent]
        for index, begin, length in sent:
            self.state.requested[(index, begin)] = length
        self.sent.extend(sent)
        return sent

    def cancelRequest(self, index: int, begin: int) -> None:
        if self.state.requested.pop((index, begin), None) is not None:
            self.cancelled.append((index, begin))

    def setInterested(self, interested: bool) -> None:
        self.interested = interested
        self.state.amInterested = interested

    def answer(self, count: int) -> None:
        """
        Receive the oldest C{count} blocks in flight.
        """
        for key in list(self.state.requested)[:count]:
            del self.state.requested[key]


class _Download:
    """
    What the pipeline reads of its download.
    """

    def __init__(self, picker: PiecePicker) -> None:
        self.picker = picker
        self.active = True


def _everyPiece() -> Bitfield:
    return Bitfield(NUM_PIECES, range(NUM_PIECES))


class RequestPipelineTests(unittest.TestCase):
    """
    L{RequestPipeline} keeps each peer asked for what its pipeline, the
    session's budget and the download bucket allow.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.picker = PiecePicker(NUM_PIECES, lambda index: PIECE_LENGTH, rng=random.Random(3))
        self.download = _Download(self.picker)
        self.records: dict = {}
        self.backlog = WriteBacklog()
        self.limit = TokenBucket(self.clock)
        self.pipeline = RequestPipeline(
            self.download, self.records, self.clock, self.limit, self.backlog
        )

    def addPeer(self, pieces: Optional[Bitfield] = None) -> _Peer:
        peer = _Peer(_everyPiece() if pieces is None else pieces)
        self.picker.order.peerHasPieces(peer.state.pieces)
        self.records[peer] = DownloadRecord()
        return peer

    def test_fillsThePipelineAndChargesTheBudget(self) -> None:
        """
        A new peer is asked for L{INITIAL_REQUEST_DEPTH} blocks, all of
        them counted in the session's budget.
        """
        peer = self.addPeer()
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), INITIAL_REQUEST_DEPTH)
        self.assertEqual(self.backlog.requested, INITIAL_REQUEST_DEPTH * BLOCK)
        self.assertEqual(self.records[peer].charged, INITIAL_REQUEST_DEPTH)

    def test_refillsInBatches(self) -> None:
        """
        Blocks answered are not replaced one by one: the pipeline is topped
        up once a quarter of it is free, and then filled again whole.
        """
        peer = self.addPeer()
        self.pipeline.fill(peer)
        quarter = INITIAL_REQUEST_DEPTH // 4
        peer.answer(quarter - 1)
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), INITIAL_REQUEST_DEPTH)
        peer.answer(1)
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), INITIAL_REQUEST_DEPTH + quarter)
        self.assertEqual(len(peer.state.requested), INITIAL_REQUEST_DEPTH)

    def test_answeredBlocksReleaseTheBudget(self) -> None:
        """
        Blocks no longer in flight are taken off the session's count of
        bytes requested when the pipeline next looks.
        """
        peer = self.addPeer()
        self.pipeline.fill(peer)
        peer.answer(5)
        self.pipeline.charge(peer, self.records[peer])
        self.assertEqual(self.backlog.requested, (INITIAL_REQUEST_DEPTH - 5) * BLOCK)

    def test_peerQueueLimit(self) -> None:
        """
        A peer that said how many requests it queues (C{reqq}) is never
        sent more.
        """
        peer = self.addPeer()
        peer.requestQueueLimit = 10
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), 10)

    def test_endgamePeerDoesNotWaitForRoom(self) -> None:
        """
        In endgame a peer the budget leaves no room for does not wait for
        room: blocks written do not wake it (its duplicates wait for a read
        or the tick), so idle peers do not each have the picker look through
        every block in flight for one on every write.
        """
        first = self.addPeer()
        # Every block, within the budget: a peer asking for more than the
        # budget holds waits for room itself, and would refill every peer.
        everyBlock = NUM_PIECES * PIECE_LENGTH // BLOCK
        first.requestQueueLimit = everyBlock
        self.records[first].requestDepth = everyBlock
        self.pipeline.fill(first)
        self.assertTrue(self.picker.endgame)
        backlog = self.backlog
        backlog.limit = backlog.inFlightLimit
        backlog.size = backlog.inFlightLimit - backlog.requested
        idle = self.addPeer()
        self.pipeline.fill(idle)
        backlog.written(backlog.size)
        self.assertEqual(idle.sent, [])
        # Its next fill (a read, the tick) asks for duplicates.
        self.pipeline.fill(idle)
        self.assertEqual(len(idle.sent), ENDGAME_BATCH)

    def test_budgetBoundsRequests(self) -> None:
        """
        With little room left in the session's budget, a peer is asked for
        no more than it pays for, and the rest once room is made.
        """
        self.backlog.inFlightLimit = 8 * BLOCK
        peer = self.addPeer()
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), 8)
        self.assertEqual(self.backlog.room(), 0)
        # The blocks arrive and reach the disk: room again, and the
        # pipeline, waiting for it, asks for more by itself.
        peer.answer(8)
        self.pipeline.charge(peer, self.records[peer])
        self.assertEqual(len(peer.sent), 16)

    def test_noBatchWhileBudgetIsShort(self) -> None:
        """
        While a peer has work in flight and the budget has room for less
        than a batch, no request is sent: the pipeline waits for room.
        """
        peer = self.addPeer()
        self.pipeline.fill(peer)
        peer.answer(INITIAL_REQUEST_DEPTH // 2)
        self.pipeline.charge(peer, self.records[peer])
        backlog = self.backlog
        backlog.limit = backlog.inFlightLimit
        backlog.size = backlog.inFlightLimit - backlog.requested - 2 * BLOCK
        self.assertEqual(backlog.room(), 2 * BLOCK)
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), INITIAL_REQUEST_DEPTH)
        # Once the disk catches up, the waiting pipeline fills the peer.
        backlog.written(backlog.size)
        self.assertEqual(len(peer.state.requested), INITIAL_REQUEST_DEPTH)

    def test_chokedAsksOnlyAllowedFast(self) -> None:
        """
        A peer choking us is asked only for the pieces it allowed us fast
        (BEP 6) that it has.
        """
        peer = self.addPeer(Bitfield(NUM_PIECES, [1, 2, 3]))
        peer.state.peerChoking = True
        peer.state.allowedFastIn = {2, 40}
        self.pipeline.fill(peer)
        self.assertEqual({index for index, _, _ in peer.sent}, {2})

    def test_chokedWithoutAllowedFastAsksNothing(self) -> None:
        """
        A peer choking us without pieces allowed fast is asked for nothing.
        """
        peer = self.addPeer()
        peer.state.peerChoking = True
        self.pipeline.fill(peer)
        self.assertEqual(peer.sent, [])

    def test_inactiveDownloadAsksNothing(self) -> None:
        """
        A paused or finished download sends no requests.
        """
        peer = self.addPeer()
        self.download.active = False
        self.pipeline.fill(peer)
        self.assertEqual(peer.sent, [])

    def test_downloadLimitBoundsRequests(self) -> None:
        """
        Under a download limit, a peer is asked for no more than the
        bucket's tokens pay for, and the tokens are spent.
        """
        limit = self.limit
        limit.setRate(4 * BLOCK)
        self.clock.advance(10)
        available = limit.available()
        peer = self.addPeer()
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), 1 + int(available) // BLOCK)
        self.assertLess(limit.available(), available)

    def test_notInterestedWhenNothingIsWanted(self) -> None:
        """
        A peer with nothing we want, and nothing in flight, is told we are
        not interested.
        """
        for index in range(NUM_PIECES):
            self.picker.pieceVerified(index)
        peer = self.addPeer()
        self.pipeline.fill(peer)
        self.assertFalse(peer.interested)

    def test_unsentBlocksGoBackToThePicker(self) -> None:
        """
        Blocks a peer did not send (its connection being dropped) can be
        picked for another peer.
        """
        first = self.addPeer(Bitfield(NUM_PIECES, [0]))
        first.maxSent = 4
        self.pipeline.fill(first)
        second = self.addPeer(Bitfield(NUM_PIECES, [0]))
        self.pipeline.fill(second)
        self.assertEqual(len(first.sent), 4)
        self.assertEqual(len(second.sent), PIECE_LENGTH // BLOCK - 4)
        self.assertEqual(
            {(i, b) for i, b, _ in first.sent} & {(i, b) for i, b, _ in second.sent}, set()
        )

    def test_tickSizesPipelineToRate(self) -> None:
        """
        Once a second each peer's pipeline is sized to a second of its rate,
        within L{MIN_REQUEST_DEPTH} and L{MAX_REQUEST_DEPTH}.
        """
        slow, medium, fast = self.addPeer(), self.addPeer(), self.addPeer()
        slow.downloadRate.value = 0
        medium.downloadRate.value = 100 * BLOCK
        fast.downloadRate.value = 10_000 * BLOCK
        self.pipeline.tick(self.clock.seconds())
        self.assertEqual(self.records[slow].requestDepth, MIN_REQUEST_DEPTH)
        self.assertEqual(self.records[medium].requestDepth, 100)
        self.assertEqual(self.records[fast].requestDepth, MAX_REQUEST_DEPTH)

    def test_snubbedPeerGetsOneRequest(self) -> None:
        """
        A peer that sent no block for L{SNUB_TIMEOUT} while asked for some
        is snubbing: its requests are cancelled and go to other peers, and
        it is then asked for one block at a time.
        """
        snubber = self.addPeer(Bitfield(NUM_PIECES, [0]))
        self.pipeline.fill(snubber)
        asked = list(snubber.state.requested)
        self.clock.advance(SNUB_TIMEOUT)
        other = self.addPeer(Bitfield(NUM_PIECES, [0]))
        self.pipeline.tick(self.clock.seconds())
        self.assertTrue(self.records[snubber].snubbed)
        self.assertEqual(snubber.cancelled, asked)
        self.assertEqual({(i, b) for i, b, _ in other.sent}, set(asked))
        self.assertEqual(self.backlog.requested, len(asked) * BLOCK)

    def test_snubbedPeerAskedForOneBlock(self) -> None:
        """
        A snubbed peer is kept to one request in flight.
        """
        peer = self.addPeer()
        self.records[peer].snubbed = True
        self.pipeline.fill(peer)
        self.assertEqual(len(peer.sent), 1)

    def test_fillAllServesSnubbedLast(self) -> None:
        """
        L{RequestPipeline.fillAll} tops up peers that do not snub us before
        those that do, so the good ones get first pick.
        """
        snubber = self.addPeer(Bitfield(NUM_PIECES, [0]))
        self.records[snubber].snubbed = True
        good = self.addPeer(Bitfield(NUM_PIECES, [0]))
        self.pipeline.fillAll()
        self.assertEqual(len(good.sent), PIECE_LENGTH // BLOCK)
        self.assertEqual(snubber.sent, [])
