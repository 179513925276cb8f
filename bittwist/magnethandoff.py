# -*- test-case-name: tests.test_service -*-
"""
L{MagnetHandOff}: a magnet, once its metadata is fetched, replaced by the
torrent made of it.
"""

from typing import Callable

from twisted.logger import Logger

from bittwist.errors import BittwistError, TorrentStopped
from bittwist.safetext import printable
from bittwist.session import Session
from bittwist.torrent import Torrent
from bittwist.torrent.magnet import MagnetTorrent

__all__ = ["MagnetHandOff"]


class MagnetHandOff:
    """
    Waits for a magnet's metadata, then adds the torrent made of it (which
    the state folder remembers like any other), hands it the addresses the
    magnet knew, and stops the magnet.
    """

    log = Logger()

    def __init__(self, session: Session, addTorrent: Callable[[bytes, str, bool], Torrent]) -> None:
        """
        @param session: the session holding the magnets.
        @param addTorrent: adds a torrent, given its C{.torrent} bytes, its
            download folder and whether it uses its trackers.
        """
        self._session = session
        self._addTorrent = addTorrent

    def watch(self, magnet: MagnetTorrent, downloadDir: str, announce: bool) -> None:
        """
        Hand C{magnet} over to a torrent once its metadata comes; nothing
        if it is removed or stopped before.
        """
        d = magnet.whenMetadata()
        d.addCallback(self._metadataFetched, magnet, downloadDir, announce)
        d.addErrback(lambda failure: failure.trap(TorrentStopped) and None)

    def _metadataFetched(
        self, data: bytes, magnet: MagnetTorrent, downloadDir: str, announce: bool
    ) -> None:
        addresses = magnet.knownAddresses()
        self._session.replaceMagnet(magnet)
        try:
            torrent = self._addTorrent(data, downloadDir, announce)
        except BittwistError as e:
            # The metadata matched the info hash, so it is what the link
            # names; a torrent we cannot take (too big, paths refused) is
            # the user's to know about.
            self.log.error("{name}: {error}", name=printable(magnet.name), error=str(e))
            magnet.stop()
            return
        for source, group in addresses:
            torrent.addPeers(group, source)
        magnet.replacedBy(torrent)
        magnet.stop()
        self.log.info(
            "{name}: metadata received from peers; the torrent is saved and downloads",
            name=printable(torrent.metainfo.name),
        )
