# -*- test-case-name: tests.test_session -*-
"""
A session: our peer id, one listening port, and the torrents by info_hash.
"""

import os
import secrets
import string
from typing import Any, Callable, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IStreamClientEndpoint, IStreamServerEndpoint
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory
from treq.client import HTTPClient

from bittwist import __version__
from bittwist.config import SessionConfig, TorrentConfig
from bittwist.errors import UsageError
from bittwist.encryption import EncryptedServerFactory
from bittwist.factory import PeerDialer, PeerServerFactory
from bittwist.mse import Policy
from bittwist.magnet import MagnetLink
from bittwist.metainfo import Metainfo
from bittwist.peerevents import IPeerEvents
from bittwist.ratelimit import TokenBucket
from bittwist.readpacer import ReadPacer
from bittwist.sources import IPeerSource, ManualSource, TrackerSource
from bittwist.sources.dht import dhtSourceFor
from bittwist.storage import FileStorage, IPieceStorage
from bittwist.torrent import Torrent
from bittwist.torrent.backlog import WriteBacklog
from bittwist.torrent.magnet import MagnetTorrent
from bittwist.torrent.swarm import CandidateBudget
from bittwist.torrent.ticks import TickService

__all__ = ["Session", "makePeerId"]

_ALPHABET = (string.ascii_letters + string.digits).encode("ascii")


def makePeerId() -> bytes:
    """
    @return: a fresh 20-byte peer id in the Azureus style that most clients
        use (C{-BW0100-} then 12 random characters), so that peers and
        trackers can tell which client we are.
    """
    digits = "".join(__version__.split(".")[:3]).ljust(4, "0")[:4]
    prefix = f"-BW{digits}-".encode("ascii")
    return prefix + bytes(secrets.choice(_ALPHABET) for _ in range(20 - len(prefix)))


class _QuietHTTP11ClientFactory(_HTTP11ClientFactory):
    """
    Twisted's HTTP client factory without its two log lines per request.
    """

    noisy = False


class _QuietConnectionPool(HTTPConnectionPool):
    """
    A connection pool whose connections do not log (the subclass Twisted's
    HTTP client howto shows for this).
    """

    _factory = _QuietHTTP11ClientFactory


def _trackerClient(reactor: Any) -> HTTPClient:
    """
    @return: a treq client for trackers. Announces are minutes apart, so
        connections are not kept open between them.
    """
    return HTTPClient(Agent(reactor, pool=_QuietConnectionPool(reactor, persistent=False)))


StorageFactory = Callable[[Metainfo, str], IPieceStorage]
"""
Makes the storage of a torrent from its metainfo and download folder.
"""


