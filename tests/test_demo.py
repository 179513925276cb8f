"""
Tests for L{bittwist.demo}: the local demo swarm downloads for real.
"""

import os

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from bittwist import metainfo
from bittwist.demo import DEMO_NAME, DemoSwarm
from bittwist.service import BitTorrentService
from tests.ltpeer import digestTree

FILES = {"a.txt": 1000, "b/c.bin": 300_000}


class DemoSwarmTests(TestCase):
    """
    L{DemoSwarm} runs a tracker and a seeder on 127.0.0.1.
    """

    timeout = 60

    @inlineCallbacks
    def test_downloadThroughTheTracker(self):
        """
        Once ready, the demo's torrent names its loopback tracker, and a
        bittwist download that knows only that tracker gets the payload byte
        for byte.
        """
        folder = os.path.abspath(self.mktemp())
        demo = DemoSwarm(reactor, folder=folder, files=FILES, uploadRate=0)
        demo.startService()
        self.addCleanup(demo.stopService)
        yield demo.whenReady()
        parsed = metainfo.parse(demo.torrentData)
        [[announce]] = parsed.announceTiers
        self.assertTrue(announce.startswith("http://127.0.0.1:"))
        self.assertTrue(os.path.exists(os.path.join(folder, DEMO_NAME + ".torrent")))
        downloadDir = os.path.abspath(self.mktemp())
        service = BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None)
        torrent = service.addTorrent(demo.torrentData, downloadDir)
        service.startService()
        self.addCleanup(service.stopService)
        yield torrent.whenComplete()
        self.assertEqual(
            digestTree(os.path.join(downloadDir, DEMO_NAME)),
            digestTree(os.path.join(folder, "seed", DEMO_NAME)),
        )
        self.assertEqual(
            {path: size for path, (size, _) in digestTree(downloadDir + "/" + DEMO_NAME).items()},
            FILES,
        )
