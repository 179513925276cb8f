"""
Tests for L{bittwist.dht.node} and the parts it is a facade over: the DHT
node over a fake UDP transport on a clock, and L{bittwist.dht.service} on a
real loopback port.
"""

import inspect
import ipaddress
import os

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import formatEvent, globalLogPublisher
from twisted.internet.interfaces import IUDPTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from bittwist.dht import IDHTNode, krpc
from bittwist.dht.krpc import (
    ANNOUNCE_PEER,
    FIND_NODE,
    GET_PEERS,
    PING,
    Error,
    NodeInfo,
    Query,
    Response,
)
from bittwist.dht.client import MAX_PENDING, QUERY_TIMEOUT
from bittwist.dht.maintainer import MAINTENANCE_INTERVAL
from bittwist.dht.tablefile import MAX_TABLE_FILE
from bittwist.dht.node import (
    MAX_VALUES,
    DHTNode,
    loadTable,
    saveTable,
)
from bittwist.dht.lookup import QUERY_TIMEOUT as LOOKUP_TIMEOUT
from bittwist.dht.routing import K, NodeState
from bittwist.dht.service import DHTService
from bittwist.dht.sourcelimit import SourceRateLimiter
from bittwist.errors import DHTQueryError
from tests.fakes import FakeDatagramTransport, ResolvingClock

OWN = b"\x80" * 20
PEER_ID = b"\x11" * 20
SOURCE = ("10.0.0.1", 4000)


def _stop(node: DHTNode) -> None:
    if node.numPorts:
        node.doStop()


class NodeTestCase(SynchronousTestCase):
    """
    A node with id L{OWN} on a L{ResolvingClock} and a fake transport,
    bootstrapping from C{router.example:6881} (C{10.9.9.9}).
    """

    def setUp(self) -> None:
        self.clock = ResolvingClock({"router.example": "10.9.9.9"})
        self.transport = FakeDatagramTransport()
        self.node = DHTNode(self.clock, nodeId=OWN, bootstrap=[("router.example", 6881)])
        self.node.makeConnection(self.transport)
        self.addCleanup(_stop, self.node)

    def sent(self) -> list[tuple[krpc.Message, tuple[str, int]]]:
        """
        @return: the datagrams written since the last call, decoded.
        """
        written, self.transport.written[:] = list(self.transport.written), []
        return [(krpc.decode(data), address) for data, address in written]

    def receive(self, message: krpc.Message, address=SOURCE) -> None:
        self.node.datagramReceived(krpc.encode(message), address)

    def answerOnly(self) -> krpc.Message:
        sent = self.sent()
        self.assertEqual(len(sent), 1, sent)
        return sent[0][0]


