# -*- test-case-name: tests.test_torrent,tests.test_magnettorrent -*-
"""
L{PeerSources}: the peer sources of one torrent or magnet, started,
stopped and asked together.
"""

from typing import Iterable, Iterator, Optional

from twisted.internet.defer import Deferred, DeferredList, succeed

from bittwist.sources import IPeerSource, ISourceOwner, trackerStatusesOf
from bittwist.sources.dht import IDHTPortListener
from bittwist.announcer import TrackerStatus

__all__ = ["PeerSources"]


class PeerSources:
    """
    The L{IPeerSource}s of one owner, in order; iterating gives them.
    Starting them twice, or stopping them when stopped, does nothing.

    @ivar running: whether they are started.
    """

    def __init__(self, sources: Iterable[IPeerSource]) -> None:
        self._sources = list(sources)
        self.running = False

    def __iter__(self) -> Iterator[IPeerSource]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def start(self, owner: ISourceOwner) -> None:
        """
        Start every source for C{owner}, unless they run already.
        """
        if not self.running:
            self.running = True
            for source in self._sources:
                source.start(owner)

    def stop(self) -> Deferred[None]:
        """
        Stop every source (trackers hear C{stopped}), if they run.

        @return: fires when every source is done; never fails.
        """
        if not self.running:
            return succeed(None)
        self.running = False
        d = DeferredList([source.stop() for source in self._sources], consumeErrors=True)
        return d.addCallback(lambda _: None)

    def completed(self) -> None:
        """
        Tell every source the download completed.
        """
        for source in self._sources:
            source.completed()

    def wantPeers(self) -> None:
        """
        Ask every source for more peers, within each one's politeness.
        """
        for source in self._sources:
            source.wantPeers()

    def trackerStatuses(self) -> list[TrackerStatus]:
        """
        @return: the status of each tracker of the tracker sources.
        """
        return trackerStatusesOf(self._sources)

    def dhtPort(self) -> Optional[int]:
        """
        @return: the UDP port of our DHT node, if a source is the DHT and it
            listens.
        """
        for source in self._sources:
            if IDHTPortListener.providedBy(source):
                return source.dhtPort()
        return None

    def peerDHTPort(self, host: str, port: int) -> None:
        """
        A peer's DHT node listens on UDP C{port} of C{host}: tell the DHT
        source, if any.
        """
        for source in self._sources:
            if IDHTPortListener.providedBy(source):
                source.peerDHTPort(host, port)
