"""
bittwist against a real third-party peer: the libtorrent wheel from PyPI, in
this process, on 127.0.0.1, behind bittwist's HTTP tracker.
"""

import os

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from bittwist.config import SessionConfig
from bittwist.mse import Policy
from bittwist.service import BitTorrentService
from bittwist.trackerserver import makeTrackerSite
from tests.corruptingproxy import CorruptingProxy
from tests.ltpeer import LibtorrentPeer, digestTree, createTorrentWithLibtorrent, makePayload
from tests.polling import pollUntil

FILES = {
    "alpha.bin": 1_500_000,
    "docs/beta.txt": 700_001,
    "docs/deep/gamma.dat": 2_100_000,
    "empty.txt": 0,
    "z.bin": 333,
}


class DownloadFromLibtorrentTests(TestCase):
    """
    bittwist downloads from a libtorrent seeder over loopback TCP.
    """

    timeout = 120

    @inlineCallbacks
    def seed(self, trackers=(), v1Only=False):
        """
        Make a payload and a torrent with libtorrent, and seed it with
        libtorrent.

        @return: (torrent bytes, seed folder, the seeding L{LibtorrentPeer}).
        """
        seedDir = os.path.abspath(self.mktemp())
        makePayload(os.path.join(seedDir, "payload"), FILES, seed=7)
        data = createTorrentWithLibtorrent(
            seedDir, "payload", trackers=list(trackers), pieceLength=65536, v1Only=v1Only
        )
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor)
        yield seeder.start()
        self.addCleanup(seeder.stop)
        return data, seedDir, seeder

    def download(self, data, peers=(), announce=True, encryption=Policy.PREFER):
        """
        Start a bittwist service downloading C{data} into a new folder.

        @param encryption: the session's MSE/PE policy.
        @return: (the service, the torrent, the download folder).
        """
        downloadDir = os.path.abspath(self.mktemp())
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1",
            reactor=reactor,
            progressInterval=None,
            config=SessionConfig(encryption=encryption),
        )
        torrent = service.addTorrent(data, downloadDir, peers=peers, announce=announce)
        service.startService()
        self.addCleanup(service.stopService)
        return service, torrent, downloadDir

    @inlineCallbacks
    def test_multiFileThroughTracker(self):
        """
        A multi-file hybrid torrent (with pad files) seeded by libtorrent and
        announced to a real HTTP tracker on loopback arrives byte for byte,
        and no pad file is created.
        """
        port = reactor.listenTCP(0, makeTrackerSite(reactor), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        announce = f"http://127.0.0.1:{port.getHost().port}/announce"
        data, seedDir, seeder = yield self.seed(trackers=[announce])
        # Wait for the seeder to be known to the tracker before we ask it.
        yield pollUntil(lambda: seeder.status().current_tracker, 30, "the seeder to announce")
        service, torrent, downloadDir = self.download(data)
        yield torrent.whenComplete()
        self.assertEqual(digestTree(downloadDir), digestTree(seedDir))
        self.assertFalse(os.path.exists(os.path.join(downloadDir, "payload", ".pad")))
        self.assertEqual(torrent.status().hashFailures, 0)
        self.assertEqual(torrent.state, "seeding")
        self.assertTrue(torrent.metainfo.isHybrid)

    @inlineCallbacks
    def test_corruptedPieceIsFetchedAgain(self):
        """
        A block corrupted in transit makes its piece fail the hash check;
        the piece is downloaded again and the files still match.
        """
        data, seedDir, seeder = yield self.seed(v1Only=True)
        proxy = CorruptingProxy(reactor, seeder.port, corruptIndex=5)
        port = reactor.listenTCP(0, proxy, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        # The proxy reads the plaintext protocol to find the block to
        # corrupt.
        service, torrent, downloadDir = self.download(
            data, peers=[("127.0.0.1", port.getHost().port)], announce=False, encryption=Policy.OFF
        )
        yield torrent.whenComplete()
        self.assertEqual(proxy.framer.corrupted, 1)
        self.assertEqual(torrent.status().hashFailures, 1)
        self.assertEqual(digestTree(downloadDir), digestTree(seedDir))
