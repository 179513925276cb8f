# -*- test-case-name: tests.test_factory -*-
"""
Factories of peer connections: L{PeerClientFactory} for the connections we
make, L{PeerServerFactory} for the ones we accept.
"""

import collections
import ipaddress
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IAddress, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import ClientFactory, Factory, ServerFactory

from bittwist.encryption import EncryptedClientFactory
from bittwist.mse import Policy
from bittwist.peer import PeerProtocol
from bittwist.peerevents import IPeerEvents
from bittwist.readpacer import ReadPacer

__all__ = ["PeerClientFactory", "PeerServerFactory", "PeerDialer", "tcpEndpoint", "DIAL_BATCH", "DIAL_INTERVAL"]

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
        pacer: Optional[ReadPacer] = None,
    ) -> None:
        """
        @param reactor: passed on to the protocol, for its timers.
        @param torrent: the torrent the connection is for.
        @param address: the (host, port) dialled.
        @param peerId: our peer id.
        @param source: where the address came from.
        @param pacer: passed on to the protocol.
        """
        self._pacer = pacer
        self._reactor = reactor
        self.torrent = torrent
        self.address = address
        self.peerId = peerId
        self.source = source
        self.peer: Optional[PeerProtocol] = None

    def buildProtocol(self, addr: IAddress) -> PeerProtocol:
        proto = self.protocol(
            self._reactor,
            self.peerId,
            torrent=self.torrent,
            dialed=self.address,
            source=self.source,
            pacer=self._pacer,
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


DIAL_BATCH = 8
DIAL_INTERVAL = 0.0125
"""
At most L{DIAL_BATCH} connection attempts start every L{DIAL_INTERVAL}
seconds (640 a second), for every torrent of a session together; the rest
wait their turn.  A thousand torrents starting at once each dialled their
peers in the same reactor turn: a thousand connections (and MSE key
exchanges) in one go stalled the reactor for a second.  libtorrent paces
its attempts likewise (its C{connection_speed}).  Batches of 32 every 50 ms
still made bursts: the attempts of a batch connect, and their key exchanges
(two modular exponentiations each) complete, in the same turns, 50-80 ms of
the reactor's CPU with a thousand torrents; the same rate in batches of 8
spreads them.
"""


class PeerDialer:
    """
    Makes outgoing peer connections through client endpoints, paced (see
    L{DIAL_BATCH}).

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
        pacer: Optional[ReadPacer] = None,
    ) -> None:
        """
        @param reactor: for the protocols' timers and the default endpoints.
        @param peerId: our peer id.
        @param endpointFactory: see L{endpointFactory}; TCP by default.
        @param wrapFactory: see L{wrapFactory}.
        @param encryption: see L{encryption}.
        @param pacer: bounds the reads of a reactor turn of the connections
            made (see L{bittwist.readpacer}).
        """
        self._reactor = reactor
        self._pacer = pacer
        self.peerId = peerId
        self.endpointFactory = endpointFactory or (lambda host, port: tcpEndpoint(reactor, host, port))
        self.wrapFactory = wrapFactory
        self.encryption = encryption
        # Attempts started since _windowStart, and those waiting for the
        # next window (with the timer that starts them).
        self._windowStart = -DIAL_INTERVAL
        self._started = 0
        self._waiting: collections.deque[tuple[Deferred, Callable[[], None]]] = collections.deque()
        self._timer: Any = None

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
        attempt: Optional[Deferred] = None

        def cancel(d: Deferred) -> None:
            if attempt is not None:
                attempt.cancel()
            else:
                self._waiting.remove(entry)

        def start() -> None:
            nonlocal attempt
            attempt = self._connect(torrent, address, source, encrypt)
            attempt.chainDeferred(d)

        d: Deferred[PeerProtocol] = Deferred(cancel)
        entry = (d, start)
        now = self._reactor.seconds()
        if now - self._windowStart >= DIAL_INTERVAL:
            self._windowStart, self._started = now, 0
        if self._started < DIAL_BATCH and not self._waiting:
            self._started += 1
            start()
        else:
            self._waiting.append(entry)
            if self._timer is None:
                self._timer = self._reactor.callLater(
                    self._windowStart + DIAL_INTERVAL - now, self._nextWindow
                )
        return d

    def _nextWindow(self) -> None:
        """
        Start the next L{DIAL_BATCH} attempts waiting.
        """
        self._timer = None
        self._windowStart, self._started = self._reactor.seconds(), 0
        waiting = self._waiting
        while waiting and self._started < DIAL_BATCH:
            _, start = waiting.popleft()
            self._started += 1
            start()
        if waiting:
            self._timer = self._reactor.callLater(DIAL_INTERVAL, self._nextWindow)

    def _connect(
        self, torrent: IPeerEvents, address: tuple[str, int], source: str, encrypt: bool
    ) -> Deferred[PeerProtocol]:
        """
        Start one connection attempt (see L{dial}).
        """
        factory = PeerClientFactory(
            self._reactor, torrent, address, self.peerId, source, pacer=self._pacer
        )
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
        pacer: Optional[ReadPacer] = None,
    ) -> None:
        """
        @param reactor: passed on to the protocol, for its timers.
        @param peerId: our peer id.
        @param lookup: finds the torrent for an info_hash, or C{None}.
        @param pacer: passed on to the protocols.
        """
        self._reactor = reactor
        self.peerId = peerId
        self.lookup = lookup
        self._pacer = pacer

    def buildProtocol(self, addr: IAddress) -> PeerProtocol:
        proto = self.protocol(self._reactor, self.peerId, lookup=self.lookup, pacer=self._pacer)
        proto.factory = self
        return proto
