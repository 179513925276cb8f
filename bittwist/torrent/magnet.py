# -*- test-case-name: tests.test_magnettorrent -*-
"""
A torrent known by its magnet link alone, until its metadata arrives.

L{MagnetTorrent} finds peers as any torrent does (its link's trackers and
peers, later the DHT), connects to them through a L{Swarm}, and asks those
that offer it for the metadata with the C{ut_metadata} extension
(L{MetadataFetcher}). Once the metadata is in and matches the info hash,
L{MagnetTorrent.whenMetadata} fires with the C{.torrent} file made of it,
and the session replaces the magnet by an ordinary L{Torrent}, handing it
the addresses found so far.

It has no pieces and stores nothing: peers' bitfields and haves are ignored
(see L{bittwist.peerstate.PeerState}), their requests go unanswered, and
nothing they send is kept but metadata pieces, which are bounded.
"""

from typing import Any, Callable, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist import events, wire
from bittwist.bitfield import Bitfield
from bittwist.config import TorrentConfig
from bittwist.errors import TorrentStopped
from bittwist.extensions.table import ExtensionTable
from bittwist.factory import PeerDialer
from bittwist.magnet import MagnetLink, torrentFile
from bittwist.peer import PeerProtocol
from bittwist.sources import IPeerSource, trackerStatusesOf
from bittwist.torrent.extensionevents import ExtensionEvents
from bittwist.torrent.lifecycle import TorrentState
from bittwist.torrent.metadatafetch import MetadataFetcher
from bittwist.torrent.status import PeerStatus, TorrentStatus, describePeer
from bittwist.torrent.swarm import Swarm
from bittwist.tracker import TrackerStatus

__all__ = ["MagnetTorrent", "LEFT_WHILE_FETCHING"]

LEFT_WHILE_FETCHING = 16384
"""
The C{left} announced while the size is unknown: not 0, which would make
us a seed in the tracker's eyes.
"""


