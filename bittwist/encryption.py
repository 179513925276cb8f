# -*- test-case-name: tests.test_encryption -*-
"""
Message Stream Encryption on Twisted transports: wrappers around the peer
connection factories that run the sans-IO L{bittwist.mse} handshake first,
then hand the decrypted stream to the wrapped protocol (a
L{bittwist.peer.PeerProtocol}) and encrypt what it writes::

    factory = EncryptedClientFactory(PeerClientFactory(reactor, torrent, address),
                                     torrent.infoHash, Policy.PREFER)
    reactor.connectTCP(host, port, factory)

    listening = EncryptedServerFactory(session.serverFactory(),
                                       lambda: session.torrents.keys(), Policy.PREFER)

Whether a connection ended up encrypted is recorded on the wrapped protocol
(L{isEncrypted}).
"""

from typing import Callable, Iterable, Optional, Union

from twisted.internet.interfaces import IAddress, IConnector, IReactorTime
from twisted.internet.protocol import (
    ClientFactory,
    Factory,
    Protocol,
    ServerFactory,
    connectionDone,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from bittwist.errors import EncryptionError
from bittwist.sweep import ISwept, Sweep, sweepFor
from bittwist.mse import (
    CryptoMethod,
    HandshakeComplete,
    Initiator,
    PayloadReceived,
    PlaintextDetected,
    Policy,
    Receiver,
)

__all__ = [
    "EncryptingProtocol",
    "EncryptedClientFactory",
    "EncryptedServerFactory",
    "isEncrypted",
    "HANDSHAKE_TIMEOUT",
]

HANDSHAKE_TIMEOUT = 30.0
"""
Drop a connection whose MSE handshake has not completed within this long.
"""


def isEncrypted(protocol: object) -> bool:
    """
    @return: whether a peer connection's payload is RC4-encrypted (C{False}
        for plaintext, and for connections made without these wrappers).
    """
    return bool(getattr(protocol, "encrypted", False))


def _record(protocol: Protocol, method: Optional[CryptoMethod]) -> None:
    """
    Note on a wrapped protocol how its connection is carried: C{encrypted}
    (a bool) and C{cryptoMethod} (C{None} for a plaintext BitTorrent
    handshake, else the MSE crypto method).
    """
    protocol.encrypted = method is CryptoMethod.RC4  # type: ignore[attr-defined]
    protocol.cryptoMethod = method  # type: ignore[attr-defined]


@implementer(ISwept)
class EncryptingProtocol(Protocol):
    """
    Runs an MSE handshake on its transport, then relays between the transport
    and a wrapped protocol, encrypting and decrypting as negotiated. It is
    the wrapped protocol's transport (as
    C{twisted.protocols.policies.ProtocolWrapper} is), except after a
    plaintext BitTorrent handshake, where the wrapped protocol gets the real
    transport and bytes pass through untouched.

    An initiator connects the wrapped protocol at once, so that what it
    writes first (its BitTorrent handshake) travels as the initial payload;
    a receiver connects it when the handshake is complete.

    Producers registered by the wrapped protocol go straight to the real
    transport: after the handshake, every write is encrypted and passed on
    synchronously, so the transport's buffer is the only one.

    @ivar wrappedProtocol: the protocol the stream is for.
    @ivar handshake: the MSE state machine, until an MSE handshake is
        complete (then C{None}).
    @ivar failure: why the handshake failed, if it did.
    @ivar method: the crypto method in use once the handshake is complete
        (C{None} for a plaintext BitTorrent handshake).
    """

    log = Logger()

    def __init__(
        self,
        factory: Factory,
        wrappedProtocol: Protocol,
        handshake: Union[Initiator, Receiver],
        reactor: IReactorTime,
        timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self.factory = factory
        self.wrappedProtocol = wrappedProtocol
        self.handshake: Optional[Union[Initiator, Receiver]] = handshake
        self.failure: Optional[EncryptionError] = None
        self.method: Optional[CryptoMethod] = None
        self._reactor = reactor
        self._timeout = timeout
        self._timer: Optional[Sweep] = None
        self._connected = False
        self._encrypt: Optional[Callable[[bytes], bytes]] = None
        self._decrypt: Optional[Callable[[bytes], bytes]] = None

    @property
    def complete(self) -> bool:
        """
        Whether the MSE handshake (or plaintext detection) is over.
        """
        handshake = self.handshake
        return handshake is None or handshake.complete

    # Our side of the real transport.

    def makeConnection(self, transport) -> None:
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)

    def connectionMade(self) -> None:
        # The reactor's sweep, not a timed call each: see bittwist.sweep.
        self._timer = sweepFor(self._reactor)
        self._timer.schedule(self, self._reactor.seconds() + self._timeout)
        if isinstance(self.handshake, Initiator):
            self.transport.write(self.handshake.dataToSend())
            self._connectWrapped(self)

    def dataReceived(self, data: bytes) -> None:
        if self.failure is not None:
            return
        try:
            events = self.handshake.receiveData(data)
        except EncryptionError as e:
            self._fail(e)
            return
        out = self.handshake.dataToSend()
        if out:
            self.transport.write(out)
        for event in events:
            if isinstance(event, PayloadReceived):
                if self.wrappedProtocol is not None:
                    self.wrappedProtocol.dataReceived(event.data)
            elif isinstance(event, HandshakeComplete):
                self._handshakeComplete(event.method)
            elif isinstance(event, PlaintextDetected):
                self._plaintextDetected()

    def _handshakeComplete(self, method: CryptoMethod) -> None:
        self._stopTimer()
        self.method = method
        _record(self.wrappedProtocol, method)
        self.log.debug(
            "MSE handshake with {peer} complete: {method}",
            peer=self.transport.getPeer(),
            method=method.name,
        )
        if method is CryptoMethod.RC4:
            self._encrypt = self.handshake.encryptor
            self._decrypt = decrypt = self.handshake.decryptor
            wrapped = self.wrappedProtocol.dataReceived

            def decryptingReceived(data: bytes) -> None:
                wrapped(decrypt(data))

            self.dataReceived = decryptingReceived  # type: ignore[method-assign]
        else:
            self.dataReceived = self.wrappedProtocol.dataReceived  # type: ignore[method-assign]
        # The state machine (its keys, buffers, bound methods) is done with:
        # a thousand connections kept a thousand for the collector to walk.
        self.handshake = None
        if not self._connected:
            self._connectWrapped(self)

    def _plaintextDetected(self) -> None:
        self._stopTimer()
        _record(self.wrappedProtocol, None)
        # From now on we are out of the way: the wrapped protocol writes to
        # the real transport, and the transport's reads go straight to it.
        self.dataReceived = self.wrappedProtocol.dataReceived  # type: ignore[method-assign]
        self._connectWrapped(self.transport)

    def _connectWrapped(self, transport) -> None:
        self._connected = True
        self.wrappedProtocol.makeConnection(transport)

    def _fail(self, error: EncryptionError) -> None:
        self.log.debug(
            "MSE handshake with {peer} failed: {error}", peer=self.transport.getPeer(), error=error
        )
        self.failure = error
        self._stopTimer()
        # Nothing we owe a peer that broke the handshake: do not wait for
        # our writes to drain.
        self.transport.abortConnection()

    def swept(self, now: float) -> None:
        """
        The handshake's deadline has passed (see L{ISwept}).
        """
        self._timer = None
        self._fail(EncryptionError(f"no handshake within {self._timeout:.0f} seconds"))

    def _stopTimer(self) -> None:
        if self._timer is not None:
            self._timer.cancel(self)
        self._timer = None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stopTimer()
        if not self.complete and self.failure is None:
            self.failure = EncryptionError(
                "the peer closed the connection during the handshake: "
                + reason.getErrorMessage(),
                "the peer may not speak MSE; try plaintext",
            )
        if self.failure is not None:
            reason = Failure(self.failure)
        wrapped, self.wrappedProtocol = self.wrappedProtocol, None
        if self._connected and wrapped is not None:
            wrapped.connectionLost(reason)

    # The wrapped protocol's transport.

    def write(self, data: bytes) -> None:
        encrypt = self._encrypt
        if encrypt is not None:
            self.transport.write(encrypt(data))
        elif self.complete:
            self.transport.write(data)
        elif self.failure is None:
            self.handshake.sendPayload(data)
            out = self.handshake.dataToSend()
            if out:
                self.transport.write(out)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        if self._encrypt is None and self.complete:
            self.transport.writeSequence(data)
            return
        # One cipher call for the whole sequence: a block and its header
        # cost one update, not two.
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        self.transport.abortConnection()

    def getPeer(self) -> IAddress:
        return self.transport.getPeer()

    def getHost(self) -> IAddress:
        return self.transport.getHost()

    def registerProducer(self, producer, streaming: bool) -> None:
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.transport.unregisterProducer()

    def stopConsuming(self) -> None:
        self.transport.stopConsuming()

    def pauseProducing(self) -> None:
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.transport.stopProducing()

    @property
    def disconnecting(self) -> bool:
        return bool(getattr(self.transport, "disconnecting", False))

    @property
    def bufferSize(self) -> int:
        return self.transport.bufferSize

    @bufferSize.setter
    def bufferSize(self, size: int) -> None:
        self.transport.bufferSize = size

    def __getattr__(self, name: str):
        # Anything else a transport has (TCP options, the socket...).
        transport = self.__dict__.get("transport")
        if transport is None:
            raise AttributeError(name)
        return getattr(transport, name)


class EncryptedClientFactory(ClientFactory):
    """
    Wraps the factory of one outgoing peer connection (a
    L{bittwist.factory.PeerClientFactory}) so the connection starts with an
    MSE handshake.

    Under L{Policy.PREFER}, a connection whose encrypted handshake fails is
    made again once, in plaintext, through the same connector, and the
    wrapped factory hears only of the second attempt (unless C{fallback} is
    off). Otherwise a failed handshake reaches the wrapped factory's
    C{clientConnectionLost} with a C{Failure} of L{EncryptionError}, so a
    caller can tell it apart and retry in plaintext itself.

    @ivar wrappedFactory: the factory of the peer protocol.
    @ivar encryptionFailure: why the encrypted handshake failed, if it did.
    @ivar fellBack: whether the connection was made again in plaintext.
    """

    noisy = False
    log = Logger()

    def __init__(
        self,
        wrappedFactory: ClientFactory,
        infoHash: bytes,
        policy: Policy,
        reactor: Optional[IReactorTime] = None,
        fallback: bool = True,
        timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        """
        @param wrappedFactory: builds the peer protocol.
        @param infoHash: the torrent's info hash (SKEY).
        @param policy: L{Policy.PREFER}, L{Policy.REQUIRE} or L{Policy.OFF}
            (no MSE: the wrapped protocol is used as it is).
        @param reactor: for the handshake timeout; the global one if C{None}.
        @param fallback: under L{Policy.PREFER}, retry in plaintext after a
            failed encrypted handshake.
        @param timeout: seconds the MSE handshake may take.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self.wrappedFactory = wrappedFactory
        self.infoHash = infoHash
        self.policy = policy
        self.fallback = fallback
        self.encryptionFailure: Optional[EncryptionError] = None
        self.fellBack = False
        self._reactor = reactor
        self._timeout = timeout
        self._wrapper: Optional[EncryptingProtocol] = None

    def doStart(self) -> None:
        self.wrappedFactory.doStart()
        ClientFactory.doStart(self)

    def doStop(self) -> None:
        self.wrappedFactory.doStop()
        ClientFactory.doStop(self)

    def startedConnecting(self, connector: IConnector) -> None:
        if not self.fellBack:
            self.wrappedFactory.startedConnecting(connector)

    def buildProtocol(self, addr: IAddress) -> Optional[Protocol]:
        proto = self.wrappedFactory.buildProtocol(addr)
        if proto is None:
            return None
        if self.policy is Policy.OFF or self.fellBack:
            _record(proto, None)
            self._wrapper = None
            return proto
        self._wrapper = EncryptingProtocol(
            self,
            proto,
            Initiator(self.infoHash, self.policy),
            self._reactor,
            self._timeout,
        )
        return self._wrapper

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.wrappedFactory.clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        wrapper, self._wrapper = self._wrapper, None
        if wrapper is not None and wrapper.failure is not None:
            self.encryptionFailure = wrapper.failure
            if self.policy is Policy.PREFER and self.fallback and not self.fellBack:
                self.fellBack = True
                self.log.debug(
                    "Encrypted handshake failed ({error}); retrying in plaintext",
                    error=wrapper.failure,
                )
                connector.connect()
                return
            reason = Failure(wrapper.failure)
        self.wrappedFactory.clientConnectionLost(connector, reason)


class EncryptedServerFactory(ServerFactory):
    """
    Wraps the factory of incoming peer connections (a
    L{bittwist.factory.PeerServerFactory}): a connection that starts with a
    plaintext BitTorrent handshake passes straight through (unless the
    policy is L{Policy.REQUIRE}); any other is taken for MSE.

    @ivar wrappedFactory: the factory of the peer protocol.
    """

    noisy = False

    def __init__(
        self,
        wrappedFactory: ServerFactory,
        infoHashes: Callable[[], Iterable[bytes]],
        policy: Policy,
        reactor: Optional[IReactorTime] = None,
        timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        """
        @param wrappedFactory: builds the peer protocol.
        @param infoHashes: gives the info hashes we serve, asked once per
            MSE handshake.
        @param policy: L{Policy.PREFER}, L{Policy.REQUIRE} or L{Policy.OFF}
            (no MSE: the wrapped protocol is used as it is).
        @param reactor: for the handshake timeout; the global one if C{None}.
        @param timeout: seconds the MSE handshake may take.
        """
        if reactor is None:
            from twisted.internet import reactor  # type: ignore[no-redef]
        self.wrappedFactory = wrappedFactory
        self.infoHashes = infoHashes
        self.policy = policy
        self._reactor = reactor
        self._timeout = timeout

    def doStart(self) -> None:
        self.wrappedFactory.doStart()
        ServerFactory.doStart(self)

    def doStop(self) -> None:
        self.wrappedFactory.doStop()
        ServerFactory.doStop(self)

    def buildProtocol(self, addr: IAddress) -> Optional[Protocol]:
        proto = self.wrappedFactory.buildProtocol(addr)
        if proto is None:
            return None
        if self.policy is Policy.OFF:
            _record(proto, None)
            return proto
        return EncryptingProtocol(
            self, proto, Receiver(self.infoHashes, self.policy), self._reactor, self._timeout
        )
