# -*- test-case-name: tests.test_trackerserver -*-
"""
Tests for L{bittwist.trackerserver}.
"""

from urllib.parse import quote_from_bytes

import bencodepy
import treq
from hypothesis import given, settings, strategies as st
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import Clock, StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from bittwist.tracker import AnnounceQuery, announce
from bittwist.trackerserver import TrackerResource, makeTrackerSite

INFO_HASH = bytes(range(20))
OTHER_HASH = b"\xff" * 20


def peerId(n: int) -> bytes:
    return b"-BT0001-" + b"%012d" % n


def query(**params: object) -> str:
    """
    A query string; bytes values are percent-encoded byte by byte.
    """
    parts = []
    for name, value in params.items():
        if isinstance(value, bytes):
            value = quote_from_bytes(value, safe="")
        parts.append(f"{name}={value}")
    return "&".join(parts)


def announceParams(n: int = 1, **overrides: object) -> dict:
    params = dict(info_hash=INFO_HASH, peer_id=peerId(n), port=6880 + n,
                  uploaded=0, downloaded=0, left=100)
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


class DirectMixin:
    """
    Render the tracker's resources with L{DummyRequest}s.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.tracker = TrackerResource(reactor=self.clock)

    def render(self, child: bytes, args: dict, host: str = "10.0.0.1",
               tracker: TrackerResource | None = None) -> dict:
        if ":" in host:
            client = IPv6Address("TCP", host, 40000)
        else:
            client = IPv4Address("TCP", host, 40000)
        request = DummyRequest([child])
        request.client = client
        request.args = {
            k.encode(): [v if isinstance(v, bytes) else str(v).encode()]
            for k, v in args.items()
        }
        resource = getChildForRequest(tracker or self.tracker, request)
        body = resource.render(request)
        self.assertEqual(request.responseCode, 200)
        return bencodepy.decode(body)

    def announce(self, n: int = 1, host: str = "10.0.0.1", **overrides: object) -> dict:
        return self.render(b"announce", announceParams(n, **overrides), host)


class AnnounceTests(DirectMixin, SynchronousTestCase):
    """
    Tests for C{/announce}.
    """

    def test_compactPeers(self) -> None:
        """
        With C{compact=1} the answer lists other peers as 6-byte entries,
        with interval and seeder/leecher counts.
        """
        self.announce(1, host="10.0.0.1", left=0)
        answer = self.announce(2, host="10.0.0.2", compact=1)
        self.assertEqual(answer[b"peers"], bytes([10, 0, 0, 1]) + (6881).to_bytes(2, "big"))
        self.assertEqual(answer[b"interval"], 1800)
        self.assertEqual(answer[b"complete"], 1)
        self.assertEqual(answer[b"incomplete"], 1)
        self.assertNotIn(b"peers6", answer)

    def test_dictionaryPeers(self) -> None:
        """
        Without C{compact=1} the answer is a list of dictionaries with
        C{peer id}, C{ip} and C{port}.
        """
        self.announce(1, host="10.0.0.1")
        answer = self.announce(2, host="10.0.0.2")
        self.assertEqual(
            answer[b"peers"],
            [{b"peer id": peerId(1), b"ip": b"10.0.0.1", b"port": 6881}],
        )

    def test_noPeerId(self) -> None:
        """
        C{no_peer_id=1} leaves C{peer id} out of dictionary peers.
        """
        self.announce(1, host="10.0.0.1")
        answer = self.announce(2, host="10.0.0.2", no_peer_id=1)
        self.assertEqual(answer[b"peers"], [{b"ip": b"10.0.0.1", b"port": 6881}])

    def test_neverReturnsAskingPeer(self) -> None:
        """
        The asking peer is not in its own answer, whether it is recognised
        by peer id or by address and port.
        """
        self.announce(1, host="10.0.0.1")
        self.assertEqual(self.announce(1, host="10.0.0.1")[b"peers"], [])
        # Same address and port, new peer id (a restarted client).
        self.assertEqual(self.announce(5, host="10.0.0.1", port=6881)[b"peers"], [])

    def test_ipv6Peers6(self) -> None:
        """
        IPv6 peers go in C{peers6} (18 bytes each) in compact answers.
        """
        self.announce(1, host="2001:db8::1")
        answer = self.announce(2, host="10.0.0.2", compact=1)
        self.assertEqual(answer[b"peers"], b"")
        self.assertEqual(
            answer[b"peers6"],
            bytes.fromhex("20010db8000000000000000000000001") + (6881).to_bytes(2, "big"),
        )

    def test_ipv4MappedAddress(self) -> None:
        """
        An IPv4-mapped IPv6 connection address is recorded as IPv4.
        """
        self.announce(1, host="::ffff:10.0.0.1")
        answer = self.announce(2, host="10.0.0.2")
        self.assertEqual(answer[b"peers"][0][b"ip"], b"10.0.0.1")

    def test_stoppedRemovesPeer(self) -> None:
        """
        C{event=stopped} removes the peer from the swarm.
        """
        self.announce(1, host="10.0.0.1")
        self.announce(1, host="10.0.0.1", event="stopped")
        answer = self.announce(2, host="10.0.0.2")
        self.assertEqual(answer[b"peers"], [])
        self.assertEqual(answer[b"incomplete"], 1)

    def test_stoppedFromOtherHostIgnored(self) -> None:
        """
        C{event=stopped} with someone else's peer id from another address
        does not remove that peer.
        """
        self.announce(1, host="10.0.0.1")
        self.announce(1, host="10.0.0.9", event="stopped")
        answer = self.announce(2, host="10.0.0.2")
        self.assertEqual(len(answer[b"peers"]), 1)

    def test_completedCountedOnce(self) -> None:
        """
        C{event=completed} counts one download per peer, even when repeated.
        """
        self.announce(1, event="started")
        self.announce(1, event="completed", left=0)
        self.announce(1, event="completed", left=0)
        files = self.render(b"scrape", {"info_hash": INFO_HASH})[b"files"]
        self.assertEqual(
            files[INFO_HASH], {b"complete": 1, b"incomplete": 0, b"downloaded": 1}
        )

    def test_seedersGetNoSeeders(self) -> None:
        """
        A seeder is only told about leechers.
        """
        self.announce(1, host="10.0.0.1", left=0)
        self.announce(2, host="10.0.0.2", left=5)
        answer = self.announce(3, host="10.0.0.3", left=0)
        self.assertEqual([p[b"ip"] for p in answer[b"peers"]], [b"10.0.0.2"])

    def test_numwant(self) -> None:
        """
        C{numwant} bounds the peer list; it defaults to 50 and is capped at
        200.
        """
        for n in range(1, 251):
            self.announce(n, host=f"10.0.{n // 200}.{n % 200}")
        self.assertEqual(len(self.announce(300, host="10.1.0.1", numwant=7)[b"peers"]), 7)
        self.assertEqual(len(self.announce(300, host="10.1.0.1")[b"peers"]), 50)
        self.assertEqual(len(self.announce(300, host="10.1.0.1", numwant=1000)[b"peers"]), 200)
        self.assertEqual(len(self.announce(300, host="10.1.0.1", numwant=0)[b"peers"]), 0)

    def test_intervals(self) -> None:
        """
        C{interval} and C{min interval} are those configured; C{min interval}
        is left out when not configured.
        """
        answer = self.announce()
        self.assertEqual(answer[b"interval"], 1800)
        self.assertNotIn(b"min interval", answer)
        tracker = TrackerResource(reactor=self.clock, interval=60, minInterval=30)
        answer = self.render(b"announce", announceParams(), tracker=tracker)
        self.assertEqual((answer[b"interval"], answer[b"min interval"]), (60, 30))

    def test_peersExpire(self) -> None:
        """
        A peer silent for C{peerTimeout} seconds (twice the interval by
        default) is forgotten; one that announces again is kept.
        """
        self.announce(1, host="10.0.0.1")
        self.announce(2, host="10.0.0.2")
        self.clock.advance(3599)
        self.announce(2, host="10.0.0.2")
        self.clock.advance(1)
        answer = self.announce(3, host="10.0.0.3")
        self.assertEqual([p[b"ip"] for p in answer[b"peers"]], [b"10.0.0.2"])

    def test_peerTimeoutConfigurable(self) -> None:
        """
        C{peerTimeout} overrides the default expiry.
        """
        tracker = TrackerResource(reactor=self.clock, peerTimeout=10)
        self.render(b"announce", announceParams(1), tracker=tracker)
        self.clock.advance(10)
        answer = self.render(b"announce", announceParams(2), "10.0.0.2", tracker=tracker)
        self.assertEqual(answer[b"peers"], [])

    def test_sweepForgetsIdleSwarms(self) -> None:
        """
        Swarms whose peers all expired are forgotten on a later request for
        any swarm.
        """
        self.announce(1, info_hash=OTHER_HASH)
        self.clock.advance(3600)
        self.announce(1)
        self.assertEqual(self.tracker.tracker.swarmCount, 1)
        files = self.render(b"scrape", {"info_hash": OTHER_HASH})[b"files"]
        self.assertEqual(files[OTHER_HASH][b"incomplete"], 0)

    def test_peerIdsPerAddressCapped(self) -> None:
        """
        One address registering peer id after peer id in a swarm is refused
        past the store's limit, with a failure reason saying so, and the
        swarm does not grow.
        """
        limit = self.tracker.tracker.limits.maxPeerIdsPerAddress
        for n in range(limit):
            self.announce(n, host="10.0.0.1")
        answer = self.announce(limit, host="10.0.0.1")
        self.assertIn(b"too many peer ids from 10.0.0.1", answer[b"failure reason"])
        self.assertEqual(self.announce(99, host="10.0.0.2")[b"incomplete"], limit + 1)

    def test_sharedStore(self) -> None:
        """
        Two front-ends given one L{Tracker} see the same swarms.
        """
        other = TrackerResource(tracker=self.tracker.tracker)
        self.announce(1)
        answer = self.render(b"announce", announceParams(2), "10.0.0.2", tracker=other)
        self.assertEqual(answer[b"incomplete"], 2)

    def test_longQueryRefused(self) -> None:
        """
        A request longer than 8 KiB is refused without being looked at.
        """
        request = DummyRequest([b"announce"])
        request.client = IPv4Address("TCP", "10.0.0.1", 1)
        request.uri = b"/announce?" + b"x" * 9000
        request.args = {}
        body = bencodepy.decode(getChildForRequest(self.tracker, request).render(request))
        self.assertIn(b"longer than 8192 bytes", body[b"failure reason"])

    def assertFailure(self, args: dict, words: str, host: str = "10.0.0.1") -> None:
        answer = self.render(b"announce", args, host)
        self.assertEqual(list(answer), [b"failure reason"])
        self.assertIn(words, answer[b"failure reason"].decode())

    def test_badInfoHash(self) -> None:
        """
        A missing or wrongly sized C{info_hash} is a failure reason.
        """
        self.assertFailure(announceParams(info_hash=None), "'info_hash'")
        self.assertFailure(announceParams(info_hash=b"x" * 19), "'info_hash' must be 20 bytes")

    def test_badPeerId(self) -> None:
        """
        A missing or wrongly sized C{peer_id} is a failure reason.
        """
        self.assertFailure(announceParams(peer_id=None), "'peer_id'")
        self.assertFailure(announceParams(peer_id=b"x" * 21), "'peer_id' must be 20 bytes")

    def test_badPort(self) -> None:
        """
        A port outside 1..65535 or not a number is a failure reason.
        """
        for port in (0, 65536, "x", "-1", "+5", " 5"):
            self.assertFailure(announceParams(port=port), "'port'")

    def test_badCounters(self) -> None:
        """
        Missing or non-integer C{uploaded}, C{downloaded}, C{left} are
        failure reasons.
        """
        for name in ("uploaded", "downloaded", "left"):
            self.assertFailure(announceParams(**{name: "1.5"}), f"{name!r}")
            self.assertFailure(announceParams(**{name: None}), f"missing {name!r}")

    def test_badEventAndNumwant(self) -> None:
        """
        An unknown event or a non-integer C{numwant} is a failure reason.
        """
        self.assertFailure(announceParams(event="finished"), "'event'")
        self.assertFailure(announceParams(numwant="many"), "'numwant'")

    def test_repeatedParameter(self) -> None:
        """
        A parameter given twice is a failure reason.
        """
        request = DummyRequest([b"announce"])
        request.client = IPv4Address("TCP", "10.0.0.1", 1)
        request.args = {k.encode(): [str(v).encode() if not isinstance(v, bytes) else v]
                        for k, v in announceParams().items()}
        request.args[b"port"] = [b"1", b"2"]
        body = getChildForRequest(self.tracker, request).render(request)
        self.assertIn(b"given more than once", bencodepy.decode(body)[b"failure reason"])

    def test_noIPAddress(self) -> None:
        """
        A request without an IP connection address is a failure reason.
        """
        request = DummyRequest([b"announce"])
        request.args = {k.encode(): [str(v).encode() if not isinstance(v, bytes) else v]
                        for k, v in announceParams().items()}
        body = getChildForRequest(self.tracker, request).render(request)
        self.assertIn(b"IP address", bencodepy.decode(body)[b"failure reason"])


class ScrapeTests(DirectMixin, SynchronousTestCase):
    """
    Tests for C{/scrape}.
    """

    def test_scrapeSeveral(self) -> None:
        """
        Each C{info_hash} gets its counts; unknown ones get zeros.
        """
        self.announce(1, left=0)
        self.announce(2, host="10.0.0.2")
        request = DummyRequest([b"scrape"])
        request.client = IPv4Address("TCP", "10.0.0.3", 1)
        request.args = {b"info_hash": [INFO_HASH, OTHER_HASH]}
        body = getChildForRequest(self.tracker, request).render(request)
        self.assertEqual(
            bencodepy.decode(body),
            {b"files": {
                INFO_HASH: {b"complete": 1, b"incomplete": 1, b"downloaded": 0},
                OTHER_HASH: {b"complete": 0, b"incomplete": 0, b"downloaded": 0},
            }},
        )

    def test_scrapeExpires(self) -> None:
        """
        Scrape counts leave out expired peers.
        """
        self.announce(1)
        self.clock.advance(3600)
        files = self.render(b"scrape", {"info_hash": INFO_HASH})[b"files"]
        self.assertEqual(files[INFO_HASH][b"incomplete"], 0)

    def test_scrapeBad(self) -> None:
        """
        A scrape without C{info_hash}, or with one of the wrong size, is a
        failure reason.
        """
        self.assertIn(b"info_hash", self.render(b"scrape", {})[b"failure reason"])
        answer = self.render(b"scrape", {"info_hash": b"short"})
        self.assertIn(b"20 bytes", answer[b"failure reason"])


class HTTPTests(SynchronousTestCase):
    """
    The tracker over real HTTP bytes (L{StubTreq}), with binary
    percent-encoded parameters.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.client = StubTreq(TrackerResource(reactor=self.clock))

    def get(self, path: str) -> tuple[int, dict]:
        response = self.successResultOf(self.client.get("http://tracker.example" + path))
        body = self.successResultOf(self.client.content(response))
        return response.code, bencodepy.decode(body)

    def test_binaryInfoHash(self) -> None:
        """
        An info hash with every awkward byte survives percent-decoding: the
        scrape is keyed by the same 20 bytes.
        """
        infoHash = b"\x00 +&=;%?#/\xff\x80~-._aZ9\n"
        code, answer = self.get("/announce?" + query(**announceParams(info_hash=infoHash)))
        self.assertEqual(code, 200)
        self.assertNotIn(b"failure reason", answer)
        code, answer = self.get("/scrape?" + query(info_hash=infoHash))
        self.assertEqual(answer[b"files"][infoHash][b"incomplete"], 1)

    def test_failureIsHTTP200(self) -> None:
        """
        A bad announce is answered with status 200 and a failure reason.
        """
        code, answer = self.get("/announce?info_hash=abc")
        self.assertEqual(code, 200)
        self.assertIn(b"failure reason", answer)

    def test_siteRoot(self) -> None:
        """
        L{makeTrackerSite} serves the tracker at its root.
        """
        site = makeTrackerSite(reactor=self.clock, interval=77)
        client = StubTreq(site.resource)
        response = self.successResultOf(
            client.get("http://tracker.example/announce?" + query(**announceParams())))
        body = bencodepy.decode(self.successResultOf(client.content(response)))
        self.assertEqual(body[b"interval"], 77)


