# -*- test-case-name: tests.test_factory -*-
"""
Tests for L{bittwist.factory}.
"""

from typing import Any

from twisted.internet import reactor as globalReactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bittwist import wire
from bittwist.factory import PeerClientFactory, PeerServerFactory
from bittwist.peer import PeerProtocol
from tests.test_peer import (
    INFO_HASH,
    OTHER_HASH,
    OUR_ID,
    THEIR_ID,
    RecordingTorrent,
    RecordingTransport,
    sentMessages,
    theirHandshake,
)

ADDRESS = ("10.0.0.2", 6881)


class PeerClientFactoryTests(SynchronousTestCase):
    """
    Tests for L{PeerClientFactory}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.torrent = RecordingTorrent(peerId=OUR_ID)
        self.factory = PeerClientFactory(self.reactor, self.torrent, ADDRESS)
        self.connector = self.reactor.connectTCP(ADDRESS[0], ADDRESS[1], self.factory)

    def connect(self) -> tuple[PeerProtocol, RecordingTransport]:
        proto = self.factory.buildProtocol(IPv4Address("TCP", *ADDRESS))
        transport = RecordingTransport(peerAddress=IPv4Address("TCP", *ADDRESS))
        proto.makeConnection(transport)
        return proto, transport

    def test_buildProtocol(self) -> None:
        """
        buildProtocol gives an outgoing L{PeerProtocol} for the torrent, with
        the factory's reactor, which sends our handshake on connection.
        """
        proto, transport = self.connect()
        self.assertIsInstance(proto, PeerProtocol)
        self.assertTrue(proto.outgoing)
        self.assertIs(proto.torrent, self.torrent)
        self.assertIs(proto.factory, self.factory)
        self.assertEqual(
            sentMessages(transport, handshake=True), [wire.Handshake(INFO_HASH, OUR_ID)]
        )
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)

    def test_clientConnectionFailed(self) -> None:
        """
        A failed connection attempt is reported to the torrent with the
        address dialled and the reason.
        """
        reason = Failure(ConnectionRefusedError("nobody home"))
        self.factory.clientConnectionFailed(self.connector, reason)
        self.assertEqual(
            self.torrent.calls, [("connectionFailed", ADDRESS, reason.getErrorMessage())]
        )

    def test_clientConnectionLostBeforeHandshake(self) -> None:
        """
        A connection lost before the handshake is reported as ended, not
        handshaked.
        """
        proto, transport = self.connect()
        reason = Failure(ConnectionDone())
        proto.connectionLost(reason)
        self.factory.clientConnectionLost(self.connector, reason)
        self.assertEqual(self.torrent.calls, [("connectionEnded", ADDRESS, False)])

    def test_clientConnectionLostAfterHandshake(self) -> None:
        """
        A connection lost after the handshake is reported as ended,
        handshaked.
        """
        proto, transport = self.connect()
        proto.dataReceived(theirHandshake())
        self.assertTrue(proto.handshaked)
        del self.torrent.calls[:]
        reason = Failure(ConnectionDone())
        proto.connectionLost(reason)
        self.factory.clientConnectionLost(self.connector, reason)
        self.assertEqual(
            self.torrent.calls,
            [
                ("peerDisconnected", proto, reason.getErrorMessage()),
                ("connectionEnded", ADDRESS, True),
            ],
        )

    def test_clientConnectionLostWithoutProtocol(self) -> None:
        """
        clientConnectionLost before any protocol was built reports a
        connection ended, not handshaked.
        """
        self.factory.clientConnectionLost(self.connector, Failure(ConnectionDone()))
        self.assertEqual(self.torrent.calls, [("connectionEnded", ADDRESS, False)])


class PeerServerFactoryTests(SynchronousTestCase):
    """
    Tests for L{PeerServerFactory}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.first = RecordingTorrent()
        self.second = RecordingTorrent(infoHash=OTHER_HASH, have=[1])
        torrents = {t.infoHash: t for t in [self.first, self.second]}
        self.factory = PeerServerFactory(self.reactor, OUR_ID, torrents.get)

    def connect(self) -> tuple[PeerProtocol, RecordingTransport]:
        proto = self.factory.buildProtocol(IPv4Address("TCP", *ADDRESS))
        transport = RecordingTransport(peerAddress=IPv4Address("TCP", *ADDRESS))
        proto.makeConnection(transport)
        return proto, transport

    def test_buildProtocol(self) -> None:
        """
        buildProtocol gives an incoming L{PeerProtocol}, with no torrent yet,
        which sends nothing before the peer's handshake.
        """
        proto, transport = self.connect()
        self.assertIsInstance(proto, PeerProtocol)
        self.assertFalse(proto.outgoing)
        self.assertIsNone(proto.torrent)
        self.assertIs(proto.factory, self.factory)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)

    def test_routesByInfoHash(self) -> None:
        """
        Each connection goes to the torrent its handshake names, and is
        answered with our peer id for that torrent.
        """
        for torrent in [self.second, self.first]:
            proto, transport = self.connect()
            proto.dataReceived(theirHandshake(infoHash=torrent.infoHash))
            self.assertIs(proto.torrent, torrent)
            self.assertEqual(torrent.calls[0], ("peerHandshaked", proto))
            self.assertEqual(
                sentMessages(transport, handshake=True)[0],
                wire.Handshake(torrent.infoHash, OUR_ID),
            )
        self.assertEqual(len(self.first.named("peerHandshaked")), 1)
        self.assertEqual(len(self.second.named("peerHandshaked")), 1)

    def test_unknownInfoHashDropped(self) -> None:
        """
        A handshake for an info_hash no torrent has is dropped unanswered.
        """
        proto, transport = self.connect()
        proto.dataReceived(theirHandshake(infoHash=b"\x01" * 20))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.first.calls + self.second.calls, [])


