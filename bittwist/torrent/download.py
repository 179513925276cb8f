# -*- test-case-name: tests.test_torrent -*-
"""
The download side of one torrent: what to ask whom for, and what to do with
what arrives.

L{Download} keeps a record per peer (how many requests it may have in
flight, whether it snubs us), asks the L{bittwist.picker.PiecePicker} for
blocks to request, pays for them from the download bucket, sends arriving
blocks to storage (pausing requests while too much waits for the disk), and
has each complete piece verified. It calls back its owner for what the rest
of the torrent must hear: a piece verified, a piece failed, storage failed.
"""

from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.python.failure import Failure

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.metainfo import Metainfo
from bittwist.peer import PeerProtocol
from bittwist.picker import PiecePicker, wantedPieceSizes
from bittwist.rate import RateMeter
from bittwist.ratelimit import TokenBucket
from bittwist.storage import IPieceStorage
from bittwist.torrent.backlog import MAX_WRITE_BACKLOG, WriteBacklog

__all__ = ["Download", "DownloadRecord", "MAX_WRITE_BACKLOG"]

SNUB_TIMEOUT = 30.0
"""
A peer that sends no block for this long while we wait for some is snubbing
us: its requests go to other peers.
"""

INITIAL_REQUEST_DEPTH = 64
MIN_REQUEST_DEPTH = 32
MAX_REQUEST_DEPTH = 250
"""
Requests in flight to one peer. Enough to cover a second of what the peer
sends, so a fast link never idles waiting for our next request; capped at
what libtorrent queues for a peer by default.
"""

ENDGAME_DELAY = 1.0
"""
In endgame, a block is requested from a second peer only after the first
has kept us waiting this long (seconds).
"""


@dataclass
class DownloadRecord:
    """
    What the download knows of one peer.

    @ivar requestDepth: how many requests we keep in flight to it.
    @ivar snubbed: whether it kept us waiting L{SNUB_TIMEOUT} for a block.
    @ivar lastBlockAt: when it last sent a block, or when we started
        waiting for one.
    @ivar charged: how many of our requests in flight to it are counted
        in the session's budget (L{WriteBacklog.requested}).
    """

    requestDepth: int = INITIAL_REQUEST_DEPTH
    snubbed: bool = False
    lastBlockAt: float = 0.0
    charged: int = 0


