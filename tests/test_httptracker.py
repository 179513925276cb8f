"""
Tests for L{bittwist.httptracker}: announcing to HTTP trackers and parsing
their answers.
"""

import bencodepy
import treq
from hypothesis import given, settings, strategies as st
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionLost, ConnectionRefusedError
from twisted.internet.testing import Clock, MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.web.client import Agent
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from zope.interface.verify import verifyObject

from bittwist import httptracker
from bittwist.announcer import Announcer
from bittwist.errors import TrackerError
from bittwist.httptracker import HTTPTrackerClient, announce, parseAnnounceBody
from bittwist.trackerclient import AnnounceQuery, AnnounceResponse, ITrackerClient
from bittwist.trackerserver import TrackerResource

INFO_HASH = b"\x00\x01 ~-._aZ9%+&=?#/\xff\x80\x7f"
INFO_HASH_QUOTED = b"%00%01%20~-._aZ9%25%2B%26%3D%3F%23%2F%FF%80%7F"
PEER_ID = b"-BT0001-\x00\x01\x02\x03\xfe\xff123456"


def compact(host: str, port: int) -> bytes:
    return bytes(int(x) for x in host.split(".")) + port.to_bytes(2, "big")


def okBody(**extra: object) -> bytes:
    body = {b"interval": 1800, b"peers": compact("10.0.0.1", 6881)}
    body.update({k.replace("_", " ").encode(): v for k, v in extra.items()})
    return bencodepy.encode(body)


class FakeTracker(Resource):
    """
    Answers every request with C{code} and C{body}, recording each
    request's raw URI and arguments.
    """

    isLeaf = True

    def __init__(self, body: bytes | None = None, code: int = 200) -> None:
        super().__init__()
        self.body = okBody() if body is None else body
        self.code = code
        self.uris: list[bytes] = []
        self.requests: list[dict] = []

    def render_GET(self, request) -> bytes:
        self.uris.append(request.uri)
        self.requests.append({k: v[0] for k, v in request.args.items()})
        request.setResponseCode(self.code)
        return self.body

    def events(self) -> list:
        return [r.get(b"event") for r in self.requests]