class LoopbackTests(TestCase):
    """
    A server and a client factory over real TCP on 127.0.0.1.
    """

    @inlineCallbacks
    def test_handshakeAndMessages(self) -> Any:
        """
        A client made by L{PeerClientFactory} and the server protocol of
        L{PeerServerFactory} complete the handshake both ways and exchange
        interested and unchoke; closing reports to both torrents.
        """
        serverTorrent = RecordingTorrent(peerId=OUR_ID, have=[0, 3])
        clientTorrent = RecordingTorrent(peerId=THEIR_ID)
        lookup = {INFO_HASH: serverTorrent}.get
        port = globalReactor.listenTCP(
            0, PeerServerFactory(globalReactor, OUR_ID, lookup), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        address = ("127.0.0.1", port.getHost().port)
        factory = PeerClientFactory(globalReactor, clientTorrent, address)
        connector = globalReactor.connectTCP(address[0], address[1], factory)
        self.addCleanup(connector.disconnect)

        ((server,), (client,)) = yield gatherResults(
            [
                serverTorrent.whenCalled("peerHandshaked"),
                clientTorrent.whenCalled("peerHandshaked"),
            ]
        )
        self.assertEqual(server.peerId, THEIR_ID)
        self.assertEqual(client.peerId, OUR_ID)
        self.assertFalse(server.outgoing)
        self.assertTrue(client.outgoing)

        yield clientTorrent.whenCalled("peerBitfield")
        self.assertEqual(sorted(client.pieces), [0, 3])

        client.setInterested(True)
        (peer, interested) = yield serverTorrent.whenCalled("peerInterestChanged")
        self.assertIs(peer, server)
        self.assertTrue(interested)

        server.setChoking(False)
        (peer,) = yield clientTorrent.whenCalled("peerUnchoked")
        self.assertIs(peer, client)
        self.assertFalse(client.peerChoking)

        client.transport.loseConnection()
        yield gatherResults(
            [
                serverTorrent.whenCalled("peerDisconnected"),
                clientTorrent.whenCalled("peerDisconnected"),
                clientTorrent.whenCalled("connectionEnded"),
            ]
        )
        self.assertEqual(clientTorrent.named("connectionEnded"), [(address, True)])
        self.assertEqual(clientTorrent.named("connectionFailed"), [])