class Download:
    """
    Requests, receives, stores and verifies the pieces of one torrent.

    @ivar picker: the piece picker, once storage was checked.
    @ivar active: whether to request blocks (the torrent is downloading).
    @ivar rate: payload bytes per second received, and their total.
    @ivar wasted: bytes received that were not needed.
    @ivar hashFailures: how many pieces failed their hash check.
    @ivar verifiedLength: bytes of verified pieces.
    @ivar contributors: the peer ids of the peers that sent us data.
    """

    def __init__(
        self,
        metainfo: Metainfo,
        storage: IPieceStorage,
        reactor: Any,
        downloadLimit: TokenBucket,
        verified: Callable[[int], None],
        failedPiece: Callable[[int, set[Any]], None],
        storageFailed: Callable[[Failure], None],
        backlog: Optional[WriteBacklog] = None,
    ) -> None:
        """
        @param verified: called with a piece index once it passed its hash.
        @param failedPiece: called with a piece index and the peers that sent
            its blocks, once it failed its hash.
        @param storageFailed: called when storage fails.
        @param backlog: the bytes on their way to disk, shared by a
            session's downloads; one of its own by default.
        """
        self._metainfo = metainfo
        self._storage = storage
        self._reactor = reactor
        self._limit = downloadLimit
        self._onVerified = verified
        self._onFailedPiece = failedPiece
        self._onStorageFailed = storageFailed
        # Bound once: a bound method made per block would be one more object
        # per block waiting for storage, for every collection to walk.
        self._writtenCallback = self._written
        self._verifiedCallback = self._verified
        self.picker: Optional[PiecePicker] = None
        self.active = False
        self.rate = RateMeter(reactor)
        self.wasted = 0
        self.hashFailures = 0
        self.verifiedLength = 0
        self.contributors: set[bytes] = set()
        self._records: dict[PeerProtocol, DownloadRecord] = {}
        self._backlog = backlog if backlog is not None else WriteBacklog()
        # Bound once: the backlog keeps it while we wait for room.
        self._fillAllCallback = self.fillAll
        self._waitingForTokens = False
        # The settings asked for before there is a picker to hold them;
        # after, the picker's are the only ones.
        self._sequential = False
        self._priorities: Optional[list[int]] = None
        # With pieces skipped, the bytes of wanted pieces not verified:
        # counted when the priorities or the pieces held change wholesale,
        # kept as pieces are verified (the status asks every second).
        self._wantedLeft: Optional[int] = None

    @property
    def sequential(self) -> bool:
        """
        Whether new pieces are taken in order instead of rarest first.
        """
        picker = self.picker
        return self._sequential if picker is None else picker.sequential

    def setPriorities(self, priorities: Optional[list[int]]) -> None:
        """
        Download only the wanted pieces, high ones first, and tell each peer
        whether it has any we want.

        @param priorities: per piece (see L{bittwist.picker.piecePriorities}),
            or C{None} for every piece normal.
        """
        picker = self.picker
        if picker is None:
            self._priorities = priorities
            return
        picker.setPriorities(priorities)
        self._countWantedLeft()
        self.refreshInterest()

    def _countWantedLeft(self) -> None:
        picker = self.picker
        priorities = None if picker is None else picker.priorities
        if priorities is None:
            self._wantedLeft = None
            return
        done, size = picker.done, self._metainfo.pieceSize
        self._wantedLeft = sum(size(i) for i, p in enumerate(priorities) if p and i not in done)

    def wantedLeft(self) -> Optional[int]:
        """
        @return: with pieces skipped, the bytes of wanted pieces not yet
            verified; C{None} when every piece is wanted or before the
            check.
        """
        return self._wantedLeft

    def refreshInterest(self) -> None:
        """
        Tell each peer whether we want any of its pieces, and ask for them.
        """
        picker = self.picker
        if picker is None:
            return
        for peer in list(self._records):
            peer.setInterested(self.active and picker.interestedIn(peer.state.pieces))
        self.fillAll()

    def setSequential(self, sequential: bool) -> None:
        """
        Take new pieces in order (C{True}) or rarest first (C{False}).
        """
        if self.picker is None:
            self._sequential = sequential
        else:
            self.picker.sequential = sequential

    def begin(self, have: Bitfield) -> None:
        """
        Storage holds the pieces C{have}: make the picker (again, after a
        check).
        """
        metainfo = self._metainfo
        old = self.picker
        if old is None:
            sequential, priorities = self._sequential, self._priorities
        else:
            sequential, priorities = old.sequential, old.priorities
        self.picker = PiecePicker(
            metainfo.numPieces, wantedPieceSizes(metainfo), have, endgameDelay=ENDGAME_DELAY
        )
        self.picker.sequential = sequential
        self.picker.setPriorities(priorities)
        self._countWantedLeft()
        self.verifiedLength = sum(metainfo.pieceSize(i) for i in have)

    def complete(self) -> bool:
        """
        @return: whether every wanted piece is verified.
        """
        return self.picker is not None and self.picker.complete()

    def verifiedPieces(self) -> Optional[Bitfield]:
        """
        @return: the verified pieces (do not change them), once checked.
        """
        return self.picker.done if self.picker is not None else None

    def record(self, peer: PeerProtocol) -> Optional[DownloadRecord]:
        """
        @return: what the download knows of C{peer}, if connected.
        """
        return self._records.get(peer)

    # Peers coming and going.

    def peerJoined(self, peer: PeerProtocol) -> None:
        self._records[peer] = DownloadRecord(lastBlockAt=self._reactor.seconds())

    def peerLeft(self, peer: PeerProtocol) -> None:
        record = self._records.pop(peer, None)
        if record is None:
            return
        if record.charged:
            self._backlog.released(record.charged * wire.BLOCK_SIZE)
            record.charged = 0
        picker = self.picker
        if picker is not None:
            picker.peerLostPieces(peer.state.pieces)
            requested = list(peer.state.requested)
            if requested:
                picker.abandon(peer, requested)
                self.fillAll()

    def peerBitfield(self, peer: PeerProtocol) -> None:
        """
        The peer sent its bitfield: count its pieces, and tell it whether we
        want any.
        """
        picker = self.picker
        if picker is None:
            return
        pieces = peer.state.pieces
        picker.peerHasPieces(pieces)
        peer.setInterested(self.active and picker.interestedIn(pieces))
        self.fill(peer)

    def peerHave(self, peer: PeerProtocol, index: int) -> None:
        """
        The peer has a new piece: count it, and ask for it if we want it.
        """
        picker = self.picker
        if picker is None:
            return
        picker.peerHasPieces((index,))
        if self.active and picker.wants(index):
            peer.setInterested(True)
            self.fill(peer)

    def peerChoked(self, peer: PeerProtocol, requests: list[tuple[int, int]]) -> None:
        if self.picker is not None and requests:
            self.picker.abandon(peer, requests)
            self.fillAll()

    def requestRejected(self, peer: PeerProtocol, index: int, begin: int) -> None:
        """
        The peer rejected our request (BEP 6): the block is free to be asked
        of any peer at once.
        """
        if self.picker is not None:
            self.picker.abandon(peer, [(index, begin)])
            self.fillAll()

    def peerUnchoked(self, peer: PeerProtocol) -> None:
        record = self._records.get(peer)
        if record is not None:
            record.lastBlockAt = self._reactor.seconds()
        self.fill(peer)

    # Blocks arriving.

    def blocksReceived(self, peer: PeerProtocol, blocks: list[wire.Piece]) -> None:
        """
        Blocks arrived from C{peer}, in order: record them, write the ones
        we want, have each piece they complete verified, then top up the
        peer's requests once for them all.
        """
        picker = self.picker
        record = self._records.get(peer)
        if picker is None or not self.active or record is None:
            self.wasted += sum(len(message.block) for message in blocks)
            if record is not None:
                self._charge(peer, record)
            return
        record.lastBlockAt = self._reactor.seconds()
        record.snubbed = False
        # Slow start: each block answered makes room for one more, so a
        # fast peer's pipeline grows within a round trip or two instead of
        # waiting for the next rate measurement.
        if record.requestDepth < MAX_REQUEST_DEPTH:
            record.requestDepth = min(MAX_REQUEST_DEPTH, record.requestDepth + len(blocks))
        received = picker.blockReceived
        backlog = self._backlog
        queueWrite = self._storage.queueWrite
        written, failed = self._writtenCallback, self._onStorageFailed
        got = 0
        for message in blocks:
            index, begin, block = message.index, message.begin, message.block
            size = len(block)
            result = received(peer, index, begin, size)
            if result is None:
                self.wasted += size
                continue
            others, filled = result
            for other in others:
                other.cancelRequest(index, begin)
                otherRecord = self._records.get(other)
                if otherRecord is not None:
                    self._charge(other, otherRecord)
            got += size
            # Counted before it is queued: storage may report it at once.
            backlog.size += size
            queueWrite(index, begin, block, written, failed)
            if filled:
                self._verify(index)
        if got:
            if peer.peerId is not None:
                self.contributors.add(peer.peerId)
            self.rate.add(got)
        self.fill(peer)

    def _written(self, size: int) -> None:
        self._backlog.written(size)

    def _charge(self, peer: PeerProtocol, record: DownloadRecord) -> None:
        """
        Bring the session's count of bytes requested in step with the
        requests in flight to C{peer}: they change as blocks arrive, as we
        send or cancel, as the peer chokes or rejects, and the peer's state
        is the one account of them.
        """
        count = len(peer.state.requested)
        change = count - record.charged
        if change:
            record.charged = count
            if change > 0:
                self._backlog.requested += change * wire.BLOCK_SIZE
            else:
                self._backlog.released(-change * wire.BLOCK_SIZE)

    def _verify(self, index: int) -> None:
        self._storage.queueVerify(index, self._verifiedCallback, self._onStorageFailed)

    def _verified(self, index: int, ok: bool) -> None:
        # Applied in every state but stopped: a check that finishes while
        # paused must still count, or the piece would be neither verified nor
        # asked for again, and the download would stall one piece short.
        picker = self.picker
        if picker is None:
            return
        if not ok:
            contributors = picker.pieceFailed(index)
            self.hashFailures += 1
            self._onFailedPiece(index, contributors)
            self.fillAll()
            return
        size = self._metainfo.pieceSize(index)
        if self._wantedLeft is not None and picker.priority(index) and index not in picker.done:
            self._wantedLeft -= size
        picker.pieceVerified(index)
        self.verifiedLength += size
        self._onVerified(index)

    # Requesting.

    def fill(self, peer: PeerProtocol) -> None:
        """
        Top up the requests in flight to C{peer}.
        """
        record = self._records.get(peer)
        if record is None:
            return
        state = peer.state
        requested = state.requested
        if len(requested) != record.charged:
            self._charge(peer, record)
        depth = record.requestDepth
        queueLimit = peer.requestQueueLimit
        if queueLimit is not None and queueLimit < depth:
            # The peer said how many requests it queues (reqq): more would
            # be dropped or held against us.
            depth = queueLimit
        # A snubbed peer gets one request at a time, so it can prove itself
        # without holding blocks other peers would send.
        room = (1 if record.snubbed else depth) - len(requested)
        # Refill in batches of a quarter of the pipeline, not a few requests
        # per read: each refill is a write, a system call that also wakes the
        # peer. Tested first: this is called for every read, and mostly ends
        # here.
        if room < depth // 4 and requested:
            return
        picker = self.picker
        if (
            picker is None
            or not self.active
            or not state.amInterested
        ):
            return
        # The session's budget: every torrent's requests in flight and
        # blocks not yet written, so a thousand downloads cannot each fill a
        # pipeline at once.
        budget = self._backlog.room() // wire.BLOCK_SIZE
        if budget < 1 or (budget < room and budget < depth // 4 and requested):
            # Too little for a batch while the peer still has work: wait
            # for room rather than send a request or two per block written.
            self._backlog.waitForRoom(self._fillAllCallback)
            return
        if budget < room:
            # Less than the peer could take: the rest once there is room.
            self._backlog.waitForRoom(self._fillAllCallback)
            room = budget
        pieces = state.pieces
        if state.peerChoking:
            # Choked: only the pieces it allowed us fast (BEP 6), if any.
            allowed = [i for i in state.allowedFastIn if i in pieces]
            if not allowed:
                return
            pieces = Bitfield(pieces.length, allowed)
        limit = self._limit
        if limit.limited:
            # Ask for no more than the tokens pay for: the peer then has no
            # cause to send faster than the limit.
            tokens = limit.available()
            if tokens < 0:
                self._waitForTokens()
                return
            room = min(room, 1 + int(tokens) // wire.BLOCK_SIZE)
        now = self._reactor.seconds()
        blocks = picker.pick(peer, pieces, room, len(requested), now)
        if blocks:
            if not requested:
                record.lastBlockAt = now
            sent = peer.sendRequests(blocks)
            self._charge(peer, record)
            if limit.limited:
                limit.consume(sum(length for _, _, length in sent))
            if len(sent) < len(blocks):
                # A peer being dropped sends nothing: give its blocks back.
                sentKeys = {(i, b) for i, b, _ in sent}
                picker.abandon(peer, [(i, b) for i, b, _ in blocks if (i, b) not in sentKeys])
        elif not requested and not picker.interestedIn(state.pieces):
            peer.setInterested(False)

    def _waitForTokens(self) -> None:
        if self._waitingForTokens:
            return
        self._waitingForTokens = True

        def available() -> None:
            self._waitingForTokens = False
            self.fillAll()

        self._limit.whenAvailable(available)

    def fillAll(self) -> None:
        """
        Top up every peer, snubbed ones last so the others get first pick.
        """
        records = self._records
        for peer in sorted(records, key=lambda p: records[p].snubbed):
            self.fill(peer)

    def tick(self, now: float) -> None:
        """
        Once a second: size each peer's pipeline to its rate, take requests
        from peers that snub us, and in endgame ask again for slow blocks.
        """
        picker = self.picker
        stalled = False
        for peer, record in list(self._records.items()):
            rate = peer.downloadRate.rate()
            record.requestDepth = max(
                MIN_REQUEST_DEPTH, min(MAX_REQUEST_DEPTH, int(rate / wire.BLOCK_SIZE))
            )
            requested = peer.state.requested
            if requested and now - record.lastBlockAt >= SNUB_TIMEOUT:
                record.snubbed = True
                if picker is not None:
                    picker.abandon(peer, list(requested))
                for index, begin in list(requested):
                    peer.cancelRequest(index, begin)
                stalled = True
            if len(requested) != record.charged:
                self._charge(peer, record)
        if self.active and (stalled or (picker is not None and picker.endgame)):
            self.fillAll()

    def stopRequesting(self) -> None:
        """
        Stop asking for blocks (download complete, paused or stopped), and
        tell every peer we are not interested.
        """
        self.active = False
        for peer in list(self._records):
            peer.setInterested(False)
