# -*- test-case-name: tests.test_ltpeer -*-
"""
Tests for L{tests.ltpeer}: the libtorrent harness works by itself, on loopback.
"""

import hashlib
import os

import libtorrent as lt

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.ltpeer import digestTree, LibtorrentPeer, createTorrentWithLibtorrent, makePayload

__all__ = ["PayloadTests", "CreateTorrentTests", "LibtorrentSwarmTests"]

FILES = {
    "album/a.bin": 1_500_000,
    "album/b.bin": 700_001,
    "album/sub/c.bin": 1_234_567,
    "album/empty.bin": 0,
}


class PayloadTests(SynchronousTestCase):
    """
    Tests for L{makePayload}.
    """

    def test_sizesAndDeterminism(self) -> None:
        """
        Each file gets its size; the same seed gives the same bytes, another seed other bytes.
        """
        one, two, three = self.mktemp(), self.mktemp(), self.mktemp()
        files = {"x/y.bin": 70_000, "z.bin": 3}
        makePayload(one, files, seed=1)
        makePayload(two, files, seed=1)
        makePayload(three, files, seed=2)
        first = digestTree(one)
        self.assertEqual({k: size for k, (size, _) in first.items()}, files)
        self.assertEqual(first, digestTree(two))
        self.assertNotEqual(first, digestTree(three))


class CreateTorrentTests(SynchronousTestCase):
    """
    Tests for L{createTorrentWithLibtorrent}.
    """

    def setUp(self) -> None:
        self.root = self.mktemp()
        makePayload(self.root, FILES)

    def test_hybridHasPadFiles(self) -> None:
        """
        By default the torrent is a v1+v2 hybrid whose v1 file list holds pad files.
        """
        data = createTorrentWithLibtorrent(
            self.root, "album", trackers=["http://127.0.0.1:1/announce"], pieceLength=32768
        )
        meta = lt.bdecode(data)
        info = meta[b"info"]
        self.assertEqual(info[b"piece length"], 32768)
        self.assertEqual(info[b"meta version"], 2)
        self.assertIn(b"pieces", info)
        self.assertEqual(meta[b"announce"], b"http://127.0.0.1:1/announce")
        attrs = [f.get(b"attr", b"") for f in info[b"files"]]
        self.assertIn(b"p", attrs)
        self.assertNotIn(b"creation date", meta)

    def test_v1Only(self) -> None:
        """
        C{v1Only=True} gives a v1 torrent, without pad files.
        """
        data = createTorrentWithLibtorrent(self.root, "album", v1Only=True)
        info = lt.bdecode(data)[b"info"]
        self.assertNotIn(b"meta version", info)
        self.assertNotIn(b"p", [f.get(b"attr", b"") for f in info[b"files"]])
        self.assertEqual(
            sorted(b"/".join(f[b"path"]).decode() for f in info[b"files"]),
            sorted(k.removeprefix("album/") for k in FILES),
        )

    def test_deterministic(self) -> None:
        """
        The same files give the same torrent.
        """
        self.assertEqual(
            createTorrentWithLibtorrent(self.root, "album"),
            createTorrentWithLibtorrent(self.root, "album"),
        )


class LibtorrentSwarmTests(TestCase):
    """
    Two L{LibtorrentPeer}s on loopback share a torrent without a tracker.
    """

    timeout = 60

    def _swarm(self, v1Only: bool):
        seedDir, leechDir = self.mktemp(), self.mktemp()
        makePayload(seedDir, FILES, seed=7)
        os.makedirs(leechDir)
        data = createTorrentWithLibtorrent(seedDir, "album", pieceLength=65536, v1Only=v1Only)
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor)
        leecher = LibtorrentPeer(data, leechDir, seed=False, reactor=reactor)
        self.addCleanup(seeder.stop)
        self.addCleanup(leecher.stop)
        return seedDir, leechDir, seeder, leecher

    @inlineCallbacks
    def _download(self, v1Only: bool):
        seedDir, leechDir, seeder, leecher = self._swarm(v1Only)
        yield seeder.start()
        yield leecher.start()
        self.assertNotEqual(seeder.port, 0)
        self.assertNotEqual(leecher.port, seeder.port)
        self.assertTrue(seeder.status().is_seeding)
        leecher.connectTo("127.0.0.1", seeder.port)
        yield leecher.whenFinished(timeout=30)
        self.assertEqual(digestTree(os.path.join(leechDir, "album")),
                         digestTree(os.path.join(seedDir, "album")))
        total = sum(FILES.values())
        self.assertGreaterEqual(leecher.downloaded, total)
        self.assertGreater(seeder.uploaded, 0)

    def test_downloadHybrid(self):
        """
        A downloading peer connected to a seeding one gets a multi-file hybrid torrent, byte for
        byte.
        """
        return self._download(v1Only=False)

    def test_downloadV1(self):
        """
        The same works for a v1-only torrent.
        """
        return self._download(v1Only=True)

    @inlineCallbacks
    def test_whenFinishedTimesOut(self):
        """
        L{LibtorrentPeer.whenFinished} fails with L{TimeoutError} if the download does not
        complete in time, naming the peer's state.
        """
        from twisted.internet.error import TimeoutError

        _seedDir, _leechDir, _seeder, leecher = self._swarm(v1Only=True)
        yield leecher.start()
        d = leecher.whenFinished(timeout=0.2)
        failure = yield self.assertFailure(d, TimeoutError)
        self.assertIn("not finished", str(failure))

    @inlineCallbacks
    def test_stopTwice(self):
        """
        L{LibtorrentPeer.stop} frees the session, keeps the last status, and a second call does
        nothing.
        """
        _seedDir, _leechDir, seeder, _leecher = self._swarm(v1Only=True)
        yield seeder.start()
        yield seeder.stop()
        self.assertIsNone(seeder.session)
        self.assertTrue(seeder.status().is_seeding)
        yield seeder.stop()

    @inlineCallbacks
    def test_verifiedSeed(self):
        """
        With C{verify=True} a seed hashes its data and then seeds; its info hash is the v1 one.
        """
        seedDir, _leechDir, _seeder, _leecher = self._swarm(v1Only=False)
        data = createTorrentWithLibtorrent(seedDir, "album", pieceLength=65536)
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor, verify=True)
        self.addCleanup(seeder.stop)
        yield seeder.start()
        status = seeder.status()
        self.assertTrue(status.is_seeding)
        self.assertFalse(status.seed_mode)
        info = lt.bencode(lt.bdecode(data)[b"info"])
        self.assertEqual(seeder.infoHash, hashlib.sha1(info).digest())

    @inlineCallbacks
    def test_startFailsOnError(self):
        """
        L{LibtorrentPeer.start} fails if the torrent cannot start: here its data is missing and
        its save path is a file.
        """
        blocker = self.mktemp()
        with open(blocker, "wb") as f:
            f.write(b"x")
        root = self.mktemp()
        makePayload(root, {"f.bin": 100})
        data = createTorrentWithLibtorrent(root, "f.bin")
        peer = LibtorrentPeer(data, blocker, seed=True, reactor=reactor, verify=True)
        self.addCleanup(peer.stop)
        yield self.assertFailure(peer.start(), RuntimeError)