class Session:
    """
    The torrents of one bittwist instance, sharing a peer id and a port.

    @ivar peerId: our peer id.
    @ivar config: what the torrents share, and the configuration each
        torrent gets unless told otherwise.
    @ivar torrents: the torrents, by info_hash.
    @ivar port: the listening port number (0 until L{listen}).
    @ivar uploadLimit: the upload rate limit of every torrent together
        (C{uploadLimit.setRate(bytesPerSecond)}; 0 is unlimited).
    @ivar downloadLimit: the download rate limit of every torrent together.
    @ivar dialer: makes the outgoing peer connections of every torrent.
    @ivar candidateBudget: the peer addresses every torrent remembers
        together (L{SessionConfig.maxCandidates}).
    @ivar dht: the DHT node (a L{bittwist.dht.IDHTNode}) that torrents added
        from now on use as a peer source, unless private; C{None} for none.
    @ivar ticks: the one timer of every torrent's periodic work, ticking
        only the torrents that have some.
    @ivar writeBacklog: the bytes every torrent received and has not yet
        written, under one bound.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        config: SessionConfig = SessionConfig(),
        peerId: Optional[bytes] = None,
        httpClient: Any = None,
        storageFactory: Optional[StorageFactory] = None,
        endpointFactory: Optional[Callable[[str, int], IStreamClientEndpoint]] = None,
    ) -> None:
        """
        @param config: see L{config}.
        @param peerId: our peer id (a fresh one by default).
        @param httpClient: a treq-like client for trackers.
        @param storageFactory: makes each torrent's storage (a
            L{FileStorage} in its download folder by default).
        @param endpointFactory: makes the client endpoint to dial a peer's
            C{(host, port)} (TCP by default).
        """
        self._reactor = self.reactor = reactor
        self.config = config
        self.peerId = peerId or makePeerId()
        self._httpClient = httpClient if httpClient is not None else _trackerClient(reactor)
        self._storageFactory = storageFactory or (
            lambda metainfo, folder: FileStorage(metainfo, folder, reactor=reactor)
        )
        self.uploadLimit = TokenBucket(reactor, config.maxUploadRate)
        self.downloadLimit = TokenBucket(reactor, config.maxDownloadRate)
        # One budget for the reads of a reactor turn, every connection's.
        self.readPacer = ReadPacer(reactor)
        self.dialer = PeerDialer(
            reactor, self.peerId, endpointFactory, encryption=config.encryption, pacer=self.readPacer
        )
        self.candidateBudget = CandidateBudget(config.maxCandidates)
        self.ticks = TickService(reactor)
        # One bound on the bytes waiting for the disk, whatever the number
        # of torrents downloading.
        self.writeBacklog = WriteBacklog()
        self.torrents: dict[bytes, Torrent] = {}
        self.port = 0
        self._listening: Optional[IListeningPort] = None
        self.dht: Any = None

    def _lookup(self, infoHash: bytes) -> Optional[IPeerEvents]:
        """
        @return: what an incoming connection for C{infoHash} reports to, if
            the torrent is in the session.
        """
        torrent = self.torrents.get(infoHash)
        return torrent.peerEvents if torrent is not None else None

    def serverFactory(self) -> ServerFactory:
        """
        @return: a factory for incoming peer connections to this session,
            telling MSE/PE handshakes from plaintext ones unless encryption
            is off.
        """
        factory = PeerServerFactory(self._reactor, self.peerId, self._lookup, pacer=self.readPacer)
        if self.config.encryption is Policy.OFF:
            return factory
        return EncryptedServerFactory(
            factory, self.torrents.keys, self.config.encryption, reactor=self._reactor
        )

    def listen(self, endpoint: IStreamServerEndpoint) -> Deferred[IListeningPort]:
        """
        Accept peer connections on C{endpoint}.
        """

        def listening(port: IListeningPort) -> IListeningPort:
            self._listening = port
            self.port = port.getHost().port
            for torrent in self.torrents.values():
                torrent.port = self.port
            self.log.info("Accepting peers on port {port}", port=self.port)
            return port

        return endpoint.listen(self.serverFactory()).addCallback(listening)

    def addTorrent(
        self,
        metainfo: Metainfo,
        downloadDir: str,
        peers: Iterable[tuple[str, int]] = (),
        config: Optional[TorrentConfig] = None,
        storage: Optional[IPieceStorage] = None,
    ) -> Torrent:
        """
        Add a torrent (not yet started: call its C{start}).

        @param metainfo: the torrent.
        @param downloadDir: the folder its files go in.
        @param peers: peer addresses to connect to besides the trackers'.
        @param config: how it behaves (the session's L{SessionConfig.torrent}
            by default).
        @param storage: where the data goes (made by the session's storage
            factory by default).
        @raise UsageError: if the torrent is already in the session.
        """
        if metainfo.infoHash in self.torrents:
            raise UsageError(f"{metainfo.name}: this torrent is already added")
        if config is None:
            config = self.config.torrent
        if storage is None:
            storage = self._storageFactory(metainfo, os.path.abspath(downloadDir))
        sources = self._peerSources(
            metainfo.announceTiers if config.announce else (), tuple(peers), metainfo.private
        )
        torrent = Torrent(
            metainfo,
            storage,
            self.peerId,
            self._reactor,
            config,
            sources=sources,
            dialer=self.dialer,
            uploadLimit=self.uploadLimit,
            downloadLimit=self.downloadLimit,
            port=self.port,
            candidateBudget=self.candidateBudget,
            ticks=self.ticks,
            writeBacklog=self.writeBacklog,
        )
        self.torrents[metainfo.infoHash] = torrent
        return torrent

    def _peerSources(
        self, tiers: Sequence[Sequence[str]], peers: tuple[tuple[str, int], ...], private: bool
    ) -> list[IPeerSource]:
        """
        @param tiers: the tracker tiers to announce to; none to use no tracker.
        @param peers: peer addresses given by the user or the link.
        @param private: whether the torrent is private (no DHT).
        @return: the peer sources of a torrent: its trackers, the peers
            given, and the DHT if there is one and the torrent is public.
        """
        sources: list[IPeerSource] = []
        if tiers:
            sources.append(TrackerSource(tiers, self._reactor, self._httpClient))
        if peers:
            sources.append(ManualSource(peers))
        dht = dhtSourceFor(private, self.dht, self._reactor)
        if dht is not None:
            sources.append(dht)
        return sources

    def addMagnet(
        self,
        link: MagnetLink,
        peers: Iterable[tuple[str, int]] = (),
        config: Optional[TorrentConfig] = None,
    ) -> MagnetTorrent:
        """
        Add a torrent known by its magnet link alone (not yet started: call
        its C{start}); it fetches the metadata, and the caller then replaces
        it with L{replaceMagnet} and L{addTorrent}.

        @param link: the magnet link.
        @param peers: peer addresses besides the link's and the trackers'.
        @param config: how it behaves.
        @raise UsageError: if the torrent is already in the session.
        """
        if link.infoHash in self.torrents:
            raise UsageError(f"{link.name}: this torrent is already added")
        if config is None:
            config = self.config.torrent
        # Whether the torrent is private is unknown until its metadata is
        # in; a magnet link is public by nature (BEP 9).
        sources = self._peerSources(
            [[url] for url in link.trackers] if config.announce else (),
            tuple(link.peers) + tuple(peers),
            False,
        )
        magnet = MagnetTorrent(
            link,
            self.peerId,
            self._reactor,
            config,
            sources=sources,
            dialer=self.dialer,
            port=self.port,
            candidateBudget=self.candidateBudget,
        )
        self.torrents[link.infoHash] = magnet  # type: ignore[assignment]
        return magnet

    def replaceMagnet(self, magnet: MagnetTorrent) -> None:
        """
        Forget C{magnet} (its metadata is in) so that the torrent made of it
        can be added; the caller stops it once that torrent took over.
        """
        if self.torrents.get(magnet.infoHash) is magnet:
            del self.torrents[magnet.infoHash]

    def removeTorrent(self, infoHash: bytes, deleteData: bool = False) -> Deferred[None]:
        """
        Stop a torrent and forget it; with C{deleteData}, delete its files
        too.

        @raise UsageError: if the torrent is not in the session.
        @return: fires when done; fails with L{bittwist.errors.StorageError}
            if files could not be deleted.
        """
        torrent = self.torrents.pop(infoHash, None)
        if torrent is None:
            raise UsageError(f"no torrent with info hash {infoHash.hex()} in this session")
        d = torrent.stop()
        if deleteData and torrent.metainfo is not None:
            # (A magnet has no metadata, hence no files yet.)
            d.addCallback(lambda _: torrent.storage.removeData())
        return d

    def stop(self) -> Deferred[None]:
        """
        Stop every torrent and the listening port.

        @return: fires when everything is closed; never fails.
        """
        waits = [torrent.stop() for torrent in self.torrents.values()]
        # The torrents' peers are closing: nobody waits for the limits now.
        self.uploadLimit.clear()
        self.downloadLimit.clear()
        if self._listening is not None:
            # IListeningPort.stopListening may return a Deferred, or not.
            waits.append(maybeDeferred(self._listening.stopListening))
            self._listening = None
        if not waits:
            return succeed(None)
        return DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)
