"""
bittwist seeds to a real third-party peer: a torrent bittwist made itself,
downloaded by the libtorrent wheel on 127.0.0.1, directly and through
bittwist's HTTP tracker.
"""

import os

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from bittwist.metainfo import createTorrentInThread, parse
from bittwist.service import BitTorrentService
from bittwist.sources import TrackerSource
from bittwist.torrent import Torrent
from bittwist.trackerserver import makeTrackerSite
from tests.ltpeer import digestTree, LibtorrentPeer, makePayload
from tests.polling import pollUntil

FILES = {
    "alpha.bin": 1_500_000,
    "docs/beta.txt": 700_001,
    "docs/deep/gamma.dat": 2_100_000,
    "empty.txt": 0,
    "z.bin": 333,
}

#: Seconds a test waits for a download before failing with what it saw.
FINISH_TIMEOUT = 60


def trackerOf(torrent: Torrent) -> TrackerSource:
    """
    @return: the torrent's tracker source.
    """
    [source] = [s for s in torrent.sources if isinstance(s, TrackerSource)]
    return source


class SwarmMixin:
    """
    Start trackers, bittwist peers and libtorrent peers on 127.0.0.1, each
    stopped when the test ends.
    """

    def startTracker(self) -> str:
        """
        Serve a tracker on 127.0.0.1.

        @return: its announce URL.
        """
        port = reactor.listenTCP(0, makeTrackerSite(reactor), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return f"http://127.0.0.1:{port.getHost().port}/announce"

    @inlineCallbacks
    def makeTorrent(self, files, trackers, pieceLength, seed=11):
        """
        Write a payload folder and make its torrent with bittwist, hashing
        off the reactor thread.

        @return: C{(torrent bytes, the folder holding the payload folder)}.
        """
        seedDir = os.path.abspath(self.mktemp())
        makePayload(os.path.join(seedDir, "payload"), files, seed=seed)
        data = yield createTorrentInThread(
            reactor, os.path.join(seedDir, "payload"), trackers, pieceLength=pieceLength
        )
        return data, seedDir

    def startBittwist(self, data, folder, peers=(), announce=True):
        """
        Run a bittwist service with the torrent, its data in C{folder}.

        @return: C{(service, torrent)}.
        """
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None
        )
        torrent = service.addTorrent(data, folder, peers=peers, announce=announce)
        service.startService()
        self.addCleanup(service.stopService)
        return service, torrent

    @inlineCallbacks
    def startLibtorrent(self, data, folder, seed=False):
        """
        Run a libtorrent peer with the torrent, its data in C{folder}.

        @return: the started L{LibtorrentPeer}.
        """
        peer = LibtorrentPeer(data, folder, seed=seed, reactor=reactor)
        self.addCleanup(peer.stop)
        yield peer.start()
        return peer

    def waitUntil(self, condition, timeout=FINISH_TIMEOUT, what="condition"):
        """
        Poll C{condition()} every 20 ms until it is true.

        @raise AssertionError: after C{timeout} seconds.
        """
        return pollUntil(condition, timeout, what, interval=0.02)


class SeedToLibtorrentTests(SwarmMixin, TestCase):
    """
    A libtorrent leecher downloads a multi-file torrent that bittwist made
    and seeds.
    """

    timeout = 120

    @inlineCallbacks
    def seedAndCheck(self, viaTracker):
        """
        Seed a bittwist-made torrent with bittwist and download it with
        libtorrent; the files arrive byte for byte and every byte came from
        the bittwist seeder.

        @param viaTracker: whether libtorrent finds the seeder only through
            the tracker; else the seeder does not announce and libtorrent
            connects to it directly.
        """
        announceURL = self.startTracker()
        data, seedDir = yield self.makeTorrent(FILES, [announceURL], pieceLength=65536)
        metainfo = parse(data)
        service, seeder = self.startBittwist(data, seedDir, announce=viaTracker)
        yield self.waitUntil(lambda: seeder.state == "seeding", what="the seeder to check")
        self.assertEqual(seeder.status().piecesVerified, metainfo.numPieces)
        if viaTracker:
            # The seeder is on the tracker before libtorrent asks it.
            yield self.waitUntil(
                lambda: trackerOf(seeder).announcer.lastResponse is not None, what="the seeder's announce"
            )
        leechDir = os.path.abspath(self.mktemp())
        os.makedirs(leechDir)
        leecher = yield self.startLibtorrent(data, leechDir)
        if not viaTracker:
            leecher.connectTo("127.0.0.1", service.session.port)
        yield leecher.whenFinished(FINISH_TIMEOUT)
        self.assertEqual(digestTree(leechDir), digestTree(seedDir))
        self.assertEqual(leecher.downloaded, metainfo.totalLength)
        yield self.waitUntil(
            lambda: seeder.status().uploaded >= metainfo.totalLength,
            what="the seeder's upload count",
        )
        self.assertEqual(seeder.state, "seeding")
        self.assertEqual(seeder.status().downloaded, 0)

    def test_directConnection(self):
        """
        libtorrent connects to the bittwist seeder (which does not announce)
        and downloads everything from it.
        """
        return self.seedAndCheck(viaTracker=False)

    def test_throughTracker(self):
        """
        libtorrent learns of the bittwist seeder only from bittwist's
        tracker, and downloads everything from it.
        """
        return self.seedAndCheck(viaTracker=True)
