# -*- test-case-name: tests.test_torrent -*-
"""
L{Torrent}: one download and seed, a small facade over its parts.

The parts each have one job: L{Lifecycle} the states and their moves,
L{Swarm} the addresses and connections, L{Download} the requests and
verification, L{Upload} choking and serving, L{PeerSources} finding peers,
L{TorrentOptions} the options changed while it runs, L{Observers} whoever
watches. The facade wires them together, turns peer events into calls on
the parts, and carries out each state move.
"""

from typing import Any, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist import events, wire
from bittwist.bitfield import Bitfield
from bittwist.config import TorrentConfig
from bittwist.errors import BittwistError, InternalError
from bittwist.factory import PeerDialer
from bittwist.metainfo import Metainfo
from bittwist.peer import PeerProtocol
from bittwist.ratelimit import BucketChain, TokenBucket
from bittwist.safetext import printable
from bittwist.sources import IPeerSource, ISourceOwner
from bittwist.sources.pex import PeerExchange
from bittwist.storage import IPieceStorage
from bittwist.torrent.backlog import WriteBacklog
from bittwist.torrent.download import Download
from bittwist.torrent.extensionevents import ExtensionEvents
from bittwist.extensions.table import ExtensionTable
from bittwist.torrent.metadataserver import MetadataServer
from bittwist.torrent.observers import Observer, Observers
from bittwist.torrent.options import TorrentOptions
from bittwist.torrent.peersources import PeerSources
from bittwist.torrent.lifecycle import ACTIVE, Lifecycle, TorrentInput, TorrentState
from bittwist.torrent.status import (
    FileStatus,
    PeerStatus,
    TorrentStatus,
    describeFiles,
    describePeers,
    describeTorrent,
)
from bittwist.torrent.swarm import CandidateBudget, Swarm
from bittwist.torrent.ticks import ITickable, ITickService, TickService
from bittwist.torrent.upload import Upload
from bittwist.announcer import TrackerStatus

__all__ = ["Torrent"]

_In = TorrentInput
_State = TorrentState


