# -*- test-case-name: tests.test_factory -*-
"""
Factories of peer connections: L{PeerClientFactory} for the connections we
make, L{PeerServerFactory} for the ones we accept.
"""

from typing import Callable, Optional, Protocol as TypingProtocol

from twisted.internet.interfaces import IAddress, IConnector, IReactorTime
from twisted.internet.protocol import ClientFactory, ServerFactory
from twisted.python.failure import Failure

from bittwist.peer import IPeerEvents, PeerProtocol

__all__ = ["PeerClientFactory", "PeerServerFactory"]


class IConnectingTorrent(IPeerEvents, TypingProtocol):
    """
    A torrent that makes outgoing connections and hears how they went.
    """

    peerId: bytes

    def connectionFailed(self, address: tuple[str, int], reason: str) -> None: ...
    def connectionEnded(self, address: tuple[str, int], handshaked: bool) -> None: ...


class PeerClientFactory(ClientFactory):
    """
    Makes one outgoing connection to one peer address for one torrent.
    """

    protocol = PeerProtocol
    noisy = False

    def __init__(
        self, reactor: IReactorTime, torrent: IConnectingTorrent, address: tuple[str, int]
    ) -> None:
        """
        @param reactor: passed on to the protocol, for its timers.
        @param torrent: the torrent the connection is for.
        @param address: the (host, port) dialled, reported back on failure.
        """
        self._reactor = reactor
        self.torrent = torrent
        self.address = address
        self._proto: Optional[PeerProtocol] = None

    def buildProtocol(self, addr: IAddress) -> PeerProtocol:
        proto = self.protocol(self._reactor, self.torrent.peerId, torrent=self.torrent)
        proto.factory = self
        self._proto = proto
        return proto

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.torrent.connectionFailed(self.address, reason.getErrorMessage())

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        proto = self._proto
        self.torrent.connectionEnded(self.address, proto is not None and proto.handshaked)


class PeerServerFactory(ServerFactory):
    """
    Accepts incoming peer connections for every torrent of a session, routing
    each by the info_hash of its handshake; an unknown info_hash is dropped.
    """

    protocol = PeerProtocol
    noisy = False

    def __init__(
        self,
        reactor: IReactorTime,
        peerId: bytes,
        lookup: Callable[[bytes], Optional[IPeerEvents]],
    ) -> None:
        """
        @param reactor: passed on to the protocol, for its timers.
        @param peerId: our peer id.
        @param lookup: finds the torrent for an info_hash, or C{None}.
        """
        self._reactor = reactor
        self.peerId = peerId
        self.lookup = lookup

    def buildProtocol(self, addr: IAddress) -> PeerProtocol:
        proto = self.protocol(self._reactor, self.peerId, lookup=self.lookup)
        proto.factory = self
        return proto
