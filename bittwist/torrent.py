# -*- test-case-name: tests.test_torrent -*-
"""
One torrent: its download, its seeding, and the peers it talks to.

L{Torrent} is where the parts meet: the metainfo says what to get, the
storage holds it, the picker chooses what to ask for, the announcer finds
peers, and each L{bittwist.peer.PeerProtocol} reports what its peer does.
"""

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.interfaces import IConnector
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist import events, wire
from bittwist.bitfield import Bitfield
from bittwist.choker import UPLOAD_SLOTS, Choker
from bittwist.errors import BittwistError, StorageError
from bittwist.factory import PeerClientFactory
from bittwist.metainfo import Metainfo
from bittwist.peer import PeerProtocol
from bittwist.picker import PiecePicker
from bittwist.rate import RateMeter
from bittwist.ratelimit import TokenBucket
from bittwist.storage import IPieceStorage
from bittwist.tracker import Announcer

__all__ = ["Torrent", "TorrentStatus"]

CHECKING = "checking"
DOWNLOADING = "downloading"
SEEDING = "seeding"
PAUSED = "paused"
FINISHED = "finished"
STOPPED = "stopped"
FAILED = "error"

MAX_HALF_OPEN = 8
"""
Outgoing connection attempts in progress at once.
"""

CONNECT_TIMEOUT = 15
SNUB_TIMEOUT = 30.0
"""
A peer that sends no block for this long while we wait for some is snubbing
us: its requests go to other peers.
"""

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

MAX_WRITE_BACKLOG = 16 * 2**20
"""
Bytes received but not yet on disk. Past this, no more blocks are requested
until the disk catches up: memory stays bounded when the network is faster
than the disk.
"""

MAX_SERVING = 16
"""
Requests of one peer being read from storage (or waiting for upload tokens)
at once. Each read is a round trip to the storage thread; 16 blocks (256 KiB)
in flight keep a loopback link to libtorrent busy (4 halved the upload rate),
and bound what one peer's reads hold in memory.
"""

BAN_STRIKES = 4
"""
A peer that sent data for failed pieces is struck: twice if it alone sent
the piece, once if it shared it. At this many strikes it is banned.
"""

_TICK = 1.0


@dataclass(frozen=True)
class TorrentStatus:
    """
    A snapshot of a torrent, for display.
    """

    name: str
    infoHash: str
    state: str
    totalLength: int
    verifiedLength: int
    piecesVerified: int
    numPieces: int
    downloadRate: float
    uploadRate: float
    downloaded: int
    uploaded: int
    peers: int
    knownPeers: int
    hashFailures: int
    error: Optional[str]
    peersUsed: int = 0
    """
    How many distinct peers sent us data.
    """

    @property
    def eta(self) -> Optional[float]:
        """
        Seconds until complete at the current rate, or C{None} if not
        downloading.
        """
        if self.state != DOWNLOADING or self.downloadRate <= 0:
            return None
        return (self.totalLength - self.verifiedLength) / self.downloadRate

    @property
    def progress(self) -> float:
        """
        The verified fraction of the torrent, 0 to 1.
        """
        return self.verifiedLength / self.totalLength if self.totalLength else 1.0


@dataclass(frozen=True)
class PeerStatus:
    """
    A snapshot of one peer connection, for display.

    @ivar client: the peer's client, as its peer id says (e.g.
        C{"-lt2010-"}), or C{"?"}.
    @ivar progress: the fraction of the torrent the peer has.
    """

    address: str
    client: str
    outgoing: bool
    downloadRate: float
    uploadRate: float
    amChoking: bool
    amInterested: bool
    peerChoking: bool
    peerInterested: bool
    snubbed: bool
    progress: float
    requests: int


def _clientOf(peerId: Optional[bytes]) -> str:
    if peerId and peerId[:1] == b"-" and peerId[7:8] == b"-":
        return peerId[:8].decode("ascii", "replace")
    return "?"