def httpExchange(site, requestLine: bytes) -> tuple[bytes, bytes]:
    """
    Feed one raw HTTP/1.0 request to C{site}; return the status line and
    the body.
    """
    protocol = site.buildProtocol(IPv4Address("TCP", "10.0.0.1", 5000))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.1", 5000))
    protocol.makeConnection(transport)
    protocol.dataReceived(requestLine + b"\r\n\r\n")
    head, _, body = transport.value().partition(b"\r\n\r\n")
    protocol.connectionLost(None)
    return head.split(b"\r\n")[0], body


FIELDS = ["info_hash", "peer_id", "port", "uploaded", "downloaded", "left",
          "event", "numwant", "compact", "no_peer_id", "x"]


class FuzzTests(SynchronousTestCase):
    """
    Arbitrary queries never make the tracker fail with a 500.
    """

    def assertBencodedAnswer(self, target: bytes) -> None:
        site = makeTrackerSite(reactor=Clock())
        status, body = httpExchange(site, b"GET " + target + b" HTTP/1.0")
        self.assertEqual(status, b"HTTP/1.0 200 OK")
        answer = bencodepy.decode(body)
        # An announce answers with peers, a scrape with its files; either
        # may refuse.
        expected = b"files" if target.startswith(b"/scrape") else b"interval"
        self.assertTrue(b"failure reason" in answer or expected in answer, answer)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300))
    def test_arbitraryQuery(self, raw: bytes) -> None:
        """
        Any bytes, percent-encoded but for C{&}, C{=} and C{;}, as the
        announce query give a bencoded answer.
        """
        self.assertBencodedAnswer(b"/announce?" + quote_from_bytes(raw, safe="&=;").encode())

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.sampled_from(FIELDS), st.lists(st.binary(max_size=25), max_size=2)),
           st.sampled_from([b"/announce", b"/scrape"]))
    def test_arbitraryFields(self, fields: dict, path: bytes) -> None:
        """
        Known parameter names with arbitrary binary values give a bencoded
        answer, on announce and scrape.
        """
        parts = [f"{name}={quote_from_bytes(value, safe='')}"
                 for name, values in fields.items() for value in values]
        self.assertBencodedAnswer(path + b"?" + "&".join(parts).encode())


class LoopbackTests(TestCase):
    """
    L{bittwist.tracker.announce} against the tracker on a real loopback
    TCP port.
    """

    def setUp(self) -> None:
        self.port = reactor.listenTCP(0, makeTrackerSite(), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.client = treq.client.HTTPClient(Agent(reactor, pool=pool))
        self.url = f"http://127.0.0.1:{self.port.getHost().port}/announce"

    async def test_announceOverTCP(self) -> None:
        """
        A second peer learns the first peer's loopback address and port.
        """
        first = await announce(self.url, AnnounceQuery(INFO_HASH, peerId(1), 6881, 0, 0, 10, event="started"),
                               httpClient=self.client)
        self.assertEqual(first.peers, ())
        second = await announce(self.url, AnnounceQuery(INFO_HASH, peerId(2), 6882, 0, 0, 10, event="started"),
                                httpClient=self.client)
        self.assertEqual(second.peers, (("127.0.0.1", 6881),))
        self.assertEqual((second.interval, second.incomplete), (1800, 2))
