# -*- test-case-name: tests.test_periodic,tests.test_ticks -*-
"""
L{PeriodicWork}: what a torrent does once a second while it has peers or
goals, ticked by the session's L{bittwist.torrent.ticks.TickService}.

One round: the download's pipelines and snubs, the seed goals, a choking
round, dialling, and asking the peer sources for more peers while short of
them. A seed without peers or a time goal has none, and sleeps until a
peer comes.
"""

from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from bittwist.torrent.lifecycle import TorrentState
from bittwist.torrent.ticks import ITickable, ITickService

if TYPE_CHECKING:
    from bittwist.torrent.facade import Torrent

__all__ = ["PeriodicWork"]

_State = TorrentState


@implementer(ITickable)
class PeriodicWork:
    """
    The periodic work of one torrent.
    """

    def __init__(self, torrent: "Torrent", reactor: Any, ticks: ITickService) -> None:
        """
        @param torrent: the torrent whose parts do the work; its parts are
            read at each round, so they may be made after this.
        @param reactor: for time.
        @param ticks: what ticks it while it is awake.
        """
        self._torrent = torrent
        self._lifecycle = torrent.lifecycle
        self._reactor = reactor
        self._ticks = ticks

    def __repr__(self) -> str:
        return f"<PeriodicWork of {self._torrent!r}>"

    def wake(self) -> None:
        """
        Tick from the next round on (while it says there is work).
        """
        self._ticks.wake(self)

    def sleep(self) -> None:
        """
        Stop ticking.
        """
        self._ticks.sleep(self)

    def tick(self) -> bool:
        """
        One round (see L{ITickable}): pipelines and snubs, seed goals,
        choking, dialling, asking for peers.

        @return: whether there is periodic work left: a seeding torrent
            without peers or a time goal has none until a peer comes.
        """
        torrent = self._torrent
        download = torrent.download
        download.tick(self._reactor.seconds())
        if self._lifecycle.state is _State.SEEDING:
            why = torrent.upload.goalReached(download.rate.total, torrent.metainfo.totalLength)
            if why is not None:
                torrent.moves.seedGoalReached(why)
                return False
        self.choke()
        swarm = torrent.swarm
        swarm.connectMore()
        state = self._lifecycle.state
        if state is _State.DOWNLOADING:
            if swarm.shortOfPeers():
                torrent.sources.wantPeers()
            return True
        # Seeding: peers come to us, and wake us (peerHandshaked).
        return state is _State.SEEDING and bool(swarm.peers or torrent.upload.seedTime is not None)

    def choke(self) -> None:
        """
        A choking round: whom to upload to, as the upload's choker says,
        snubbing peers counted out.
        """
        torrent = self._torrent
        peers = torrent.swarm.peers
        download = torrent.download
        snubbed = set()
        for peer in peers:
            record = download.record(peer)
            if record is not None and record.snubbed:
                snubbed.add(peer)
        torrent.upload.choke(peers, self._lifecycle.state is _State.SEEDING, snubbed)
