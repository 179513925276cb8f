# -*- test-case-name: tests.test_factory -*-
"""
Factories of peer connections: L{PeerClientFactory} for the connections we
make, L{PeerServerFactory} for the ones we accept.
"""

import ipaddress
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IAddress, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import ClientFactory, Factory, ServerFactory

from bittwist.encryption import EncryptedClientFactory
from bittwist.mse import Policy
from bittwist.peer import IPeerEvents, PeerProtocol

__all__ = ["PeerClientFactory", "PeerServerFactory", "PeerDialer", "tcpEndpoint"]

CONNECT_TIMEOUT = 15
"""
Seconds an outgoing TCP connection may take to be established.
"""


class PeerClientFactory(ClientFactory):
    """
    Makes one outgoing connection to one peer address for one torrent.

    @ivar peer: the protocol, once built.
    """

    protocol = PeerProtocol
    noisy = False

    def __init__(
        self,
        reactor: IReactorTime,
        torrent: IPeerEvents,
        address: tuple[str, int],
        peerId: bytes,
        source: str = "manual",
    ) -> None:
        """
        @param reactor: passed on to the protocol, for its timers.
        @param torrent: the torrent the connection is for.
        @param address: the (host, port) dialled.
        @param peerId: our peer id.
        @param source: where the address came from.
        """
        self._reactor = reactor
        self.torrent = torrent
        self.address = address
        self.peerId = peerId
        self.source = source
        self.peer: Optional[PeerProtocol] = None

    def buildProtocol(self, addr: IAddress) -> PeerProtocol:
        proto = self.protocol(
            self._reactor, self.peerId, torrent=self.torrent, dialed=self.address, source=self.source
        )
        proto.factory = self
        self.peer = proto
        return proto


def tcpEndpoint(reactor: Any, host: str, port: int) -> IStreamClientEndpoint:
    """
    @return: a TCP client endpoint to C{host}, an IPv4 or IPv6 address or a
        host name, with L{CONNECT_TIMEOUT}.
    """
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return HostnameEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
    endpoint = TCP4ClientEndpoint if version == 4 else TCP6ClientEndpoint
    return endpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)


class PeerDialer:
    """
    Makes outgoing peer connections through client endpoints.

    @ivar endpointFactory: makes the endpoint for a C{(host, port)}.
    @ivar wrapFactory: wraps a connection's factory before it dials, or
        C{None}.
    @ivar encryption: whether outgoing connections start with an MSE/PE
        handshake (C{prefer} or C{require}) or not (C{off}).
    """

    def __init__(
        self,
        reactor: Any,
        peerId: bytes,
        endpointFactory: Optional[Callable[[str, int], IStreamClientEndpoint]] = None,
        wrapFactory: Optional[Callable[[PeerClientFactory], Factory]] = None,
        encryption: Policy = Policy.OFF,
    ) -> None:
        """
        @param reactor: for the protocols' timers and the default endpoints.
        @param peerId: our peer id.
        @param endpointFactory: see L{endpointFactory}; TCP by default.
        @param wrapFactory: see L{wrapFactory}.
        @param encryption: see L{encryption}.
        """
        self._reactor = reactor
        self.peerId = peerId
        self.endpointFactory = endpointFactory or (lambda host, port: tcpEndpoint(reactor, host, port))
        self.wrapFactory = wrapFactory
        self.encryption = encryption

    def dial(
        self, torrent: IPeerEvents, address: tuple[str, int], source: str, encrypt: bool = True
    ) -> Deferred[PeerProtocol]:
        """
        Connect to a peer for a torrent.

        @param encrypt: whether to start with an MSE/PE handshake, if the
            policy allows (C{False}: plaintext, after an encrypted handshake
            with the peer failed under C{prefer}).
        @return: fires with the peer's protocol once connected (the
            handshake is then under way), or fails; cancel it to give up. A
            failed MSE/PE handshake closes the protocol with an
            L{bittwist.errors.EncryptionError} (see L{PeerProtocol.lostReason}).
        """
        factory = PeerClientFactory(self._reactor, torrent, address, self.peerId, source)
        outer: Factory = factory
        if self.encryption is not Policy.OFF and (encrypt or self.encryption is Policy.REQUIRE):
            outer = EncryptedClientFactory(
                factory, torrent.infoHash, self.encryption, self._reactor, fallback=False
            )
        if self.wrapFactory is not None:
            outer = self.wrapFactory(outer)
        d = self.endpointFactory(*address).connect(outer)

        def connected(_: object) -> PeerProtocol:
            assert factory.peer is not None
            return factory.peer

        return d.addCallback(connected)


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
