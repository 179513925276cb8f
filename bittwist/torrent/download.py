# -*- test-case-name: tests.test_torrent -*-
"""
The download side of one torrent: what to ask whom for, and what to do with
what arrives.

L{Download} keeps a record per peer (how many requests it may have in
flight, whether it snubs us), has its L{RequestPipeline} ask the
L{bittwist.picker.PiecePicker} for blocks to request, sends arriving blocks
to storage (pausing requests while too much waits for the disk), and has
each complete piece verified. It calls back its owner for what the rest
of the torrent must hear: a piece verified, a piece failed, storage failed.
"""

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
from bittwist.torrent.pipeline import (
    MAX_REQUEST_DEPTH,
    SNUB_TIMEOUT,
    DownloadRecord,
    RequestPipeline,
)

__all__ = [
    "Download",
    "DownloadRecord",
    "MAX_REQUEST_DEPTH",
    "MAX_WRITE_BACKLOG",
    "SNUB_TIMEOUT",
]

ENDGAME_DELAY = 1.0
"""
In endgame, a block is requested from a second peer only after the first
has kept us waiting this long (seconds).
"""


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
    @ivar fill: tops up the requests in flight to a peer
        (L{RequestPipeline.fill}).
    @ivar fillAll: tops up every peer (L{RequestPipeline.fillAll}).
    @ivar tick: once a second, sizes pipelines and takes requests from
        peers that snub us (L{RequestPipeline.tick}).
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
        self._onVerified = verified
        self._onFailedPiece = failedPiece
        self._onStorageFailed = storageFailed
        # Bound once: a bound method made per block would be one more object
        # per block waiting for storage, for every collection to walk.
        self._writtenCallback = self._written
        self._writeFailedCallback = self._writeFailed
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
        pipeline = RequestPipeline(self, self._records, reactor, downloadLimit, self._backlog)
        # The pipeline's methods themselves, not methods calling them: no
        # extra call per read.
        self.fill = pipeline.fill
        self.fillAll = pipeline.fillAll
        self._charge = pipeline.charge
        self.tick = pipeline.tick
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
        return self._sequential if picker is None else picker.order.sequential

    def setPriorities(self, priorities: Optional[list[int]]) -> None:
        """
        Download only the wanted pieces, high ones first, and tell each peer
        whether it has any we want.

        @param priorities: per piece (see L{bittwist.pieceorder.piecePriorities}),
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
        priorities = None if picker is None else picker.order.priorities
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
            peer.sender.setInterested(self.active and picker.interestedIn(peer.state.pieces))
        self.fillAll()

    def setSequential(self, sequential: bool) -> None:
        """
        Take new pieces in order (C{True}) or rarest first (C{False}).
        """
        if self.picker is None:
            self._sequential = sequential
        else:
            self.picker.order.setSequential(sequential)

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
            sequential, priorities = old.order.sequential, old.order.priorities
        self.picker = PiecePicker(
            metainfo.numPieces, wantedPieceSizes(metainfo), have, endgameDelay=ENDGAME_DELAY
        )
        self.picker.order.setSequential(sequential)
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
            picker.order.peerLostPieces(peer.state.pieces)
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
        picker.order.peerHasPieces(pieces)
        peer.sender.setInterested(self.active and picker.interestedIn(pieces))
        self.fill(peer)

    def peerHave(self, peer: PeerProtocol, index: int) -> None:
        """
        The peer has a new piece: count it, and ask for it if we want it.
        """
        picker = self.picker
        if picker is None:
            return
        picker.order.peerHasPieces((index,))
        if self.active and picker.wants(index):
            peer.sender.setInterested(True)
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
        received = picker.blocks.received
        backlog = self._backlog
        queueWrite = self._storage.queueWrite
        written, failed = self._writtenCallback, self._writeFailedCallback
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
                other.sender.cancelRequest(index, begin)
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

    def _writeFailed(self, failure: Failure, size: int) -> None:
        # The block will not reach the disk: its bytes leave the session's
        # budget, or a full disk here would stall every other download of
        # the session, and this one once resumed.
        self._backlog.written(size)
        self._onStorageFailed(failure)

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
        if self._wantedLeft is not None and picker.order.priority(index) and index not in picker.done:
            self._wantedLeft -= size
        picker.pieceVerified(index)
        self.verifiedLength += size
        self._onVerified(index)

    def stopRequesting(self) -> None:
        """
        Stop asking for blocks (download complete, paused or stopped), and
        tell every peer we are not interested.
        """
        self.active = False
        for peer in list(self._records):
            peer.sender.setInterested(False)
