"""
Choosing files against a real third-party seeder: the libtorrent wheel, in
this process, on 127.0.0.1.  A skipped file is neither downloaded nor
created; wanted again, it arrives.
"""

import os

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from bittwist.service import BitTorrentService
from tests.ltpeer import LibtorrentPeer, createTorrentWithLibtorrent, digestTree, makePayload
from tests.polling import pollUntil

# Sizes off the 16 KiB piece boundaries: without pad files, the skipped file
# shares its first and last pieces with the wanted ones.
FILES = {
    "a.bin": 50_000,
    "b.bin": 70_001,
    "c.bin": 40_003,
}


class SkipFileTests(TestCase):
    """
    bittwist downloads two of three files from a libtorrent seeder.
    """

    timeout = 120

    @inlineCallbacks
    def seed(self, v1Only):
        """
        Seed a payload of L{FILES} with libtorrent.

        @return: (torrent bytes, seed folder, the seeder).
        """
        seedDir = os.path.abspath(self.mktemp())
        makePayload(os.path.join(seedDir, "payload"), FILES, seed=3)
        data = createTorrentWithLibtorrent(seedDir, "payload", pieceLength=16384, v1Only=v1Only)
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor)
        yield seeder.start()
        self.addCleanup(seeder.stop)
        return data, seedDir, seeder

    @inlineCallbacks
    def skipMiddleFile(self, v1Only):
        """
        Download the payload with C{b.bin} skipped, check that exactly the
        other two arrived, then want C{b.bin} again and check that all three
        did.
        """
        data, seedDir, seeder = yield self.seed(v1Only)
        downloadDir = os.path.abspath(self.mktemp())
        service = BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None)
        torrent = service.addTorrent(
            data, downloadDir, peers=[("127.0.0.1", seeder.port)], announce=False
        )
        paths = [f.path for f in torrent.fileStatuses()]
        self.assertEqual(paths, ["payload/a.bin", "payload/b.bin", "payload/c.bin"])
        service.setFilePriorities(torrent.infoHash, [1, 0, 2])
        service.startService()
        self.addCleanup(service.stopService)
        yield torrent.whenComplete()
        self.assertEqual(torrent.state, "seeding")
        expected = digestTree(seedDir)
        got = digestTree(downloadDir)
        del expected[os.path.join("payload", "b.bin")]
        partFile = f".{torrent.infoHash.hex()}.parts"
        got.pop(partFile, None)
        self.assertEqual(got, expected)
        self.assertFalse(os.path.lexists(os.path.join(downloadDir, "payload", "b.bin")))
        self.assertEqual(sorted(os.listdir(os.path.join(downloadDir, "payload"))), ["a.bin", "c.bin"])
        statuses = torrent.fileStatuses()
        self.assertEqual([f.priority for f in statuses], [1, 0, 2])
        self.assertEqual([f.progress for f in statuses if f.priority], [1.0, 1.0])
        self.assertLess(statuses[1].progress, 1.0)

        # Wanted again: it downloads, and the part file goes. First the
        # seeder, dropped as we seeded too, must be gone: a connection
        # closing is redialled only after a while.
        yield pollUntil(lambda: not torrent.peers, 30, "the seeder to be gone")
        service.setFilePriorities(torrent.infoHash, [1, 1, 1])
        self.assertEqual(torrent.state, "downloading")
        yield torrent.whenComplete()
        self.assertEqual(digestTree(downloadDir), digestTree(seedDir))
        self.assertEqual(torrent.status().hashFailures, 0)

    def test_skipFileV1(self):
        """
        A v1 torrent: the skipped file shares pieces with both others.
        """
        return self.skipMiddleFile(v1Only=True)

    def test_skipFileHybrid(self):
        """
        A hybrid torrent, whose pad files keep each file on its own pieces.
        """
        return self.skipMiddleFile(v1Only=False)
