# -*- test-case-name: tests.test_torrent -*-
"""
The upload side of one torrent: whom to serve, and serving them.

L{Upload} runs the choker's rounds, answers the requests of unchoked peers
(each pays upload tokens, is read from storage, then sent), and says when
the seed goals (ratio, time) are reached.
"""

from typing import Any, Callable, Collection, Iterable, Optional

from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from bittwist.choker import Choker
from bittwist.peer import PeerProtocol
from bittwist.rate import RateMeter
from bittwist.ratelimit import TokenBucket
from bittwist.storage import IPieceStorage

__all__ = ["Upload", "MAX_SERVING"]

MAX_SERVING = 16
"""
Requests of one peer being read from storage (or waiting for upload tokens)
at once. A read the storage cannot serve at once is a round trip to a disk
thread; 16 blocks (256 KiB) in flight keep a loopback link to libtorrent busy
(4 halved the upload rate), and bound what one peer's reads hold in memory.
Reads served at once are sent at once, until the peer's transport pauses us.
"""


class Upload:
    """
    Chokes, unchokes and serves the peers of one torrent.

    @ivar choker: decides whom we upload to.
    @ivar rate: payload bytes per second sent, and their total.
    @ivar active: whether to serve (the torrent is downloading or seeding).
    @ivar seedRatio: see L{bittwist.config.TorrentConfig.seedRatio}.
    @ivar seedTime: see L{bittwist.config.TorrentConfig.seedTime}.
    """

    def __init__(
        self,
        storage: IPieceStorage,
        reactor: Any,
        uploadLimit: TokenBucket,
        uploadSlots: int,
        storageFailed: Callable[[Failure], None],
        seedRatio: Optional[float] = None,
        seedTime: Optional[float] = None,
    ) -> None:
        self._storage = storage
        self._reactor = reactor
        self._limit = uploadLimit
        self._onStorageFailed = storageFailed
        self.choker = Choker(uploadSlots)
        self.rate = RateMeter(reactor)
        self.active = False
        self.seedRatio = seedRatio
        self.seedTime = seedTime
        self._seedingSince: Optional[float] = None
        self._servingNow: set[PeerProtocol] = set()
        self._awaitingTokens: set[PeerProtocol] = set()

    # Choking.

    def choke(
        self, peers: Iterable[PeerProtocol], seeding: bool, snubbed: Collection[PeerProtocol]
    ) -> None:
        """
        Choke and unchoke peers as the L{Choker} says.
        """
        if not self.active:
            return
        peers = list(peers)
        unchoke = self.choker.unchoked(peers, seeding, self._reactor.seconds(), snubbed)
        for peer in peers:
            peer.sender.setChoking(peer not in unchoke)

    # Serving.

    def serve(self, peer: PeerProtocol) -> None:
        """
        Start serving C{peer}'s queued requests, as many as it may have in
        flight (see L{bittwist.peersender.PeerSender.nextRun}): each waits
        for upload tokens, then is read from storage, then sent. Consecutive requests of one
        piece are read together, as one read, and sent in one write.
        """
        if peer in self._servingNow:
            # Called back from within the loop below (a read that completed
            # at once): the loop takes the next run itself, without
            # recursing once per read.
            return
        self._servingNow.add(peer)
        try:
            if self._limit.limited:
                self._serveLimited(peer)
                return
            # Unlimited: no tokens to count, a run goes out as it comes.
            nextRun = peer.sender.nextRun
            while True:
                run = nextRun(MAX_SERVING)
                if not run:
                    break
                self._read(peer, run)
        finally:
            self._servingNow.discard(peer)

    def _serveLimited(self, peer: PeerProtocol) -> None:
        """
        L{serve} under an upload limit: block by block, each paying its
        tokens, the consecutive ones paid at once still read as one run.
        """
        run: list[tuple[int, int, int]] = []
        try:
            while peer not in self._awaitingTokens:
                request = peer.sender.nextRequest(MAX_SERVING)
                if request is None:
                    break
                if self._limit.allows():
                    # Tokens to spare: spend them now, without a Deferred
                    # per block to wait on.
                    self._limit.consume(request[2])
                    if run and _follows(run[-1], request):
                        run.append(request)
                        continue
                    if run:
                        self._read(peer, run)
                    run = [request]
                    continue
                d = self._limit.acquire(request[2])
                if not d.called:
                    # One request per peer waits for tokens at a time, so
                    # the bucket serves the peers in turn, block by block.
                    self._awaitingTokens.add(peer)
                d.addCallbacks(
                    self._tokensPaid, self._tokensWithdrawn, (peer, [request]), None, (peer,)
                )
        finally:
            if run:
                self._read(peer, run)

    def _tokensWithdrawn(self, failure: Failure, peer: PeerProtocol) -> None:
        # The bucket was cleared (the session stops, its connections are
        # closing): nothing to read or send, and nothing went wrong.
        failure.trap(CancelledError)
        self._awaitingTokens.discard(peer)

    def _tokensPaid(self, _: None, peer: PeerProtocol, run: list[tuple[int, int, int]]) -> None:
        """
        The tokens of C{run} are paid: read it, unless it was cancelled
        while waiting.
        """
        self._awaitingTokens.discard(peer)
        if not any(peer.sender.wants(request) for request in run):
            # Give the tokens back.
            self._limit.consume(-sum(request[2] for request in run))
            self.serve(peer)
            return
        self._read(peer, run)
        self.serve(peer)

    def _read(self, peer: PeerProtocol, run: list[tuple[int, int, int]]) -> None:
        """
        Read the consecutive requests C{run}, their tokens paid, as one read
        (L{_send} sends those still wanted then).
        """
        if not self.active:
            self._limit.consume(-sum(request[2] for request in run))
            return
        index, begin, _ = run[0]
        last = run[-1]
        d = self._storage.readBlock(index, begin, last[1] + last[2] - begin)
        d.addCallbacks(self._send, self._onStorageFailed, (peer, run))

    def _send(self, data: bytes, peer: PeerProtocol, run: list[tuple[int, int, int]]) -> None:
        sent = peer.sender.sendRun(run, data)
        if sent:
            self.rate.add(sent)
        if sent < len(data):
            # Some were cancelled or choked while read: give their tokens back.
            self._limit.consume(sent - len(data))
        self.serve(peer)

    # Seed goals.

    def seedingStarted(self) -> None:
        """
        Seeding starts (or starts again): seed time counts from now.
        """
        self._seedingSince = self._reactor.seconds()

    def goalReached(self, downloaded: int, totalLength: int) -> Optional[str]:
        """
        @return: why seeding is to stop (the ratio or time given reached),
            or C{None}.
        """
        if self.seedRatio is not None:
            base = max(downloaded, totalLength, 1)
            ratio = self.rate.total / base
            if ratio >= self.seedRatio:
                return f"seed ratio {ratio:.2f} reached"
        if self.seedTime is not None and self._seedingSince is not None:
            if self._reactor.seconds() - self._seedingSince >= self.seedTime:
                return f"seeded for {self.seedTime / 60:.0f} minutes"
        return None

    def clearGoals(self) -> None:
        """
        Seed without a goal from now on (the user resumed a finished
        torrent: the goals it reached no longer apply).
        """
        self.seedRatio = None
        self.seedTime = None


def _follows(previous: tuple[int, int, int], request: tuple[int, int, int]) -> bool:
    """
    @return: whether C{request} asks for the bytes just after C{previous},
        in the same piece.
    """
    return request[0] == previous[0] and request[1] == previous[1] + previous[2]
