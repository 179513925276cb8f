"""
Tests for L{bittwist.torrent.options}: a running torrent's options, checked
whole, then handed to its parts.
"""

from typing import Any, Optional

from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bittwist.config import TorrentConfig
from bittwist.errors import UsageError
from bittwist.ratelimit import TokenBucket
from bittwist.storage import MemoryStorage
from bittwist.torrent.options import TorrentOptions
from tests.test_status import makeMetainfo


class RecordingPart:
    """
    Stands for the download, upload and swarm parts: records what it is
    told.
    """

    def __init__(self) -> None:
        self.sequential: Optional[bool] = None
        self.priorities: Any = "unset"
        self.config: Optional[TorrentConfig] = None
        self.seedRatio: Optional[float] = None
        self.seedTime: Optional[float] = None

    def setSequential(self, sequential: bool) -> None:
        self.sequential = sequential

    def setPriorities(self, priorities: Any) -> None:
        self.priorities = priorities

    def setConfig(self, config: TorrentConfig) -> None:
        self.config = config


class TorrentOptionsTests(SynchronousTestCase):
    """
    Tests for L{TorrentOptions}.
    """

    def makeOptions(self, config: TorrentConfig) -> TorrentOptions:
        clock = Clock()
        self.metainfo = makeMetainfo(self)
        self.part = RecordingPart()
        self.limits = (TokenBucket(clock), TokenBucket(clock))
        self.failures: list[Failure] = []
        return TorrentOptions(
            self.metainfo,
            config,
            MemoryStorage(self.metainfo),
            self.part,
            self.part,
            self.part,
            self.limits,
            self.failures.append,
        )

    def test_extraPrioritiesDropped(self) -> None:
        """
        File priorities beyond the torrent's files (a damaged record) are
        dropped; those given apply to the download at once.
        """
        options = self.makeOptions(TorrentConfig(filePriorities=(2, 1, 0, 1), sequential=True))
        self.assertEqual((options.numFiles, options.config.filePriorities), (2, (2, 1)))
        self.assertTrue(self.part.sequential)
        self.assertIsNotNone(self.part.priorities)
        self.assertEqual(self.failures, [])

    def test_changeHandedToParts(self) -> None:
        """
        A change reaches the swarm, the seed goals and the torrent's own
        buckets; it reports whether the wanted files changed.
        """
        options = self.makeOptions(TorrentConfig())
        self.assertFalse(options.change({"maxPeers": 7, "seedRatio": 2.0, "maxUploadRate": 1000}))
        assert self.part.config is not None
        self.assertEqual((self.part.config.maxPeers, self.part.seedRatio), (7, 2.0))
        self.assertEqual([bucket.rate for bucket in self.limits], [1000, 0])
        self.assertTrue(options.change({"filePriorities": (0, 1)}))
        self.assertEqual(options.config.filePriorities, (0, 1))

    def test_refusedWhole(self) -> None:
        """
        A change naming an option that cannot change while running, or
        priorities not one per file, is refused and changes nothing.
        """
        options = self.makeOptions(TorrentConfig())
        for bad in ({"maxPeers": 7, "uploadSlots": 9}, {"maxPeers": 7, "filePriorities": (1,)}):
            self.assertRaises(UsageError, options.change, bad)
        self.assertEqual(options.config, TorrentConfig())
        self.assertIsNone(self.part.config)