class SilentClient:
    """
    A treq-like client whose requests never get an answer.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, Deferred]] = []
        self.cancelled: list[str] = []

    def get(self, url: str, **kwargs: object) -> Deferred:
        d: Deferred = Deferred(lambda d: self.cancelled.append(url))
        self.requests.append((url, d))
        return d


def announceTo(resource, url="http://tracker.example/announce", reactor=None, **kwargs):
    query = AnnounceQuery(INFO_HASH, PEER_ID, 6881, 1, 2, 3, **kwargs)
    return announce(url, query, httpClient=StubTreq(resource), reactor=reactor or Clock())


class AnnounceRequestTests(SynchronousTestCase):
    """
    What L{announce} sends.
    """

    def test_percentEncoding(self) -> None:
        """
        Binary C{info_hash} and C{peer_id} are percent-encoded byte by byte,
        leaving only unreserved characters, and decode back to the same
        bytes.
        """
        fake = FakeTracker()
        self.successResultOf(announceTo(fake))
        self.assertIn(b"?info_hash=" + INFO_HASH_QUOTED + b"&", fake.uris[0])
        self.assertIn(b"&peer_id=-BT0001-%00%01%02%03%FE%FF123456&", fake.uris[0])
        self.assertEqual(fake.requests[0][b"info_hash"], INFO_HASH)
        self.assertEqual(fake.requests[0][b"peer_id"], PEER_ID)

    def test_parameters(self) -> None:
        """
        Port, counters, C{compact=1}, C{numwant}, event, key and tracker id
        are sent.
        """
        fake = FakeTracker()
        self.successResultOf(announceTo(fake, event="started", numwant=7, key=b"k\x01",
                                        trackerId=b"t i"))
        args = fake.requests[0]
        self.assertEqual(
            {k: v for k, v in args.items() if k not in (b"info_hash", b"peer_id")},
            {b"port": b"6881", b"uploaded": b"1", b"downloaded": b"2", b"left": b"3",
             b"compact": b"1", b"numwant": b"7", b"event": b"started",
             b"key": b"k\x01", b"trackerid": b"t i"},
        )

    def test_noEvent(self) -> None:
        """
        Without an event, no C{event} parameter is sent.
        """
        fake = FakeTracker()
        self.successResultOf(announceTo(fake))
        self.assertNotIn(b"event", fake.requests[0])

    def test_urlWithQuery(self) -> None:
        """
        Parameters are joined to a URL that already has a query with C{&},
        and to one ending in C{?} directly.
        """
        fake = FakeTracker()
        self.successResultOf(announceTo(fake, url="http://t.example/announce?passkey=s3"))
        self.successResultOf(announceTo(fake, url="http://t.example/announce?"))
        self.assertTrue(fake.uris[0].startswith(b"/announce?passkey=s3&info_hash=%00"))
        self.assertTrue(fake.uris[1].startswith(b"/announce?info_hash=%00"))

    def test_unknownEvent(self) -> None:
        """
        An event that is not one of BEP 3's is a programming error.
        """
        self.assertRaises(ValueError, announceTo, FakeTracker(), event="finished")


class HTTPTrackerClientTests(SynchronousTestCase):
    """
    L{HTTPTrackerClient}, the announcer's client for C{http} and C{https}.
    """

    def test_interface(self) -> None:
        """
        L{HTTPTrackerClient} provides L{ITrackerClient}.
        """
        self.assertTrue(verifyObject(ITrackerClient, HTTPTrackerClient(Clock(), SilentClient())))

    def test_announce(self) -> None:
        """
        L{HTTPTrackerClient.announce} announces through its HTTP client and
        fires with the parsed answer.
        """
        fake = FakeTracker()
        client = HTTPTrackerClient(Clock(), StubTreq(fake))
        response = self.successResultOf(client.announce(
            "http://t.example/announce", AnnounceQuery(INFO_HASH, PEER_ID, 6881, 0, 0, 0)))
        self.assertEqual(response.peers, (("10.0.0.1", 6881),))
        self.assertEqual(fake.requests[0][b"port"], b"6881")


class AnnounceResponseTests(SynchronousTestCase):
    """
    How L{announce} reads the tracker's answer.
    """

    def answer(self, body: bytes, code: int = 200):
        return announceTo(FakeTracker(body, code))

    def failure(self, body: bytes, code: int = 200) -> TrackerError:
        error = self.failureResultOf(self.answer(body, code), TrackerError).value
        self.assertEqual(error.url, "http://tracker.example/announce")
        return error

    def test_againstTrackerResource(self) -> None:
        """
        Against L{TrackerResource}, a second peer learns of the first.
        """
        resource = TrackerResource(reactor=Clock())
        self.successResultOf(announceTo(resource))
        query = AnnounceQuery(INFO_HASH, b"x" * 20, 7000, 0, 0, 0)
        response = self.successResultOf(announce(
            "http://tracker.example/announce", query, httpClient=StubTreq(resource), reactor=Clock()))
        self.assertEqual(response.peers, (("127.0.0.1", 6881),))
        self.assertEqual((response.complete, response.incomplete), (1, 1))

    def test_compactPeers(self) -> None:
        """
        Compact peers are parsed; entries with port 0 and duplicates are
        dropped.
        """
        peers = (compact("10.0.0.1", 6881) + compact("10.0.0.2", 0)
                 + compact("192.168.1.255", 65535) + compact("10.0.0.1", 6881))
        response = self.successResultOf(self.answer(okBody(peers=peers)))
        self.assertEqual(response.peers, (("10.0.0.1", 6881), ("192.168.1.255", 65535)))

    def test_compactNotMultipleOfSix(self) -> None:
        """
        A compact peer string whose length is not a multiple of 6 is a
        L{TrackerError}.
        """
        error = self.failure(okBody(peers=b"\x01" * 7))
        self.assertIn("not a multiple of 6", error.reason)

    def test_peers6(self) -> None:
        """
        C{peers6} adds IPv6 peers, 18 bytes each; a bad length is an error.
        """
        v6 = bytes.fromhex("20010db8000000000000000000000001") + (6881).to_bytes(2, "big")
        response = self.successResultOf(self.answer(okBody(peers=b"", peers6=v6)))
        self.assertEqual(response.peers, (("2001:db8::1", 6881),))
        response = self.successResultOf(self.answer(bencodepy.encode(
            {b"interval": 5, b"peers6": v6})))
        self.assertEqual(response.peers, (("2001:db8::1", 6881),))
        self.assertIn("multiple of 18", self.failure(okBody(peers6=v6[:-1])).reason)

    def test_dictionaryPeers(self) -> None:
        """
        Dictionary peer lists are parsed; malformed entries are dropped.
        """
        peers = [
            {b"ip": b"10.0.0.1", b"port": 6881, b"peer id": b"x" * 20},
            {b"ip": b"::1", b"port": 1},
            {b"ip": b"10.0.0.2", b"port": 0},
            {b"ip": b"10.0.0.3", b"port": 65536},
            {b"ip": b"10.0.0.4", b"port": b"80"},
            {b"ip": b"not an address", b"port": 80},
            {b"ip": b"\xff", b"port": 80},
            {b"port": 80},
            b"junk",
            7,
        ]
        response = self.successResultOf(self.answer(okBody(peers=peers)))
        self.assertEqual(response.peers, (("10.0.0.1", 6881), ("::1", 1)))

    def test_optionalFields(self) -> None:
        """
        Warning, min interval, counts and tracker id are parsed; wrongly
        typed ones are ignored.
        """
        response = self.successResultOf(self.answer(okBody(
            warning_message=b"slow down", min_interval=60, complete=3,
            incomplete=4, tracker_id=b"abc")))
        self.assertEqual(response, AnnounceResponse(
            interval=1800, minInterval=60, peers=(("10.0.0.1", 6881),),
            warning="slow down", complete=3, incomplete=4, trackerId=b"abc"))
        response = self.successResultOf(self.answer(okBody(
            warning_message=5, min_interval=b"60", complete=-1, tracker_id=[])))
        self.assertEqual(
            (response.warning, response.minInterval, response.complete, response.trackerId),
            (None, None, None, None))

    def test_failureReason(self) -> None:
        """
        A C{failure reason} is a L{TrackerError} carrying the tracker's words.
        """
        error = self.failure(bencodepy.encode({b"failure reason": b"unregistered torrent"}))
        self.assertEqual(error.reason, "unregistered torrent")
        self.assertIn("unregistered torrent", str(error))

    def test_trackerTextEscaped(self) -> None:
        """
        Terminal escape codes and newlines in a C{failure reason} or a
        C{warning message} are escaped, and the text is bounded.
        """
        error = self.failure(bencodepy.encode({b"failure reason": b"\x1b]0;pwned\x07\nfake"}))
        self.assertEqual(error.reason, "\\x1b]0;pwned\\x07\\x0afake")
        response = self.successResultOf(self.answer(okBody(warning_message=b"\x1b[2J" + b"w" * 5000)))
        self.assertTrue(response.warning.startswith("\\x1b[2Jwww"))
        self.assertLessEqual(len(response.warning), 400)
        error = self.failure(b"x", code=404)
        self.assertNotIn("\x1b", error.reason)

    def test_badStatus(self) -> None:
        """
        A status other than 200 is a L{TrackerError} naming it.
        """
        self.assertIn("404", self.failure(b"not found", code=404).reason)

    def test_badBencode(self) -> None:
        """
        A body that is not bencode, or not a dictionary, is a L{TrackerError}.
        """
        self.assertIn("bencode", self.failure(b"<html>oops</html>").reason)
        self.assertIn("dictionary", self.failure(b"li1ee").reason)

    def test_badInterval(self) -> None:
        """
        A missing, negative or non-integer C{interval} is a L{TrackerError}.
        """
        for interval in (None, -5, b"1800"):
            body = {b"peers": b""}
            if interval is not None:
                body[b"interval"] = interval
            self.assertIn("'interval'", self.failure(bencodepy.encode(body)).reason)

    def test_badPeers(self) -> None:
        """
        Missing or mistyped C{peers} is a L{TrackerError}.
        """
        self.assertIn("'peers'", self.failure(bencodepy.encode({b"interval": 5})).reason)
        self.assertIn("'peers'", self.failure(okBody(peers=5)).reason)

    def test_peersPerAnswerBounded(self) -> None:
        """
        At most L{httptracker.MAX_PEERS_PER_ANSWER} distinct peers are taken
        from one answer, compact or dictionary, IPv4 and IPv6 together.
        """
        limit = httptracker.MAX_PEERS_PER_ANSWER
        many = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(limit + 100)]
        blob = compact(many[0], 1) * 3 + b"".join(compact(h, 1) for h in many)
        response = self.successResultOf(self.answer(okBody(peers=blob)))
        self.assertEqual(len(response.peers), limit)
        self.assertEqual(response.peers[:2], ((many[0], 1), (many[1], 1)))
        entries = [{b"ip": h.encode(), b"port": 2} for h in many]
        response = self.successResultOf(self.answer(okBody(peers=entries)))
        self.assertEqual(len(response.peers), limit)
        response = self.successResultOf(self.answer(
            okBody(peers=b"".join(compact(h, 1) for h in many[: limit - 10]),
                   peers6=b"".join(bytes(15) + bytes([i + 1]) + b"\x00\x01" for i in range(20)))))
        self.assertEqual(len(response.peers), limit)
        self.assertEqual(response.peers[-1], ("::a", 1))

    def test_valuesBounded(self) -> None:
        """
        An answer of many tiny values (C{lelele...}) is refused once it
        holds more than L{httptracker.MAX_ANSWER_VALUES}.
        """
        body = b"d8:intervali60e3:padl" + b"le" * (httptracker.MAX_ANSWER_VALUES + 1) + b"e5:peers0:e"
        self.assertIn("more than", self.failure(body).reason)
        self.successResultOf(self.answer(okBody(pad=[[]] * 100)))

    def test_bodyCapIsOneMiB(self) -> None:
        """
        Answers are read up to 1 MiB.
        """
        self.assertEqual(httptracker.MAX_RESPONSE_SIZE, 2**20)

    def test_bodyTooLarge(self) -> None:
        """
        An answer larger than L{httptracker.MAX_RESPONSE_SIZE} is a
        L{TrackerError}.
        """
        self.patch(httptracker, "MAX_RESPONSE_SIZE", 100)
        self.assertIn("larger than 100 bytes", self.failure(okBody(pad=b"x" * 200)).reason)
        self.successResultOf(self.answer(okBody()))

    def test_timeout(self) -> None:
        """
        No answer within C{timeout} seconds is a L{TrackerError} saying so,
        and the request is cancelled.
        """
        clock = Clock()
        client = SilentClient()
        d = announce("http://t.example/a", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0),
                     httpClient=client, timeout=10, reactor=clock)
        clock.advance(9)
        self.assertNoResult(d)
        clock.advance(1)
        error = self.failureResultOf(d, TrackerError).value
        self.assertIn("no answer within 10 seconds", error.reason)
        self.assertEqual(len(client.cancelled), 1)

    def test_timeoutOfSentRequest(self) -> None:
        """
        A tracker that accepts the connection and never answers is reported
        as "no answer within 30 seconds", not as the web client's list of
        cancelled failures.
        """
        clock = MemoryReactorClock()
        client = treq.client.HTTPClient(Agent(clock))
        d = announce("http://t.example/a", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0),
                     httpClient=client, reactor=clock)
        factory = clock.tcpClients[0][2]
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertIn(b"GET /a?info_hash=", transport.value())
        clock.advance(29)
        self.assertNoResult(d)
        clock.advance(1)
        error = self.failureResultOf(d, TrackerError).value
        self.assertEqual(error.reason, "no answer within 30 seconds")
        self.assertNotIn("CancelledError", str(error))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_connectionErrorWords(self) -> None:
        """
        A connection lost before the answer is reported in words, not as the
        C{repr} of a list of failures.
        """
        clock = MemoryReactorClock()
        client = treq.client.HTTPClient(Agent(clock))
        d = announce("http://t.example/a", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0),
                     httpClient=client, reactor=clock)
        protocol = clock.tcpClients[0][2].buildProtocol(None)
        protocol.makeConnection(StringTransport())
        protocol.connectionLost(Failure(ConnectionLost("reset by peer")))
        error = self.failureResultOf(d, TrackerError).value
        self.assertIn("could not reach the tracker: ", error.reason)
        self.assertIn("reset by peer", error.reason)
        self.assertNotIn("<twisted.python.failure.Failure", error.reason)

    def test_connectionError(self) -> None:
        """
        A connection error, or a client that raises, becomes a
        L{TrackerError} saying the tracker could not be reached.
        """
        class Refusing:
            def get(self, url):
                return fail(ConnectionRefusedError("nobody home"))

        class Raising:
            def get(self, url):
                raise ValueError("bad URL")

        for client in (Refusing(), Raising()):
            clock = Clock()
            d = announce("http://t.example/a", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0),
                         httpClient=client, reactor=clock)
            error = self.failureResultOf(d, TrackerError).value
            self.assertIn("could not reach the tracker", error.reason)
            self.assertEqual(clock.getDelayedCalls(), [])

    def test_unparsableURL(self) -> None:
        """
        A URL that C{urlsplit} cannot parse (a torrent's C{http://x[2J/})
        fails the announce with a L{TrackerError}, and an L{Announcer}
        skips it instead of raising.
        """
        d = announce("http://x[2J/", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0),
                     httpClient=SilentClient(), reactor=Clock())
        self.failureResultOf(d, TrackerError)
        Announcer([["http://x[2J/"]], INFO_HASH, PEER_ID, 1, lambda: (0, 0, 0),
                  lambda peers: None, reactor=Clock(), httpClient=SilentClient()).start()

    def test_notHTTP(self) -> None:
        """
        A non-HTTP tracker URL is a L{TrackerError}.
        """
        d = announce("udp://t.example:80", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0),
                     httpClient=SilentClient(), reactor=Clock())
        self.assertIn("http", self.failureResultOf(d, TrackerError).value.reason)


class StreamingTracker(Resource):
    """
    Answers with a bencoded dictionary whose compact peer list makes the
    body C{size} bytes long, written 64 KiB at a time as the connection
    drains, and records how much it wrote before the connection closed.
    """

    isLeaf = True

    def __init__(self, size: int, sayLength: bool = True) -> None:
        super().__init__()
        self.sayLength = sayLength
        count = (size - 40) // 6
        head = b"d8:intervali60e5:peers" + str(6 * count).encode() + b":"
        self.body = head + bytes([10, 0, 0, 1, 26, 225]) * count + b"e"
        self.written = 0
        self.closed: Deferred = Deferred()

    def render_GET(self, request) -> int:
        from twisted.internet import reactor
        from twisted.web.server import NOT_DONE_YET

        if self.sayLength:
            request.setHeader(b"content-length", str(len(self.body)).encode())
        finished = request.notifyFinish()
        done = []
        calls = []

        def closed(result: object) -> None:
            done.append(result)
            # No write left pending when the test ends.
            if calls and calls[-1].active():
                calls[-1].cancel()
            # A Failure if the connection closed before the answer was whole.
            self.closed.callback((result,))

        finished.addBoth(closed)

        def more() -> None:
            if done:
                return
            if self.written >= len(self.body):
                request.finish()
                return
            chunk = self.body[self.written : self.written + 65536]
            self.written += len(chunk)
            request.write(chunk)
            calls.append(reactor.callLater(0.001, more))

        more()
        return NOT_DONE_YET


class LoopbackBodyLimitTests(TestCase):
    """
    Against a real C{twisted.web} tracker on 127.0.0.1.
    """

    def listen(self, resource: Resource) -> str:
        from twisted.internet import reactor
        from twisted.web.client import HTTPConnectionPool
        from twisted.web.server import Site

        port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.client = treq.client.HTTPClient(Agent(reactor, pool=pool))
        return f"http://127.0.0.1:{port.getHost().port}/announce"

    async def test_hugeAnswerCut(self) -> None:
        """
        A 4 MiB answer of unannounced length (chunked) is refused with a
        L{TrackerError} once it passes L{httptracker.MAX_RESPONSE_SIZE}, and the
        connection is closed: the tracker does not get to send the rest.
        """
        resource = StreamingTracker(4 * 2**20, sayLength=False)
        url = self.listen(resource)
        d = announce(url, AnnounceQuery(INFO_HASH, PEER_ID, 6881, 0, 0, 1), httpClient=self.client)
        error = await self.assertFailure(d, TrackerError)
        self.assertIn(f"larger than {httptracker.MAX_RESPONSE_SIZE} bytes", error.reason)
        (closed,) = await resource.closed
        self.assertIsInstance(closed, Failure)
        self.assertLess(resource.written, 2 * httptracker.MAX_RESPONSE_SIZE)

    async def test_hugeLengthRefusedUnread(self) -> None:
        """
        An answer whose C{Content-Length} is past the cap is refused as soon
        as its headers arrive.
        """
        resource = StreamingTracker(4 * 2**20)
        url = self.listen(resource)
        d = announce(url, AnnounceQuery(INFO_HASH, PEER_ID, 6881, 0, 0, 1), httpClient=self.client)
        error = await self.assertFailure(d, TrackerError)
        self.assertIn("larger than", error.reason)
        (closed,) = await resource.closed
        self.assertIsInstance(closed, Failure)
        self.assertLess(resource.written, httptracker.MAX_RESPONSE_SIZE // 2)

    async def test_answerUnderCapRead(self) -> None:
        """
        An answer just under the cap is read whole; the peers taken from it
        are bounded.
        """
        resource = StreamingTracker(httptracker.MAX_RESPONSE_SIZE - 100)
        url = self.listen(resource)
        response = await announce(url, AnnounceQuery(INFO_HASH, PEER_ID, 6881, 0, 0, 1), httpClient=self.client)
        self.assertEqual(response.peers, (("10.0.0.1", 6881),))
        self.assertEqual(resource.written, len(resource.body))
        self.assertEqual(await resource.closed, (None,))


bencodable = st.recursive(
    st.integers(min_value=-2, max_value=70000) | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.binary(max_size=10), children, max_size=4),
    max_leaves=15,
)
answerDicts = st.fixed_dictionaries(
    {},
    optional={
        b"interval": bencodable, b"min interval": bencodable, b"peers": bencodable,
        b"peers6": bencodable, b"failure reason": bencodable,
        b"warning message": bencodable, b"complete": bencodable,
        b"tracker id": bencodable,
    },
)


class ParseFuzzTests(SynchronousTestCase):
    """
    L{parseAnnounceBody} raises nothing but L{TrackerError}.
    """

    def check(self, body: bytes) -> None:
        try:
            response = parseAnnounceBody("http://t.example/a", body)
        except TrackerError:
            return
        for host, port in response.peers:
            self.assertIsInstance(host, str)
            self.assertTrue(0 < port < 65536)

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=200))
    def test_arbitraryBytes(self, body: bytes) -> None:
        """
        Arbitrary bytes give an answer or a L{TrackerError}.
        """
        self.check(body)

    @settings(max_examples=300, deadline=None)
    @given(answerDicts)
    def test_arbitraryDictionaries(self, answer: dict) -> None:
        """
        Bencoded dictionaries with the answer's keys and arbitrary values
        give an answer or a L{TrackerError}.
        """
        self.check(bencodepy.encode(answer))


class FakeResponse:
    """
    An L{IResponse}-like object delivering C{body} at once.
    """

    code = 200
    phrase = b"OK"

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def deliverBody(self, protocol) -> None:
        from twisted.python.failure import Failure
        from twisted.web.client import ResponseDone

        protocol.makeConnection(None)
        protocol.dataReceived(self.body)
        protocol.connectionLost(Failure(ResponseDone()))
