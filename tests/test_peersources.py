"""
Tests for L{bittwist.torrent.peersources}: a torrent's peer sources,
started, stopped and asked together.
"""

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from bittwist.sources import IPeerSource, ISourceOwner
from bittwist.torrent.peersources import PeerSources
from tests.test_sources import RecordingOwner


@implementer(IPeerSource)
class RecordingSource:
    """
    A peer source that records what it is asked; its C{stop} fires when
    the test says.
    """

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.stopping: list[Deferred[None]] = []

    def start(self, owner: ISourceOwner) -> None:
        self.calls.append("start")

    def stop(self) -> Deferred[None]:
        self.calls.append("stop")
        d: Deferred[None] = Deferred()
        self.stopping.append(d)
        return d

    def completed(self) -> None:
        self.calls.append("completed")

    def wantPeers(self) -> None:
        self.calls.append("wantPeers")


class PeerSourcesTests(SynchronousTestCase):
    """
    Tests for L{PeerSources}.
    """

    def setUp(self) -> None:
        self.first, self.second = RecordingSource(), RecordingSource()
        self.sources = PeerSources([self.first, self.second])

    def test_startedOnce(self) -> None:
        """
        Started twice, each source starts once; stopping when stopped does
        nothing and fires at once.
        """
        self.successResultOf(self.sources.stop())
        self.sources.start(RecordingOwner())
        self.sources.start(RecordingOwner())
        self.assertEqual([self.first.calls, self.second.calls], [["start"]] * 2)
        self.assertEqual(list(self.sources), [self.first, self.second])

    def test_stopWaitsForEvery(self) -> None:
        """
        L{PeerSources.stop} fires once every source has stopped, even one
        that failed.
        """
        self.sources.start(RecordingOwner())
        d = self.sources.stop()
        self.first.stopping[0].errback(RuntimeError("tracker gone"))
        self.assertNoResult(d)
        self.second.stopping[0].callback(None)
        self.assertIsNone(self.successResultOf(d))
        self.assertFalse(self.sources.running)

    def test_askedTogether(self) -> None:
        """
        C{completed} and C{wantPeers} reach every source.
        """
        self.sources.completed()
        self.sources.wantPeers()
        self.assertEqual([self.first.calls, self.second.calls], [["completed", "wantPeers"]] * 2)
