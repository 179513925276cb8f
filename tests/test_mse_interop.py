"""
MSE/PE against a real third-party peer: the libtorrent wheel, in this
process, on 127.0.0.1, with its encryption policies forced, and bittwist's
connections wrapped by L{bittwist.encryption}.
"""

import os

import libtorrent as lt

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from bittwist.encryption import EncryptedClientFactory, EncryptedServerFactory, isEncrypted
from bittwist.factory import PeerClientFactory
from bittwist.mse import CryptoMethod, Policy
from bittwist.service import BitTorrentService
from tests.ltpeer import LibtorrentPeer, createTorrentWithLibtorrent, digestTree, makePayload

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


class MSEInteropTests(TestCase):
    """
    bittwist and libtorrent exchange a small torrent over MSE.
    """

    timeout = 120

    def makeTorrent(self):
        """
        @return: C{(torrent bytes, the folder holding the payload)}.
        """
        seedDir = os.path.abspath(self.mktemp())
        makePayload(os.path.join(seedDir, "payload"), FILES, seed=3)
        data = createTorrentWithLibtorrent(seedDir, "payload", pieceLength=65536, v1Only=True)
        return data, seedDir

    def startBittwist(self, data, folder):
        """
        Run a bittwist service with the torrent (no tracker, no peers).

        @return: C{(service, torrent)}.
        """
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None
        )
        torrent = service.addTorrent(data, folder, announce=False)
        service.startService()
        self.addCleanup(service.stopService)
        return service, torrent

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

    def listenWrapped(self, service, policy):
        """
        Listen on another port with the session's incoming factory wrapped
        for MSE under C{policy}.

        @return: the port number and the list of protocols it builds.
        """
        factory = EncryptedServerFactory(
            service.session.serverFactory(),
            lambda: service.session.torrents.keys(),
            policy,
            reactor=reactor,
        )
        built = []
        buildProtocol = factory.buildProtocol

        def recordingBuild(addr):
            proto = buildProtocol(addr)
            built.append(proto)
            return proto

        factory.buildProtocol = recordingBuild
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port, built

    @inlineCallbacks
    def waitUntil(self, condition, what):
        deadline = reactor.seconds() + FINISH_TIMEOUT
        while not condition():
            if reactor.seconds() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            yield deferLater(reactor, 0.02, lambda: None)

    @inlineCallbacks
    def seedToLibtorrent(self, policy, settings):
        """
        A libtorrent leecher with C{settings} downloads from a bittwist
        seeder listening through the incoming wrapper under C{policy}.

        @return: the wrappers the seeder built.
        """
        data, seedDir = self.makeTorrent()
        service, seeder = self.startBittwist(data, seedDir)
        yield self.waitUntil(lambda: seeder.state == "seeding", "the seeder to check")
        port, built = self.listenWrapped(service, policy)
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
        bittwist downloads from a libtorrent seeder with C{settings},
        connecting through the outgoing wrapper under C{policy}.

        @return: the outgoing wrapper factory.
        """
        data, seedDir = self.makeTorrent()
        seeder = yield self.startLibtorrent(data, seedDir, seed=True, settings=settings)
        downloadDir = os.path.abspath(self.mktemp())
        service, torrent = self.startBittwist(data, downloadDir)
        yield self.waitUntil(lambda: torrent.state == "downloading", "the leecher to start")
        address = ("127.0.0.1", seeder.port)
        factory = EncryptedClientFactory(
            PeerClientFactory(reactor, torrent, address), torrent.infoHash, policy, reactor=reactor
        )
        peers = []
        buildProtocol = factory.buildProtocol

        def recordingBuild(addr):
            proto = buildProtocol(addr)
            peers.append(getattr(proto, "wrappedProtocol", proto))
            return proto

        factory.buildProtocol = recordingBuild
        reactor.connectTCP(address[0], address[1], factory, timeout=10)
        yield torrent.whenComplete()
        self.assertEqual(digestTree(downloadDir), digestTree(seedDir))
        self.assertEqual(torrent.hashFailures, 0)
        return factory, [isEncrypted(p) for p in peers if p.handshaked]

    @inlineCallbacks
    def test_bittwistDownloadsEncrypted(self):
        """
        bittwist, requiring encryption, downloads from a libtorrent seeder
        that forces RC4; the files match byte for byte and the connection
        was RC4.
        """
        factory, encrypted = yield self.downloadFromLibtorrent(Policy.REQUIRE, FORCED_RC4)
        self.assertFalse(factory.fellBack)
        self.assertIn(True, encrypted)
        self.assertNotIn(False, encrypted)

    @inlineCallbacks
    def test_bittwistFallsBackToPlaintext(self):
        """
        bittwist, preferring encryption, downloads from a libtorrent seeder
        that does not speak MSE, by retrying in plaintext.
        """
        factory, encrypted = yield self.downloadFromLibtorrent(Policy.PREFER, PLAINTEXT_ONLY)
        self.assertTrue(factory.fellBack)
        self.assertIsNotNone(factory.encryptionFailure)
        self.assertNotIn(True, encrypted)
