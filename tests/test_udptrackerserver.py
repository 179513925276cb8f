"""
Tests for L{bittwist.udptrackerserver}: our tracker on UDP, on a L{Clock}
with a fake UDP port, and on loopback with L{UDPTrackerClient}.
"""

from hypothesis import given, settings, strategies as st
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bittwist import trackertap
from bittwist.tracker import AnnounceQuery, announce as httpAnnounce
from bittwist.trackerserver import TrackerResource
from bittwist.udptrackercodec import (
    AnnounceReply,
    AnnounceRequest,
    ConnectReply,
    ConnectRequest,
    ErrorReply,
    ScrapeEntry,
    ScrapeReply,
    ScrapeRequest,
    decodeReply,
    encode,
)
from bittwist.errors import AnnounceRefused
from bittwist.udptracker import UDPTrackerClient
from bittwist.udptrackerserver import MAX_PEERS, UDPTrackerServer
from tests.fakes import FakeTrackerStore, UDPClock

INFO_HASH = b"\x11" * 20


def peerId(n: int) -> bytes:
    return b"-XX0001-%012d" % n


class ServerTests(SynchronousTestCase):
    """
    L{UDPTrackerServer} over a L{TrackerResource}.
    """

    def setUp(self) -> None:
        self.clock = UDPClock()
        self.clock.advance(1000)
        self.resource = TrackerResource(reactor=self.clock, interval=900)
        self.server = UDPTrackerServer(self.resource.tracker, reactor=self.clock,
                                       secret=b"s" * 32)
        self.port = self.clock.listenUDP(6969, self.server)

    def ask(self, packet, addr=("10.0.0.1", 5000), raw: bytes | None = None):
        """
        Send C{packet} (or C{raw} bytes) from C{addr}; return the decoded
        reply, or C{None} if there was none.
        """
        before = len(self.port.written)
        self.server.datagramReceived(encode(packet) if raw is None else raw, addr)
        if len(self.port.written) == before:
            return None
        data, to = self.port.written[-1]
        self.assertEqual(to, addr)
        return decodeReply(data)

    def connect(self, addr=("10.0.0.1", 5000)) -> int:
        reply = self.ask(ConnectRequest(1), addr)
        self.assertEqual(reply.transactionId, 1)
        return reply.connectionId

    def announce(self, n: int, addr=None, numwant=50, left=10, event="started", connectionId=None):
        addr = addr or (f"10.0.0.{n}", 5000)
        if connectionId is None:
            connectionId = self.connect(addr)
        return self.ask(AnnounceRequest(connectionId, 2, INFO_HASH, peerId(n), 0, left, 0, event,
                                        0, 0, numwant, 6000 + n), addr)

    def test_connectReplySize(self) -> None:
        """
        A connect is answered with 16 bytes, no more than it sent.
        """
        self.connect()
        self.assertEqual(len(self.port.written[-1][0]), 16)

    def test_announce(self) -> None:
        """
        Announces after a connect are answered with the tracker's interval,
        counts, and the other peers.
        """
        self.announce(1, left=0)
        reply = self.announce(2)
        self.assertEqual(reply, AnnounceReply(2, 900, 1, 1, (("10.0.0.1", 6001),)))

    def test_connectionIdBoundToAddress(self) -> None:
        """
        A connection id given to one address is refused from another (even
        the same host on another port), with a short error.
        """
        connectionId = self.connect(("10.0.0.1", 5000))
        for addr in (("10.0.0.2", 5000), ("10.0.0.1", 5001)):
            reply = self.announce(1, addr=addr, connectionId=connectionId)
            self.assertIsInstance(reply, ErrorReply)
            self.assertIn("connect again", reply.message)
            self.assertLessEqual(len(self.port.written[-1][0]), 98)
        self.assertEqual(self.ask(ScrapeRequest(connectionId, 3, (INFO_HASH,))).entries,
                         (ScrapeEntry(0, 0, 0),))

    def test_connectionIdLifetime(self) -> None:
        """
        A connection id is accepted for at least 60 seconds and refused
        after 120.
        """
        connectionId = self.connect()
        self.clock.advance(60)
        self.assertIsInstance(self.announce(1, addr=("10.0.0.1", 5000), connectionId=connectionId),
                              AnnounceReply)
        self.clock.advance(60)
        self.assertIsInstance(self.announce(1, addr=("10.0.0.1", 5000), connectionId=connectionId),
                              ErrorReply)

    def test_numwantBounded(self) -> None:
        """
        An announce reply lists at most C{numwant} peers, at most
        L{MAX_PEERS} whatever is asked; -1 means the default.
        """
        for n in range(1, 5):
            self.announce(n)
        self.assertEqual(len(self.announce(9, numwant=2).peers), 2)
        self.assertEqual(len(self.announce(9, numwant=-1).peers), 4)
        self.assertEqual(len(self.announce(9, numwant=2 ** 31 - 1).peers), 4)
        self.assertEqual(MAX_PEERS, 200)

    def test_stopped(self) -> None:
        """
        A C{stopped} announce removes the peer from the swarm.
        """
        self.announce(1)
        self.announce(1, event="stopped")
        self.assertEqual(self.announce(2).peers, ())

    def test_trackerRefusal(self) -> None:
        """
        A request the tracker refuses (port 0) gets an error reply.
        """
        connectionId = self.connect()
        reply = self.ask(AnnounceRequest(connectionId, 4, INFO_HASH, peerId(1), 0, 0, 0, None, 0,
                                         0, 5, 0))
        self.assertEqual(reply, ErrorReply(4, "port must be between 1 and 65535"))

    def test_scrape(self) -> None:
        """
        A scrape gives seeders, completed and leechers per info hash.
        """
        self.announce(1, left=0, event="completed")
        self.announce(2)
        connectionId = self.connect()
        reply = self.ask(ScrapeRequest(connectionId, 5, (INFO_HASH, b"\x22" * 20)))
        self.assertEqual(reply, ScrapeReply(5, (ScrapeEntry(1, 1, 1), ScrapeEntry(0, 0, 0))))

    def test_sharedWithHTTP(self) -> None:
        """
        A peer announced over HTTP is given to a peer announcing over UDP.
        """
        d = httpAnnounce("http://t.example/announce", AnnounceQuery(INFO_HASH, peerId(7), 7777, 0, 0, 1),
                         httpClient=StubTreq(self.resource), reactor=self.clock)
        self.successResultOf(d)
        self.assertIn(("127.0.0.1", 7777), self.announce(1).peers)

    def test_malformedDropped(self) -> None:
        """
        Malformed packets get no answer.
        """
        for raw in (b"", b"x" * 15, encode(ConnectRequest(1)) + b"!", b"\0" * 98):
            self.assertIsNone(self.ask(None, raw=raw))

    @given(st.binary(max_size=700), st.integers(0, 65535))
    @settings(max_examples=300, deadline=None)
    def test_noAmplification(self, data: bytes, port: int) -> None:
        """
        Any packet from an address that never connected gets no answer or
        one no longer than what it sent.
        """
        before = len(self.port.written)
        self.server.datagramReceived(data, ("10.9.9.9", port))
        for answer, _ in self.port.written[before:]:
            self.assertLessEqual(len(answer), max(len(data), 44))


