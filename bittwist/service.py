# -*- test-case-name: tests.test_service -*-
"""
L{BitTorrentService}: BitTorrent as a Twisted service, the point where an
application embeds bittwist.
"""

import os
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IStreamClientEndpoint, IStreamServerEndpoint

from bittwist.config import SessionConfig
from bittwist.dht.service import DHTService
from bittwist.errors import UsageError
from bittwist.fetch import fetchTorrent
from bittwist.listener import PeerListener, endpointDescription
from bittwist.magnet import MagnetLink, parseMagnet
from bittwist.magnethandoff import MagnetHandOff
from bittwist.metainfo import Metainfo
from bittwist.persistence import SAVE_EVERY_PIECES, SAVE_INTERVAL, TorrentPersistence
from bittwist.progress import ProgressLogger
from bittwist.session import Session, StorageFactory
from bittwist.settingscontrol import SettingsController
from bittwist.state import StateFolder
from bittwist.torrent import Torrent
from bittwist.torrentinput import readTorrent, torrentRecord
from bittwist.torrentstart import TorrentStarter
from bittwist.torrent.magnet import MagnetTorrent

__all__ = ["BitTorrentService", "endpointDescription", "SAVE_INTERVAL", "SAVE_EVERY_PIECES"]


class BitTorrentService(MultiService):
    """
    Downloads and seeds torrents while running.

    Add it to an application like any service; add torrents before or after
    it starts. It listens for peers on one endpoint shared by its torrents.

    With a state folder (see L{bittwist.state}), it remembers its torrents
    (see L{TorrentPersistence}): each is saved when added, paused, resumed
    or completed, every L{SAVE_INTERVAL} seconds and every
    L{SAVE_EVERY_PIECES} pieces while it downloads, and when the service
    stops; when the service starts, every torrent saved there is added
    again, paused ones paused, and those whose files did not change since
    are not hashed again (fast resume).  A magnet becomes a torrent through
    L{MagnetHandOff}; settings change through L{SettingsController}.

    @ivar session: the torrents and their shared peer id and port.
    @ivar state: the state folder, or C{None}.
    @ivar dht: the L{DHTService}, or C{None}.
    @ivar allowPrivateURLs: whether L{addTorrentFromURL} fetches from
        non-public addresses too.
    """

    def __init__(
        self,
        endpoint: Union[str, IStreamServerEndpoint] = "tcp:6881",
        reactor: Any = None,
        config: SessionConfig = SessionConfig(),
        peerId: Optional[bytes] = None,
        httpClient: Any = None,
        progressInterval: Optional[float] = 5.0,
        stateDir: Optional[str] = None,
        storageFactory: Optional[StorageFactory] = None,
        endpointFactory: Optional[Callable[[str, int], IStreamClientEndpoint]] = None,
        dht: Optional[DHTService] = None,
        allowPrivateURLs: bool = False,
    ) -> None:
        """
        @param endpoint: where to accept peers: an endpoint, its string
            description (C{"tcp:6881"}), or a bare port number (C{"6881"}).
        @param reactor: the reactor (the global one by default).
        @param config: rate limits, and each torrent's limits and seed goals.
        @param peerId: our peer id (a fresh one by default).
        @param httpClient: a treq-like client for trackers and for fetching
            torrents by URL (L{addTorrentFromURL}).
        @param progressInterval: seconds between progress log lines, or
            C{None} for none.
        @param stateDir: the folder to remember torrents in across restarts
            (created when first needed), or C{None} to forget them on stop.
        @param storageFactory: makes each torrent's storage (files in its
            download folder by default).
        @param endpointFactory: makes the client endpoint that dials a peer's
            C{(host, port)} (TCP by default).
        @param dht: a DHT node to run as a child service and to find peers
            through (public torrents only), or C{None} for no DHT.
        @param allowPrivateURLs: whether L{addTorrentFromURL} may fetch
            from loopback, private and other non-public addresses (only
            public ones by default, see L{bittwist.addressguard}).
        """
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        self._httpClient = httpClient
        self.allowPrivateURLs = allowPrivateURLs
        self.session = Session(
            reactor,
            config,
            peerId=peerId,
            httpClient=httpClient,
            storageFactory=storageFactory,
            endpointFactory=endpointFactory,
        )
        self._listener = PeerListener(self.session, reactor, endpoint)
        self.dht = dht
        if dht is not None:
            self.session.dht = dht.node
            dht.setServiceParent(self)
        # Whether torrents start when added: once running and listening (or
        # failed to), so that none is started twice.
        self._ready = False
        self.state = None if stateDir is None else StateFolder(stateDir, reactor)
        self._persistence = TorrentPersistence(self.state, self.session, reactor)
        self._settings = SettingsController(self.session, self.state)
        self._starter = TorrentStarter(reactor, self._persistence, self.state)
        self._handOff = MagnetHandOff(
            self.session,
            lambda data, downloadDir, announce: self.addTorrent(data, downloadDir, announce=announce),
        )
        if progressInterval:
            ProgressLogger(
                lambda: self.session.torrents.values(), reactor, progressInterval
            ).setServiceParent(self)

    def addTorrent(
        self,
        torrent: Union[Metainfo, str, os.PathLike[str], bytes],
        downloadDir: Union[str, os.PathLike[str]],
        peers: Iterable[tuple[str, int]] = (),
        announce: bool = True,
        remember: bool = True,
    ) -> Torrent:
        """
        Add a torrent; it starts now if the service is running, else when
        the service starts.

        @param torrent: a parsed L{Metainfo}, the path of a C{.torrent} file
            (a C{str} or a C{pathlib.Path}), or its bytes.
        @param downloadDir: the folder its files go in.
        @param peers: peer addresses to connect to besides the trackers'.
        @param announce: whether to use the torrent's trackers.
        @param remember: whether the state folder remembers it (a throwaway
            torrent, like the demo's, is not).
        @raise bittwist.errors.MetainfoError: if the torrent cannot be read.
        @raise bittwist.errors.UsageError: if the torrent is already added.
        @return: the torrent. With a state folder that remembers it in the
            same download folder, it keeps its saved fast resume data and
            whether it was paused.
        """
        torrent, data = readTorrent(torrent)
        downloadDir = os.path.abspath(downloadDir)
        peers = tuple(peers)
        saved = self.state.read(torrent.infoHash) if self.state is not None and remember else None
        if saved is not None and saved.downloadDir == downloadDir and not peers:
            # Added again without peers: keep those the user gave before.
            peers = saved.peers
        added = self.session.addTorrent(
            torrent, downloadDir, peers=peers, config=self._settings.torrentConfig(announce)
        )
        remembered = remember and self.state is not None
        record = torrentRecord(
            torrent, data, downloadDir, peers, announce, self._reactor.seconds(), remembered, saved
        )
        self._persistence.track(added, record, remember=remember)
        if self._ready:
            self._starter.start(added)
        return added

    def addMagnet(
        self,
        link: Union[str, MagnetLink],
        downloadDir: Union[str, os.PathLike[str]],
        peers: Iterable[tuple[str, int]] = (),
        announce: bool = True,
    ) -> MagnetTorrent:
        """
        Add a torrent by its magnet link: it fetches the metadata from peers
        (the link's trackers and peers, and the DHT), then becomes an
        ordinary torrent, remembered in the state folder with its
        C{.torrent} made of that metadata. It starts now if the service is
        running, else when the service starts.

        @param link: a C{magnet:?xt=urn:btih:...} link, or one parsed.
        @param downloadDir: the folder its files go in.
        @param peers: peer addresses besides the link's.
        @param announce: whether to use the link's trackers.
        @raise bittwist.errors.MagnetError: if the link cannot be used.
        @raise bittwist.errors.UsageError: if the torrent is already added.
        @return: the magnet: its C{whenTorrent()} fires with the torrent
            that replaces it, its C{whenComplete()} when that torrent has
            every piece.
        """
        if isinstance(link, str):
            link = parseMagnet(link)
        downloadDir = os.path.abspath(downloadDir)
        magnet = self.session.addMagnet(link, peers, config=self._settings.torrentConfig(announce))
        self._handOff.watch(magnet, downloadDir, announce)
        if self._ready:
            magnet.start()
        return magnet

    def addTorrentFromURL(
        self, url: str, downloadDir: Union[str, os.PathLike[str]]
    ) -> Deferred[Torrent]:
        """
        Fetch a C{.torrent} from an C{http://} or C{https://} address
        (bounded in size and time, see L{bittwist.fetch}) and add it like
        L{addTorrent}.

        Only public addresses are fetched from, checked at each connection
        (redirects included) on the address connected to, unless the
        service was made with C{allowPrivateURLs}; an C{httpClient} given
        to the service is used as it is, with only C{url}'s own host
        checked.

        @param url: the address of the C{.torrent} file.
        @param downloadDir: the folder its files go in.
        @return: fires with the torrent, or fails with
            L{bittwist.errors.TorrentFetchError} if it cannot be fetched, is
            no torrent, or is at an address refused (its C{kind} is then
            C{"address"}), or L{bittwist.errors.UsageError} if it is already
            added.
        """
        d = fetchTorrent(
            url, self._httpClient, self._reactor, allowPrivate=self.allowPrivateURLs
        )
        return d.addCallback(self.addTorrent, downloadDir)

    def removeTorrent(self, infoHash: bytes, deleteData: bool = False) -> Deferred[None]:
        """
        Stop a torrent and forget it, deleting its state files; with
        C{deleteData}, delete its downloaded files too.

        @raise bittwist.errors.UsageError: if there is no such torrent.
        @return: fires when done; fails with L{bittwist.errors.StorageError}
            if files could not be deleted.
        """
        torrent = self.session.torrents.get(infoHash)
        d = self.session.removeTorrent(infoHash, deleteData)
        forgotten = self._persistence.forget(infoHash, torrent)

        def afterForgotten(result: object) -> Deferred[None]:
            return forgotten.addCallback(lambda _: result)

        return d.addBoth(afterForgotten)

    def pauseTorrent(self, infoHash: bytes) -> Deferred[None]:
        """
        Pause a torrent (see L{Torrent.pause}) and remember it paused: it
        stays paused across restarts until L{resumeTorrent}.

        @raise bittwist.errors.UsageError: if there is no such torrent.
        @return: fires when the trackers have been told; never fails.
        """
        torrent = self._lookup(infoHash)
        self._persistence.setPaused(torrent, True)
        return torrent.pause()

    def setSequential(self, infoHash: bytes, sequential: bool) -> None:
        """
        Download a torrent's pieces in order (to play a file while it
        downloads) or rarest first, and remember the choice across restarts.

        @raise bittwist.errors.UsageError: if there is no such torrent.
        """
        self.setTorrentOptions(infoHash, sequential=sequential)

    def setTorrentOptions(self, infoHash: bytes, **options: Any) -> None:
        """
        Change a torrent's own settings while it runs, and remember them
        across restarts: C{sequential} (pieces in order), C{maxPeers},
        C{seedRatio}, C{seedTime} (seconds; C{None} for no goal),
        C{filePriorities} (see L{setFilePriorities}).

        @raise bittwist.errors.UsageError: if there is no such torrent, or an
            option is unknown or its value refused.
        """
        torrent = self._lookup(infoHash)
        torrent.setOptions(**options)
        if "filePriorities" in options:
            # Saved as JSON: a list.
            options["filePriorities"] = list(torrent.config.filePriorities)
        self._persistence.setOptions(torrent, options)

    def setFilePriorities(self, infoHash: bytes, priorities: Sequence[int]) -> None:
        """
        Choose which files of a torrent to download, and remember it: per
        file, 0 to skip it, 1 normal, 2 high (see
        L{Torrent.setFilePriorities}).

        @raise bittwist.errors.UsageError: if there is no such torrent, or
            not one priority of 0, 1 or 2 per file.
        """
        self.setTorrentOptions(infoHash, filePriorities=list(priorities))

    def setRateLimits(
        self, maxUploadRate: Optional[int] = None, maxDownloadRate: Optional[int] = None
    ) -> None:
        """
        Change the session's rate limits at once (bytes per second for all
        torrents together, 0 for unlimited; C{None} leaves one as it is),
        and remember them in the state folder for the next start.

        @raise bittwist.errors.UsageError: for a negative rate.
        """
        self._settings.setRateLimits(maxUploadRate, maxDownloadRate)

    def resumeTorrent(self, infoHash: bytes) -> None:
        """
        Resume a paused torrent (see L{Torrent.resume}) and remember it.

        @raise bittwist.errors.UsageError: if there is no such torrent.
        """
        torrent = self._lookup(infoHash)
        self._persistence.setPaused(torrent, False)
        torrent.resume()

    def _lookup(self, infoHash: bytes) -> Torrent:
        torrent = self.session.torrents.get(infoHash)
        if torrent is None or self._persistence.record(infoHash) is None:
            raise UsageError(f"no torrent with info hash {infoHash.hex()} in this service")
        return torrent

    def startService(self) -> None:
        """
        Lock the state folder, add the torrents it remembers, listen, and
        start every torrent once listening.

        @raise bittwist.errors.StateFolderError: if the state folder is in
            use by another bittwist, or cannot be used.
        """
        if self.state is not None:
            self.state.open()
        super().startService()
        self._settings.applySaved()
        self._persistence.restore(
            lambda record: self.session.addTorrent(
                record.metainfo,
                record.downloadDir,
                peers=record.peers,
                config=self._settings.recordConfig(record),
            )
        )

        def listening() -> None:
            if not self.running:
                return
            self._ready = True
            for torrent in self.session.torrents.values():
                self._starter.start(torrent)

        self._listener.listen(listening)

    def whenListening(self) -> Deferred[int]:
        """
        @return: fires with the port number once the service accepts peers,
            or fails with L{bittwist.errors.ListenError} if it cannot (then
            no torrent starts).
        """
        return self._listener.whenListening()

    def stopService(self) -> Deferred[None]:
        children = super().stopService()
        self._ready = False
        self._listener.stop()
        self._persistence.stop()
        # Wait for the children too (the web page's port, for one).
        d = DeferredList([children, self.session.stop()], consumeErrors=True)
        d.addCallback(lambda _: None)
        # Now that storage is closed, the files' times cover every piece.
        return d.addCallback(lambda _: self._persistence.saveAll(self.session.torrents.values()))