@implementer(ISourceOwner, ITickable)
class Torrent(ExtensionEvents):
    """
    Downloads and seeds one torrent.

    L{start} checks what storage already holds (C{checking}), then downloads
    (C{downloading}) until every piece is verified, then seeds (C{seeding})
    until L{stop} (C{stopped}) or a seed goal (C{finished}). L{pause} and
    L{resume} come and go from C{paused}. A storage failure such as a full
    disk moves it to C{error}, keeping every verified piece; L{resume} checks
    the data again and carries on. See L{TorrentState}.

    @ivar metainfo: what is downloaded.
    @ivar storage: where it goes.
    @ivar infoHash: the torrent's info hash.
    @ivar peerId: our peer id.
    @ivar port: our listening port, as announced.
    @ivar options: how it behaves (its L{TorrentConfig}), changed by
        L{setOptions}.
    @ivar swarm: its addresses and connections.
    @ivar download: its download side.
    @ivar upload: its upload side.
    @ivar sources: where it finds peers (its L{PeerSources}).
    @ivar extensions: the extensions of the extension protocol it speaks.
    @ivar pex: its peer exchange (BEP 11), or C{None} for a private
        torrent.
    """

    log = Logger()

    def __init__(
        self,
        metainfo: Metainfo,
        storage: IPieceStorage,
        peerId: bytes,
        reactor: Any,
        config: TorrentConfig = TorrentConfig(),
        sources: Sequence[IPeerSource] = (),
        dialer: Optional[PeerDialer] = None,
        uploadLimit: Optional[TokenBucket] = None,
        downloadLimit: Optional[TokenBucket] = None,
        port: int = 0,
        candidateBudget: Optional[CandidateBudget] = None,
        ticks: Optional[ITickService] = None,
        writeBacklog: Optional[WriteBacklog] = None,
    ) -> None:
        """
        @param metainfo: the torrent.
        @param storage: its data; the torrent closes it on L{stop}.
        @param peerId: our peer id.
        @param reactor: for time (and, by default, connections).
        @param config: how it behaves.
        @param sources: where to find peers.
        @param dialer: makes outgoing connections (TCP by default).
        @param uploadLimit: the bucket upload tokens come from (shared by a
            session's torrents); unlimited by default.
        @param downloadLimit: the bucket download tokens come from.
        @param port: our listening port, as announced to trackers.
        @param candidateBudget: the peer addresses the session's torrents
            may remember together; no bound but C{config}'s if C{None}.
        @param ticks: runs its periodic work while it has any (shared by a
            session's torrents); a timer of its own by default.
        @param writeBacklog: the bytes received and not yet written (shared
            by a session's torrents, for one bound); its own by default.
        """
        self.metainfo = metainfo
        # Its name as logged: made safe for a terminal once, not per line.
        self._logName = printable(metainfo.name)
        self.storage = storage
        self.peerId = peerId
        self.port = port
        self.infoHash = metainfo.infoHash
        self.numPieces = metainfo.numPieces
        self._reactor = reactor
        self._lifecycle = Lifecycle(metainfo.name)
        self._observers = Observers()
        self._pauseWhenChecked = False
        self.swarm = Swarm(
            self, dialer or PeerDialer(reactor, peerId), config, reactor, candidateBudget
        )
        # Its own limits, within the session's (the buckets it shares).
        self.ownUploadLimit = TokenBucket(reactor, config.maxUploadRate)
        self.ownDownloadLimit = TokenBucket(reactor, config.maxDownloadRate)
        self.download = Download(
            metainfo,
            storage,
            reactor,
            BucketChain(self.ownDownloadLimit, downloadLimit or TokenBucket(reactor)),
            self._pieceVerified,
            self._pieceFailed,
            self._fail,
            writeBacklog,
        )
        self.upload = Upload(
            storage,
            reactor,
            BucketChain(self.ownUploadLimit, uploadLimit or TokenBucket(reactor)),
            config.uploadSlots,
            self._fail,
            seedRatio=config.seedRatio,
            seedTime=config.seedTime,
        )
        self.pex: Optional[PeerExchange] = None
        handlers: list[Any] = [MetadataServer(metainfo.infoBytes)]
        if not metainfo.private:
            # BEP 27: a private torrent learns peers from its trackers only.
            self.pex = PeerExchange(reactor, lambda: self.swarm.peers)
            sources = [*sources, self.pex.source]
            handlers.insert(0, self.pex)
        self.sources = PeerSources(sources)
        self.extensions = ExtensionTable(handlers)
        self._ticks = ticks if ticks is not None else TickService(reactor)
        # Last: a file that cannot be skipped puts the torrent in error.
        self.options = TorrentOptions(
            metainfo,
            config,
            storage,
            self.download,
            self.upload,
            self.swarm,
            (self.ownUploadLimit, self.ownDownloadLimit),
            self._fail,
        )

    def __repr__(self) -> str:
        return f"<Torrent {self.metainfo.name!r} {self.state.value}>"

    @property
    def config(self) -> TorrentConfig:
        """
        How it behaves now (see L{setOptions}).
        """
        return self.options.config

    @property
    def state(self) -> TorrentState:
        """
        Where the torrent is in its life.
        """
        return self._lifecycle.state

    @property
    def error(self) -> Optional[BittwistError]:
        """
        Why the torrent is in C{error}, or C{None}.
        """
        return self._lifecycle.error

    @property
    def peers(self) -> set[PeerProtocol]:
        """
        The handshaken peer connections.
        """
        return self.swarm.peers

    # Observers.

    def addObserver(self, observer: Observer) -> None:
        """
        Call C{observer} with every L{bittwist.events.TorrentEvent} of this
        torrent from now on.
        """
        self._observers.add(observer)

    def removeObserver(self, observer: Observer) -> None:
        """
        Stop calling C{observer} (if it is observing).
        """
        self._observers.remove(observer)

    def _emit(self, event: events.TorrentEvent) -> None:
        self._observers.emit(event)

    # State moves: each input goes through the lifecycle's table, then the
    # parts are set for the new state.

    def _move(self, event: TorrentInput) -> TorrentState:
        old, new = self._lifecycle.process(event)
        if new is _State.SEEDING:
            self.upload.seedingStarted()
        if new in ACTIVE:
            self._activate(new)
        elif old in ACTIVE:
            self._deactivate(new)
        if old is not new:
            self._emit(events.StateChanged(self, new))
        return new

    def _activate(self, state: TorrentState) -> None:
        downloading = state is _State.DOWNLOADING
        self.download.active = downloading
        self.upload.active = True
        self.swarm.seeking = downloading
        self._ticks.wake(self)
        self.sources.start(self)
        self.swarm.connectMore()

    def _deactivate(self, state: TorrentState) -> None:
        self._ticks.sleep(self)
        self.download.active = False
        self.upload.active = False
        self.swarm.halt(state.value)

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
        self._pauseWhenChecked = paused
        self._move(_In.START)
        return self._check(trusted, rehash)

    def _check(self, trusted: Optional[Bitfield], rehash: Iterable[int]) -> Deferred[None]:
        if trusted is None:
            self.log.info("{name}: checking existing data", name=self._logName)
            d = self.storage.check()
        else:
            d = self.storage.check(trusted, rehash)
        d.addCallback(self._checked)
        d.addErrback(self._fail)
        return d

    def _checked(self, have: Bitfield) -> None:
        if self.state is not _State.CHECKING:
            return
        self.download.begin(have)
        self.log.info(
            "{name}: {count} of {total} pieces already verified",
            name=self._logName,
            count=len(have),
            total=self.numPieces,
        )
        complete = self.download.complete()
        if self._pauseWhenChecked:
            self._move(_In.CHECKED_PAUSED)
        else:
            self._move(_In.CHECKED_COMPLETE if complete else _In.CHECKED_INCOMPLETE)
        # Last: whoever waits on whenComplete sees the torrent seeding.
        if complete:
            self._lifecycle.complete()

    def pause(self) -> Deferred[None]:
        """
        Disconnect every peer and stop announcing (trackers hear
        C{stopped}), keeping storage open and every verified piece. A
        downloading, seeding or finished torrent pauses now, a checking one
        once checked; others do not pause.

        @return: fires when the trackers have been told; never fails.
        """
        if self.state is _State.CHECKING:
            # Paused once checked: the check runs on, nobody is contacted.
            self._pauseWhenChecked = True
            return succeed(None)
        if not self._lifecycle.allows(_In.PAUSE):
            return succeed(None)
        self._move(_In.PAUSE)
        return self.sources.stop()

    def resume(self) -> None:
        """
        Carry on after L{pause}; seed again after C{finished} (the seed goals
        reached no longer apply); after C{error}, check the data again,
        keeping every verified piece, and carry on.
        """
        state = self.state
        if state is _State.CHECKING:
            self._pauseWhenChecked = False
        elif state is _State.ERROR:
            self.log.info("{name}: resuming after an error", name=self._logName)
            self._pauseWhenChecked = False
            self._move(_In.RESUME_CHECK)
            self._check(self.download.verifiedPieces(), ())
        elif state in (_State.PAUSED, _State.FINISHED):
            if state is _State.FINISHED:
                self.upload.clearGoals()
            self.swarm.resetBackoff()
            self._move(_In.RESUME_COMPLETE if self.download.complete() else _In.RESUME_INCOMPLETE)

    def stop(self) -> Deferred[None]:
        """
        Disconnect every peer, tell the trackers, close storage. Whoever
        waits on L{whenComplete} is told, unless it already fired.

        @return: fires when done; never fails.
        """
        if self.state is _State.STOPPED:
            return succeed(None)
        self._move(_In.STOP)
        self._lifecycle.stopped()
        d = DeferredList([self.sources.stop(), self.storage.close()], consumeErrors=True)
        return d.addCallback(lambda _: None)

    def fail(self, error: BittwistError) -> None:
        """
        Put the torrent in C{error} for C{error} (e.g. its data is missing),
        keeping every verified piece; L{resume} checks the data again.
        """
        self._fail(Failure(error))

    def _fail(self, failure: Failure) -> None:
        """
        Stop because storage (or our own code) failed; keep what is verified.
        """
        if not self._lifecycle.allows(_In.FAIL):
            return
        if failure.check(BittwistError):
            error = failure.value
            self.log.error("{name}: {error}", name=self._logName, error=error)
        else:
            error = InternalError(
                f"{self.metainfo.name}: internal error ({failure.getErrorMessage()}); "
                "this is a bug in bittwist, please report it with the log"
            )
            self.log.failure("{name}: internal error", failure, name=self._logName)
        self._lifecycle.error = error
        self._move(_In.FAIL)
        self.sources.stop()
        self._lifecycle.failed(error)

    def whenComplete(self) -> Deferred[None]:
        """
        @return: fires when every piece is verified (at once if already);
            fails with the error that put the torrent in C{error}, or with
            L{bittwist.errors.TorrentStopped} if it is stopped or removed
            first.
        """
        return self._lifecycle.whenComplete()

    # What the download reports.

    def _pieceVerified(self, index: int) -> None:
        for peer in self.peers:
            peer.sender.sendHave(index)
        self._emit(events.PieceVerified(self, index))
        # Seeding already: a piece of a file skipped while it downloaded.
        if self.download.complete() and self.state not in (_State.SEEDING, _State.FINISHED):
            self._completed()

    def _completed(self) -> None:
        """
        Every wanted piece is verified: seed, and tell whoever waits.
        """
        verified = self.download.verifiedPieces()
        count = len(verified) if verified is not None else 0
        if count == self.numPieces:
            message = "{name}: download complete, all {count} pieces verified"
        else:
            message = (
                "{name}: download complete, the {count} pieces of the wanted files "
                "verified (some files skipped)"
            )
        self.log.info(message, name=self._logName, count=count)
        if self.state is _State.DOWNLOADING:
            self._move(_In.COMPLETED)
            self.download.stopRequesting()
            self.swarm.seeking = False
            self.sources.completed()
            for peer in list(self.peers):
                if peer.state.pieces.complete():
                    peer.drop("both seeding")
        self._emit(events.Completed(self))
        self._lifecycle.complete()

    def _pieceFailed(self, index: int, contributors: set[Any]) -> None:
        self.log.warn(
            "{name}: piece {index} failed its hash check; downloading it again",
            name=self._logName,
            index=index,
        )
        for peer in contributors:
            self.swarm.strike(peer, 2 if len(contributors) == 1 else 1)

    # Periodic work.

    def tick(self) -> bool:
        """
        Once a second while active (see L{ITickable}): pipelines and snubs,
        seed goals, choking, dialling, asking for peers.

        @return: whether there is periodic work left: a seeding torrent
            without peers or a time goal has none until a peer comes.
        """
        self.download.tick(self._reactor.seconds())
        if self.state is _State.SEEDING:
            why = self.upload.goalReached(self.download.rate.total, self.metainfo.totalLength)
            if why is not None:
                self.log.info("{name}: {why}; done seeding", name=self._logName, why=why)
                self._move(_In.SEED_GOAL)
                self.sources.stop()
                return False
        self._choke()
        self.swarm.connectMore()
        if self.state is _State.DOWNLOADING:
            if self.swarm.shortOfPeers():
                self.sources.wantPeers()
            return True
        # Seeding: peers come to us, and wake us (peerHandshaked).
        return self.state is _State.SEEDING and bool(self.peers or self.upload.seedTime is not None)

    def _choke(self) -> None:
        peers = self.peers
        snubbed = set()
        for peer in peers:
            record = self.download.record(peer)
            if record is not None and record.snubbed:
                snubbed.add(peer)
        self.upload.choke(peers, self.state is _State.SEEDING, snubbed)

    # ISourceOwner.

    def addPeers(self, addresses: Iterable[tuple[str, int]], source: str = "manual") -> None:
        """
        Learn peer addresses and connect to them as room allows.

        @param source: where they came from.
        """
        self.swarm.add(addresses, source)

    def transferStats(self) -> tuple[int, int, int]:
        """
        @return: bytes uploaded, downloaded, and left to download.
        """
        left = self.metainfo.totalLength - self.download.verifiedLength
        return self.upload.rate.total, self.download.rate.total, left

    # Peer events (see bittwist.peerevents.IPeerEvents).

    def peerHandshaked(self, peer: PeerProtocol) -> bool:
        if self.state not in ACTIVE or not self.swarm.admit(peer):
            return False
        self.download.peerJoined(peer)
        self._ticks.wake(self)
        assert peer.address is not None and peer.peerId is not None
        self._emit(events.PeerConnected(self, peer.address, peer.peerId))
        self.log.debug("Connected to {peer}", peer=peer)
        return True

    def ourBitfield(self) -> Optional[Bitfield]:
        return self.download.verifiedPieces()

    def peerBitfield(self, peer: PeerProtocol) -> None:
        if self.state is _State.SEEDING and peer.state.pieces.complete():
            peer.drop("both seeding")
            return
        self.download.peerBitfield(peer)

    def peerHave(self, peer: PeerProtocol, index: int) -> None:
        self.download.peerHave(peer, index)
        if self.state is _State.SEEDING and peer.state.pieces.complete():
            peer.drop("both seeding")

    def peerChoked(self, peer: PeerProtocol, requests: list[tuple[int, int]]) -> None:
        self.download.peerChoked(peer, requests)

    def peerUnchoked(self, peer: PeerProtocol) -> None:
        self.download.peerUnchoked(peer)

    def peerInterestChanged(self, peer: PeerProtocol) -> None:
        self._choke()

    def peerDisconnected(self, peer: PeerProtocol, reason: str) -> None:
        if not self.swarm.removed(peer):
            return
        assert peer.address is not None
        self._emit(events.PeerDisconnected(self, peer.address, reason))
        self.log.debug("Disconnected from {peer}: {reason}", peer=peer, reason=reason)
        self.download.peerLeft(peer)
        self.extensions.peerGone(peer)
        self._choke()

    def blocksReceived(self, peer: PeerProtocol, blocks: list[wire.Piece]) -> None:
        self.download.blocksReceived(peer, blocks)

    def requestsReceived(self, peer: PeerProtocol, requests: list[tuple[int, int, int]]) -> None:
        verified = self.download.verifiedPieces()
        pieceSize = self.metainfo.pieceSize
        for index, begin, length in requests:
            if verified is None or index not in verified:
                if not peer.sender.rejectRequest(index, begin, length):
                    peer.drop(f"requested piece {index}, which we do not have")
                    return
            elif begin + length > pieceSize(index):
                peer.drop(f"requested past the end of piece {index}")
                return

    def requestsQueued(self, peer: PeerProtocol) -> None:
        self.upload.serve(peer)

    def peerWritable(self, peer: PeerProtocol) -> None:
        self.upload.serve(peer)

    def requestRejected(self, peer: PeerProtocol, index: int, begin: int) -> None:
        self.download.requestRejected(peer, index, begin)

    def peerAllowedFast(self, peer: PeerProtocol, index: int) -> None:
        self.download.fill(peer)

    # Snapshots.

    def status(self) -> TorrentStatus:
        """
        @return: a snapshot of this torrent.
        """
        return describeTorrent(self)

    def fileStatuses(self) -> list[FileStatus]:
        """
        @return: each of its files (but pad files) with its size and the
            bytes of it verified.
        """
        return describeFiles(
            self.metainfo, self.download.verifiedPieces(), self.config.filePriorities
        )

    def setFilePriorities(self, priorities: Sequence[int]) -> None:
        """
        Choose which files to download, and which first: per file but pad
        files, in the order of L{fileStatuses}, 0 to skip it (not
        downloaded; not created, unless already on disk), 1 normal, 2 high
        (downloaded before normal ones).  Pieces a skipped file shares with
        a wanted one are downloaded whole.

        Once every wanted piece is verified the torrent seeds what it has
        (C{seeding}); wanting a missing file again downloads it
        (C{downloading}).

        @raise bittwist.errors.UsageError: unless there is one priority of
            0, 1 or 2 per file.
        """
        self.setOptions(filePriorities=tuple(priorities))

    def _filePrioritiesChanged(self) -> None:
        """
        The wanted pieces changed: seed if they are all in, download again
        if some are missing.
        """
        if self.download.verifiedPieces() is None:
            return  # not checked yet: the check decides
        complete = self.download.complete()
        if not complete:
            self._lifecycle.incomplete()
        if self.state is _State.DOWNLOADING and complete:
            self._completed()
        elif self.state in (_State.SEEDING, _State.FINISHED) and not complete:
            # Seeds we dropped as "both seeding" have what we now want.
            self.swarm.resetBackoff()
            self._move(_In.WANT_MORE)
            self.download.refreshInterest()

    def setSequential(self, sequential: bool) -> None:
        """
        Download pieces in order, lowest first (C{True}: to play a file
        while it downloads), or rarest first (C{False}, the default, best
        for the swarm).
        """
        self.setOptions(sequential=sequential)

    def setOptions(self, **changes: Any) -> None:
        """
        Change some of the torrent's L{TorrentConfig} while it runs:
        C{sequential}, C{maxPeers}, C{seedRatio}, C{seedTime},
        C{maxUploadRate}, C{maxDownloadRate}, C{filePriorities} (see
        L{setFilePriorities}).

        @raise bittwist.errors.UsageError: for another option, or a value
            L{TorrentConfig} refuses.
        """
        wantedChanged = self.options.change(changes)
        if self.state in ACTIVE:
            # A new goal is looked at within a tick.
            self._ticks.wake(self)
        if wantedChanged:
            # Last: it may move the torrent to seeding or downloading.
            self._filePrioritiesChanged()

    def trackerStatuses(self) -> list[TrackerStatus]:
        """
        @return: the status of each of the torrent's trackers.
        """
        return self.sources.trackerStatuses()

    def announceNow(self) -> None:
        """
        Ask every peer source for peers now, within each one's limits of
        politeness (a tracker's C{min interval}).
        """
        if self.state in ACTIVE:
            self.sources.wantPeers()

    def peerStatuses(self) -> list[PeerStatus]:
        """
        @return: a snapshot of every connected peer.
        """
        return describePeers(self.peers, self.download)

    def verifiedPieces(self) -> Optional[Bitfield]:
        """
        @return: the verified pieces (do not change it), or C{None} until
            storage was checked.
        """
        return self.download.verifiedPieces()

    def pieces(self) -> Bitfield:
        """
        @return: the verified pieces (do not change it); before the check,
            what storage holds.
        """
        verified = self.download.verifiedPieces()
        return verified if verified is not None else self.storage.have
