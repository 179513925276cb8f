"""
MSE/PE against a real third-party peer: the libtorrent wheel, in this
process, on 127.0.0.1, with its encryption policies forced, and bittwist's
connections wrapped by L{bittwist.encryption}.
"""

import os

import libtorrent as lt

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from bittwist.config import SessionConfig
from bittwist.encryption import EncryptingProtocol
from bittwist.errors import EncryptionError
from bittwist.peer import PeerProtocol
from bittwist.mse import CryptoMethod, Policy
from bittwist.service import BitTorrentService
from tests.ltpeer import LibtorrentPeer, digestTree, makeV1Seed
from tests.polling import pollUntil

FILES = {"alpha.bin": 1_300_000, "sub/beta.bin": 700_001}

#: Seconds a test waits for a download before failing with what it saw.
FINISH_TIMEOUT = 60

#: libtorrent settings: encrypted connections only, RC4 only.
FORCED_RC4 = {
    "out_enc_policy": int(lt.enc_policy.forced),
    "in_enc_policy": int(lt.enc_policy.forced),
    "allowed_enc_level": int(lt.enc_level.rc4),
}

#: libtorrent settings: no encryption at all.
PLAINTEXT_ONLY = {
    "out_enc_policy": int(lt.enc_policy.disabled),
    "in_enc_policy": int(lt.enc_policy.disabled),
}


def recordBuilds(factory, built):
    """
    Make C{factory} append each protocol it builds to C{built}.

    @return: C{factory}.
    """
    buildProtocol = factory.buildProtocol

    def recordingBuild(addr):
        proto = buildProtocol(addr)
        built.append(proto)
        return proto

    factory.buildProtocol = recordingBuild
    return factory

