"""
Tests for L{bittwist.sources.dht}: the DHT as a peer source.
"""

from dataclasses import replace
from typing import Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from bittwist.dht import IDHTNode
from bittwist.dht.krpc import NodeInfo
from bittwist.dht.lookup import LookupResult
from bittwist.session import Session
from bittwist.sources import IPeerSource
from bittwist.storage import MemoryStorage
from bittwist.torrent import Torrent
from bittwist.sources.dht import (
    ANNOUNCE_INTERVAL,
    MIN_INTERVAL,
    DHTSource,
    IDHTPortListener,
    dhtSourceFor,
)
from tests.fakes import MemoryStorageFactory
from tests.test_sources import RecordingOwner
from tests.test_torrent import makeTorrent


@implementer(IDHTNode)
class FakeDHTNode:
    """
    A DHT node whose lookups finish when the test says.

    @ivar lookups: info hashes looked up, with the Deferred of each.
    @ivar announced: C{(info hash, port)} announced.
    """

    nodeCount = 0
    lookupsRunning = 0

    def __init__(self) -> None:
        self.lookups: list[tuple[bytes, Deferred]] = []
        self.announced: list[tuple[bytes, Optional[int]]] = []
        self.added: list[tuple[str, int]] = []
        self.port: Optional[int] = 6881

    def getPeers(self, infoHash: bytes) -> Deferred:
        d: Deferred = Deferred()
        self.lookups.append((infoHash, d))
        return d

    def announcePeer(self, result: LookupResult, port: Optional[int]) -> Deferred:
        self.announced.append((result.target, port))
        return succeed(len(result.closest))

    def addNode(self, host: str, port: int) -> None:
        self.added.append((host, port))

    def listeningPort(self) -> Optional[int]:
        return self.port


def _result(infoHash: bytes, peers) -> LookupResult:
    return LookupResult(infoHash, [(NodeInfo(b"\x01" * 20, ("10.0.0.9", 1)), b"tok")], list(peers))


class DHTSourceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.node = FakeDHTNode()
        self.owner = RecordingOwner()
        self.source = DHTSource(self.node, self.clock)

    def test_dhtPort(self) -> None:
        """
        The source gives the node's UDP port, C{None} while it does not
        listen.
        """
        self.assertEqual(self.source.dhtPort(), 6881)
        self.node.port = None
        self.assertIsNone(self.source.dhtPort())

    def test_torrentsDHTPort(self) -> None:
        """
        A torrent with the DHT among its sources gives its node's port to
        its peers; one without, none.
        """
        metainfo, _ = makeTorrent(self)
        withDHT = Torrent(metainfo, MemoryStorage(metainfo), b"-BW0100-" + b"x" * 12, self.clock,
                          sources=[self.source])
        self.assertEqual(withDHT.peerEvents.dhtPort(), 6881)
        without = Torrent(metainfo, MemoryStorage(metainfo), b"-BW0100-" + b"x" * 12, self.clock)
        self.assertIsNone(without.peerEvents.dhtPort())

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPeerSource, self.source))
        self.assertTrue(verifyObject(IDHTPortListener, self.source))
        self.assertTrue(verifyObject(IDHTNode, self.node))
        self.assertEqual(self.source.name, "dht")

    def test_findsAndAnnounces(self) -> None:
        self.source.start(self.owner)
        [(infoHash, d)] = self.node.lookups
        self.assertEqual(infoHash, self.owner.infoHash)
        d.callback(_result(infoHash, [("10.0.0.1", 6881)]))
        self.assertEqual(self.owner.added, [([("10.0.0.1", 6881)], "dht")])
        self.assertEqual(self.node.announced, [(infoHash, self.owner.port)])

    def test_repeats(self) -> None:
        self.source.start(self.owner)
        self.node.lookups[0][1].callback(_result(self.owner.infoHash, []))
        self.assertEqual(self.owner.added, [])
        self.clock.advance(ANNOUNCE_INTERVAL - 1)
        self.assertEqual(len(self.node.lookups), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.node.lookups), 2)

    def test_wantPeersRateLimited(self) -> None:
        """
        wantPeers starts a round at most once a minute, never two at once.
        """
        self.source.start(self.owner)
        self.source.wantPeers()
        self.assertEqual(len(self.node.lookups), 1)
        self.node.lookups[0][1].callback(_result(self.owner.infoHash, []))
        self.source.wantPeers()
        self.assertEqual(len(self.node.lookups), 1)
        self.clock.advance(MIN_INTERVAL)
        self.source.wantPeers()
        self.assertEqual(len(self.node.lookups), 2)

    def test_stop(self) -> None:
        """
        After stop, a late lookup hands nothing over and nothing repeats.
        """
        self.source.start(self.owner)
        self.successResultOf(self.source.stop())
        self.node.lookups[0][1].callback(_result(self.owner.infoHash, [("10.0.0.1", 1)]))
        self.assertEqual((self.owner.added, self.node.announced), ([], []))
        self.clock.advance(ANNOUNCE_INTERVAL * 2)
        self.assertEqual(len(self.node.lookups), 1)
        self.source.wantPeers()
        self.assertEqual(len(self.node.lookups), 1)

    def test_privateNeverUsesDHT(self) -> None:
        self.assertIsNone(dhtSourceFor(True, self.node, self.clock))
        self.assertIsNone(dhtSourceFor(False, None, self.clock))
        self.assertIsInstance(dhtSourceFor(False, self.node, self.clock), DHTSource)


class SessionDHTTests(SynchronousTestCase):
    """
    A session with a DHT node gives public torrents a DHT source, private
    ones none.
    """

    def addTo(self, private: bool, node=None):
        metainfo, _ = makeTorrent(self)
        session = Session(Clock(), httpClient=object(), storageFactory=MemoryStorageFactory())
        session.dht = node or FakeDHTNode()
        self.torrent = session.addTorrent(replace(metainfo, private=private), "unused")
        return [source for source in self.torrent.sources if source.name == "dht"]

    def test_public(self) -> None:
        [source] = self.addTo(private=False)
        self.assertIsInstance(source, DHTSource)

    def test_private(self) -> None:
        self.assertEqual(self.addTo(private=True), [])

    def test_portMessage(self) -> None:
        """
        A peer's port message reaches the DHT node through the torrent's
        DHT source.
        """
        node = FakeDHTNode()
        self.addTo(private=False, node=node)

        class Peer:
            address = ("10.0.0.3", 51413)

        self.torrent.peerEvents.peerPort(Peer(), 6881)
        self.assertEqual(node.added, [("10.0.0.3", 6881)])
