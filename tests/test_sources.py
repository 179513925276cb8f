"""
Tests for L{bittwist.sources}: the peer sources of a torrent.
"""

from typing import Iterable

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from zope.interface import implementer
from zope.interface.verify import verifyObject

import bencodepy

from bittwist.sources import IPeerSource, ISourceOwner, ManualSource, TrackerSource


@implementer(ISourceOwner)
class RecordingOwner:
    """
    A torrent as a source sees it, recording the peers it is given.
    """

    infoHash = b"\x11" * 20
    peerId = b"-BW0100-abcdefghijkl"
    port = 6881

    def __init__(self) -> None:
        self.added: list[tuple[list[tuple[str, int]], str]] = []

    def addPeers(self, addresses: Iterable[tuple[str, int]], source: str) -> None:
        self.added.append((list(addresses), source))

    def transferStats(self) -> tuple[int, int, int]:
        return (1, 2, 3)


class Tracker(Resource):
    """
    A tracker answering every announce with one peer, recording events.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.events: list[bytes] = []

    def render_GET(self, request) -> bytes:  # type: ignore[no-untyped-def]
        self.events.append(request.args.get(b"event", [b""])[0])
        return bencodepy.encode({b"interval": 1800, b"peers": bytes([10, 0, 0, 7, 0x1A, 0xE1])})


class SourceTests(SynchronousTestCase):
    """
    Tests for L{TrackerSource} and L{ManualSource}.
    """

    def test_interfaces(self) -> None:
        """
        Both sources provide L{IPeerSource}; the recording owner provides
        L{ISourceOwner}.
        """
        self.assertTrue(verifyObject(IPeerSource, ManualSource([])))
        self.assertTrue(verifyObject(IPeerSource, TrackerSource([["http://t/announce"]], Clock())))
        self.assertTrue(verifyObject(ISourceOwner, RecordingOwner()))

    def test_manual(self) -> None:
        """
        A L{ManualSource} hands over its addresses, tagged C{manual}, on each
        start.
        """
        owner = RecordingOwner()
        source = ManualSource([("10.0.0.1", 1)])
        source.start(owner)
        self.successResultOf(source.stop())
        source.start(owner)
        self.assertEqual(owner.added, [([("10.0.0.1", 1)], "manual")] * 2)

    def test_tracker(self) -> None:
        """
        A L{TrackerSource} announces C{started}, hands over the tracker's
        peers tagged C{tracker}, announces C{completed} and C{stopped}.
        """
        tracker = Tracker()
        owner = RecordingOwner()
        source = TrackerSource([["http://tracker.example/announce"]], Clock(), StubTreq(tracker))
        source.start(owner)
        self.assertEqual(owner.added, [([("10.0.0.7", 6881)], "tracker")])
        source.completed()
        self.successResultOf(source.stop())
        self.assertEqual(tracker.events, [b"started", b"completed", b"stopped"])
        self.successResultOf(source.stop())