class MSEInteropTests(TestCase):
    """
    bittwist and libtorrent exchange a small torrent over MSE.
    """

    timeout = 120

    def makeTorrent(self):
        """
        @return: C{(torrent bytes, the folder holding the payload)}.
        """
        return makeV1Seed(self.mktemp(), FILES, seed=3, pieceLength=65536)

    def startBittwist(self, data, folder, policy):
        """
        Run a bittwist service with the torrent (no tracker, no peers) and
        encryption under C{policy}; record the outermost protocol of each
        connection it dials.

        @return: C{(service, torrent, dialled)}.
        """
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1",
            reactor=reactor,
            progressInterval=None,
            config=SessionConfig(encryption=policy),
        )
        dialled = []

        service.session.dialer.wrapFactory = lambda factory: recordBuilds(factory, dialled)
        torrent = service.addTorrent(data, folder, announce=False)
        service.startService()
        self.addCleanup(service.stopService)
        return service, torrent, dialled

    @inlineCallbacks
    def startLibtorrent(self, data, folder, seed, settings):
        """
        Run a libtorrent peer with C{settings} applied before any connection.
        """
        peer = LibtorrentPeer(data, folder, seed=seed, reactor=reactor)
        self.addCleanup(peer.stop)
        yield peer.start()
        peer.session.apply_settings(settings)
        return peer

    def listenRecorded(self, service):
        """
        Listen on another port with the session's own incoming factory
        (which wraps each connection for MSE under the session's policy).

        @return: the port number and the list of protocols it builds.
        """
        factory = service.session.serverFactory()
        built = []
        recordBuilds(factory, built)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port, built

    def waitUntil(self, condition, what):
        return pollUntil(condition, FINISH_TIMEOUT, what, interval=0.02)

    @inlineCallbacks
    def seedToLibtorrent(self, policy, settings):
        """
        A libtorrent leecher with C{settings} downloads from a bittwist
        seeder listening through the incoming wrapper under C{policy}.

        @return: the wrappers the seeder built.
        """
        data, seedDir = self.makeTorrent()
        service, seeder, _ = self.startBittwist(data, seedDir, policy)
        yield self.waitUntil(lambda: seeder.state == "seeding", "the seeder to check")
        port, built = self.listenRecorded(service)
        leechDir = os.path.abspath(self.mktemp())
        os.makedirs(leechDir)
        leecher = yield self.startLibtorrent(data, leechDir, seed=False, settings=settings)
        leecher.connectTo("127.0.0.1", port)
        yield leecher.whenFinished(FINISH_TIMEOUT)
        self.assertEqual(digestTree(leechDir), digestTree(seedDir))
        return built

    @inlineCallbacks
    def test_libtorrentDownloadsEncrypted(self):
        """
        libtorrent forced to RC4 downloads from a bittwist seeder that
        requires encryption; the files match byte for byte and the
        connection was RC4.
        """
        built = yield self.seedToLibtorrent(Policy.REQUIRE, FORCED_RC4)
        methods = [w.method for w in built if w.complete]
        self.assertIn(CryptoMethod.RC4, methods)

    @inlineCallbacks
    def test_libtorrentPlaintextThroughPrefer(self):
        """
        libtorrent with encryption disabled downloads from a bittwist seeder
        whose incoming wrapper prefers encryption: the plaintext handshake
        passes through.
        """
        built = yield self.seedToLibtorrent(Policy.PREFER, PLAINTEXT_ONLY)
        completed = [w for w in built if w.complete]
        self.assertTrue(completed)
        self.assertEqual({w.method for w in completed}, {None})

    @inlineCallbacks
    def test_libtorrentDefaultsThroughPrefer(self):
        """
        libtorrent with its default settings (encryption enabled, both
        levels) gets RC4 from a bittwist seeder that prefers it.
        """
        built = yield self.seedToLibtorrent(Policy.PREFER, {})
        self.assertIn(CryptoMethod.RC4, [w.method for w in built if w.complete])

    @inlineCallbacks
    def downloadFromLibtorrent(self, policy, settings):
        """
        bittwist, with encryption under C{policy}, downloads from a
        libtorrent seeder with C{settings} given to it as a peer.

        @return: the outermost protocol of each connection bittwist dialled.
        """
        data, seedDir = self.makeTorrent()
        seeder = yield self.startLibtorrent(data, seedDir, seed=True, settings=settings)
        downloadDir = os.path.abspath(self.mktemp())
        service, torrent, dialled = self.startBittwist(data, downloadDir, policy)
        yield self.waitUntil(lambda: torrent.state == "downloading", "the leecher to start")
        torrent.addPeers([("127.0.0.1", seeder.port)])
        yield torrent.whenComplete()
        self.assertEqual(digestTree(downloadDir), digestTree(seedDir))
        self.assertEqual(torrent.status().hashFailures, 0)
        return dialled

    @inlineCallbacks
    def test_bittwistDownloadsEncrypted(self):
        """
        bittwist, requiring encryption, downloads from a libtorrent seeder
        that forces RC4; the files match byte for byte and every connection
        was RC4.
        """
        dialled = yield self.downloadFromLibtorrent(Policy.REQUIRE, FORCED_RC4)
        self.assertTrue(dialled)
        self.assertEqual({type(p) for p in dialled}, {EncryptingProtocol})
        self.assertIn(CryptoMethod.RC4, [p.method for p in dialled if p.complete])

    @inlineCallbacks
    def test_bittwistFallsBackToPlaintext(self):
        """
        bittwist, preferring encryption, downloads from a libtorrent seeder
        that does not speak MSE: its encrypted handshake fails, and it dials
        again in plaintext at once.
        """
        dialled = yield self.downloadFromLibtorrent(Policy.PREFER, PLAINTEXT_ONLY)
        self.assertIsInstance(dialled[0], EncryptingProtocol)
        self.assertIsInstance(dialled[0].failure, EncryptionError)
        plaintext = [p for p in dialled if isinstance(p, PeerProtocol)]
        self.assertTrue(plaintext)
        self.assertTrue(any(p.handshaked for p in plaintext))

    @inlineCallbacks
    def test_bittwistRequiringRefusesPlaintextPeer(self):
        """
        bittwist, requiring encryption, never talks plaintext to a
        libtorrent seeder that does not speak MSE.
        """
        data, seedDir = self.makeTorrent()
        seeder = yield self.startLibtorrent(data, seedDir, seed=True, settings=PLAINTEXT_ONLY)
        downloadDir = os.path.abspath(self.mktemp())
        service, torrent, dialled = self.startBittwist(data, downloadDir, Policy.REQUIRE)
        yield self.waitUntil(lambda: torrent.state == "downloading", "the leecher to start")
        torrent.addPeers([("127.0.0.1", seeder.port)])
        yield self.waitUntil(
            lambda: dialled and all(p.failure is not None for p in dialled), "the handshake to fail"
        )
        self.assertEqual({type(p) for p in dialled}, {EncryptingProtocol})
        self.assertEqual(torrent.status().downloaded, 0)
        self.assertEqual(torrent.peers, set())