class AnsweringTests(NodeTestCase):
    """
    Answers to queries.
    """

    def setUp(self) -> None:
        super().setUp()
        self.sent()  # the bootstrap find_node

    def test_interface(self) -> None:
        self.assertTrue(verifyObject(IDHTNode, self.node))
        self.assertTrue(verifyObject(IUDPTransport, self.transport))

    def test_ping(self) -> None:
        self.receive(Query(b"t1", PING, PEER_ID))
        self.assertEqual(self.answerOnly(), Response(b"t1", OWN))
        record = self.node.table.get(PEER_ID)
        self.assertEqual(record.address, SOURCE)
        self.assertIs(record.state(self.clock.seconds()), NodeState.QUESTIONABLE)

    def test_readOnlyNotAdded(self) -> None:
        self.receive(Query(b"t1", PING, PEER_ID, readOnly=True))
        self.assertEqual(self.answerOnly(), Response(b"t1", OWN))
        self.assertEqual(len(self.node.table), 0)

    def test_findNode(self) -> None:
        for n in range(20):
            self.node.table.heard(bytes([n]) * 20, (f"10.1.0.{n}", 1), 0, responded=True)
        self.receive(Query(b"t1", FIND_NODE, PEER_ID, target=b"\x03" * 20))
        answer = self.answerOnly()
        self.assertEqual(list(answer.nodes), self.node.table.closest(b"\x03" * 20, K))
        self.assertEqual(len(answer.nodes), K)

    def test_getPeersAnnounce(self) -> None:
        """
        get_peers hands a token; announce_peer with it stores the peer; the
        next get_peers lists it.
        """
        infoHash = b"\x42" * 20
        self.receive(Query(b"t1", GET_PEERS, PEER_ID, infoHash=infoHash))
        answer = self.answerOnly()
        self.assertEqual(answer.values, ())
        self.receive(Query(b"t2", ANNOUNCE_PEER, PEER_ID, infoHash=infoHash, port=51413, token=answer.token))
        self.assertEqual(self.answerOnly(), Response(b"t2", OWN))
        self.receive(Query(b"t3", GET_PEERS, PEER_ID, infoHash=infoHash))
        self.assertEqual(self.answerOnly().values, (("10.0.0.1", 51413),))

    def test_announceImpliedPort(self) -> None:
        infoHash = b"\x42" * 20
        token = self.node.tokens.tokenFor(SOURCE[0])
        self.receive(Query(b"t2", ANNOUNCE_PEER, PEER_ID, infoHash=infoHash, token=token, impliedPort=True))
        self.answerOnly()
        self.assertEqual(self.node.peerStore.peers(infoHash, 5), [SOURCE])

    def test_announceBadToken(self) -> None:
        """
        A token given to another IP is refused with error 203.
        """
        infoHash = b"\x42" * 20
        token = self.node.tokens.tokenFor("10.0.0.2")
        self.receive(Query(b"t2", ANNOUNCE_PEER, PEER_ID, infoHash=infoHash, port=1, token=token))
        self.assertEqual(self.answerOnly(), Error(b"t2", krpc.PROTOCOL_ERROR, "bad token"))
        self.assertEqual(len(self.node.peerStore), 0)

    def test_unknownMethod(self) -> None:
        self.receive(Query(b"t1", "vote", PEER_ID))
        self.assertEqual(self.answerOnly().code, krpc.METHOD_UNKNOWN)

    def test_malformedQuery(self) -> None:
        """
        A query with a readable transaction id but bad arguments hears error
        203; garbage, responses to nothing and oversized datagrams hear
        nothing.
        """
        self.node.datagramReceived(b"d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe", SOURCE)
        answer = self.answerOnly()
        self.assertEqual((answer.transactionId, answer.code), (b"xy", krpc.PROTOCOL_ERROR))
        for data in [b"garbage", b"d1:t2:xy1:y1:re", b"x" * 5000, krpc.encode(Response(b"zz", PEER_ID))]:
            self.node.datagramReceived(data, SOURCE)
        self.assertEqual(self.sent(), [])

    def test_answerBounded(self) -> None:
        """
        However many peers and nodes we hold, a get_peers answer lists at
        most L{MAX_VALUES} peers and then no nodes, and stays under 600 bytes;
        a find_node answer lists at most K nodes.
        """
        infoHash = b"\x42" * 20
        for n in range(300):
            self.node.peerStore.announce(infoHash, (f"10.2.{n // 256}.{n % 256}", 1000 + n))
        for n in range(50):
            self.node.table.heard(bytes([n + 1]) * 20, (f"10.1.0.{n}", 1), 0, responded=True)
        self.receive(Query(b"t1", GET_PEERS, PEER_ID, infoHash=infoHash))
        (data, _), = self.transport.written
        self.assertLess(len(data), 600)
        answer = krpc.decode(data)
        self.assertEqual((len(answer.values), len(answer.nodes)), (MAX_VALUES, 0))
        self.sent()
        self.receive(Query(b"t2", FIND_NODE, PEER_ID, target=infoHash))
        self.assertLess(len(self.answerOnly().nodes), 9)

    def test_rateLimited(self) -> None:
        """
        One source IP gets a burst of answers, then a few a second; another
        IP is not affected.
        """
        for n in range(100):
            self.receive(Query(b"t%d" % n, PING, PEER_ID))
        first = len(self.sent())
        self.assertEqual(first, 20)
        self.receive(Query(b"x", PING, b"\x12" * 20), ("10.0.0.2", 4000))
        self.assertEqual(len(self.sent()), 1)
        self.clock.advance(1)
        for n in range(100):
            self.receive(Query(b"t%d" % n, PING, PEER_ID))
        self.assertEqual(len(self.sent()), 5)

    def test_inputLimitedBeforeDecoding(self) -> None:
        """
        Beyond its input budget a source's datagrams are not even read:
        answers to our own queries from it are dropped too.
        """
        node = DHTNode(self.clock, nodeId=OWN, bootstrap=(), answerRate=1000, answerBurst=1000, inputRate=1, inputBurst=3)
        transport = FakeDatagramTransport()
        node.makeConnection(transport)
        self.addCleanup(_stop, node)
        for n in range(10):
            node.datagramReceived(krpc.encode(Query(b"t%d" % n, PING, PEER_ID)), SOURCE)
        self.assertEqual(len(transport.written), 3)
        d = node.ping(SOURCE)
        query = krpc.decode(transport.written[-1][0])
        node.datagramReceived(krpc.encode(Response(query.transactionId, PEER_ID)), SOURCE)
        self.assertNoResult(d)
        self.clock.advance(1)
        node.datagramReceived(krpc.encode(Response(query.transactionId, PEER_ID)), SOURCE)
        self.successResultOf(d)

    def test_forgedSourcesBounded(self) -> None:
        """
        A flood from ever new (forged) source IPs grows no state without
        bound: past the sources the limiters remember, a new source is
        refused until the remembered ones have refilled, and the routing
        table stays within its buckets.
        """
        sources = inspect.signature(SourceRateLimiter).parameters["maxSources"].default
        data = krpc.encode(Query(b"t1", PING, PEER_ID))
        for n in range(sources + 500):
            self.node.datagramReceived(data, (f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}", 4000))
        self.assertEqual(len(self.sent()), sources)
        self.assertLessEqual(len(self.node.table), 160 * K)
        # Four seconds on (burst / rate), every remembered source is full
        # again and may be forgotten: new sources are answered.
        self.clock.advance(4)
        self.node.datagramReceived(data, ("192.0.2.1", 4000))
        self.assertEqual(len(self.sent()), 1)

    def test_ipv6SourceIgnored(self) -> None:
        self.node.datagramReceived(krpc.encode(Query(b"t1", PING, PEER_ID)), ("::1", 4000))
        self.node.datagramReceived(krpc.encode(Query(b"t1", PING, PEER_ID)), ("::ffff:10.0.0.1", 4000))
        self.assertEqual(self.sent(), [])

    def test_noAddressParsingPerDatagram(self) -> None:
        """
        A datagram's source address is not parsed as an IP address: the
        input limit and the answer need none of it.
        """

        def noParsing(*args: object) -> None:
            raise AssertionError("ipaddress used")

        for name in ["ip_address", "IPv4Address", "IPv6Address"]:
            self.patch(ipaddress, name, noParsing)
        for n in range(5):
            self.receive(Query(b"t%d" % n, PING, PEER_ID))
        self.assertEqual(len(self.sent()), 5)


class QueryingTests(NodeTestCase):
    """
    Our own queries: transactions, timeouts, spoofed answers.
    """

    def setUp(self) -> None:
        super().setUp()
        self.sent()

    def test_answered(self) -> None:
        d = self.node.ping(SOURCE)
        (query, address), = self.sent()
        self.assertEqual((query.method, query.senderId, address), (PING, OWN, SOURCE))
        self.receive(Response(query.transactionId, PEER_ID))
        self.assertEqual(self.successResultOf(d), Response(query.transactionId, PEER_ID))
        self.assertIs(self.node.table.get(PEER_ID).state(self.clock.seconds()), NodeState.GOOD)

    def test_spoofedAnswerIgnored(self) -> None:
        """
        An answer with the right transaction id from another address is
        ignored; the real one still counts.
        """
        d = self.node.ping(SOURCE)
        (query, _), = self.sent()
        self.receive(Response(query.transactionId, b"\x66" * 20), ("10.6.6.6", 4000))
        self.assertNoResult(d)
        self.receive(Response(query.transactionId, PEER_ID))
        self.successResultOf(d)
        self.assertIsNone(self.node.table.get(b"\x66" * 20))

    def test_timeout(self) -> None:
        self.node.table.heard(PEER_ID, SOURCE, 0, responded=True)
        d = self.node.ping(SOURCE)
        self.clock.advance(QUERY_TIMEOUT)
        failure = self.failureResultOf(d, DHTQueryError)
        self.assertIn("no answer", str(failure.value))
        self.assertEqual(self.node.table.get(PEER_ID).failures, 1)

    def test_oneTimerPerQuery(self) -> None:
        """
        A lookup's query is timed by one timer, with the lookup's timeout:
        it fails, and the node counts the failure, once that has passed.
        """
        self.sent()  # the bootstrap find_node
        before = len(self.clock.getDelayedCalls())
        self.node.table.heard(PEER_ID, SOURCE, 0, responded=True)
        self.node.findNode(b"\x01" * 20)
        sent = self.sent()
        self.assertIn(SOURCE, [address for _, address in sent])
        self.assertEqual(len(self.clock.getDelayedCalls()), before + len(sent))
        self.clock.advance(LOOKUP_TIMEOUT)
        self.assertEqual(self.node.table.get(PEER_ID).failures, 1)

    def test_errorAnswer(self) -> None:
        d = self.node.ping(SOURCE)
        (query, _), = self.sent()
        self.receive(Error(query.transactionId, 202, "busy"))
        self.assertEqual(self.failureResultOf(d, DHTQueryError).value.code, 202)

    def test_errorTextEscaped(self) -> None:
        """
        The text of a node's error answer reaches our error message escaped:
        a node cannot send terminal escape codes or forge log lines.
        """
        d = self.node.ping(SOURCE)
        (query, _), = self.sent()
        self.receive(Error(query.transactionId, 201, "\x1b[2Jbusy\nfake line"))
        message = str(self.failureResultOf(d, DHTQueryError).value)
        self.assertNotIn("\x1b", message)
        self.assertNotIn("\n", message)
        self.assertIn("\\x1b[2Jbusy\\x0afake line", message)

    def test_pendingBounded(self) -> None:
        # The bootstrap lookup's query is one of them.
        waiting = [self.node.ping(("10.3.0.1", n + 1)) for n in range(MAX_PENDING - 1)]
        self.failureResultOf(self.node.ping(SOURCE), DHTQueryError)
        self.assertEqual(len(self.sent()), MAX_PENDING - 1)
        # Dropped silently when the wire port message floods us.
        self.node.addNode("10.0.0.5", 1)
        self.assertEqual(self.sent(), [])
        self.clock.advance(QUERY_TIMEOUT)
        for d in waiting:
            self.failureResultOf(d, DHTQueryError)

    def test_addNode(self) -> None:
        self.node.addNode("10.0.0.5", 6881)
        self.node.addNode("::1", 6881)
        self.node.addNode("10.0.0.5", 0)
        self.node.addNode("example.com", 6881)
        [(query, address)] = self.sent()
        self.assertEqual((query.method, address), (PING, ("10.0.0.5", 6881)))
        self.receive(Response(query.transactionId, PEER_ID), address)
        self.assertEqual(self.node.table.idAt(address), PEER_ID)

    def test_stopFailsPending(self) -> None:
        d = self.node.ping(SOURCE)
        self.node.doStop()
        self.failureResultOf(d, DHTQueryError)


class BootstrapTests(NodeTestCase):
    """
    Joining the DHT, and keeping the table fresh.
    """

    def test_bootstrapResolves(self) -> None:
        """
        The bootstrap host name is resolved, then asked for our own id.
        """
        (query, address), = self.sent()
        self.assertEqual((query.method, query.target, address), (FIND_NODE, OWN, ("10.9.9.9", 6881)))
        nodes = tuple(NodeInfo(bytes([0x80, n]) + bytes(18), (f"10.4.0.{n}", 6881)) for n in range(3))
        self.receive(Response(query.transactionId, PEER_ID, nodes), address)
        asked = {address for _, address in self.sent()}
        self.assertEqual(asked, {n.address for n in nodes})

    def test_unresolvableBootstrap(self) -> None:
        node = DHTNode(self.clock, nodeId=OWN, bootstrap=[("nowhere.example", 1), ("10.8.8.8", 2)])
        transport = FakeDatagramTransport()
        node.makeConnection(transport)
        self.addCleanup(_stop, node)
        self.assertEqual([address for _, address in transport.written], [("10.8.8.8", 2)])

    def test_rebootstrapWhenEmpty(self) -> None:
        self.sent()
        self.clock.advance(QUERY_TIMEOUT)
        self.clock.advance(MAINTENANCE_INTERVAL)
        [(query, address)] = self.sent()
        self.assertEqual((query.method, address), (FIND_NODE, ("10.9.9.9", 6881)))

    def test_refreshAndPing(self) -> None:
        """
        With a table of K nodes, maintenance pings questionable nodes and
        looks up a random id in buckets unchanged for 15 minutes.
        """
        self.sent()
        self.clock.advance(QUERY_TIMEOUT)
        for n in range(K):
            self.node.table.heard(bytes([n + 1]) * 20, (f"10.5.0.{n}", 1), self.clock.seconds(), responded=False)
        self.clock.advance(MAINTENANCE_INTERVAL)
        methods = [query.method for query, _ in self.sent()]
        self.assertIn(PING, methods)
        self.clock.advance(15 * 60)
        methods = [query.method for query, _ in self.sent()]
        self.assertIn(FIND_NODE, methods)

    def test_knownNodesPinged(self) -> None:
        known = [NodeInfo(b"\x33" * 20, ("10.7.0.1", 5))]
        node = DHTNode(self.clock, nodeId=OWN, bootstrap=(), knownNodes=known)
        transport = FakeDatagramTransport()
        node.makeConnection(transport)
        self.addCleanup(_stop, node)
        self.assertIn(("10.7.0.1", 5), [address for _, address in transport.written])


class TableFileTests(SynchronousTestCase):
    """
    The routing table file.
    """

    def test_roundTrip(self) -> None:
        path = self.mktemp()
        nodes = [NodeInfo(bytes([n]) * 20, (f"10.0.0.{n}", 100 + n)) for n in range(5)]
        saveTable(path, OWN, nodes)
        self.assertEqual(loadTable(path), (OWN, nodes))

    def test_missingOrBad(self) -> None:
        path = self.mktemp()
        self.assertIsNone(loadTable(path))
        for data in [b"", b"garbage", b"d2:id3:abce", b"d2:id20:" + OWN + b"5:nodes3:abce", b"x" * (MAX_TABLE_FILE + 1)]:
            with open(path, "wb") as f:
                f.write(data)
            self.assertIsNone(loadTable(path), data[:40])


class ServiceTests(TestCase):
    """
    L{DHTService} on a real loopback UDP port.
    """

    def test_keepsIdAcrossRestarts(self) -> None:
        path = self.mktemp()
        service = DHTService(0, "127.0.0.1", bootstrap=(), tablePath=path, reactor=reactor)
        service.startService()
        nodeId = service.node.nodeId
        self.assertTrue(service.port.getHost().port)
        service.node.table.heard(b"\x44" * 20, ("127.0.0.1", 9), 0, responded=True)

        def restart(_: object):
            self.assertTrue(os.path.exists(path))
            again = DHTService(0, "127.0.0.1", bootstrap=(), tablePath=path, reactor=reactor)
            again.startService()
            self.assertEqual(again.node.nodeId, nodeId)
            return again.stopService()

        return service.stopService().addCallback(restart)

    def test_portTaken(self) -> None:
        """
        When the UDP port is taken, the service runs without the DHT, says
        so, and keeps the routing table file as it was.
        """
        path = self.mktemp()
        saveTable(path, OWN, [NodeInfo(b"\x44" * 20, ("127.0.0.1", 9))])
        taken = reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        service = DHTService(taken.getHost().port, "127.0.0.1", bootstrap=(), tablePath=path, reactor=reactor)
        logged: list = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        service.startService()
        self.assertIsNone(service.port)
        self.assertIn("--dht-port", "".join(formatEvent(e) for e in logged))
        self.successResultOf(service.stopService())
        self.assertEqual(loadTable(path), (OWN, [NodeInfo(b"\x44" * 20, ("127.0.0.1", 9))]))

    def test_unreachableNodesRemembered(self) -> None:
        """
        Nodes remembered from the last run that did not answer this time
        are saved again.
        """
        known = [NodeInfo(b"\x44" * 20, ("127.0.0.1", 9))]
        node = DHTNode(reactor, nodeId=OWN, bootstrap=(), knownNodes=known)
        self.assertEqual(node.savedNodes(), known)
