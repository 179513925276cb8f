"""
A mixed swarm on 127.0.0.1: one bittwist seeder, one libtorrent leecher and
two bittwist leechers, who find each other only through bittwist's tracker.
"""

import os

from twisted.internet import reactor
from twisted.internet.defer import TimeoutError, gatherResults, inlineCallbacks
from twisted.trial.unittest import TestCase

from bittwist.metainfo import parse
from tests.ltpeer import digestTree
from tests.test_seed import FINISH_TIMEOUT, SwarmMixin, trackerOf

#: Big enough, in 32 KiB pieces, that the leechers are still downloading
#: while they trade pieces with each other.
FILES = {
    "one.bin": 5 * 2**20 + 12345,
    "sub/two.bin": 4 * 2**20,
    "sub/three.bin": 3 * 2**20 - 777,
}
PIECE_LENGTH = 32 * 1024


class SwarmTests(SwarmMixin, TestCase):
    """
    Peers of both implementations share one torrent through the tracker.
    """

    timeout = 120

    @inlineCallbacks
    def runSwarm(self):
        """
        Seed with bittwist, announced to the tracker, then start the three
        leechers at once, who find each other through the tracker alone;
        wait until every leecher has finished.

        @return: C{(seeder, libtorrent leecher, bittwist leechers, their
            download folders, seconds the leechers took, torrent bytes,
            seed folder)}.
        """
        announceURL = self.startTracker()
        data, seedDir = yield self.makeTorrent(FILES, [announceURL], PIECE_LENGTH, seed=5)
        _, seeder = self.startBittwist(data, seedDir)
        yield self.waitUntil(
            lambda: trackerOf(seeder).announcer is not None and trackerOf(seeder).announcer.lastResponse is not None,
            what="the seeder's announce",
        )
        folders = [os.path.abspath(self.mktemp()) for _ in range(3)]
        for folder in folders:
            os.makedirs(folder)
        ltLeecher = yield self.startLibtorrent(data, folders[0])
        leechers = [self.startBittwist(data, folder)[1] for folder in folders[1:]]
        started = reactor.seconds()

        def describeTimeout(failure):
            failure.trap(TimeoutError)
            states = [f"{name}: {torrent.status()}" for name, torrent in
                      [("seeder", seeder), *((f"leecher {n}", t) for n, t in enumerate(leechers))]]
            raise AssertionError(
                "a bittwist leecher did not finish:\n" + "\n".join(states)
                + f"\nlibtorrent: {ltLeecher.describe()}"
            )

        waits = [ltLeecher.whenFinished(FINISH_TIMEOUT)]
        for leecher in leechers:
            waits.append(
                leecher.whenComplete().addTimeout(FINISH_TIMEOUT, reactor)
                .addErrback(describeTimeout)
            )
        yield gatherResults(waits, consumeErrors=True)
        elapsed = reactor.seconds() - started
        return seeder, ltLeecher, leechers, folders, elapsed, data, seedDir

    @inlineCallbacks
    def test_everyoneFinishesAndLeechersUpload(self):
        """
        Every leecher ends with the seeder's files, byte for byte, and the
        seeder is not the only source: leechers uploaded to each other.
        """
        seeder, ltLeecher, leechers, folders, elapsed, data, seedDir = yield self.runSwarm()
        expected = digestTree(seedDir)
        for folder in folders:
            self.assertEqual(digestTree(folder), expected)
        uploads = {
            "libtorrent": ltLeecher.uploaded,
            **{f"bittwist {n}": leecher.status().uploaded for n, leecher in enumerate(leechers)},
        }
        self.assertTrue(
            any(uploads.values()),
            f"only the seeder uploaded: {uploads} in {elapsed:.1f} s; the seeder "
            f"uploaded {seeder.status().uploaded} bytes",
        )
        for leecher in leechers:
            self.assertEqual(leecher.state, "seeding")
            self.assertEqual(leecher.status().hashFailures, 0)

    @inlineCallbacks
    def test_littleWasted(self):
        """
        A bittwist leecher receives few blocks it already has: at most 5% of
        the torrent on top of it.
        """
        seeder, ltLeecher, leechers, folders, elapsed, data, seedDir = yield self.runSwarm()
        totalLength = parse(data).totalLength
        wasted = [leecher.download.wasted for leecher in leechers]
        self.assertTrue(
            all(w <= totalLength // 20 for w in wasted),
            f"wasted {wasted} bytes of a {totalLength}-byte torrent",
        )
