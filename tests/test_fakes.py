"""
The test doubles of L{tests.fakes} provide the interfaces they stand in for.
"""

from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist.storage import IPieceStorage
from tests.fakes import FakeEndpoints, ManualStorage, MemoryStorageFactory
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
