# -*- test-case-name: tests.test_encryption -*-
"""
Tests for L{bittwist.encryption}: MSE wrappers around peer connection
factories, over L{StringTransport}.
"""

from typing import Optional

from hypothesis import given, settings, strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import ClientFactory, Protocol, ServerFactory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from bittwist import wire
from bittwist.peer import OUR_RESERVED
from bittwist.encryption import (
    HANDSHAKE_TIMEOUT,
    EncryptedClientFactory,
    EncryptedServerFactory,
    EncryptingProtocol,
    isEncrypted,
)
from bittwist.errors import EncryptionError
from bittwist.factory import PeerServerFactory
from bittwist.mse import (
    PLAINTEXT_PREFIX,
    CryptoMethod,
    HandshakeComplete,
    Initiator,
    PayloadReceived,
    Policy,
    Receiver,
)

INFO_HASH = bytes(range(20))
OTHER_HASH = b"\xee" * 20
OUR_ID = b"-BT0001-ourpeerid000"
THEIR_ID = b"-XX0001-theirpeerid0"
PEER = IPv4Address("TCP", "10.0.0.2", 6881)
HOST = IPv4Address("TCP", "10.0.0.1", 51413)


@implementer(IPushProducer)
class Recorder(Protocol):
    """
    A wrapped protocol that records what happens to it and, like
    L{bittwist.peer.PeerProtocol}, writes first on an outgoing connection
    and registers itself as a streaming producer.

    @ivar received: the bytes received, joined.
    @ivar lost: the reason of C{connectionLost}, once called.
    """

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.received = b""
        self.made = 0
        self.lost: Optional[Failure] = None

    def connectionMade(self) -> None:
        self.made += 1
        self.transport.registerProducer(self, True)
        if self.greeting:
            self.transport.write(self.greeting)

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure) -> None:
        self.lost = reason

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class RecordingFactory(ClientFactory, ServerFactory):
    """
    Builds L{Recorder}s and records the client factory calls.
    """

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.built: list[Recorder] = []
        self.calls: list[tuple] = []

    def buildProtocol(self, addr) -> Recorder:
        proto = Recorder(self.greeting)
        proto.factory = self
        self.built.append(proto)
        return proto

    def startedConnecting(self, connector) -> None:
        self.calls.append(("startedConnecting",))

    def clientConnectionFailed(self, connector, reason) -> None:
        self.calls.append(("failed", reason))

    def clientConnectionLost(self, connector, reason) -> None:
        self.calls.append(("lost", reason))


class FakeConnector:
    """
    Counts C{connect} calls.
    """

    def __init__(self) -> None:
        self.connects = 0

    def connect(self) -> None:
        self.connects += 1


class BufferedTransport(StringTransport):
    """
    A L{StringTransport} with the C{bufferSize} of a TCP transport.
    """

    bufferSize = 65536


def connect(factory, peer=PEER, host=HOST):
    """
    Build a protocol from C{factory} and connect it to a new transport.

    @return: the protocol and its transport.
    """
    proto = factory.buildProtocol(peer)
    transport = BufferedTransport(hostAddress=host, peerAddress=peer)
    proto.makeConnection(transport)
    return proto, transport


def pump(a, aTransport, b, bTransport) -> None:
    """
    Carry bytes between two connected protocols until neither writes.
    """
    while True:
        ab = aTransport.value()
        aTransport.clear()
        ba = bTransport.value()
        bTransport.clear()
        if not ab and not ba:
            return
        if ab and not bTransport.disconnecting:
            b.dataReceived(ab)
        if ba and not aTransport.disconnecting:
            a.dataReceived(ba)


