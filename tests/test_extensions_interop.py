"""
The extension protocol (BEP 10), peer exchange (BEP 11) and the fast
extension (BEP 6) against a real third-party peer: the libtorrent wheel, in
this process, on 127.0.0.1.
"""

import os

import libtorrent as lt

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThreadPool
from twisted.trial.unittest import TestCase

from bittwist.config import SessionConfig
from bittwist.peer import CLIENT_NAME
from bittwist.service import BitTorrentService
from tests.ltpeer import (
    LibtorrentPeer,
    blockingSession,
    digestTree,
    makeV1Seed,
)
from tests.polling import pollUntil

FILES = {"alpha.bin": 1_500_000, "beta.bin": 600_001}

#: Seconds a test waits for what it expects before failing with what it saw.
#: libtorrent sends its first ut_pex message within a few seconds of the
#: extended handshake, then one a minute.
WAIT = 60


class ExtensionInteropTests(TestCase):
    """
    bittwist and libtorrent peers in small swarms on loopback.
    """

    timeout = 150

    def makeTorrent(self):
        """
        @return: C{(torrent bytes, the folder holding the payload)}.
        """
        return makeV1Seed(self.mktemp(), FILES, seed=11, pieceLength=32768)

    @inlineCallbacks
    def startBittwist(self, data, folder, peers=(), config=None):
        """
        Run a bittwist service with the torrent (no tracker).

        @return: C{(service, torrent, port)}.
        """
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1",
            reactor=reactor,
            progressInterval=None,
            config=config or SessionConfig(),
        )
        torrent = service.addTorrent(data, folder, peers=peers, announce=False)
        # Cleanups run last first: this one after the service stopped, so
        # that no rate limit timer is left behind.
        self.addCleanup(service.session.uploadLimit.setRate, 0)
        self.addCleanup(service.session.downloadLimit.setRate, 0)
        service.startService()
        self.addCleanup(service.stopService)
        port = yield service.whenListening()
        return service, torrent, port

    @inlineCallbacks
    def startLibtorrent(self, data, folder, seed):
        if not seed:
            os.makedirs(folder, exist_ok=True)
        peer = LibtorrentPeer(data, folder, seed=seed, reactor=reactor)
        self.addCleanup(peer.stop)
        yield peer.start()
        return peer

    def waitUntil(self, condition, what, describe=lambda: ""):
        return pollUntil(condition, WAIT, what, describe)

    def ltPeers(self, peer):
        """
        @return: libtorrent's peer_info of each peer of C{peer}'s torrent.
        """
        if peer.handle is None or not peer.handle.is_valid():
            return []
        return peer.handle.get_peer_info()

    @inlineCallbacks
    def test_clientNamesBothWays(self):
        """
        libtorrent names us from our extended handshake's C{v}, and we name
        it from its own.
        """
        data, seedDir = self.makeTorrent()
        # Slow, so that the leecher stays connected while we look.
        _, seeder, port = yield self.startBittwist(
            data, seedDir, config=SessionConfig(maxUploadRate=100_000)
        )
        yield self.waitUntil(lambda: seeder.state == "seeding", "the seeder to check")
        leecher = yield self.startLibtorrent(data, os.path.abspath(self.mktemp()), seed=False)
        leecher.connectTo("127.0.0.1", port)
        seen = set()

        def namedUs():
            # The wheel gives the name as bytes.
            names = {
                p.client.decode("utf-8", "replace") if isinstance(p.client, bytes) else p.client
                for p in self.ltPeers(leecher)
            }
            seen.update(names)
            return CLIENT_NAME in names

        yield self.waitUntil(
            namedUs, "libtorrent to name us", lambda: f"names seen: {seen!r}\n" + leecher.describe()
        )
        yield self.waitUntil(
            lambda: [s for s in seeder.peerStatuses() if s.client.startswith("libtorrent")],
            "us to name libtorrent",
            lambda: repr([s.client for s in seeder.peerStatuses()]),
        )
        yield self.waitUntil(
            lambda: [
                s
                for s in seeder.peerStatuses()
                if s.extensions == ("ext", "fast", "pex", "metadata")
            ],
            "libtorrent's extensions to show",
            lambda: repr([s.extensions for s in seeder.peerStatuses()]),
        )

    @inlineCallbacks
    def test_libtorrentLearnsThroughOurPex(self):
        """
        A libtorrent leecher given only our address learns the libtorrent
        seed we are connected to through our C{ut_pex} message, connects to
        it and downloads.
        """
        data, seedDir = self.makeTorrent()
        seed = yield self.startLibtorrent(data, seedDir, seed=True)
        # Slow enough that the leecher is still connected to the seed when
        # we look (on a quiet machine it downloaded all in a moment, and
        # had left the seed before the first look).
        seed.handle.set_upload_limit(300_000)
        # Slow, so that we are still downloading (and connected to the
        # seed) when the leecher comes.
        _, middle, port = yield self.startBittwist(
            data,
            os.path.abspath(self.mktemp()),
            peers=[("127.0.0.1", seed.port)],
            config=SessionConfig(maxDownloadRate=50_000),
        )
        yield self.waitUntil(
            lambda: [p for p in middle.peers if p.dialed == ("127.0.0.1", seed.port)],
            "us to connect to the seed",
        )
        leechDir = os.path.abspath(self.mktemp())
        leecher = yield self.startLibtorrent(data, leechDir, seed=False)
        leecher.connectTo("127.0.0.1", port)

        def seedFoundThroughPex():
            return [
                p
                for p in self.ltPeers(leecher)
                if p.ip[1] == seed.port and p.source & lt.peer_info.pex
            ]

        yield self.waitUntil(
            seedFoundThroughPex,
            "libtorrent to connect to the seed it learnt through our PEX",
            lambda: repr([(p.ip, p.source) for p in self.ltPeers(leecher)]) + leecher.describe(),
        )
        yield leecher.whenFinished(WAIT)
        self.assertEqual(digestTree(leechDir), digestTree(seedDir))

    @inlineCallbacks
    def test_weLearnThroughLibtorrentPex(self):
        """
        Given only a libtorrent leecher's address, we learn the libtorrent
        seed it is connected to through its C{ut_pex} message, connect to it
        (tagged C{pex}) and download.
        """
        data, seedDir = self.makeTorrent()
        seed = yield self.startLibtorrent(data, seedDir, seed=True)
        # Slow, so that the middle peer is still downloading (and connected
        # to the seed) when its first PEX message reaches us: libtorrent
        # sends one a minute, and at 50 kB/s the middle peer sometimes had
        # the whole 2 MB, and had left the seed, before then.
        seed.handle.set_upload_limit(20_000)
        # The seed itself learns nothing through PEX: else it may dial us
        # as we dial it, and keep its own connection, not ours.
        seed.handle.set_flags(lt.torrent_flags.disable_pex)
        middle = yield self.startLibtorrent(data, os.path.abspath(self.mktemp()), seed=False)
        middle.connectTo("127.0.0.1", seed.port)
        yield self.waitUntil(
            lambda: [p for p in self.ltPeers(middle) if p.ip[1] == seed.port],
            "libtorrent to connect to its seed",
        )
        leechDir = os.path.abspath(self.mktemp())
        service, leecher, _ = yield self.startBittwist(
            data, leechDir, peers=[("127.0.0.1", middle.port)]
        )
        yield self.waitUntil(
            lambda: [
                s
                for s in leecher.peerStatuses()
                if s.source == "pex" and s.address == f"127.0.0.1:{seed.port}"
            ],
            "us to connect to the seed learnt through libtorrent's PEX",
            lambda: repr(leecher.peerStatuses()) + middle.describe(),
        )
        seed.handle.set_upload_limit(0)
        yield leecher.whenComplete()
        self.assertEqual(
            digestTree(os.path.join(leechDir)), digestTree(seedDir)
        )

    @inlineCallbacks
    def test_libtorrentSeesHaveAllAndReject(self):
        """
        libtorrent's log of what it receives from our seed shows our have
        all, and a reject for each request we had not answered when we
        choked it.
        """
        data, seedDir = self.makeTorrent()
        # Slow, so that libtorrent's requests queue up with us.
        _, seeder, port = yield self.startBittwist(
            data, seedDir, config=SessionConfig(maxUploadRate=20_000)
        )
        yield self.waitUntil(lambda: seeder.state == "seeding", "the seeder to check")
        leecher = yield self.startLibtorrent(data, os.path.abspath(self.mktemp()), seed=False)
        leecher.session.apply_settings(
            {"alert_mask": leecher.session.get_settings()["alert_mask"] | lt.alert_category.peer_log}
        )
        received = []

        def listen(alert):
            # Messages received are logged as "<== NAME ...".
            if isinstance(alert, lt.peer_log_alert) and "<==" in alert.message():
                received.append(alert.message())

        leecher.alertListeners.append(listen)
        leecher.connectTo("127.0.0.1", port)

        def queued():
            # Requests for pieces we allowed fast are not rejected: wait for
            # others.
            return [
                p
                for p in seeder.peers
                if p.fast
                and [
                    r
                    for r in list(p.requestsIn.queued) + p.requestsIn.serving
                    if r[0] not in p.requestsIn.allowedFastOut
                ]
            ]

        yield self.waitUntil(queued, "libtorrent's requests to queue up with us")
        [peer] = queued()
        allowed = peer.requestsIn.allowedFastOut
        unanswered = list(peer.requestsIn.serving) + list(peer.requestsIn.queued)
        rejected = len([r for r in unanswered if r[0] not in allowed])
        peer.sender.setChoking(True)

        def saw(name):
            return [m for m in received if name in m]

        yield self.waitUntil(
            lambda: saw("<== HAVE_ALL") and rejected and len(saw("<== REJECT ")) >= rejected,
            "libtorrent to log our have all and rejects",
            lambda: f"{len(saw('<== HAVE_ALL'))} have all, {len(saw('<== REJECT '))} rejects "
            f"of {rejected}\n"
            + "\n".join(m for m in received if "PIECE" not in m and "ENCRYPTION" not in m),
        )

    @inlineCallbacks
    def test_libtorrentFetchesOurMetadata(self):
        """
        A libtorrent peer given only a magnet link (the info hash) and our
        address gets the metadata from us (ut_metadata), then the files.
        """
        data, seedDir = self.makeTorrent()
        _, seeder, port = yield self.startBittwist(data, seedDir)
        yield self.waitUntil(lambda: seeder.state == "seeding", "the seeder to check")
        leechDir = os.path.abspath(self.mktemp())
        os.makedirs(leechDir)
        holder = [blockingSession()]
        session = holder[0]

        def free():
            session = holder[0]
            for handle in session.get_torrents():
                session.remove_torrent(handle)
            session.pause()
            return deferToThreadPool(reactor, reactor.getThreadPool(), holder.clear)

        self.addCleanup(free)
        params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{seeder.infoHash.hex()}")
        params.save_path = leechDir
        params.flags &= ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        params.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
        handle = session.add_torrent(params)
        del session
        handle.connect_peer(("127.0.0.1", port))
        yield self.waitUntil(
            lambda: handle.status().has_metadata,
            "libtorrent to get the metadata from us",
            lambda: repr(handle.status().state),
        )
        yield self.waitUntil(
            lambda: handle.status().is_seeding, "libtorrent to download from us"
        )
        self.assertEqual(digestTree(leechDir), digestTree(seedDir))
