# -*- test-case-name: tests.test_service -*-
"""
L{BitTorrentService}: BitTorrent as a Twisted service, the point where an
application embeds bittwist.
"""

from typing import Any, Iterable, Optional, Union

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist import metainfo as _metainfo
from bittwist.errors import BittwistError
from bittwist.metainfo import Metainfo
from bittwist.progress import ProgressLogger, formatRate, formatSize
from bittwist.session import Session
from bittwist.torrent import Torrent

__all__ = ["BitTorrentService"]


class BitTorrentService(MultiService):
    """
    Downloads and seeds torrents while running.

    Add it to an application like any service; add torrents before or after
    it starts. It listens for peers on one endpoint shared by its torrents.

    @ivar session: the torrents and their shared peer id and port.
    """

    log = Logger()

    def __init__(
        self,
        endpoint: Union[str, IStreamServerEndpoint] = "tcp:6881",
        reactor: Any = None,
        peerId: Optional[bytes] = None,
        httpClient: Any = None,
        maxPeers: int = 50,
        progressInterval: Optional[float] = 5.0,
    ) -> None:
        """
        @param endpoint: where to accept peers: an endpoint or its string
            description (C{"tcp:6881"}).
        @param reactor: the reactor (the global one by default).
        @param peerId: our peer id (a fresh one by default).
        @param httpClient: a treq-like client for trackers.
        @param maxPeers: the most connections per torrent.
        @param progressInterval: seconds between progress log lines, or
            C{None} for none.
        """
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self._reactor = reactor
        if isinstance(endpoint, str):
            endpoint = serverFromString(reactor, endpoint)
        self._endpoint = endpoint
        self.session = Session(reactor, peerId=peerId, httpClient=httpClient, maxPeers=maxPeers)
        # Whether torrents start when added: once running and listening (or
        # failed to), so that none is started twice.
        self._ready = False
        if progressInterval:
            ProgressLogger(
                lambda: self.session.torrents.values(), reactor, progressInterval
            ).setServiceParent(self)

    def addTorrent(
        self,
        torrent: Union[Metainfo, str, bytes],
        downloadDir: str,
        peers: Iterable[tuple[str, int]] = (),
        announce: bool = True,
    ) -> Torrent:
        """
        Add a torrent; it starts now if the service is running, else when
        the service starts.

        @param torrent: a parsed L{Metainfo}, the path of a C{.torrent} file,
            or its bytes.
        @param downloadDir: the folder its files go in.
        @param peers: peer addresses to connect to besides the trackers'.
        @param announce: whether to use the torrent's trackers.
        @raise bittwist.errors.MetainfoError: if the torrent cannot be read.
        """
        if isinstance(torrent, str):
            torrent = _metainfo.load(torrent)
        elif isinstance(torrent, bytes):
            torrent = _metainfo.parse(torrent)
        added = self.session.addTorrent(torrent, downloadDir, peers=peers, announce=announce)
        if self._ready:
            self._startTorrent(added)
        return added

    def removeTorrent(self, infoHash: bytes, deleteData: bool = False) -> Deferred[None]:
        """
        Stop a torrent and forget it; with C{deleteData}, delete its files.

        @raise bittwist.errors.UsageError: if there is no such torrent.
        """
        return self.session.removeTorrent(infoHash, deleteData)

    def _startTorrent(self, torrent: Torrent) -> None:
        started = self._reactor.seconds()
        torrent.start()

        def complete(_: None) -> None:
            status = torrent.status()
            elapsed = max(self._reactor.seconds() - started, 1e-6)
            self.log.info(
                "{name}: complete and verified: {size} in {elapsed:.1f} s "
                "({rate} average) from {peersUsed} peers, files in {folder}",
                name=status.name,
                size=formatSize(status.totalLength),
                elapsed=elapsed,
                rate=formatRate(status.downloaded / elapsed),
                peersUsed=status.peersUsed,
                folder=getattr(torrent.storage, "downloadDir", "memory"),
            )

        def failed(failure: Failure) -> None:
            if not failure.check(BittwistError):
                self.log.failure("{name} failed", failure, name=torrent.metainfo.name)

        torrent.whenComplete().addCallbacks(complete, failed)

    def startService(self) -> None:
        super().startService()

        def listening(_: object) -> None:
            if not self.running:
                return
            self._ready = True
            for torrent in self.session.torrents.values():
                self._startTorrent(torrent)

        def cannotListen(failure: Failure) -> None:
            self.log.error(
                "Cannot accept peers ({error}); downloading with outgoing "
                "connections only. Choose another --port to accept peers.",
                error=failure.getErrorMessage(),
            )
            listening(None)

        self.session.listen(self._endpoint).addCallbacks(listening, cannotListen)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        self._ready = False
        return self.session.stop()