class EncryptedPairTests(SynchronousTestCase):
    """
    An outgoing and an incoming wrapper connected to each other.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clientSide = RecordingFactory(greeting=b"handshake from A")
        self.serverSide = RecordingFactory()
        self.client = EncryptedClientFactory(
            self.clientSide, INFO_HASH, Policy.PREFER, reactor=self.clock
        )
        self.server = EncryptedServerFactory(
            self.serverSide, lambda: [OTHER_HASH, INFO_HASH], Policy.REQUIRE, reactor=self.clock
        )
        self.a, self.aTransport = connect(self.client)
        self.b, self.bTransport = connect(self.server, peer=HOST, host=PEER)
        pump(self.a, self.aTransport, self.b, self.bTransport)
        self.aInner = self.clientSide.built[0]
        self.bInner = self.serverSide.built[0]

    def test_handshake(self) -> None:
        """
        Both sides complete with RC4; the incoming side's wrapped protocol
        gets the outgoing side's first write (sent as the initial payload)
        and both record that they are encrypted.
        """
        self.assertIsInstance(self.a, EncryptingProtocol)
        self.assertEqual(self.a.method, CryptoMethod.RC4)
        self.assertEqual(self.b.method, CryptoMethod.RC4)
        self.assertEqual(self.bInner.received, b"handshake from A")
        self.assertTrue(isEncrypted(self.aInner))
        self.assertTrue(isEncrypted(self.bInner))
        self.assertEqual(self.aInner.cryptoMethod, CryptoMethod.RC4)
        self.assertFalse(isEncrypted(object()))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_streamBothWays(self) -> None:
        """
        Writes and write sequences go through encrypted (never in the clear
        on the transport) and arrive decrypted.
        """
        self.bInner.transport.write(b"secret bitfield")
        self.aInner.transport.writeSequence([b"secret ", b"piece ", b"block"])
        self.assertNotIn(b"secret", self.aTransport.value() + self.bTransport.value())
        pump(self.a, self.aTransport, self.b, self.bTransport)
        self.assertEqual(self.aInner.received, b"secret bitfield")
        self.assertEqual(self.bInner.received, b"handshake from Asecret piece block")

    def test_transportOfWrapped(self) -> None:
        """
        The wrapped protocols see the wrapper as their transport, with the
        real transport's addresses, producer registration and buffer size.
        """
        for wrapper, inner, transport, peer, host in [
            (self.a, self.aInner, self.aTransport, PEER, HOST),
            (self.b, self.bInner, self.bTransport, HOST, PEER),
        ]:
            self.assertIs(inner.transport, wrapper)
            self.assertEqual(inner.transport.getPeer(), peer)
            self.assertEqual(inner.transport.getHost(), host)
            self.assertIs(transport.producer, inner)
            self.assertTrue(transport.streaming)
            inner.transport.bufferSize = 2**18
            self.assertEqual(transport.bufferSize, 2**18)
            self.assertEqual(inner.transport.bufferSize, 2**18)
            inner.transport.unregisterProducer()
            self.assertIsNone(transport.producer)
            # Anything else is the real transport's.
            self.assertIs(inner.transport.io, transport.io)

    def test_loseConnection(self) -> None:
        """
        The wrapped protocol closes the real transport; its connectionLost
        gets the transport's reason.
        """
        self.aInner.transport.loseConnection()
        self.assertTrue(self.aTransport.disconnecting)
        self.assertTrue(self.aInner.transport.disconnecting)
        self.a.connectionLost(Failure(ConnectionDone()))
        self.aInner.lost.trap(ConnectionDone)
        self.client.clientConnectionLost(FakeConnector(), Failure(ConnectionDone()))
        self.assertEqual(self.clientSide.calls[-1][0], "lost")
        self.clientSide.calls[-1][1].trap(ConnectionDone)

    def test_abortConnection(self) -> None:
        """
        abortConnection reaches the real transport.
        """
        self.bInner.transport.abortConnection()
        self.assertTrue(self.bTransport.disconnected)

    def test_producerCalls(self) -> None:
        """
        The wrapper passes pause, resume and stop on to the transport.
        """
        calls = []
        self.aTransport.pauseProducing = lambda: calls.append("pause")
        self.aTransport.resumeProducing = lambda: calls.append("resume")
        self.aTransport.stopProducing = lambda: calls.append("stop")
        self.a.pauseProducing()
        self.a.resumeProducing()
        self.a.stopProducing()
        self.assertEqual(calls, ["pause", "resume", "stop"])


class ClientTests(SynchronousTestCase):
    """
    L{EncryptedClientFactory} against a hand-driven L{Receiver}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.inner = RecordingFactory(greeting=b"BT handshake")

    def factory(self, policy=Policy.PREFER, fallback=True):
        return EncryptedClientFactory(
            self.inner, INFO_HASH, policy, reactor=self.clock, fallback=fallback
        )

    def test_wrappedConnectedAtOnce(self) -> None:
        """
        The wrapped protocol is connected at once; its first write waits for
        the initial payload and is not on the wire before.
        """
        proto, transport = connect(self.factory())
        self.assertEqual(self.inner.built[0].made, 1)
        self.assertNotIn(b"BT handshake", transport.value())
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        receiver.receiveData(transport.value())
        transport.clear()
        proto.dataReceived(receiver.dataToSend())
        events = receiver.receiveData(transport.value())
        self.assertEqual(
            events,
            [HandshakeComplete(CryptoMethod.RC4, INFO_HASH), PayloadReceived(b"BT handshake")],
        )

    def test_byteByByte(self) -> None:
        """
        The receiver's reply fed one byte at a time completes the handshake,
        and payload in the same chunk as its end reaches the wrapped
        protocol.
        """
        proto, transport = connect(self.factory(Policy.REQUIRE))
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        receiver.receiveData(transport.value())
        transport.clear()
        reply = receiver.dataToSend()
        for byte in reply[:96]:
            proto.dataReceived(bytes([byte]))
        receiver.receiveData(transport.value())
        receiver.sendPayload(b"their handshake")
        rest = reply[96:] + receiver.dataToSend()
        for byte in rest:
            proto.dataReceived(bytes([byte]))
        self.assertTrue(proto.complete)
        self.assertEqual(self.inner.built[0].received, b"their handshake")

    def test_policyOff(self) -> None:
        """
        With the policy off, the wrapped protocol is used as it is, and
        recorded as not encrypted.
        """
        factory = self.factory(Policy.OFF)
        proto, transport = connect(factory)
        self.assertIsInstance(proto, Recorder)
        self.assertEqual(transport.value(), b"BT handshake")
        self.assertFalse(isEncrypted(proto))
        self.assertIsNone(proto.cryptoMethod)

    def failHandshake(self, factory):
        """
        Connect and have the peer answer garbage (more than 616 bytes, no
        VC), then lose the connection.

        @return: the wrapper, its transport and the connector.
        """
        connector = FakeConnector()
        factory.startedConnecting(connector)
        proto, transport = connect(factory)
        proto.dataReceived(b"\x01" * 700)
        self.assertTrue(transport.disconnected)
        self.assertIsInstance(proto.failure, EncryptionError)
        proto.connectionLost(Failure(ConnectionDone()))
        factory.clientConnectionLost(connector, Failure(ConnectionDone()))
        return proto, transport, connector

    def test_fallbackToPlaintext(self) -> None:
        """
        Under prefer, a failed encrypted handshake is retried once in
        plaintext through the same connector; the wrapped factory hears
        nothing of the first attempt, whose wrapped protocol is told why it
        was lost.
        """
        factory = self.factory()
        proto, transport, connector = self.failHandshake(factory)
        self.assertEqual(connector.connects, 1)
        self.assertTrue(factory.fellBack)
        self.assertIsInstance(factory.encryptionFailure, EncryptionError)
        self.assertEqual(self.inner.calls, [("startedConnecting",)])
        self.inner.built[0].lost.trap(EncryptionError)
        factory.startedConnecting(connector)
        plain, plainTransport = connect(factory)
        self.assertIsInstance(plain, Recorder)
        self.assertFalse(isEncrypted(plain))
        self.assertEqual(plainTransport.value(), b"BT handshake")
        factory.clientConnectionLost(connector, Failure(ConnectionDone()))
        self.assertEqual(connector.connects, 1)
        self.assertEqual([c[0] for c in self.inner.calls], ["startedConnecting", "lost"])

    def test_noFallbackUnderRequire(self) -> None:
        """
        Under require, a failed handshake reaches the wrapped factory as an
        L{EncryptionError}.
        """
        proto, transport, connector = self.failHandshake(self.factory(Policy.REQUIRE))
        self.assertEqual(connector.connects, 0)
        self.assertEqual(self.inner.calls[-1][0], "lost")
        self.inner.calls[-1][1].trap(EncryptionError)

    def test_fallbackOff(self) -> None:
        """
        Under prefer with the fallback off, the failure reaches the wrapped
        factory for the caller to retry.
        """
        factory = self.factory(fallback=False)
        self.failHandshake(factory)
        self.assertFalse(factory.fellBack)
        self.inner.calls[-1][1].trap(EncryptionError)

    def test_peerClosesDuringHandshake(self) -> None:
        """
        A peer that closes during the handshake (a plaintext-only peer
        reading our public key as a bad handshake) counts as a failed
        handshake: under prefer, we retry in plaintext.
        """
        factory = self.factory()
        connector = FakeConnector()
        proto, transport = connect(factory)
        proto.connectionLost(Failure(ConnectionDone()))
        factory.clientConnectionLost(connector, Failure(ConnectionDone()))
        self.assertIn("closed", proto.failure.reason)
        self.assertEqual(connector.connects, 1)

    def test_timeout(self) -> None:
        """
        A handshake not complete in time is aborted.
        """
        proto, transport = connect(self.factory())
        self.clock.advance(HANDSHAKE_TIMEOUT - 1)
        self.assertFalse(transport.disconnected)
        self.clock.advance(1)
        self.assertTrue(transport.disconnected)
        self.assertIn("30 seconds", proto.failure.reason)

    def test_connectionFailed(self) -> None:
        """
        A failed connection attempt is passed on.
        """
        factory = self.factory()
        factory.clientConnectionFailed(FakeConnector(), Failure(ConnectionDone()))
        self.assertEqual(self.inner.calls[0][0], "failed")

    def test_dataAfterFailure(self) -> None:
        """
        Bytes after a failed handshake are ignored, and writes dropped.
        """
        proto, transport = connect(self.factory())
        proto.dataReceived(b"\x01" * 700)
        transport.clear()
        proto.dataReceived(b"more")
        proto.write(b"ignored")
        self.assertEqual(transport.value(), b"")


