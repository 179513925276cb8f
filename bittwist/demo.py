# -*- test-case-name: tests.test_demo -*-
"""
A local demo swarm: a tracker and a seeder on 127.0.0.1 sharing a generated
payload, so that C{twistd -n bittorrent} with no torrent of one's own shows a
real download (TCP, HTTP tracker, disk) from start to finish.
"""

import os
import tempfile
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from bittwist import metainfo
from bittwist.service import BitTorrentService
from bittwist.trackerserver import makeTrackerSite
from bittwist.waiters import Waiters

__all__ = ["DemoSwarm", "makeDemoPayload"]

DEMO_NAME = "bittwist-demo"
DEMO_UPLOAD_RATE = 3 * 2**20
"""
The demo seeder's upload limit: slow enough to watch the download for ten
seconds or so.
"""

DEMO_FILES = {
    "README.txt": 1000,
    "photos/sunrise.raw": 9 * 2**20 + 12345,
    "video/clip.bin": 22 * 2**20 + 777,
}


def makeDemoPayload(root: str, files: dict[str, int] = DEMO_FILES) -> str:
    """
    Write random files under C{root}/L{DEMO_NAME}.

    @return: the payload's folder.
    """
    top = os.path.join(root, DEMO_NAME)
    for relative, size in files.items():
        path = os.path.join(top, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            remaining = size
            while remaining:
                chunk = min(remaining, 2**20)
                f.write(os.urandom(chunk))
                remaining -= chunk
    return top


class DemoSwarm(MultiService):
    """
    A tracker and a bittwist seeder on 127.0.0.1, with a generated payload.

    Start it, wait for L{whenReady}, then download L{torrentData} with any
    client, using L{seederAddress} or the tracker in the torrent.

    @ivar torrentData: the demo torrent, once ready.
    @ivar seederAddress: where the seeder accepts peers, once ready.
    @ivar folder: the folder holding the seeder's payload and the torrent.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        folder: str | None = None,
        files: dict[str, int] = DEMO_FILES,
        uploadRate: int = DEMO_UPLOAD_RATE,
    ) -> None:
        """
        @param reactor: the reactor.
        @param folder: where the payload and the torrent go (a new
            temporary folder by default).
        @param files: the payload's files and their sizes.
        @param uploadRate: the seeder's upload limit in bytes per second (0
            for none), so that a person can watch the download.
        """
        super().__init__()
        self._reactor = reactor
        self._files = files
        self.folder = folder or tempfile.mkdtemp(prefix="bittwist-demo-")
        self.torrentData: bytes | None = None
        self.seederAddress: tuple[str, int] | None = None
        self._tracker: IListeningPort | None = None
        self._seeder = BitTorrentService(
            "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None
        )
        self._seeder.session.uploadLimit.setRate(uploadRate)
        self._seeder.setServiceParent(self)
        self._waiting: Waiters[None] = Waiters()

    def whenReady(self) -> Deferred[None]:
        """
        @return: fires when the seeder is seeding.
        """
        if self.seederAddress is not None:
            return succeed(None)
        return self._waiting.wait()

    def startService(self) -> None:
        site = makeTrackerSite(self._reactor, interval=60)
        # The demo's own announces are not news to the person watching.
        site.log = lambda request: None  # type: ignore[method-assign]
        self._tracker = self._reactor.listenTCP(0, site, interface="127.0.0.1")
        announce = f"http://127.0.0.1:{self._tracker.getHost().port}/announce"
        seedRoot = os.path.join(self.folder, "seed")
        payload = makeDemoPayload(seedRoot, self._files)
        self.torrentData = metainfo.createTorrent(
            payload, trackers=[announce], comment="bittwist local demo"
        )
        with open(os.path.join(self.folder, DEMO_NAME + ".torrent"), "wb") as f:
            f.write(self.torrentData)
        self.log.info(
            "Demo swarm: tracker {announce}, payload in {payload}",
            announce=announce,
            payload=payload,
        )
        torrent = self._seeder.addTorrent(self.torrentData, seedRoot)
        super().startService()

        def seeding(_: None) -> None:
            self.seederAddress = ("127.0.0.1", self._seeder.session.port)
            self._waiting.fire(None)

        torrent.whenComplete().addCallback(seeding)

    def stopService(self) -> Deferred[None]:
        d = super().stopService()
        if self._tracker is not None:
            tracker, self._tracker = self._tracker, None
            d.addCallback(lambda _: tracker.stopListening())
        return d