class StoreTests(SynchronousTestCase):
    """
    L{UDPTrackerServer} calls its transport-free store directly.
    """

    def setUp(self) -> None:
        self.clock = UDPClock()
        self.store = FakeTrackerStore()
        self.server = UDPTrackerServer(self.store, reactor=self.clock)
        self.port = self.clock.listenUDP(6969, self.server)
        self.addr = ("10.0.0.1", 5000)

    def ask(self, packet):
        self.server.datagramReceived(encode(packet), self.addr)
        return decodeReply(self.port.written[-1][0])

    def connectionId(self) -> int:
        return self.ask(ConnectRequest(1)).connectionId

    def test_announce(self) -> None:
        """
        An announce reaches the store with the source address, event, left
        and numwant; its peers and counts come back.
        """
        self.store.peers = [(b"p" * 20, "10.0.0.2", 6002)]
        reply = self.ask(AnnounceRequest(self.connectionId(), 2, INFO_HASH, peerId(1), 5, 7, 9,
                                         "completed", 0, 0, 30, 6001))
        self.assertEqual(self.store.announces,
                         [(INFO_HASH, peerId(1), "10.0.0.1", 6001, "completed", 7, 30)])
        self.assertEqual(reply, AnnounceReply(2, 900, 1, 2, (("10.0.0.2", 6002),)))

    def test_refused(self) -> None:
        """
        The store's refusal reaches the client as an error reply with its
        reason.
        """
        self.store.refuse = AnnounceRefused("too many swarms from your address")
        connectionId = self.connectionId()
        reply = self.ask(AnnounceRequest(connectionId, 3, INFO_HASH, peerId(1), 0, 0, 0, None, 0,
                                         0, 5, 1))
        self.assertEqual(reply, ErrorReply(3, "too many swarms from your address"))
        reply = self.ask(ScrapeRequest(connectionId, 4, (INFO_HASH,)))
        self.assertEqual(reply, ErrorReply(4, "too many swarms from your address"))

    def test_scrape(self) -> None:
        """
        A scrape maps the store's complete, downloaded, incomplete.
        """
        reply = self.ask(ScrapeRequest(self.connectionId(), 5, (INFO_HASH,)))
        self.assertEqual(reply, ScrapeReply(5, (ScrapeEntry(1, 3, 2),)))


