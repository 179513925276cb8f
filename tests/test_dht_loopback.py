"""
Integration tests of the DHT on 127.0.0.1: a dozen of our nodes, and
libtorrent's DHT among them, and a mixed dozen of both.
"""

import os
import random

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from bittwist.dht.node import DHTNode
from bittwist.dht.service import DHTService
from bittwist.events import PeerConnected
from bittwist.dht.routing import K, distance
from bittwist.service import BitTorrentService
from tests.ltdht import LibtorrentDHT
from tests.ltpeer import digestTree, makeV1Seed
from tests.polling import pollUntil

#: Our loopback nodes share one IP: let each answer it freely.
_OPEN = {"answerRate": 1000.0, "answerBurst": 1000.0, "inputRate": 5000.0, "inputBurst": 5000.0}


def _sleep(seconds: float):
    return deferLater(reactor, seconds, lambda: None)


class LoopbackDHTTestCase(TestCase):
    """
    Starts a dozen of our nodes, each joining through the first.
    """

    size = 12

    @inlineCallbacks
    def setUp(self):
        self.rng = random.Random(11)
        self.nodes = []
        first = self.startNode(bootstrap=())
        self.bootstrap = ("127.0.0.1", self.portOf[first])
        for _ in range(self.size - 1):
            self.startNode(bootstrap=[self.bootstrap])
        yield _sleep(0.3)
        for node in self.nodes:
            yield node.bootstrap()

    def startNode(self, bootstrap) -> DHTNode:
        if not hasattr(self, "portOf"):
            self.portOf = {}
        node = DHTNode(reactor, nodeId=self.rng.randbytes(20), bootstrap=bootstrap, **_OPEN)
        port = reactor.listenUDP(0, node, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.portOf[node] = port.getHost().port
        self.nodes.append(node)
        return node

    def startLibtorrent(self) -> LibtorrentDHT:
        peer = LibtorrentDHT(reactor, [self.bootstrap])
        self.addCleanup(peer.stop)
        return peer

    def waitFor(self, condition, timeout: float, what: str, peer: LibtorrentDHT, retry=None):
        """
        Poll C{condition} every 0.2 s on the real reactor, calling C{retry}
        each time, and fail with libtorrent's last alerts after C{timeout}.
        """
        alerts = lambda: "libtorrent said:\n" + "\n".join(peer.alerts[-20:])  # noqa: E731
        return pollUntil(condition, timeout, what, alerts, interval=0.2, retry=retry)


    def waitUntilLibtorrentFinds(self, peer: LibtorrentDHT, infoHash: bytes, address: tuple[str, int]):
        """
        Ask C{peer} for C{infoHash}'s peers every two seconds until
        C{address} is among them; fail after 20 s.
        """
        ticks = iter(range(1000))

        def askEveryTwoSeconds() -> None:
            if next(ticks) % 10 == 0:
                peer.getPeers(infoHash)

        return self.waitFor(
            lambda: address in peer.found.get(infoHash, ()),
            20,
            "libtorrent did not find the peer",
            peer,
            retry=askEveryTwoSeconds,
        )

class OurDHTTests(LoopbackDHTTestCase):
    """
    Lookups among our own nodes.
    """

    def test_tablesFilled(self) -> None:
        """
        After bootstrap every node knows most of the others.
        """
        for node in self.nodes:
            self.assertGreaterEqual(len(node.table), K, node.nodeId.hex())

    @inlineCallbacks
    def test_lookupsConverge(self):
        """
        A find_node lookup from any node ends on the K nodes truly closest
        to the target.
        """
        for asker in (self.nodes[1], self.nodes[7], self.nodes[11]):
            target = self.rng.randbytes(20)
            result = yield asker.findNode(target)
            others = [n for n in self.nodes if n is not asker]
            expected = sorted(others, key=lambda n: distance(n.nodeId, target))[:K]
            self.assertEqual([info.nodeId for info, _ in result.closest], [n.nodeId for n in expected])
            self.assertEqual(
                [info.address for info, _ in result.closest],
                [("127.0.0.1", self.portOf[n]) for n in expected],
            )

    @inlineCallbacks
    def test_announcedPeerFound(self):
        infoHash = self.rng.randbytes(20)
        result = yield self.nodes[3].getPeers(infoHash)
        self.assertEqual(result.peers, [])
        acknowledged = yield self.nodes[3].announcePeer(result, 6881)
        self.assertEqual(acknowledged, K)
        found = yield self.nodes[9].getPeers(infoHash)
        self.assertEqual(found.peers, [("127.0.0.1", 6881)])


class LibtorrentInteropTests(LoopbackDHTTestCase):
    """
    libtorrent's DHT node joins ours on 127.0.0.1.
    """

    @inlineCallbacks
    def test_libtorrentFindsOurAnnounce(self):
        """
        A peer announced through our nodes, before libtorrent joined, is
        found by libtorrent's get_peers through our nodes.
        """
        infoHash = self.rng.randbytes(20)
        result = yield self.nodes[4].getPeers(infoHash)
        acknowledged = yield self.nodes[4].announcePeer(result, 51413)
        self.assertEqual(acknowledged, K)
        peer = self.startLibtorrent()
        yield self.waitFor(lambda: peer.nodeCount() > 0, 10, "libtorrent joined no node", peer)
        yield self.waitUntilLibtorrentFinds(peer, infoHash, ("127.0.0.1", 51413))

    @inlineCallbacks
    def test_weFindLibtorrentsAnnounce(self):
        """
        libtorrent announces through our nodes; our get_peers from another
        node finds it.
        """
        infoHash = self.rng.randbytes(20)
        peer = self.startLibtorrent()
        yield self.waitFor(lambda: peer.nodeCount() >= K, 10, "libtorrent joined too few nodes", peer)
        peer.announce(infoHash, 40000)
        for _ in range(50):
            result = yield self.nodes[10].getPeers(infoHash)
            if ("127.0.0.1", 40000) in result.peers:
                break
            yield _sleep(0.2)
        else:
            self.fail("libtorrent's announce was not found:\n" + "\n".join(peer.alerts[-20:]))
        # libtorrent is a node of our DHT like any other.
        known = {r.address for node in self.nodes for r in node.table.nodes()}
        self.assertIn(("127.0.0.1", peer.port), known)


class SeedThroughDHTTests(LoopbackDHTTestCase):
    """
    The DHT in a whole download: a libtorrent leecher, whose only way to
    peers is bittwist's DHT node, downloads from a bittwist seeder.
    """

    timeout = 120

    @inlineCallbacks
    def announcedLibtorrentSeeder(self, files: dict, seed: int):
        """
        Start a libtorrent DHT node seeding a trackerless torrent of
        C{files} (see L{makePayload}) and wait until our DHT holds its
        announce, so that bittwist's first lookup can find it.

        @return: a L{Deferred} firing with C{(seedDir, torrentData,
            seeder, infoHash)}.
        """
        data, seedDir = makeV1Seed(self.mktemp(), files, seed=seed, pieceLength=32768)
        seeder = LibtorrentDHT(reactor, [self.bootstrap])
        self.addCleanup(seeder.stop)
        for _ in range(100):
            if seeder.nodeCount() >= K:
                break
            yield _sleep(0.1)
        handle = seeder.addTorrent(data, seedDir, seed=True)
        infoHash = handle.info_hashes().v1.to_bytes()
        # libtorrent announces the torrent on its own.
        for _ in range(200):
            if any(n.peerStore.peers(infoHash, 50) for n in self.nodes):
                break
            yield _sleep(0.1)
        else:
            self.fail("libtorrent did not announce its torrent:\n" + "\n".join(seeder.alerts[-20:]))
        return (seedDir, data, seeder, infoHash)

    def serviceBootstrappedFrom(self, seeder: LibtorrentDHT) -> BitTorrentService:
        """
        A bittwist service whose DHT node joins through C{seeder}'s only.
        """
        dht = DHTService(0, "127.0.0.1", bootstrap=[("127.0.0.1", seeder.port)], reactor=reactor, **_OPEN)
        return BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None, dht=dht)

    @inlineCallbacks
    def test_libtorrentLeecherFindsBittwistSeeder(self):
        """
        bittwist seeds a torrent without trackers; its DHT source announces
        it through bittwist's node (joined to our loopback DHT); libtorrent,
        bootstrapped from bittwist's node only, finds the seeder there and
        downloads every byte.
        """
        data, seedDir = makeV1Seed(self.mktemp(), {"a.bin": 300_000, "b/c.bin": 123_457}, seed=3, pieceLength=32768)
        dht = DHTService(0, "127.0.0.1", bootstrap=[self.bootstrap], reactor=reactor, **_OPEN)
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None, dht=dht
        )
        seeder = service.addTorrent(data, seedDir)
        self.assertIn("dht", [source.name for source in seeder.sources])
        service.startService()
        self.addCleanup(service.stopService)
        port = yield service.whenListening()
        infoHash = seeder.metainfo.infoHash

        def announced() -> bool:
            return any(("127.0.0.1", port) in n.peerStore.peers(infoHash, 50) for n in self.nodes)

        for _ in range(150):
            if announced():
                break
            yield _sleep(0.1)
        else:
            self.fail("the seeder was never announced in the DHT")
        leecher = LibtorrentDHT(reactor, [("127.0.0.1", dht.port.getHost().port)])
        self.addCleanup(leecher.stop)
        leechDir = os.path.abspath(self.mktemp())
        handle = leecher.addTorrent(data, leechDir)
        for _ in range(600):
            status = handle.status()
            if status.is_seeding or status.is_finished:
                break
            yield _sleep(0.1)
        else:
            self.fail("libtorrent did not download through the DHT:\n" + "\n".join(leecher.alerts[-20:]))
        self.assertEqual(digestTree(os.path.join(leechDir, "payload")), digestTree(os.path.join(seedDir, "payload")))
        # No tracker, no LSD, no PEX: libtorrent's DHT lookup found the seeder.
        self.assertGreater(leecher.torrentPeersFromDHT, 0)

    @inlineCallbacks
    def test_bittwistFindsLibtorrentSeeder(self):
        """
        libtorrent seeds a torrent without trackers and announces it in the
        DHT; bittwist, bootstrapped from libtorrent's DHT node only, finds
        the seeder through its dht source and downloads every byte.
        """
        seedDir, data, seeder, infoHash = yield self.announcedLibtorrentSeeder(
            {"a.bin": 250_000, "b.bin": 70_001}, seed=4
        )
        service = self.serviceBootstrappedFrom(seeder)
        leechDir = os.path.abspath(self.mktemp())
        torrent = service.addTorrent(data, leechDir)
        [source] = [source for source in torrent.sources if source.name == "dht"]
        connected = []
        torrent.addObserver(
            lambda event: connected.append(event.address) if isinstance(event, PeerConnected) else None
        )
        service.startService()
        self.addCleanup(service.stopService)
        yield service.whenListening()
        for _ in range(300):
            if torrent.state == "seeding":
                break
            yield _sleep(0.1)
        else:
            self.fail(f"bittwist did not download through the DHT ({torrent.state}):\n" + "\n".join(seeder.alerts[-20:]))
        self.assertEqual(digestTree(os.path.join(leechDir, "payload")), digestTree(os.path.join(seedDir, "payload")))
        # No tracker, no --peer: the seeder's address came from the DHT.
        self.assertGreaterEqual(source.lastPeers, 1)
        self.assertEqual(connected, [("127.0.0.1", seeder.port)])

    @inlineCallbacks
    def test_magnetThroughLibtorrentDHT(self):
        """
        bittwist given only a magnet link (no tracker, no peer) and a
        libtorrent DHT node as bootstrap finds a libtorrent seeder through
        the DHT, fetches the metadata from it, then the files.
        """
        seedDir, data, seeder, infoHash = yield self.announcedLibtorrentSeeder(
            {"a.bin": 200_000, "b.bin": 50_001}, seed=5
        )
        service = self.serviceBootstrappedFrom(seeder)
        leechDir = os.path.abspath(self.mktemp())
        magnet = service.addMagnet(f"magnet:?xt=urn:btih:{infoHash.hex()}", leechDir)
        service.startService()
        self.addCleanup(service.stopService)
        torrent = yield magnet.whenTorrent()
        self.assertEqual(torrent.metainfo.infoHash, infoHash)
        for _ in range(300):
            if torrent.state == "seeding":
                break
            yield _sleep(0.1)
        else:
            self.fail(f"bittwist did not download after the metadata ({torrent.state})")
        self.assertEqual(digestTree(os.path.join(leechDir, "payload")), digestTree(os.path.join(seedDir, "payload")))


