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

from typing import Any, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from bittwist import events, wire
from bittwist.bitfield import Bitfield
from bittwist.config import TorrentConfig
from bittwist.errors import TorrentStopped
from bittwist.extensions.table import ExtensionTable
from bittwist.factory import PeerDialer
from bittwist.magnet import MagnetLink, torrentFile
from bittwist.peer import PeerProtocol
from bittwist.sources import IPeerSource
from bittwist.torrent.extensionevents import ExtensionEvents
from bittwist.torrent.lifecycle import TorrentState
from bittwist.torrent.metadatafetch import MetadataFetcher
from bittwist.torrent.observers import Observer, Observers
from bittwist.torrent.peersources import PeerSources
from bittwist.torrent.status import PeerStatus, TorrentStatus, describeMagnet, describePeers
from bittwist.torrent.swarm import CandidateBudget, Swarm
from bittwist.announcer import TrackerStatus
from bittwist.waiters import Waiters

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
    @ivar sources: where it finds peers (its L{PeerSources}).
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
        candidateBudget: Optional[CandidateBudget] = None,
    ) -> None:
        """
        @param link: the magnet link.
        @param peerId: our peer id.
        @param reactor: for time and connections.
        @param config: limits.
        @param sources: where to find peers.
        @param dialer: makes outgoing connections.
        @param port: our listening port.
        @param candidateBudget: the peer addresses the session's torrents
            may remember together; no bound but C{config}'s if C{None}.
        """
        self.link = link
        self.infoHash = link.infoHash
        self.name = link.name
        self.peerId = peerId
        self.port = port
        self.config = config
        self.sources = PeerSources(sources)
        self._reactor = reactor
        self.state = TorrentState.STOPPED
        self.error = None
        self.swarm = Swarm(
            self, dialer or PeerDialer(reactor, peerId), config, reactor, candidateBudget
        )
        self.fetcher = MetadataFetcher(self.infoHash, reactor)
        self.extensions = ExtensionTable([self.fetcher])
        self._observers = Observers()
        self._waiting: Waiters[bytes] = Waiters()
        self._torrentFile: Optional[bytes] = None
        self._replacement: Waiters[Any] = Waiters()
        self.torrent: Any = None

    def __repr__(self) -> str:
        return f"<MagnetTorrent {self.name!r} {self.state}>"

    @property
    def peers(self) -> set[PeerProtocol]:
        """
        The peers connected now.
        """
        return self.swarm.peers

    @property
    def peerEvents(self) -> "MagnetTorrent":
        """
        What its peer connections report to: itself (a
        L{bittwist.torrent.facade.Torrent} hands them its
        L{bittwist.torrent.peerdispatch.PeerDispatch}).
        """
        return self

    # Observers, as a Torrent has them.

    def addObserver(self, observer: Observer) -> None:
        self._observers.add(observer)

    def removeObserver(self, observer: Observer) -> None:
        self._observers.remove(observer)

    def _setState(self, state: TorrentState) -> None:
        if state is not self.state:
            self.state = state
            self._observers.emit(events.StateChanged(self, state))

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
        self.sources.start(self)
        self.swarm.connectMore()
        self.fetcher.whenFetched().addCallback(self._fetched)
        self.log.info("{name}: fetching the metadata from peers", name=self.name)
        return succeed(None)

    def _fetched(self, metadata: bytes) -> None:
        if self.state is not TorrentState.FETCHING_METADATA:
            return
        self._torrentFile = torrentFile(metadata, self.link.trackers)
        self._waiting.fire(self._torrentFile)

    def whenMetadata(self) -> Deferred[bytes]:
        """
        @return: fires with the C{.torrent} file once the metadata is in and
            verified; fails with L{TorrentStopped} if stopped first.
        """
        if self._torrentFile is not None:
            return succeed(self._torrentFile)
        return self._waiting.wait()

    def replacedBy(self, torrent: Any) -> None:
        """
        The torrent made from the metadata took over: whoever waits on
        L{whenTorrent} gets it.

        @param torrent: the L{bittwist.torrent.Torrent}.
        """
        self.torrent = torrent
        self._replacement.fire(torrent)

    def whenTorrent(self) -> Deferred[Any]:
        """
        @return: fires with the L{bittwist.torrent.Torrent} that replaces
            this magnet once its metadata is in; fails with
            L{TorrentStopped} if the magnet is stopped first.
        """
        if self.torrent is not None:
            return succeed(self.torrent)
        return self._replacement.wait()

    def stop(self) -> Deferred[None]:
        """
        Stop: drop the peers, stop the sources; whoever waits on
        L{whenMetadata} or L{whenTorrent} hears L{TorrentStopped}.

        @return: fires once the sources stopped; never fails.
        """
        self.fetcher.stop()
        self.swarm.halt("stopped")
        self._setState(TorrentState.STOPPED)
        stopped = TorrentStopped(self.name)
        self._waiting.fail(stopped)
        self._replacement.fail(stopped)
        return self.sources.stop()

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

    def requestsReceived(self, peer: PeerProtocol, requests: list[tuple[int, int, int]]) -> None:
        peer.drop(f"requested piece {requests[0][0]}, which we do not have")

    def requestsQueued(self, peer: PeerProtocol) -> None:
        pass

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
        return describeMagnet(self)

    def peerStatuses(self) -> list[PeerStatus]:
        return describePeers(self.peers)

    def trackerStatuses(self) -> list[TrackerStatus]:
        return self.sources.trackerStatuses()

    def announceNow(self) -> None:
        if self.state is TorrentState.FETCHING_METADATA:
            self.sources.wantPeers()

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
