# -*- test-case-name: tests.test_embedding -*-
"""
Embedding L{bittwist.service.BitTorrentService} in an application: two
downloads at once from libtorrent seeders on 127.0.0.1, stopped mid-way and
finished by a new service on the same state folder without downloading or
hashing again what was verified; and the example program of
C{docs/examples/embed.py}, run as a process.
"""

import os
import sys

from twisted.application.internet import TimerService
from twisted.application.service import MultiService
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.testing import EventLoggingObserver
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from bittwist import events
from bittwist.metainfo import parse
from bittwist.service import BitTorrentService
from tests.ltpeer import digestTree, LibtorrentPeer, createTorrentWithLibtorrent, makePayload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "docs", "examples", "embed.py")

PIECE = 16384
PAYLOADS = {
    "one": {"one.bin": 1_500_000},
    "two": {"a.bin": 700_000, "sub/b.bin": 600_000},
}
RATE = 1_500_000
"""
Bytes per second each seeder sends: slow enough that the first run can be
stopped part of the way, fast enough for a short test.
"""


class EmbeddingTests(TestCase):
    """
    L{BitTorrentService} in a L{MultiService} beside another service.
    """

    timeout = 60

    @inlineCallbacks
    def seed(self, name: str, rate: int = 0):
        """
        Seed a payload with libtorrent, optionally throttled.

        @return: (torrent bytes, seed folder, the seeder).
        """
        seedDir = os.path.abspath(self.mktemp())
        makePayload(os.path.join(seedDir, name), PAYLOADS[name], seed=len(name))
        data = createTorrentWithLibtorrent(seedDir, name, pieceLength=PIECE, v1Only=True)
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor)
        yield seeder.start()
        self.addCleanup(seeder.stop)
        if rate:
            # Per torrent: the session's limit spares peers on loopback.
            seeder.handle.set_upload_limit(rate)
        return data, seedDir, seeder

    def application(self, stateDir: str) -> tuple[MultiService, BitTorrentService]:
        """
        @return: an application running a timer, with a L{BitTorrentService}
            on C{stateDir} added to it.
        """
        app = MultiService()
        TimerService(0.1, lambda: None).setServiceParent(app)
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None, stateDir=stateDir
        )
        service.setServiceParent(app)
        return app, service

    @inlineCallbacks
    def test_stopAndResume(self):
        """
        Two torrents download at once; the application is stopped when both
        have verified some pieces.  A new service on the same state folder
        adds them again by itself, trusts the verified pieces without
        hashing them (fast resume), downloads only the rest (plus at most a
        piece per torrent in flight at the stop), and completes them.
        """
        seeded = yield gatherResults([self.seed(name, RATE) for name in PAYLOADS])
        stateDir = os.path.abspath(self.mktemp())
        downloadDir = os.path.abspath(self.mktemp())

        app, service = self.application(stateDir)
        torrents = [
            service.addTorrent(
                data, downloadDir, peers=[("127.0.0.1", seeder.port)], announce=False
            )
            for data, _, seeder in seeded
        ]
        stopped: Deferred = Deferred()

        def observe(event: events.TorrentEvent) -> None:
            if stopped.called or not isinstance(event, events.PieceVerified):
                return
            if all(len(t.pieces()) >= t.numPieces // 5 for t in torrents):
                stopped.callback(None)

        for torrent in torrents:
            torrent.addObserver(observe)
        app.startService()
        self.addCleanup(app.stopService)
        yield stopped
        yield app.stopService()
        verified1 = {t.infoHash: t.status().verifiedLength for t in torrents}
        pieces1 = {t.infoHash: len(t.pieces()) for t in torrents}
        for torrent in torrents:
            self.assertLess(verified1[torrent.infoHash], torrent.metainfo.totalLength)

        log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        app2, service2 = self.application(stateDir)
        app2.startService()
        self.addCleanup(app2.stopService)
        again = service2.session.torrents
        self.assertEqual(set(again), set(verified1))
        yield gatherResults([t.whenComplete() for t in again.values()])

        resumed = {
            e["name"]: (e["trusted"], e["rehashed"]) for e in log if "trusted" in e
        }
        for infoHash, torrent in again.items():
            metainfo = torrent.metainfo
            self.assertEqual(resumed[metainfo.name], (pieces1[infoHash], 0))
            self.assertLessEqual(
                torrent.status().downloaded,
                metainfo.totalLength - verified1[infoHash] + metainfo.pieceLength,
            )
            self.assertEqual(torrent.state, "seeding")
        yield app2.stopService()
        for data, seedDir, _ in seeded:
            name = parse(data).name
            self.assertEqual(
                digestTree(os.path.join(downloadDir, name)), digestTree(os.path.join(seedDir, name))
            )

    @inlineCallbacks
    def test_example(self):
        """
        C{docs/examples/embed.py} downloads two torrents given on the
        command line from a seeder and exits with status 0.
        """
        seeded = yield gatherResults([self.seed(name) for name in PAYLOADS])
        paths = []
        peers = []
        for data, _, seeder in seeded:
            path = os.path.abspath(self.mktemp())
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
            peers += ["--peer", f"127.0.0.1:{seeder.port}"]
        downloadDir = os.path.abspath(self.mktemp())
        stateDir = os.path.abspath(self.mktemp())
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
        out, err, code = yield getProcessOutputAndValue(
            sys.executable,
            [
                EXAMPLE, "--download-dir", downloadDir, "--state-dir", stateDir,
                "--no-trackers", "--port", "tcp:0:interface=127.0.0.1", *peers, *paths,
            ],
            env=env,
            reactor=reactor,
        )
        self.assertEqual(code, 0, (out + err).decode("utf-8", "replace"))
        self.assertIn(b"all complete", out)
        self.assertIn(b"one: complete and verified", out)
        for data, seedDir, _ in seeded:
            name = parse(data).name
            self.assertEqual(
                digestTree(os.path.join(downloadDir, name)), digestTree(os.path.join(seedDir, name))
            )
        # The state folder remembers both torrents.
        self.assertEqual(len([n for n in os.listdir(stateDir) if n.endswith(".json")]), 2)
