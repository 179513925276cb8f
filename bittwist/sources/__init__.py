# -*- test-case-name: tests.test_sources -*-
"""
Peer sources: where a torrent learns the addresses of peers.

Each source provides L{IPeerSource}. The torrent starts its sources when it
goes looking for peers and stops them when it stops; a source hands the
addresses it finds to L{ISourceOwner.addPeers}, tagged with its
L{IPeerSource.name}, so every peer can say where it came from. Trackers
(every scheme, in BEP 12 tiers), the user's own C{--peer} list, peer
exchange (L{bittwist.sources.pex}) and later the DHT are sources;
C{"incoming"} tags the peers that dialled us.
"""

from typing import Any, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred, succeed
from zope.interface import Attribute, Interface, implementer

from bittwist.announcer import Announcer, TrackerStatus

__all__ = ["IPeerSource", "ISourceOwner", "TrackerSource", "ManualSource", "INCOMING", "trackerStatusesOf"]

INCOMING = "incoming"
"""
The source tag of peers that connected to us.
"""

Address = tuple[str, int]


class ISourceOwner(Interface):
    """
    What a peer source sees of its torrent.
    """

    infoHash = Attribute("The torrent's 20-byte info hash.")
    peerId = Attribute("Our 20-byte peer id.")
    port = Attribute("Our listening port, as announced.")

    def addPeers(addresses: Iterable[Address], source: str) -> None:
        """
        Learn peer addresses found by the source named C{source}.
        """

    def transferStats() -> tuple[int, int, int]:
        """
        @return: bytes uploaded, downloaded, and left to download.
        """


class IPeerSource(Interface):
    """
    Finds peers for one torrent.
    """

    name = Attribute("The tag of the addresses it finds: 'tracker', 'manual', 'pex', 'dht'.")

    def start(owner: ISourceOwner) -> None:
        """
        Start looking for peers for C{owner}.
        """

    def stop() -> Deferred:
        """
        Stop looking (a tracker hears C{stopped}).

        @return: fires when done; never fails.
        """

    def completed() -> None:
        """
        The download completed (a tracker hears C{completed}).
        """

    def wantPeers() -> None:
        """
        The torrent is short of peers: look again soon, within the source's
        own limits of politeness.
        """


@implementer(IPeerSource)
class TrackerSource:
    """
    The torrent's trackers, in BEP 12 tiers.

    @ivar announcer: the announcer while started.
    """

    name = "tracker"

    def __init__(
        self,
        tiers: Sequence[Sequence[str]],
        reactor: Any,
        httpClient: Any = None,
    ) -> None:
        """
        @param tiers: announce URLs in tiers, best first.
        @param reactor: for time.
        @param httpClient: a treq-like client (treq by default).
        """
        self._tiers = tiers
        self._reactor = reactor
        self._httpClient = httpClient
        self.announcer: Optional[Announcer] = None

    def start(self, owner: ISourceOwner) -> None:
        kwargs = {} if self._httpClient is None else {"httpClient": self._httpClient}
        self.announcer = Announcer(
            self._tiers,
            owner.infoHash,
            owner.peerId,
            owner.port,
            owner.transferStats,
            lambda peers: owner.addPeers(peers, self.name),
            reactor=self._reactor,
            **kwargs,
        )
        self.announcer.start()

    def stop(self) -> Deferred[None]:
        announcer, self.announcer = self.announcer, None
        if announcer is None:
            return succeed(None)
        return announcer.stop()

    def completed(self) -> None:
        if self.announcer is not None:
            self.announcer.completed()

    def wantPeers(self) -> None:
        if self.announcer is not None:
            self.announcer.announceNow()

    def trackerStatuses(self) -> list[TrackerStatus]:
        """
        @return: each tracker's status; all C{"not contacted"} while the
            source is stopped.
        """
        if self.announcer is not None:
            return self.announcer.trackerStatuses()
        return [
            TrackerStatus(url, number, "not contacted")
            for number, tier in enumerate(self._tiers)
            for url in dict.fromkeys(tier)
        ]


def trackerStatusesOf(sources: Iterable[IPeerSource]) -> list[TrackerStatus]:
    """
    @return: the status of each tracker of C{sources}' tracker sources.
    """
    return [
        status
        for source in sources
        if isinstance(source, TrackerSource)
        for status in source.trackerStatuses()
    ]


@implementer(IPeerSource)
class ManualSource:
    """
    Addresses the user gave (C{--peer}, L{bittwist.service.BitTorrentService.addTorrent}).
    """

    name = "manual"

    def __init__(self, addresses: Iterable[Address]) -> None:
        self.addresses = tuple(addresses)

    def start(self, owner: ISourceOwner) -> None:
        if self.addresses:
            owner.addPeers(self.addresses, self.name)

    def stop(self) -> Deferred[None]:
        return succeed(None)

    def completed(self) -> None:
        pass

    def wantPeers(self) -> None:
        pass