class MagnetTorrent(ExtensionEvents):
    """
    Fetches a torrent's metadata from the swarm.

    @ivar link: the magnet link.
    @ivar infoHash: the torrent's info hash.
    @ivar name: the link's display name, or the info hash in hex.
    @ivar peerId: our peer id.
    @ivar port: our listening port, as announced.
    @ivar config: the limits of the swarm (and, later, of the torrent).
    @ivar sources: where it finds peers.
    @ivar swarm: its addresses and connections.
    @ivar fetcher: the C{ut_metadata} extension that fetches the metadata.
    @ivar numPieces: always C{None}: unknown until the metadata is in.
    """

    log = Logger()
    numPieces = None
    metainfo = None

    def __init__(
        self,
        link: MagnetLink,
        peerId: bytes,
        reactor: Any,
        config: TorrentConfig = TorrentConfig(),
        sources: Sequence[IPeerSource] = (),
        dialer: Optional[PeerDialer] = None,
        port: int = 0,
    ) -> None:
        """
        @param link: the magnet link.
        @param peerId: our peer id.
        @param reactor: for time and connections.
        @param config: limits.
        @param sources: where to find peers.
        @param dialer: makes outgoing connections.
        @param port: our listening port.
        """
        self.link = link
        self.infoHash = link.infoHash
        self.name = link.name
        self.peerId = peerId
        self.port = port
        self.config = config
        self.sources = list(sources)
        self._reactor = reactor
        self.state = TorrentState.STOPPED
        self.error = None
        self.swarm = Swarm(self, dialer or PeerDialer(reactor, peerId), config, reactor)
        self.fetcher = MetadataFetcher(self.infoHash, reactor)
        self.extensions = ExtensionTable([self.fetcher])
        self._observers: list[Callable[[events.TorrentEvent], None]] = []
        self._waiting: list[Deferred[bytes]] = []
        self._torrentFile: Optional[bytes] = None
        self._replacement: list[Deferred[Any]] = []
        self.torrent: Any = None

    def __repr__(self) -> str:
        return f"<MagnetTorrent {self.name!r} {self.state}>"

    @property
    def peers(self) -> set[PeerProtocol]:
        """
        The peers connected now.
        """
        return self.swarm.peers

    # Observers, as a Torrent has them.

    def addObserver(self, observer: Callable[[events.TorrentEvent], None]) -> None:
        self._observers.append(observer)

    def removeObserver(self, observer: Callable[[events.TorrentEvent], None]) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def _setState(self, state: TorrentState) -> None:
        if state is self.state:
            return
        self.state = state
        event = events.StateChanged(self, state)
        for observer in list(self._observers):
            observer(event)

    # Life.

    def start(self) -> Deferred[None]:
        """
        Look for peers and fetch the metadata.

        @return: fires at once.
        """
        if self.state is TorrentState.FETCHING_METADATA or self._torrentFile is not None:
            return succeed(None)
        self._setState(TorrentState.FETCHING_METADATA)
        self.swarm.seeking = True
        for source in self.sources:
            source.start(self)
        self.swarm.connectMore()
        self.fetcher.whenFetched().addCallback(self._fetched)
        self.log.info("{name}: fetching the metadata from peers", name=self.name)
        return succeed(None)

    def _fetched(self, metadata: bytes) -> None:
        if self.state is not TorrentState.FETCHING_METADATA:
            return
        self._torrentFile = torrentFile(metadata, self.link.trackers)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self._torrentFile)

    def whenMetadata(self) -> Deferred[bytes]:
        """
        @return: fires with the C{.torrent} file once the metadata is in and
            verified; fails with L{TorrentStopped} if stopped first.
        """
        if self._torrentFile is not None:
            return succeed(self._torrentFile)
        d: Deferred[bytes] = Deferred()
        self._waiting.append(d)
        return d

    def replacedBy(self, torrent: Any) -> None:
        """
        The torrent made from the metadata took over: whoever waits on
        L{whenTorrent} gets it.

        @param torrent: the L{bittwist.torrent.Torrent}.
        """
        self.torrent = torrent
        waiting, self._replacement = self._replacement, []
        for d in waiting:
            d.callback(torrent)

    def whenTorrent(self) -> Deferred[Any]:
        """
        @return: fires with the L{bittwist.torrent.Torrent} that replaces
            this magnet once its metadata is in; fails with
            L{TorrentStopped} if the magnet is stopped first.
        """
        if self.torrent is not None:
            return succeed(self.torrent)
        d: Deferred[Any] = Deferred()
        self._replacement.append(d)
        return d

    def stop(self) -> Deferred[None]:
        """
        Stop: drop the peers, stop the sources; whoever waits on
        L{whenMetadata} or L{whenTorrent} hears L{TorrentStopped}.

        @return: fires once the sources stopped; never fails.
        """
        self.fetcher.stop()
        self.swarm.halt("stopped")
        self._setState(TorrentState.STOPPED)
        waiting = self._waiting + (self._replacement if self.torrent is None else [])
        self._waiting, self._replacement = [], []
        for d in waiting:
            d.errback(Failure(TorrentStopped(self.name)))
        d = DeferredList([source.stop() for source in self.sources], consumeErrors=True)
        return d.addCallback(lambda _: None)

    def knownAddresses(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """
        @return: the addresses found so far (connected ones first), grouped
            by source, for the torrent that takes over.
        """
        groups: dict[str, list[tuple[str, int]]] = {}
        for address, source in self.swarm.addresses():
            groups.setdefault(source, []).append(address)
        return list(groups.items())

    # What peer sources see (ISourceOwner).

    def addPeers(self, addresses: Iterable[tuple[str, int]], source: str = "manual") -> None:
        self.swarm.add(addresses, source)

    def transferStats(self) -> tuple[int, int, int]:
        return 0, 0, LEFT_WHILE_FETCHING

    # Peer events (IPeerEvents): only the handshake and extensions matter.

    def peerHandshaked(self, peer: PeerProtocol) -> bool:
        return self.state is TorrentState.FETCHING_METADATA and self.swarm.admit(peer)

    def ourBitfield(self) -> Optional[Bitfield]:
        return None

    def peerBitfield(self, peer: PeerProtocol) -> None:
        pass

    def peerHave(self, peer: PeerProtocol, index: int) -> None:
        pass

    def peerChoked(self, peer: PeerProtocol, requests: list[tuple[int, int]]) -> None:
        pass

    def peerUnchoked(self, peer: PeerProtocol) -> None:
        pass

    def peerInterestChanged(self, peer: PeerProtocol) -> None:
        pass

    def blocksReceived(self, peer: PeerProtocol, blocks: list[wire.Piece]) -> None:
        # Never asked for: PeerState refuses unrequested blocks before this.
        peer.drop("sent piece data while we fetch the metadata")

    def requestReceived(self, peer: PeerProtocol, index: int, begin: int, length: int) -> None:
        peer.drop(f"requested piece {index}, which we do not have")

    def peerWritable(self, peer: PeerProtocol) -> None:
        pass

    def requestRejected(self, peer: PeerProtocol, index: int, begin: int) -> None:
        pass

    def peerAllowedFast(self, peer: PeerProtocol, index: int) -> None:
        pass

    def peerDisconnected(self, peer: PeerProtocol, reason: str) -> None:
        if self.swarm.removed(peer):
            self.extensions.peerGone(peer)
            self.swarm.connectMore()

    # Snapshots, as a Torrent gives them.

    def status(self) -> TorrentStatus:
        """
        @return: a snapshot: no size yet; C{progress} is the metadata's.
        """
        return TorrentStatus(
            name=self.name,
            infoHash=self.infoHash.hex(),
            state=self.state,
            totalLength=0,
            verifiedLength=0,
            piecesVerified=0,
            numPieces=0,
            downloadRate=0.0,
            uploadRate=0.0,
            downloaded=0,
            uploaded=0,
            peers=len(self.peers),
            knownPeers=self.swarm.knownCount,
            hashFailures=0,
            error=None,
            metadataProgress=self.fetcher.progress,
        )

    def peerStatuses(self) -> list[PeerStatus]:
        return [describePeer(peer) for peer in self.peers]

    def trackerStatuses(self) -> list[TrackerStatus]:
        return trackerStatusesOf(self.sources)

    def announceNow(self) -> None:
        if self.state is TorrentState.FETCHING_METADATA:
            for source in self.sources:
                source.wantPeers()

    def fileStatuses(self) -> list:
        """
        @return: no file: they are unknown until the metadata is in.
        """
        return []

    def pieces(self) -> Bitfield:
        return Bitfield(0)

    def whenComplete(self) -> Deferred[None]:
        """
        @return: fires when the torrent that replaces this magnet has every
            piece verified; fails as L{whenTorrent} does, or as that
            torrent's C{whenComplete} does.
        """
        return self.whenTorrent().addCallback(lambda torrent: torrent.whenComplete())
