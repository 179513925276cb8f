# -*- test-case-name: tests.test_sources_dht -*-
"""
The DHT as a peer source: a torrent's peers found, and its own address
announced, through a L{bittwist.dht.IDHTNode}.

Private torrents (BEP 27) never use the DHT: build the source with
L{dhtSourceFor}, which gives none for them.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import Interface, implementer

from bittwist.dht import IDHTNode
from bittwist.sources import IPeerSource, ISourceOwner

__all__ = ["DHTSource", "IDHTPortListener", "dhtSourceFor", "ANNOUNCE_INTERVAL", "MIN_INTERVAL"]

#: Seconds between two rounds (get_peers, then announce_peer).
ANNOUNCE_INTERVAL = 15 * 60

#: The fewest seconds between two rounds, however often peers are wanted.
MIN_INTERVAL = 60


class IDHTPortListener(Interface):
    """
    A peer source that wants the DHT ports peers tell us (the peer wire
    C{port} message of BEP 5).
    """

    def peerDHTPort(host: str, port: int) -> None:
        """
        The peer at C{host} runs a DHT node on UDP C{port}.
        """

    def dhtPort() -> Optional[int]:
        """
        @return: the UDP port our DHT node listens on, or C{None} if it does
            not (yet).
        """


@implementer(IPeerSource, IDHTPortListener)
class DHTSource:
    """
    Finds peers for one torrent in the DHT, and announces it there.

    @ivar rounds: rounds started.
    @ivar lastPeers: the peers the last finished round found.
    """

    name = "dht"
    log = Logger()

    def __init__(
        self,
        node: IDHTNode,
        reactor: Any,
        interval: float = ANNOUNCE_INTERVAL,
        minInterval: float = MIN_INTERVAL,
        announce: bool = True,
    ) -> None:
        """
        @param node: the DHT node to ask.
        @param reactor: for time.
        @param interval: seconds between rounds.
        @param minInterval: the fewest seconds between two rounds.
        @param announce: whether to announce our port after each lookup.
        """
        self._node = node
        self._reactor = reactor
        self._interval = interval
        self._minInterval = minInterval
        self._announce = announce
        self._owner: Optional[ISourceOwner] = None
        self._next: Any = None
        self._running = False
        self._lastStart: Optional[float] = None
        self.rounds = 0
        self.lastPeers = 0

    def start(self, owner: ISourceOwner) -> None:
        self._owner = owner
        self._round()

    def stop(self) -> Deferred[None]:
        self._owner = None
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None
        return succeed(None)

    def completed(self) -> None:
        pass

    def wantPeers(self) -> None:
        # _round itself refuses without an owner or while a round runs.
        if self._lastStart is not None and self._reactor.seconds() - self._lastStart < self._minInterval:
            return
        self._round()

    def peerDHTPort(self, host: str, port: int) -> None:
        self._node.addNode(host, port)

    def dhtPort(self) -> Optional[int]:
        return self._node.listeningPort()

    def _round(self) -> None:
        owner = self._owner
        if owner is None or self._running:
            return
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None
        self._running = True
        self._lastStart = self._reactor.seconds()
        self.rounds += 1
        d = self._node.getPeers(owner.infoHash)
        d.addCallback(self._found, owner)
        d.addErrback(lambda f: self.log.failure("DHT lookup failed", f))
        d.addBoth(self._roundDone, owner)

    def _found(self, result: Any, owner: ISourceOwner) -> Optional[Deferred]:
        if self._owner is not owner:
            return None
        self.lastPeers = len(result.peers)
        if result.peers:
            owner.addPeers(result.peers, self.name)
        if self._announce and owner.port:
            return self._node.announcePeer(result, owner.port)
        return None

    def _roundDone(self, _: object, owner: ISourceOwner) -> None:
        self._running = False
        if self._owner is owner:
            self._next = self._reactor.callLater(self._interval, self._round)


def dhtSourceFor(private: bool, node: Optional[IDHTNode], reactor: Any) -> Optional[DHTSource]:
    """
    The DHT source of a torrent, if it may have one.

    @param private: the torrent's BEP 27 C{private} flag.
    @param node: the session's DHT node, or C{None} when the DHT is off.
    @return: a L{DHTSource}, or C{None} for a private torrent or without a
        node.
    """
    if private or node is None:
        return None
    return DHTSource(node, reactor)