class TapTests(SynchronousTestCase):
    """
    C{twistd bittorrent-tracker --udp-port}.
    """

    def test_option(self) -> None:
        """
        C{--udp-port} takes a port number; none by default (no UDP).
        """
        options = trackertap.Options()
        options.parseOptions([])
        self.assertIsNone(options["udp-port"])
        options.parseOptions(["--udp-port", "6969", "--udp-interface", "127.0.0.1"])
        self.assertEqual((options["udp-port"], options["udp-interface"]), (6969, "127.0.0.1"))
        for bad in ("0", "x", "70000"):
            error = self.assertRaises(Exception, trackertap.Options().parseOptions, ["--udp-port", bad])
            self.assertIn("--udp-port", str(error))

    def test_listensOnUDP(self) -> None:
        """
        With C{--udp-port}, the service also listens on that UDP port with
        a L{UDPTrackerServer}.
        """
        options = trackertap.Options()
        options.parseOptions(["--port", "tcp:0", "--udp-port", "16969", "--udp-interface", "127.0.0.1"])
        clock = UDPClock()
        clock.listenTCP = lambda *a, **k: _Port()
        service = trackertap.makeService(options, reactor=clock)
        service.startService()
        self.addCleanup(service.stopService)
        [port] = clock.ports
        self.assertEqual((port.port, port.interface), (16969, "127.0.0.1"))
        self.assertIsInstance(port.protocol, UDPTrackerServer)


class _Port:
    def stopListening(self):
        return None


class LoopbackTests(TestCase):
    """
    L{UDPTrackerClient} and L{UDPTrackerServer} on 127.0.0.1.
    """

    @inlineCallbacks
    def test_announceRoundTrip(self) -> None:
        """
        Two clients announce to our UDP tracker on loopback; the second
        learns of the first, with the counts.
        """
        resource = TrackerResource(reactor=reactor, interval=120)
        server = UDPTrackerServer(resource.tracker, reactor=reactor)
        port = reactor.listenUDP(0, server, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = f"udp://127.0.0.1:{port.getHost().port}/announce"
        first, second = UDPTrackerClient(reactor, tries=1), UDPTrackerClient(reactor, tries=1)
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        yield first.announce(url, AnnounceQuery(INFO_HASH, peerId(1), 6001, 0, 0, 0, event="started"))
        answer = yield second.announce(url, AnnounceQuery(INFO_HASH, peerId(2), 6002, 0, 0, 5, event="started"))
        self.assertEqual(answer.peers, (("127.0.0.1", 6001),))
        self.assertEqual((answer.interval, answer.complete, answer.incomplete), (120, 1, 1))
        scraped = yield second.scrape(url, [INFO_HASH])
        self.assertEqual(scraped, {INFO_HASH: ScrapeEntry(1, 0, 1)})