class MixedDHTTests(LoopbackDHTTestCase):
    """
    One loopback DHT of a dozen nodes: eight of ours and four libtorrent
    sessions' DHT nodes, all joined through our first node.
    """

    size = 8
    libtorrents = 4

    @inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.peers = [self.startLibtorrent() for _ in range(self.libtorrents)]
        for peer in self.peers:
            yield self.waitFor(lambda: peer.nodeCount() >= K, 10, "libtorrent joined too few nodes", peer)
        # libtorrent's node ids, as they answer on the wire.
        self.ltIdOf = {}
        for peer in self.peers:
            response = yield self.nodes[0].ping(("127.0.0.1", peer.port))
            self.ltIdOf[peer] = response.senderId

    @inlineCallbacks
    def test_lookupsConvergeOnMixedNodes(self):
        """
        A get_peers lookup from one of our nodes, for a target next to each
        libtorrent node's id in turn, ends on the K nodes truly closest to it
        among all eleven others: libtorrent's and ours alike, libtorrent's
        own node first.
        """
        asker = self.nodes[2]
        everyone = [(n.nodeId, ("127.0.0.1", self.portOf[n])) for n in self.nodes if n is not asker]
        everyone += [(self.ltIdOf[p], ("127.0.0.1", p.port)) for p in self.peers]
        for peer in self.peers:
            target = self.ltIdOf[peer][:19] + bytes([self.ltIdOf[peer][19] ^ 1])
            expected = sorted(everyone, key=lambda entry: distance(entry[0], target))[:K]
            result = yield asker.getPeers(target)
            self.assertEqual([(info.nodeId, info.address) for info, _ in result.closest], expected)
            self.assertEqual(result.closest[0][0].address, ("127.0.0.1", peer.port))
            # Every one of them gave a token to announce with.
            self.assertNotIn(None, [token for _, token in result.closest])

    @inlineCallbacks
    def test_weFindLibtorrentsAnnounce(self):
        """
        One libtorrent node announces an info hash; a get_peers lookup from
        one of our nodes finds it.
        """
        infoHash = self.rng.randbytes(20)
        self.peers[1].announce(infoHash, 40001)
        for _ in range(50):
            result = yield self.nodes[5].getPeers(infoHash)
            if ("127.0.0.1", 40001) in result.peers:
                break
            yield _sleep(0.2)
        else:
            self.fail("libtorrent's announce was not found:\n" + "\n".join(self.peers[1].alerts[-20:]))

    @inlineCallbacks
    def test_libtorrentFindsOurAnnounce(self):
        """
        One of our nodes announces an info hash; libtorrent's
        C{dht_get_peers} from another session finds it.
        """
        infoHash = self.rng.randbytes(20)
        result = yield self.nodes[6].getPeers(infoHash)
        acknowledged = yield self.nodes[6].announcePeer(result, 51414)
        self.assertEqual(acknowledged, K)
        peer = self.peers[3]
        yield self.waitUntilLibtorrentFinds(peer, infoHash, ("127.0.0.1", 51414))
