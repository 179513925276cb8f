"""
The test doubles of L{tests.fakes} provide the interfaces they stand in for.
"""

from twisted.internet.interfaces import (
    IListeningPort,
    IReactorTime,
    IStreamClientEndpoint,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist.storage import IPieceStorage
from tests.fakes import (
    FakeEndpoints,
    ManualStorage,
    MemoryStorageFactory,
    UDPClock,
    UncheckedStorage,
)
from tests.test_torrent import makeTorrent


class FakesTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        """
        Each fake passes C{verifyObject} for its interface.
        """
        metainfo, _ = makeTorrent(self)
        self.assertTrue(verifyObject(IStreamClientEndpoint, FakeEndpoints()("10.0.0.1", 1)))
        self.assertTrue(verifyObject(IPieceStorage, ManualStorage(metainfo)))
        self.assertTrue(verifyObject(IPieceStorage, MemoryStorageFactory()(metainfo, "d")))
        self.assertTrue(verifyObject(IPieceStorage, UncheckedStorage(metainfo, "d")))
        port = UDPClock().listenUDP(0, DatagramProtocol())
        self.assertTrue(verifyObject(IUDPTransport, port))
        self.assertTrue(verifyObject(IListeningPort, port))
        self.assertTrue(verifyObject(IReactorTime, UDPClock()))
