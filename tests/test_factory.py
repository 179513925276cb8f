# -*- test-case-name: tests.test_factory -*-
"""
Tests for L{bittwist.factory}.
"""

from typing import Any

from twisted.internet import reactor as globalReactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, gatherResults, inlineCallbacks
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bittwist import wire
from twisted.internet.endpoints import HostnameEndpoint

from bittwist.factory import (
    CONNECT_TIMEOUT,
    DIAL_BATCH,
    DIAL_INTERVAL,
    PeerClientFactory,
    PeerDialer,
    PeerServerFactory,
    tcpEndpoint,
)
from tests.fakes import FakeEndpoints
from bittwist.peer import OUR_RESERVED, PeerProtocol
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


class PeerDialerTests(SynchronousTestCase):
    """
    Tests for L{PeerDialer} and the L{PeerClientFactory} it dials with.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.torrent = RecordingTorrent(peerId=OUR_ID)
        self.endpoints = FakeEndpoints()
        self.dialer = PeerDialer(self.reactor, OUR_ID, endpointFactory=self.endpoints)

    def test_dialBuildsOutgoingProtocol(self) -> None:
        """
        C{dial} connects through the endpoint made for the address; once
        connected it fires with an outgoing L{PeerProtocol} for the torrent,
        tagged with its address and source, which sends our handshake.
        """
        d = self.dialer.dial(self.torrent, ADDRESS, "tracker")
        self.assertNoResult(d)
        (endpoint,) = self.endpoints.made
        self.assertEqual(endpoint.address, ADDRESS)
        transport = RecordingTransport(peerAddress=IPv4Address("TCP", *ADDRESS))
        proto = endpoint.succeed(transport)
        self.assertIs(self.successResultOf(d), proto)
        self.assertIsInstance(proto, PeerProtocol)
        self.assertTrue(proto.outgoing)
        self.assertIs(proto.torrent, self.torrent)
        self.assertEqual((proto.dialed, proto.source), (ADDRESS, "tracker"))
        self.assertEqual(
            sentMessages(transport, handshake=True),
            [wire.Handshake(INFO_HASH, OUR_ID, OUR_RESERVED)],
        )

    def test_dialFails(self) -> None:
        """
        A refused connection fails the L{Deferred} of C{dial}.
        """
        d = self.dialer.dial(self.torrent, ADDRESS, "manual")
        self.endpoints.made[0].refuse()
        self.failureResultOf(d, ConnectionRefusedError)

    def test_dialsPaced(self) -> None:
        """
        At most L{DIAL_BATCH} attempts start at once; the others start
        L{DIAL_BATCH} at a time every L{DIAL_INTERVAL} seconds, in order. A
        waiting attempt cancelled never starts, and one under way is
        cancelled through its endpoint.
        """
        dials = [
            self.dialer.dial(self.torrent, ("10.0.1.1", 1000 + n), "tracker")
            for n in range(2 * DIAL_BATCH + 2)
        ]
        self.assertEqual(len(self.endpoints.made), DIAL_BATCH)
        dials[-1].cancel()
        self.failureResultOf(dials[-1], CancelledError)
        self.reactor.advance(DIAL_INTERVAL)
        self.assertEqual(len(self.endpoints.made), 2 * DIAL_BATCH)
        self.reactor.advance(DIAL_INTERVAL)
        made = self.endpoints.made
        self.assertEqual(
            [e.address[1] for e in made], [1000 + n for n in range(2 * DIAL_BATCH + 1)]
        )
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        proto = made[0].succeed()
        self.assertIs(self.successResultOf(dials[0]), proto)

    def test_wrapFactory(self) -> None:
        """
        A C{wrapFactory} wraps the connection's factory before it dials (as
        encryption will), and C{dial} still fires with our protocol.
        """
        wrapped = []

        def wrap(factory: PeerClientFactory) -> PeerClientFactory:
            wrapped.append(factory)
            return factory

        dialer = PeerDialer(self.reactor, OUR_ID, self.endpoints, wrapFactory=wrap)
        d = dialer.dial(self.torrent, ADDRESS, "manual")
        proto = self.endpoints.made[0].succeed()
        self.assertEqual(len(wrapped), 1)
        self.assertIs(wrapped[0].peer, proto)
        self.assertIs(self.successResultOf(d), proto)

    def test_whenClosed(self) -> None:
        """
        L{PeerProtocol.whenClosed} fires when the connection closes, with
        whether it got through the handshake; asked after, at once.
        """
        self.dialer.dial(self.torrent, ADDRESS, "manual")
        proto = self.endpoints.made[0].succeed()
        before = proto.whenClosed()
        proto.dataReceived(theirHandshake())
        self.assertNoResult(before)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(self.successResultOf(before))
        self.assertTrue(self.successResultOf(proto.whenClosed()))

    def test_tcpEndpoints(self) -> None:
        """
        L{tcpEndpoint} dials IPv4 and IPv6 addresses over TCP with
        L{CONNECT_TIMEOUT}, and host names through name resolution.
        """
        factory = PeerClientFactory(self.reactor, self.torrent, ADDRESS, OUR_ID)
        tcpEndpoint(self.reactor, "10.0.0.2", 6881).connect(factory)
        tcpEndpoint(self.reactor, "::1", 6881).connect(factory)
        self.assertEqual(
            [(host, port, timeout) for host, port, _, timeout, _ in self.reactor.tcpClients],
            [("10.0.0.2", 6881, CONNECT_TIMEOUT), ("::1", 6881, CONNECT_TIMEOUT)],
        )
        self.assertIsInstance(tcpEndpoint(self.reactor, "peer.example", 6881), HostnameEndpoint)


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
                wire.Handshake(torrent.infoHash, OUR_ID, OUR_RESERVED),
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
        client = yield PeerDialer(globalReactor, THEIR_ID).dial(clientTorrent, address, "manual")
        closed = client.whenClosed()

        ((server,), (handshaken,)) = yield gatherResults(
            [
                serverTorrent.whenCalled("peerHandshaked"),
                clientTorrent.whenCalled("peerHandshaked"),
            ]
        )
        self.assertIs(handshaken, client)
        self.assertEqual(server.peerId, THEIR_ID)
        self.assertEqual(client.peerId, OUR_ID)
        self.assertFalse(server.outgoing)
        self.assertTrue(client.outgoing)

        yield clientTorrent.whenCalled("peerBitfield")
        self.assertEqual(sorted(client.state.pieces), [0, 3])

        client.sender.setInterested(True)
        (peer, interested) = yield serverTorrent.whenCalled("peerInterestChanged")
        self.assertIs(peer, server)
        self.assertTrue(interested)

        server.sender.setChoking(False)
        (peer,) = yield clientTorrent.whenCalled("peerUnchoked")
        self.assertIs(peer, client)
        self.assertFalse(client.state.peerChoking)

        client.transport.loseConnection()
        yield gatherResults(
            [
                serverTorrent.whenCalled("peerDisconnected"),
                clientTorrent.whenCalled("peerDisconnected"),
            ]
        )
        self.assertTrue((yield closed))
