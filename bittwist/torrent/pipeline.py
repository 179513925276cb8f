# -*- test-case-name: tests.test_pipeline,tests.test_torrent -*-
"""
A download's requests in flight: how many each peer gets, and when to send
more.

L{RequestPipeline} tops up each peer's requests in batches, within the
session's budget (L{bittwist.torrent.backlog.WriteBacklog}) and the download
bucket; once a second it sizes each peer's pipeline to its rate and takes
the requests of peers that snub us.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.peer import PeerProtocol
from bittwist.ratelimit import TokenBucket
from bittwist.torrent.backlog import WriteBacklog

if TYPE_CHECKING:
    from bittwist.torrent.download import Download

__all__ = [
    "RequestPipeline",
    "DownloadRecord",
    "SNUB_TIMEOUT",
    "INITIAL_REQUEST_DEPTH",
    "MIN_REQUEST_DEPTH",
    "MAX_REQUEST_DEPTH",
]

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


class RequestPipeline:
    """
    Keeps each peer of a L{Download} asked for as many blocks as it, the
    session's budget and the download bucket allow.
    """

    def __init__(
        self,
        download: "Download",
        records: dict[PeerProtocol, DownloadRecord],
        reactor: Any,
        downloadLimit: TokenBucket,
        backlog: WriteBacklog,
    ) -> None:
        """
        @param download: whose picker to ask, and whether it is active.
        @param records: the download's records of its peers (shared).
        @param downloadLimit: the bucket requests are paid from.
        @param backlog: the session's budget of bytes in flight.
        """
        self._download = download
        self._records = records
        self._reactor = reactor
        self._limit = downloadLimit
        self._backlog = backlog
        # Bound once: the backlog keeps it while we wait for room.
        self._fillAllCallback = self.fillAll
        self._waitingForTokens = False

    def charge(self, peer: PeerProtocol, record: DownloadRecord) -> None:
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
            self.charge(peer, record)
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
        download = self._download
        picker = download.picker
        if (
            picker is None
            or not download.active
            or not state.amInterested
        ):
            return
        # The session's budget: every torrent's requests in flight and
        # blocks not yet written, so a thousand downloads cannot each fill a
        # pipeline at once.
        budget = self._backlog.room() // wire.BLOCK_SIZE
        if budget < room:
            # Less than the peer could take: the rest once there is room.
            # Not in endgame, where every block was asked for already: the
            # few duplicates wait for a read or the tick. Woken on every
            # write, each idle peer had the picker scan every block in
            # flight for one (eight seeders, 2000 requests each: 120 ms at
            # once).
            if not picker.endgame:
                self._backlog.waitForRoom(self._fillAllCallback)
            if budget < 1 or (budget < depth // 4 and requested):
                # Too little for a batch while the peer still has work: not
                # a request or two per block written.
                return
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
            sent = peer.sender.sendRequests(blocks)
            self.charge(peer, record)
            if limit.limited:
                limit.consume(sum(length for _, _, length in sent))
            if len(sent) < len(blocks):
                # A peer being dropped sends nothing: give its blocks back.
                sentKeys = {(i, b) for i, b, _ in sent}
                picker.abandon(peer, [(i, b) for i, b, _ in blocks if (i, b) not in sentKeys])
        elif not requested and not picker.interestedIn(state.pieces):
            peer.sender.setInterested(False)

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
        picker = self._download.picker
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
                    peer.sender.cancelRequest(index, begin)
                stalled = True
            if len(requested) != record.charged:
                self.charge(peer, record)
        if self._download.active and (stalled or (picker is not None and picker.endgame)):
            self.fillAll()
