"""
Tests for L{bittwist.config}.
"""

import dataclasses

from twisted.trial.unittest import SynchronousTestCase

from bittwist.config import SessionConfig, TorrentConfig
from bittwist.errors import UsageError


class ConfigTests(SynchronousTestCase):
    """
    Configuration is validated data.
    """

    def test_defaults(self) -> None:
        """
        The defaults: 50 peers, 8 attempts at once, 4 upload slots, no seed
        goal, trackers used, no rate limit.
        """
        config = SessionConfig()
        self.assertEqual(
            (config.torrent.maxPeers, config.torrent.maxHalfOpen, config.torrent.uploadSlots),
            (50, 8, 4),
        )
        self.assertEqual((config.torrent.seedRatio, config.torrent.seedTime), (None, None))
        self.assertTrue(config.torrent.announce)
        self.assertEqual((config.maxUploadRate, config.maxDownloadRate), (0, 0))
        self.assertEqual((config.torrent.maxCandidates, config.maxCandidates), (2000, 50_000))

    def test_invalid(self) -> None:
        """
        Values that make no sense raise L{UsageError} naming the field.
        """
        for kwargs, name in [
            ({"maxPeers": 0}, "maxPeers"),
            ({"uploadSlots": -1}, "uploadSlots"),
            ({"seedRatio": -1.0}, "seedRatio"),
            ({"seedTime": float("nan")}, "seedTime"),
        ]:
            self.assertIn(name, str(self.assertRaises(UsageError, TorrentConfig, **kwargs)))
        self.assertRaises(UsageError, SessionConfig, maxUploadRate=-1)
        self.assertIn("maxCandidates", str(self.assertRaises(UsageError, SessionConfig, maxCandidates=0)))

    def test_frozen(self) -> None:
        """
        Configurations are changed by replacing them, not in place.
        """
        config = TorrentConfig()
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, config, "maxPeers", 3)
        self.assertEqual(dataclasses.replace(config, maxPeers=3).maxPeers, 3)