class ServerTests(SynchronousTestCase):
    """
    L{EncryptedServerFactory} against a hand-driven L{Initiator} or a
    plaintext peer.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.inner = RecordingFactory()

    def factory(self, policy=Policy.PREFER):
        return EncryptedServerFactory(self.inner, lambda: [INFO_HASH], policy, reactor=self.clock)

    def test_plaintextPassesThrough(self) -> None:
        """
        A plaintext handshake connects the wrapped protocol to the real
        transport, hands it every byte, and takes the wrapper out of the
        read path.
        """
        proto, transport = connect(self.factory())
        inner = self.inner.built[0]
        self.assertEqual(inner.made, 0)
        proto.dataReceived(PLAINTEXT_PREFIX[:5])
        proto.dataReceived(PLAINTEXT_PREFIX[5:] + b"rest")
        self.assertEqual(inner.made, 1)
        self.assertIs(inner.transport, transport)
        self.assertEqual(inner.received, PLAINTEXT_PREFIX + b"rest")
        self.assertEqual(proto.dataReceived, inner.dataReceived)
        self.assertFalse(isEncrypted(inner))
        self.assertIsNone(inner.cryptoMethod)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        proto.connectionLost(Failure(ConnectionDone()))
        inner.lost.trap(ConnectionDone)

    def test_plaintextRefused(self) -> None:
        """
        Under require, a plaintext handshake is refused: the connection is
        aborted and the wrapped protocol never connected.
        """
        proto, transport = connect(self.factory(Policy.REQUIRE))
        proto.dataReceived(PLAINTEXT_PREFIX)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.inner.built[0].made, 0)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.inner.built[0].lost)

    def test_mseByteByByte(self) -> None:
        """
        An MSE handshake fed one byte at a time connects the wrapped
        protocol once complete, with the initial payload.
        """
        proto, transport = connect(self.factory())
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        initiator.sendPayload(b"their handshake")
        for byte in initiator.dataToSend():
            proto.dataReceived(bytes([byte]))
        initiator.receiveData(transport.value())
        transport.clear()
        message = initiator.dataToSend()
        for byte in message[:-1]:
            proto.dataReceived(bytes([byte]))
        self.assertEqual(self.inner.built[0].made, 0)
        proto.dataReceived(message[-1:])
        inner = self.inner.built[0]
        self.assertEqual(inner.made, 1)
        self.assertIs(inner.transport, proto)
        self.assertEqual(inner.received, b"their handshake")
        inner.transport.write(b"reply")
        events = initiator.receiveData(transport.value())
        self.assertEqual(payloadOf(events), b"reply")

    def test_plaintextMethod(self) -> None:
        """
        When the initiator offers plaintext only, the stream after the
        handshake passes in the clear both ways, writes and write sequences
        alike.
        """
        proto, transport = connect(self.factory())
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        initiator._accepted = CryptoMethod.PLAINTEXT
        proto.dataReceived(initiator.dataToSend())
        initiator.receiveData(transport.value())
        transport.clear()
        proto.dataReceived(initiator.dataToSend())
        inner = self.inner.built[0]
        self.assertEqual(proto.method, CryptoMethod.PLAINTEXT)
        self.assertFalse(isEncrypted(inner))
        self.assertEqual(inner.cryptoMethod, CryptoMethod.PLAINTEXT)
        events = initiator.receiveData(transport.value())
        self.assertEqual(events, [HandshakeComplete(CryptoMethod.PLAINTEXT, INFO_HASH)])
        transport.clear()
        inner.transport.write(b"clear ")
        inner.transport.writeSequence([b"as ", b"day"])
        self.assertEqual(transport.value(), b"clear as day")
        proto.dataReceived(b"in the clear")
        self.assertEqual(inner.received, b"in the clear")

    def test_unknownTorrent(self) -> None:
        """
        An MSE handshake for a torrent we do not serve is aborted.
        """
        proto, transport = connect(self.factory())
        initiator = Initiator(OTHER_HASH, Policy.PREFER)
        proto.dataReceived(initiator.dataToSend())
        initiator.receiveData(transport.value())
        proto.dataReceived(initiator.dataToSend())
        self.assertTrue(transport.disconnected)
        self.assertIn("do not serve", proto.failure.reason)

    def test_timeout(self) -> None:
        """
        A connection silent for the handshake timeout is aborted.
        """
        proto, transport = connect(self.factory())
        self.clock.advance(HANDSHAKE_TIMEOUT)
        self.assertTrue(transport.disconnected)

    @settings(max_examples=100, deadline=None)
    @given(
        st.lists(st.binary(max_size=800), max_size=5),
        st.sampled_from([Policy.PREFER, Policy.REQUIRE]),
    )
    def test_garbage(self, chunks, policy) -> None:
        """
        Whatever a peer sends, the wrapper raises nothing: it passes the
        bytes on or aborts the connection.
        """
        inner = RecordingFactory()
        factory = EncryptedServerFactory(inner, lambda: [INFO_HASH], policy, reactor=Clock())
        proto, transport = connect(factory)
        for chunk in chunks:
            proto.dataReceived(chunk)
        if proto.failure is not None:
            self.assertTrue(transport.disconnected)

    def test_policyOff(self) -> None:
        """
        With the policy off, the wrapped protocol is used as it is.
        """
        proto, transport = connect(self.factory(Policy.OFF))
        self.assertIsInstance(proto, Recorder)
        self.assertFalse(isEncrypted(proto))

    def test_wrappedRefuses(self) -> None:
        """
        A wrapped factory that refuses a connection (C{None}) is obeyed.
        """
        self.inner.buildProtocol = lambda addr: None
        self.assertIsNone(self.factory().buildProtocol(PEER))
        self.assertIsNone(
            EncryptedClientFactory(self.inner, INFO_HASH, Policy.PREFER, self.clock).buildProtocol(
                PEER
            )
        )

    def test_startStop(self) -> None:
        """
        doStart and doStop reach the wrapped factory.
        """
        for factory in (
            self.factory(),
            EncryptedClientFactory(self.inner, INFO_HASH, Policy.PREFER, self.clock),
        ):
            factory.doStart()
            self.assertEqual(self.inner.numPorts, 1)
            factory.doStop()
            self.assertEqual(self.inner.numPorts, 0)


def payloadOf(events) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, PayloadReceived))


class FakeTorrent:
    """
    The least a torrent must do for an incoming L{bittwist.peer.PeerProtocol}.
    """

    infoHash = INFO_HASH
    numPieces = 8

    def __init__(self) -> None:
        self.peers: list = []

    def peerHandshaked(self, peer) -> bool:
        self.peers.append(peer)
        return True

    def ourBitfield(self):
        return None

    def dhtPort(self):
        return None

    def peerDisconnected(self, peer, reason) -> None:
        pass


class PeerProtocolTests(SynchronousTestCase):
    """
    The incoming wrapper around the real L{PeerServerFactory}.
    """

    def test_encryptedIncomingPeer(self) -> None:
        """
        A peer that handshakes through MSE reaches the torrent, is recorded
        as encrypted, its protocol registered as the real transport's
        producer, and its handshake reply travels encrypted.
        """
        clock = Clock()
        torrent = FakeTorrent()
        peers = PeerServerFactory(
            clock, OUR_ID, lambda h: torrent if h == INFO_HASH else None
        )
        factory = EncryptedServerFactory(peers, lambda: [INFO_HASH], Policy.REQUIRE, clock)
        proto, transport = connect(factory)
        initiator = Initiator(INFO_HASH, Policy.REQUIRE)
        initiator.sendPayload(wire.encode(wire.Handshake(INFO_HASH, THEIR_ID)))
        proto.dataReceived(initiator.dataToSend())
        initiator.receiveData(transport.value())
        transport.clear()
        proto.dataReceived(initiator.dataToSend())
        self.assertEqual(len(torrent.peers), 1)
        peer = torrent.peers[0]
        self.assertTrue(isEncrypted(peer))
        self.assertEqual(peer.peerId, THEIR_ID)
        self.assertEqual(peer.address, (PEER.host, PEER.port))
        self.assertIs(transport.producer, peer)
        self.assertEqual(transport.bufferSize, 2**18)
        self.assertNotIn(OUR_ID, transport.value())
        decoder = wire.Decoder(expectHandshake=True)
        messages = decoder.receiveData(payloadOf(initiator.receiveData(transport.value())))
        self.assertEqual(messages, [wire.Handshake(INFO_HASH, OUR_ID, OUR_RESERVED)])
