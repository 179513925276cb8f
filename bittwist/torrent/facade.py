# -*- test-case-name: tests.test_torrent -*-
"""
L{Torrent}: one download and seed, a small facade over its parts.

The parts each have one job: L{Lifecycle} the states and the table of
moves, L{StateMoves} each move carried out on the other parts,
L{PeriodicWork} the work of every second, L{PeerDispatch} what the peers
report, L{Swarm} the addresses and connections, L{Download} the requests
and verification, L{Upload} choking and serving, L{PeerSources} finding
peers, L{TorrentOptions} the options changed while it runs, L{Observers}
whoever watches. The facade makes and wires them, and is what the session,
the service and the API hold.
"""

from typing import Any, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist.announcer import TrackerStatus
from bittwist.bitfield import Bitfield
from bittwist.config import TorrentConfig
from bittwist.errors import BittwistError
from bittwist.extensions.table import ExtensionTable
from bittwist.factory import PeerDialer
from bittwist.metainfo import Metainfo
from bittwist.peer import PeerProtocol
from bittwist.ratelimit import BucketChain, TokenBucket
from bittwist.sources import IPeerSource, ISourceOwner
from bittwist.sources.pex import PeerExchange
from bittwist.storage import IPieceStorage
from bittwist.torrent.backlog import WriteBacklog
from bittwist.torrent.download import Download
from bittwist.torrent.lifecycle import ACTIVE, Lifecycle, TorrentState
from bittwist.torrent.metadataserver import MetadataServer
from bittwist.torrent.observers import Observer, Observers
from bittwist.torrent.options import TorrentOptions
from bittwist.torrent.peerdispatch import PeerDispatch
from bittwist.torrent.peersources import PeerSources
from bittwist.torrent.periodic import PeriodicWork
from bittwist.torrent.statemoves import StateMoves
from bittwist.torrent.status import (
    FileStatus,
    PeerStatus,
    TorrentStatus,
    describeFiles,
    describePeers,
    describeTorrent,
)
from bittwist.torrent.swarm import CandidateBudget, Swarm
from bittwist.torrent.ticks import ITickService, TickService
from bittwist.torrent.upload import Upload

__all__ = ["Torrent"]


@implementer(ISourceOwner)
class Torrent:
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
    @ivar lifecycle: its state, and those waiting for it to complete.
    @ivar observers: whoever watches its events (see L{addObserver}).
    @ivar moves: carries out its state moves.
    @ivar periodic: its periodic work.
    @ivar peerEvents: what its peer connections report to (their
        L{bittwist.peerevents.IPeerEvents}).
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
        self.storage = storage
        self.peerId = peerId
        self.port = port
        self.infoHash = metainfo.infoHash
        self.numPieces = metainfo.numPieces
        self.lifecycle = Lifecycle(metainfo.name)
        self.observers = Observers()
        # The parts that act on the others read them as they act: made
        # first, since the others report to them.
        self.moves = StateMoves(self)
        self.periodic = PeriodicWork(
            self, reactor, ticks if ticks is not None else TickService(reactor)
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
        self.peerEvents = PeerDispatch(self)
        self.swarm = Swarm(
            self.peerEvents, dialer or PeerDialer(reactor, peerId), config, reactor, candidateBudget
        )
        # Its own limits, within the session's (the buckets it shares).
        self.ownUploadLimit = TokenBucket(reactor, config.maxUploadRate)
        self.ownDownloadLimit = TokenBucket(reactor, config.maxDownloadRate)
        self.download = Download(
            metainfo,
            storage,
            reactor,
            BucketChain(self.ownDownloadLimit, downloadLimit or TokenBucket(reactor)),
            self.moves.pieceVerified,
            self.moves.pieceFailed,
            self.moves.failed,
            writeBacklog,
        )
        self.upload = Upload(
            storage,
            reactor,
            BucketChain(self.ownUploadLimit, uploadLimit or TokenBucket(reactor)),
            config.uploadSlots,
            self.moves.failed,
            seedRatio=config.seedRatio,
            seedTime=config.seedTime,
        )
        # Last: a file that cannot be skipped puts the torrent in error.
        self.options = TorrentOptions(
            metainfo,
            config,
            storage,
            self.download,
            self.upload,
            self.swarm,
            (self.ownUploadLimit, self.ownDownloadLimit),
            self.moves.failed,
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
        return self.lifecycle.state

    @property
    def error(self) -> Optional[BittwistError]:
        """
        Why the torrent is in C{error}, or C{None}.
        """
        return self.lifecycle.error

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
        self.observers.add(observer)

    def removeObserver(self, observer: Observer) -> None:
        """
        Stop calling C{observer} (if it is observing).
        """
        self.observers.remove(observer)

    # State moves (carried out by StateMoves).

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
        return self.moves.start(paused, trusted, rehash)

    def pause(self) -> Deferred[None]:
        """
        Disconnect every peer and stop announcing (trackers hear
        C{stopped}), keeping storage open and every verified piece. A
        downloading, seeding or finished torrent pauses now, a checking one
        once checked; others do not pause.

        @return: fires when the trackers have been told; never fails.
        """
        return self.moves.pause()

    def resume(self) -> None:
        """
        Carry on after L{pause}; seed again after C{finished} (the seed goals
        reached no longer apply); after C{error}, check the data again,
        keeping every verified piece, and carry on.
        """
        self.moves.resume()

    def stop(self) -> Deferred[None]:
        """
        Disconnect every peer, tell the trackers, close storage. Whoever
        waits on L{whenComplete} is told, unless it already fired.

        @return: fires when done; never fails.
        """
        return self.moves.stop()

    def fail(self, error: BittwistError) -> None:
        """
        Put the torrent in C{error} for C{error} (e.g. its data is missing),
        keeping every verified piece; L{resume} checks the data again.
        """
        self.moves.failed(Failure(error))

    def whenComplete(self) -> Deferred[None]:
        """
        @return: fires when every piece is verified (at once if already);
            fails with the error that put the torrent in C{error}, or with
            L{bittwist.errors.TorrentStopped} if it is stopped or removed
            first.
        """
        return self.lifecycle.whenComplete()

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
            self.periodic.wake()
        if wantedChanged:
            # Last: it may move the torrent to seeding or downloading.
            self.moves.wantedChanged()

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