@dataclass
class _Candidate:
    """
    A peer address we may connect to.
    """

    failures: int = 0
    nextTry: float = 0.0
    connector: Optional[IConnector] = None
    """
    Set while a connection to this address is being made or is up.
    """
    connecting: bool = False
    banned: bool = False


class Torrent:
    """
    Downloads and seeds one torrent.

    Lifecycle: L{start} checks what storage already holds (C{checking}),
    then downloads (C{downloading}) until every piece is verified, then seeds
    (C{seeding}) until L{stop} (C{stopped}). A storage failure such as a full
    disk moves it to C{error}: it stops and keeps every verified piece.

    @ivar metainfo: what is downloaded.
    @ivar storage: where it goes.
    @ivar peers: the handshaken peer connections.
    @ivar picker: the piece picker, once checking is done.
    @ivar state: one of C{checking}, C{downloading}, C{seeding}, C{paused},
        C{finished} (done seeding: the seed ratio or time was reached),
        C{stopped}, C{error}.
    @ivar choker: decides whom we upload to.
    @ivar uploadLimit: the token bucket paying for blocks we send.
    @ivar downloadLimit: the token bucket paying for blocks we request.
    @ivar hashFailures: how many pieces failed their hash check.
    @ivar error: why the torrent failed, in state C{error}.
    """

    log = Logger()

    def __init__(
        self,
        metainfo: Metainfo,
        storage: IPieceStorage,
        peerId: bytes,
        reactor: Any,
        port: int = 0,
        httpClient: Any = None,
        maxPeers: int = 50,
        announce: bool = True,
        uploadSlots: int = UPLOAD_SLOTS,
        uploadLimit: Optional[TokenBucket] = None,
        downloadLimit: Optional[TokenBucket] = None,
        seedRatio: Optional[float] = None,
        seedTime: Optional[float] = None,
    ) -> None:
        """
        @param metainfo: the torrent.
        @param storage: its data; the torrent closes it on L{stop}.
        @param peerId: our peer id.
        @param reactor: for connections and time.
        @param port: our listening port, as announced to trackers.
        @param httpClient: a treq-like client for trackers (treq by default).
        @param maxPeers: the most peer connections at once.
        @param announce: whether to use the metainfo's trackers.
        @param uploadSlots: regular upload slots of the choker.
        @param uploadLimit: the bucket upload tokens come from (shared by a
            session's torrents); unlimited by default.
        @param downloadLimit: the bucket download tokens come from.
        @param seedRatio: stop seeding (state C{finished}) once we uploaded
            this many times the larger of the torrent's size and what we
            downloaded.
        @param seedTime: stop seeding after this many seconds of it.
        """
        self.metainfo = metainfo
        self.storage = storage
        self.peerId = peerId
        self.port = port
        self.maxPeers = maxPeers
        self._reactor = reactor
        self._httpClient = httpClient
        self._announce = announce
        self.infoHash = metainfo.infoHash
        self.numPieces = metainfo.numPieces
        self.state = STOPPED
        self.error: Optional[BittwistError] = None
        self.peers: set[PeerProtocol] = set()
        self.picker: Optional[PiecePicker] = None
        self.announcer: Optional[Announcer] = None
        self.downloadRate = RateMeter(reactor)
        self.uploadRate = RateMeter(reactor)
        self.hashFailures = 0
        self.wasted = 0
        self._verifiedLength = 0
        self._writeBacklog = 0
        self._known: dict[tuple[str, int], _Candidate] = {}
        self._connecting = 0
        self._strikes: dict[bytes, int] = {}
        self._bannedIds: set[bytes] = set()
        self._waiting: list[Deferred[None]] = []
        self._ticker = LoopingCall(self._tick)
        self._ticker.clock = reactor
        self._observers: list[Callable[[events.TorrentEvent], None]] = []
        self._sources: set[bytes] = set()
        self._startPaused = False
        self.choker = Choker(uploadSlots)
        self.uploadLimit = uploadLimit if uploadLimit is not None else TokenBucket(reactor)
        self.downloadLimit = downloadLimit if downloadLimit is not None else TokenBucket(reactor)
        self.seedRatio = seedRatio
        self.seedTime = seedTime
        self._seedingSince: Optional[float] = None
        self._waitingForTokens = False
        self._servingNow: set[PeerProtocol] = set()
        self._awaitingTokens: set[PeerProtocol] = set()

    def __repr__(self) -> str:
        return f"<Torrent {self.metainfo.name!r} {self.state}>"

    # Observers.

    def addObserver(self, observer: Callable[[events.TorrentEvent], None]) -> None:
        """
        Call C{observer} with every L{bittwist.events.TorrentEvent} of this
        torrent from now on.
        """
        self._observers.append(observer)

    def removeObserver(self, observer: Callable[[events.TorrentEvent], None]) -> None:
        """
        Stop calling C{observer}.
        """
        self._observers.remove(observer)

    def _emit(self, event: events.TorrentEvent) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                self.log.failure("Observer {observer} failed on {event}", observer=observer, event=event)

    def _setState(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if state == SEEDING and self._seedingSince is None:
                self._seedingSince = self._reactor.seconds()
            self._emit(events.StateChanged(self, state))

    # Lifecycle.

    def start(
        self,
        paused: bool = False,
        trusted: Optional[Bitfield] = None,
        rehash: Iterable[int] = (),
    ) -> Deferred[None]:
        """
        Check existing data, then download or seed.

        @param paused: stay paused once checked, until L{resume}.
        @param trusted: fast resume: pieces known to be intact, taken as
            verified without hashing (see L{IPieceStorage.check}); C{None}
            hashes everything.
        @param rehash: with C{trusted}, pieces to hash all the same.
        @return: fires when checking is done and peers are being sought.
        """
        self._startPaused = paused
        self._setState(CHECKING)
        if trusted is None:
            self.log.info("{name}: checking existing data", name=self.metainfo.name)
            d = self.storage.check()
        else:
            d = self.storage.check(trusted, rehash)
        d.addCallback(self._checked)
        d.addErrback(self._fail)
        return d

    def _checked(self, have: Bitfield) -> None:
        if self.state != CHECKING:
            return
        metainfo = self.metainfo
        self.picker = PiecePicker(
            metainfo.numPieces, metainfo.pieceSize, have, endgameDelay=ENDGAME_DELAY
        )
        self._verifiedLength = sum(metainfo.pieceSize(i) for i in have)
        self.log.info(
            "{name}: {count} of {total} pieces already verified",
            name=metainfo.name,
            count=len(have),
            total=metainfo.numPieces,
        )
        if self._startPaused:
            self._setState(PAUSED)
            if have.complete():
                self._fireComplete()
            return
        self._run(SEEDING if have.complete() else DOWNLOADING)
        if self.state == SEEDING:
            self._fireComplete()

    def _run(self, state: str) -> None:
        """
        Enter C{state} (downloading or seeding): announce, tick, connect.
        """
        self._setState(state)
        metainfo = self.metainfo
        if self._announce and metainfo.announceTiers:
            kwargs = {} if self._httpClient is None else {"httpClient": self._httpClient}
            self.announcer = Announcer(
                metainfo.announceTiers,
                self.infoHash,
                self.peerId,
                self.port,
                self._announceStats,
                self.addPeers,
                reactor=self._reactor,
                **kwargs,
            )
            self.announcer.start()
        self._ticker.start(_TICK, now=False)
        self._connectMore()

    def pause(self) -> Deferred[None]:
        """
        Disconnect every peer and stop announcing (trackers hear
        C{stopped}), keeping storage open and every verified piece. A
        downloading or seeding torrent pauses now, a checking one once
        checked; others do not pause.

        @return: fires when the trackers have been told; never fails.
        """
        if self.state == CHECKING:
            # Paused once checked: the check runs on, nobody is contacted.
            self._startPaused = True
            return succeed(None)
        if self.state not in (DOWNLOADING, SEEDING):
            return succeed(None)
        self._halt(PAUSED)
        announcer, self.announcer = self.announcer, None
        if announcer is None:
            return succeed(None)
        return announcer.stop()

    def resume(self) -> None:
        """
        Carry on after L{pause}: announce again and reconnect.
        """
        if self.state == CHECKING:
            self._startPaused = False
            return
        if self.state != PAUSED or self.picker is None:
            return
        for candidate in self._known.values():
            candidate.nextTry = 0.0
        self._run(SEEDING if self.picker.complete() else DOWNLOADING)

    def stop(self) -> Deferred[None]:
        """
        Disconnect every peer, tell the trackers, close storage.

        @return: fires when done; never fails.
        """
        if self.state == STOPPED:
            return succeed(None)
        self._halt(STOPPED)
        return self._closeDown()

    def _halt(self, state: str) -> None:
        self._setState(state)
        if self._ticker.running:
            self._ticker.stop()
        for candidate in self._known.values():
            if candidate.connecting and candidate.connector is not None:
                candidate.connector.stopConnecting()
        for peer in list(self.peers):
            peer.drop(state)

    def _closeDown(self) -> Deferred[None]:
        waits = []
        if self.announcer is not None:
            waits.append(self.announcer.stop())
        waits.append(self.storage.close())
        d = DeferredList(waits, consumeErrors=True)
        d.addCallback(lambda _: None)
        return d

    def _fail(self, failure: Failure) -> None:
        """
        Stop because storage failed; keep what is verified.
        """
        if self.state in (STOPPED, FAILED):
            return
        if failure.check(BittwistError):
            self.error = failure.value
            self.log.error("{name}: {error}", name=self.metainfo.name, error=failure.value)
        else:
            self.error = StorageError(f"unexpected error: {failure.getErrorMessage()}")
            self.log.failure("{name}: unexpected error", failure, name=self.metainfo.name)
        self._halt(FAILED)
        self._closeDown()
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(self.error)

    def whenComplete(self) -> Deferred[None]:
        """
        @return: fires when every piece is verified (at once if already), or
            fails with the error that stopped the torrent.
        """
        if self.picker is not None and self.picker.complete():
            return succeed(None)
        if self.state == FAILED and self.error is not None:
            return fail(self.error)
        d: Deferred[None] = Deferred()
        self._waiting.append(d)
        return d

    def _fireComplete(self) -> None:
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(None)

    def _completed(self) -> None:
        self._setState(SEEDING)
        self.log.info(
            "{name}: download complete, all {count} pieces verified",
            name=self.metainfo.name,
            count=self.numPieces,
        )
        if self.announcer is not None:
            self.announcer.completed()
        for peer in list(self.peers):
            peer.setInterested(False)
            if peer.pieces is not None and peer.pieces.complete():
                peer.drop("both seeding")
        self._emit(events.Completed(self))
        self._fireComplete()

    def status(self) -> TorrentStatus:
        """
        @return: a snapshot of this torrent.
        """
        return TorrentStatus(
            name=self.metainfo.name,
            infoHash=self.infoHash.hex(),
            state=self.state,
            totalLength=self.metainfo.totalLength,
            verifiedLength=self._verifiedLength,
            piecesVerified=len(self.picker.done) if self.picker else 0,
            numPieces=self.numPieces,
            downloadRate=self.downloadRate.rate(),
            uploadRate=self.uploadRate.rate(),
            downloaded=self.downloadRate.total,
            uploaded=self.uploadRate.total,
            peers=len(self.peers),
            knownPeers=len(self._known),
            hashFailures=self.hashFailures,
            error=str(self.error) if self.error else None,
            peersUsed=len(self._sources),
        )

    def peerStatuses(self) -> list[PeerStatus]:
        """
        @return: a snapshot of every connected peer.
        """
        result = []
        for peer in self.peers:
            host, port = peer.address or ("?", 0)
            pieces = peer.pieces
            result.append(
                PeerStatus(
                    address=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                    client=_clientOf(peer.peerId),
                    outgoing=peer.outgoing,
                    downloadRate=peer.downloadRate.rate(),
                    uploadRate=peer.uploadRate.rate(),
                    amChoking=peer.amChoking,
                    amInterested=peer.amInterested,
                    peerChoking=peer.peerChoking,
                    peerInterested=peer.peerInterested,
                    snubbed=peer.snubbed,
                    progress=len(pieces) / pieces.length if pieces and pieces.length else 0.0,
                    requests=len(peer.requested),
                )
            )
        return result

    def pieces(self) -> Bitfield:
        """
        @return: the verified pieces (do not change it).
        """
        return self.picker.done if self.picker is not None else self.storage.have

    def _announceStats(self) -> tuple[int, int, int]:
        left = self.metainfo.totalLength - self._verifiedLength
        return self.uploadRate.total, self.downloadRate.total, left

    # Finding peers.

    def addPeers(self, addresses: Iterable[tuple[str, int]]) -> None:
        """
        Learn peer addresses (from a tracker or the user) and connect to them
        as room allows.
        """
        for address in addresses:
            if address not in self._known:
                self._known[address] = _Candidate()
        self._connectMore()

    def _connectMore(self) -> None:
        if self.state != DOWNLOADING:
            return
        now = self._reactor.seconds()
        for address, candidate in self._known.items():
            if len(self.peers) + self._connecting >= self.maxPeers:
                return
            if self._connecting >= MAX_HALF_OPEN:
                return
            if candidate.banned or candidate.connector is not None:
                continue
            if candidate.nextTry > now:
                continue
            self._connecting += 1
            candidate.connecting = True
            candidate.connector = self._reactor.connectTCP(
                address[0],
                address[1],
                PeerClientFactory(self._reactor, self, address),
                timeout=CONNECT_TIMEOUT,
            )

    def connectionFailed(self, address: tuple[str, int], reason: str) -> None:
        """
        An outgoing connection attempt failed: retry later, less often each
        time.
        """
        candidate = self._known.get(address)
        if candidate is None or not candidate.connecting:
            return
        candidate.connector = None
        candidate.connecting = False
        self._connecting -= 1
        candidate.failures += 1
        candidate.nextTry = self._reactor.seconds() + min(5 * 2**candidate.failures, 1800)
        self.log.debug("Cannot connect to {address}: {reason}", address=address, reason=reason)

    def connectionEnded(self, address: tuple[str, int], handshaked: bool) -> None:
        """
        An outgoing connection closed; if it never got through the
        handshake, count it as a failure.
        """
        candidate = self._known.get(address)
        if candidate is None:
            return
        if candidate.connecting:
            self.connectionFailed(address, "closed before the handshake")
            return
        candidate.connector = None
        candidate.nextTry = self._reactor.seconds() + 60

    # Peer events (see bittwist.peer.IPeerEvents).

    def peerHandshaked(self, peer: PeerProtocol) -> bool:
        if self.state not in (DOWNLOADING, SEEDING):
            return False
        if peer.peerId in self._bannedIds:
            return False
        if any(p.peerId == peer.peerId for p in self.peers):
            return False
        if len(self.peers) >= self.maxPeers:
            return False
        if peer.outgoing:
            candidate = self._known.get(peer.factory.address)
            if candidate is not None and candidate.connecting:
                candidate.connecting = False
                candidate.failures = 0
                self._connecting -= 1
        self.peers.add(peer)
        assert peer.address is not None and peer.peerId is not None
        self._emit(events.PeerConnected(self, peer.address, peer.peerId))
        self.log.debug("Connected to {peer}", peer=peer)
        return True

    def ourBitfield(self) -> Optional[Bitfield]:
        return self.picker.done if self.picker is not None else None

    def peerBitfield(self, peer: PeerProtocol) -> None:
        assert self.picker is not None and peer.pieces is not None
        self.picker.peerHasPieces(peer.pieces)
        if self.state == SEEDING and peer.pieces.complete():
            peer.drop("both seeding")
            return
        peer.setInterested(self.state == DOWNLOADING and self.picker.interestedIn(peer.pieces))
        self._fill(peer)

    def peerHave(self, peer: PeerProtocol, index: int) -> None:
        assert self.picker is not None and peer.pieces is not None
        self.picker.peerHasPieces((index,))
        if self.state == DOWNLOADING and self.picker.wants(index):
            peer.setInterested(True)
            self._fill(peer)
        elif self.state == SEEDING and peer.pieces.complete():
            peer.drop("both seeding")

    def peerChoked(self, peer: PeerProtocol, requests: list[tuple[int, int]]) -> None:
        if self.picker is not None and requests:
            self.picker.abandon(peer, requests)
            self._fillAll()

    def peerUnchoked(self, peer: PeerProtocol) -> None:
        self._fill(peer)

    def peerInterestChanged(self, peer: PeerProtocol) -> None:
        self._choke()

    def peerDisconnected(self, peer: PeerProtocol, reason: str) -> None:
        if peer not in self.peers:
            return
        self.peers.discard(peer)
        assert peer.address is not None
        self._emit(events.PeerDisconnected(self, peer.address, reason))
        self.log.debug("Disconnected from {peer}: {reason}", peer=peer, reason=reason)
        if self.picker is not None and peer.pieces is not None:
            self.picker.peerLostPieces(peer.pieces)
            if peer.requested:
                self.picker.abandon(peer, list(peer.requested))
                peer.requested.clear()
                self._fillAll()
        self._choke()

    def blockReceived(self, peer: PeerProtocol, index: int, begin: int, block: bytes) -> None:
        picker = self.picker
        size = len(block)
        if picker is None or self.state != DOWNLOADING:
            self.wasted += size
            return
        if peer.requestDepth < MAX_REQUEST_DEPTH:
            # Slow start: each block answered makes room for one more, so a
            # fast peer's pipeline grows within a round trip or two instead
            # of waiting for the next rate measurement.
            peer.requestDepth += 1
        result = picker.blockReceived(peer, index, begin, size)
        if result is None:
            self.wasted += size
        else:
            others, filled = result
            if peer.peerId is not None:
                self._sources.add(peer.peerId)
            for other in others:
                other.cancelRequest(index, begin)
            self.downloadRate.add(size)
            self._writeBacklog += size
            self.storage.queueWrite(index, begin, block, self._written, self._fail)
            if filled:
                self._verify(index)
        self._fill(peer)

    def requestReceived(self, peer: PeerProtocol, index: int, begin: int, length: int) -> None:
        if self.picker is None or index not in self.picker.done:
            peer.drop(f"requested piece {index}, which we do not have")
            return
        if begin + length > self.metainfo.pieceSize(index):
            peer.drop(f"requested past the end of piece {index}")
            return
        self._serve(peer)

    def peerWritable(self, peer: PeerProtocol) -> None:
        self._serve(peer)

    # Uploading.

    def _serve(self, peer: PeerProtocol) -> None:
        """
        Start serving C{peer}'s queued requests, as many as it may have in
        flight (see L{PeerProtocol.nextRequest}): each waits for upload
        tokens, then is read from storage, then sent.
        """
        if peer in self._servingNow:
            # Called back from within the loop below (a read that completed
            # at once): the loop takes the next request itself, without
            # recursing once per block.
            return
        self._servingNow.add(peer)
        try:
            while peer not in self._awaitingTokens:
                request = peer.nextRequest(MAX_SERVING)
                if request is None:
                    break
                d = self.uploadLimit.acquire(request[2])
                if not d.called:
                    # One request per peer waits for tokens at a time, so
                    # the bucket serves the peers in turn, block by block.
                    self._awaitingTokens.add(peer)
                d.addCallback(self._read, peer, request)
                d.addErrback(self._fail)
        finally:
            self._servingNow.discard(peer)

    def _read(self, _: None, peer: PeerProtocol, request: tuple[int, int, int]) -> Any:
        index, begin, length = request
        self._awaitingTokens.discard(peer)
        if not peer.wants(request) or self.state not in (DOWNLOADING, SEEDING):
            # Cancelled while waiting for tokens: read nothing, and give the
            # tokens back.
            self.uploadLimit.consume(-length)
            self._serve(peer)
            return None
        d = self.storage.readBlock(index, begin, length)
        d.addCallback(self._send, peer, index, begin)
        self._serve(peer)
        return d

    def _send(self, data: bytes, peer: PeerProtocol, index: int, begin: int) -> None:
        if peer.sendBlock(index, begin, data):
            self.uploadRate.add(len(data))
        else:
            self.uploadLimit.consume(-len(data))
        self._serve(peer)

    # Downloading.

    def _fill(self, peer: PeerProtocol) -> None:
        """
        Top up the requests in flight to C{peer}.
        """
        # A snubbed peer gets one request at a time, so it can prove itself
        # without holding blocks other peers would send.
        room = (1 if peer.snubbed else peer.requestDepth) - len(peer.requested)
        # Refill in batches, not one request per block received. Tested
        # first: this is called for every block, and mostly ends here.
        if room < min(16, peer.requestDepth // 4) and peer.requested:
            return
        picker = self.picker
        if (
            picker is None
            or self.state != DOWNLOADING
            or peer.peerChoking
            or not peer.amInterested
            or peer.pieces is None
            or self._writeBacklog >= MAX_WRITE_BACKLOG
        ):
            return
        limit = self.downloadLimit
        if limit.limited:
            # Ask for no more than the tokens pay for: the peer then has no
            # cause to send faster than the limit.
            tokens = limit.available()
            if tokens < 0:
                self._waitForTokens()
                return
            room = min(room, 1 + int(tokens) // wire.BLOCK_SIZE)
        blocks = picker.pick(
            peer, peer.pieces, room, len(peer.requested), self._reactor.seconds()
        )
        if blocks:
            peer.sendRequests(blocks)
            if limit.limited:
                limit.consume(sum(length for _, _, length in blocks))
            # A peer being dropped sends nothing: give its blocks back.
            unsent = [(i, b) for i, b, _ in blocks if (i, b) not in peer.requested]
            if unsent:
                picker.abandon(peer, unsent)
        elif not peer.requested and not picker.interestedIn(peer.pieces):
            peer.setInterested(False)

    def _waitForTokens(self) -> None:
        if self._waitingForTokens:
            return
        self._waitingForTokens = True

        def available() -> None:
            self._waitingForTokens = False
            self._fillAll()

        self.downloadLimit.whenAvailable(available)

    def _written(self, size: int) -> None:
        throttled = self._writeBacklog >= MAX_WRITE_BACKLOG
        self._writeBacklog -= size
        if throttled and self._writeBacklog < MAX_WRITE_BACKLOG:
            self._fillAll()

    def _fillAll(self) -> None:
        # Snubbed peers last: the others get first pick.
        for peer in sorted(self.peers, key=lambda p: p.snubbed):
            self._fill(peer)

    def _verify(self, index: int) -> None:
        d = self.storage.verifyPiece(index)
        d.addCallbacks(lambda ok: self._verified(index, ok), self._fail)

    def _verified(self, index: int, ok: bool) -> None:
        picker = self.picker
        if picker is None or self.state != DOWNLOADING:
            return
        if not ok:
            contributors = picker.pieceFailed(index)
            self.hashFailures += 1
            self.log.warn(
                "{name}: piece {index} failed its hash check; downloading it again",
                name=self.metainfo.name,
                index=index,
            )
            for peer in contributors:
                self._strike(peer, 2 if len(contributors) == 1 else 1)
            self._fillAll()
            return
        picker.pieceVerified(index)
        self._verifiedLength += self.metainfo.pieceSize(index)
        have = wire.encode(wire.Have(index))
        for peer in self.peers:
            if peer.handshaked:
                peer.transport.write(have)
        self._emit(events.PieceVerified(self, index))
        if picker.complete():
            self._completed()

    def _strike(self, peer: PeerProtocol, strikes: int) -> None:
        if peer.peerId is None:
            return
        total = self._strikes[peer.peerId] = self._strikes.get(peer.peerId, 0) + strikes
        if total >= BAN_STRIKES:
            self.log.warn("Banning {peer}: it sent corrupt data", peer=peer)
            self._bannedIds.add(peer.peerId)
            if peer.outgoing:
                candidate = self._known.get(peer.factory.address)
                if candidate is not None:
                    candidate.banned = True
            peer.drop("sent corrupt data")

    # Periodic work.

    def _tick(self) -> None:
        now = self._reactor.seconds()
        picker = self.picker
        stalled = False
        for peer in list(self.peers):
            rate = peer.downloadRate.rate()
            peer.requestDepth = max(
                MIN_REQUEST_DEPTH, min(MAX_REQUEST_DEPTH, int(rate / wire.BLOCK_SIZE))
            )
            if peer.requested and now - peer.lastBlockAt >= SNUB_TIMEOUT:
                peer.snubbed = True
                if picker is not None:
                    picker.abandon(peer, list(peer.requested))
                for index, begin in list(peer.requested):
                    peer.cancelRequest(index, begin)
                stalled = True
        if stalled or (picker is not None and picker.endgame):
            self._fillAll()
        finished = self._seedGoalReached(now)
        if finished is not None:
            self._finish(finished)
            return
        self._choke()
        self._connectMore()
        if (
            self.state == DOWNLOADING
            and self.announcer is not None
            and len(self.peers) + self._connecting < self.maxPeers // 2
        ):
            self.announcer.announceNow()

    def _choke(self) -> None:
        """
        Choke and unchoke peers as the L{Choker} says.
        """
        if self.state not in (DOWNLOADING, SEEDING):
            return
        unchoke = self.choker.unchoked(
            self.peers, self.state == SEEDING, self._reactor.seconds()
        )
        for peer in self.peers:
            peer.setChoking(peer not in unchoke)

    def _seedGoalReached(self, now: float) -> Optional[str]:
        """
        @return: why seeding is to stop (the ratio or time given reached),
            or C{None}.
        """
        if self.state != SEEDING:
            return None
        if self.seedRatio is not None:
            base = max(self.downloadRate.total, self.metainfo.totalLength, 1)
            ratio = self.uploadRate.total / base
            if ratio >= self.seedRatio:
                return f"seed ratio {ratio:.2f} reached"
        if self.seedTime is not None and self._seedingSince is not None:
            if now - self._seedingSince >= self.seedTime:
                return f"seeded for {self.seedTime / 60:.0f} minutes"
        return None

    def _finish(self, why: str) -> None:
        """
        Stop seeding: drop every peer and tell the trackers we left; storage
        stays open (L{stop} closes it).
        """
        self.log.info("{name}: {why}; done seeding", name=self.metainfo.name, why=why)
        self._halt(FINISHED)
        announcer, self.announcer = self.announcer, None
        if announcer is not None:
            announcer.stop()
