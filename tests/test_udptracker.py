"""
Tests for L{bittwist.udptracker}: the BEP 15 codec, and the client on a
L{Clock} with a fake UDP port.
"""

import struct

from hypothesis import given, settings, strategies as st

from twisted.internet.error import CannotListenError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist import announcer, tracker
from bittwist.errors import TrackerError, UDPPacketError, UDPTrackerError
from bittwist.tracker import AnnounceQuery, Announcer, AnnounceResponse, ITrackerClient
from bittwist.udptracker import (
    MAX_REPLY_PEERS,
    PROTOCOL_ID,
    AnnounceReply,
    AnnounceRequest,
    ConnectReply,
    ConnectRequest,
    ErrorReply,
    ScrapeEntry,
    ScrapeReply,
    ScrapeRequest,
    UDPTrackerClient,
    decodeReply,
    decodeRequest,
    encode,
    retryDelay,
)
from tests.fakes import UDPClock

INFO_HASH = bytes(range(20))
PEER_ID = b"-BT0001-abcdefghijkl"
TRACKER = ("10.0.0.5", 6969)
URL = "udp://tracker.example:6969/announce"


def announceRequest(**overrides):
    fields = dict(
        connectionId=7, transactionId=9, infoHash=INFO_HASH, peerId=PEER_ID,
        downloaded=1, left=2, uploaded=3, event="started", ip=0, key=0xABCD,
        numwant=50, port=6881,
    )
    fields.update(overrides)
    return AnnounceRequest(**fields)


class CodecTests(SynchronousTestCase):
    """
    L{encode}, L{decodeRequest} and L{decodeReply}.
    """

    def test_connectRequestBytes(self) -> None:
        """
        A connect request is the protocol id, action 0 and the transaction
        id: 16 bytes.
        """
        data = encode(ConnectRequest(0x01020304))
        self.assertEqual(data, struct.pack(">QiI", PROTOCOL_ID, 0, 0x01020304))
        self.assertEqual(decodeRequest(data), ConnectRequest(0x01020304))

    def test_announceRequestLayout(self) -> None:
        """
        An announce request is 98 bytes in BEP 15's order, event
        C{started} as 2, and decodes back to itself.
        """
        request = announceRequest()
        data = encode(request)
        self.assertEqual(len(data), 98)
        self.assertEqual(data[:16], struct.pack(">QiI", 7, 1, 9))
        self.assertEqual(data[16:36], INFO_HASH)
        self.assertEqual(data[36:56], PEER_ID)
        self.assertEqual(struct.unpack(">QQQi", data[56:84]), (1, 2, 3, 2))
        self.assertEqual(struct.unpack(">IIiH", data[84:]), (0, 0xABCD, 50, 6881))
        self.assertEqual(decodeRequest(data), request)

    def test_requestsRoundTrip(self) -> None:
        """
        Every request kind decodes to what was encoded, every event too.
        """
        packets = [ConnectRequest(1), ScrapeRequest(5, 6, (INFO_HASH, b"x" * 20))]
        packets += [announceRequest(event=e) for e in (None, "started", "completed", "stopped")]
        for packet in packets:
            self.assertEqual(decodeRequest(encode(packet)), packet)

    def test_repliesRoundTrip(self) -> None:
        """
        Every reply kind decodes to what was encoded.
        """
        packets = [
            ConnectReply(1, 2 ** 64 - 1),
            AnnounceReply(3, 1800, 4, 5, (("10.0.0.1", 6881), ("192.168.1.2", 1))),
            ScrapeReply(4, (ScrapeEntry(1, 2, 3), ScrapeEntry(0, 0, 0))),
            ErrorReply(5, "go away"),
        ]
        for packet in packets:
            self.assertEqual(decodeReply(encode(packet)), packet)

    def test_ipv6Peers(self) -> None:
        """
        With 18-byte entries, an announce reply's peers are IPv6.
        """
        data = encode(AnnounceReply(3, 60, 0, 1, (("2001:db8::1", 6881),)))
        self.assertEqual(decodeReply(data, peerSize=18).peers, (("2001:db8::1", 6881),))

    def test_strictReplyLengths(self) -> None:
        """
        A connect reply that is not 16 bytes, an announce reply whose peers
        are not whole, a scrape reply that is not whole entries, a reply
        shorter than its header, and an unknown action are refused.
        """
        connect = encode(ConnectReply(1, 2))
        announce = encode(AnnounceReply(1, 60, 0, 0, (("10.0.0.1", 1),)))
        scrape = encode(ScrapeReply(1, (ScrapeEntry(1, 2, 3),)))
        for data in (connect[:-1], connect + b"\0", announce[:-1], announce[:19],
                     scrape + b"\0", b"\0\0\0", struct.pack(">iI", 9, 1)):
            self.assertRaises(UDPPacketError, decodeReply, data)

    def test_strictRequestLengths(self) -> None:
        """
        A connect request that is not 16 bytes or lacks the protocol id, a
        short announce, an overlong one, a scrape of no torrent or of half a
        hash, an unknown event or action are refused.
        """
        connect = encode(ConnectRequest(1))
        announce = encode(announceRequest())
        scrape = encode(ScrapeRequest(1, 2, (INFO_HASH,)))
        bad = [
            connect + b"\0", b"\0" * 8 + connect[8:], announce[:97],
            announce + b"\0" * 1000, scrape[:16], scrape[:-1],
            scrape[:16] + INFO_HASH * 75,
            announce[:80] + struct.pack(">i", 4) + announce[84:],
            struct.pack(">QiI", 1, 7, 1),
        ]
        for data in bad:
            self.assertRaises(UDPPacketError, decodeRequest, data)

    def test_optionsAfterAnnounceIgnored(self) -> None:
        """
        BEP 41 options after the 98 bytes of an announce are allowed and
        ignored.
        """
        request = announceRequest()
        self.assertEqual(decodeRequest(encode(request) + b"\x02\x05/path"), request)

    def test_peerCountBounded(self) -> None:
        """
        An announce reply lists at most L{MAX_REPLY_PEERS} peers, whatever
        it carries; port 0 entries and duplicates are dropped.
        """
        many = tuple((f"10.{i >> 8 & 255}.{i & 255}.1", 1000) for i in range(MAX_REPLY_PEERS + 10))
        self.assertEqual(len(decodeReply(encode(AnnounceReply(1, 60, 0, 0, many))).peers),
                         MAX_REPLY_PEERS)
        odd = (("10.0.0.1", 1), ("10.0.0.1", 1), ("10.0.0.2", 0))
        self.assertEqual(decodeReply(encode(AnnounceReply(1, 60, 0, 0, odd))).peers,
                         (("10.0.0.1", 1),))

    def test_errorMessageBounded(self) -> None:
        """
        An error reply's message is cut to 1024 bytes.
        """
        data = struct.pack(">iI", 3, 1) + b"x" * 5000
        self.assertEqual(len(decodeReply(data).message), 1024)

    @given(st.binary(max_size=2000))
    @settings(max_examples=500, deadline=None)
    def test_hostileReplies(self, data: bytes) -> None:
        """
        Any bytes decode as a reply or raise L{UDPPacketError}, and a
        decoded reply has bounded peers.
        """
        try:
            reply = decodeReply(data)
        except UDPPacketError:
            return
        if isinstance(reply, AnnounceReply):
            self.assertLessEqual(len(reply.peers), MAX_REPLY_PEERS)

    @given(st.binary(max_size=2000))
    @settings(max_examples=500, deadline=None)
    def test_hostileRequests(self, data: bytes) -> None:
        """
        Any bytes decode as a request that encodes back to their prefix,
        or raise L{UDPPacketError}.
        """
        try:
            request = decodeRequest(data)
        except UDPPacketError:
            return
        self.assertEqual(data[: len(encode(request))], encode(request))

    @given(st.integers(0, 2 ** 32 - 1), st.sampled_from([0, 1, 2, 3]),
           st.binary(min_size=20, max_size=20), st.integers(-1, 2 ** 31 - 1),
           st.integers(0, 65535), st.binary(max_size=200))
    @settings(max_examples=200, deadline=None)
    def test_mutatedAnnounce(self, tid, event, infoHash, numwant, port, tail) -> None:
        """
        Announce requests with any field values decode, or raise only
        L{UDPPacketError} when a tail makes them too long.
        """
        data = struct.pack(">QiI20s20sQQQiIIiH", 1, 1, tid, infoHash, PEER_ID, 0, 0, 0,
                           event, 0, 0, numwant, port) + tail
        try:
            request = decodeRequest(data)
        except UDPPacketError:
            self.assertGreater(len(data), 610)
            return
        self.assertEqual((request.transactionId, request.numwant, request.port),
                         (tid, numwant, port))

    def test_retrySchedule(self) -> None:
        """
        BEP 15's waits: 15 * 2 ** n seconds, n capped at 8.
        """
        self.assertEqual([retryDelay(n) for n in range(11)],
                         [15, 30, 60, 120, 240, 480, 960, 1920, 3840, 3840, 3840])


class ClientTests(SynchronousTestCase):
    """
    L{UDPTrackerClient} on a L{UDPClock}.
    """

    def setUp(self) -> None:
        self.clock = UDPClock({"tracker.example": TRACKER[0]})
        self.client = UDPTrackerClient(self.clock, tries=3)

    def sent(self) -> list:
        """
        Every request the client sent, decoded, with its address.
        """
        if not self.clock.ports:
            return []
        return [(decodeRequest(data), addr) for data, addr in self.clock.ports[-1].written]

    def test_interface(self) -> None:
        """
        L{UDPTrackerClient} provides L{ITrackerClient}.
        """
        self.assertTrue(verifyObject(ITrackerClient, self.client))

    def answer(self, reply, addr=TRACKER) -> None:
        self.client.datagramReceived(encode(reply), addr)

    def connect(self, connectionId: int = 77) -> None:
        request, addr = self.sent()[-1]
        self.assertIsInstance(request, ConnectRequest)
        self.answer(ConnectReply(request.transactionId, connectionId), addr)

    def announce(self, **kwargs):
        args = dict(uploaded=1, downloaded=2, left=3, event="started", numwant=20, key=b"0000abcd")
        args.update(kwargs)
        tries = args.pop("tries", None)
        timeout = args.pop("timeout", None)
        query = AnnounceQuery(INFO_HASH, PEER_ID, 6881, **args)
        return self.client.announce(URL, query, timeout=timeout, tries=tries)

    def test_announce(self) -> None:
        """
        An announce resolves the host, connects, announces with the
        connection id and our stats, and fires with an L{AnnounceResponse}.
        """
        d = self.announce()
        self.assertNoResult(d)
        [(request, addr)] = self.sent()
        self.assertEqual(addr, TRACKER)
        self.connect(77)
        request = self.sent()[-1][0]
        self.assertEqual(request, AnnounceRequest(
            77, request.transactionId, INFO_HASH, PEER_ID, 2, 3, 1, "started", 0,
            0xABCD, 20, 6881))
        self.answer(AnnounceReply(request.transactionId, 900, 4, 5, (("10.0.0.9", 51413),)))
        self.assertEqual(self.successResultOf(d), AnnounceResponse(
            interval=900, minInterval=None, peers=(("10.0.0.9", 51413),), warning=None,
            complete=5, incomplete=4, trackerId=None))

    def test_retrySchedule(self) -> None:
        """
        Unanswered, a request is sent again after 15 then 30 seconds; with
        3 tries the announce fails 105 seconds in, saying so.
        """
        d = self.announce()
        times = {}

        for second in range(106):
            times.setdefault(len(self.sent()), second)
            self.clock.advance(1)
        self.assertEqual(times, {1: 0, 2: 15, 3: 45})
        error = self.failureResultOf(d, UDPTrackerError).value
        self.assertEqual(error.url, URL)
        self.assertEqual(
            str(error),
            f"tracker {URL}: no answer from udp://tracker.example:6969 after 3 tries "
            f"(105 seconds); check the tracker URL, or try later")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_triesPerCall(self) -> None:
        """
        C{tries} given to a call overrides the client's.
        """
        d = self.announce(tries=1)
        self.clock.advance(15)
        self.assertIn("after 1 tries", str(self.failureResultOf(d, UDPTrackerError).value))

    def test_retryResendsSameTransaction(self) -> None:
        """
        A retry resends the same packet, and an answer to it still counts.
        """
        d = self.announce()
        self.clock.advance(15)
        first, second = self.sent()
        self.assertEqual(first, second)
        self.connect()
        request = self.sent()[-1][0]
        self.answer(AnnounceReply(request.transactionId, 60, 0, 0, ()))
        self.assertEqual(self.successResultOf(d).interval, 60)

    def test_connectionIdReusedForAMinute(self) -> None:
        """
        A connection id is reused for 60 seconds after it was received,
        then a new one is asked for.
        """
        d = self.announce()
        self.connect(77)
        self.answer(AnnounceReply(self.sent()[-1][0].transactionId, 60, 0, 0, ()))
        self.successResultOf(d)
        self.clock.advance(59)
        self.announce(event=None)
        request = self.sent()[-1][0]
        self.assertIsInstance(request, AnnounceRequest)
        self.assertEqual(request.connectionId, 77)
        self.answer(AnnounceReply(request.transactionId, 60, 0, 0, ()))
        self.clock.advance(1)
        self.announce(event=None)
        self.assertIsInstance(self.sent()[-1][0], ConnectRequest)
        self.connect(78)
        self.assertEqual(self.sent()[-1][0].connectionId, 78)

    def test_strayDatagramsIgnored(self) -> None:
        """
        Answers with an unknown transaction id, or from another address
        than the tracker's, are dropped; the request still waits.
        """
        d = self.announce()
        request, _ = self.sent()[-1]
        self.answer(ConnectReply(request.transactionId ^ 1, 5))
        self.answer(ConnectReply(request.transactionId, 5), ("10.6.6.6", 6969))
        self.answer(ConnectReply(request.transactionId, 5), (TRACKER[0], 6970))
        self.client.datagramReceived(b"\0\0", TRACKER)
        self.assertEqual(len(self.sent()), 1)
        self.assertNoResult(d)

    def test_errorReply(self) -> None:
        """
        An error reply fails the announce with the tracker's message
        (control characters escaped), and forgets the connection id.
        """
        d = self.announce()
        self.connect(77)
        self.answer(ErrorReply(self.sent()[-1][0].transactionId, "torrent not\x1b registered"))
        self.assertEqual(self.failureResultOf(d, UDPTrackerError).value.reason,
                         "the tracker refused: torrent not\\x1b registered")
        self.announce()
        self.assertIsInstance(self.sent()[-1][0], ConnectRequest)

    def test_malformedAnswer(self) -> None:
        """
        A malformed answer to our transaction fails it as a broken tracker.
        """
        d = self.announce()
        request, _ = self.sent()[-1]
        self.client.datagramReceived(struct.pack(">iIQ", 0, request.transactionId, 1) + b"x", TRACKER)
        self.assertIn("the tracker is broken", str(self.failureResultOf(d, UDPTrackerError).value))

    def test_wrongReplyKind(self) -> None:
        """
        A scrape reply to a connect fails the announce.
        """
        d = self.announce()
        request, _ = self.sent()[-1]
        self.answer(ScrapeReply(request.transactionId, ()))
        self.assertIn("not a ConnectReply", str(self.failureResultOf(d, UDPTrackerError).value))

    def test_unresolvable(self) -> None:
        """
        A host that does not resolve fails naming it; nothing is sent.
        """
        d = self.client.announce("udp://nowhere.example:1/", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0))
        error = self.failureResultOf(d, UDPTrackerError).value
        self.assertIn("cannot resolve nowhere.example", error.reason)
        self.assertEqual(self.clock.ports, [])

    def test_badURLs(self) -> None:
        """
        A URL without a port, or with an IPv6 host, fails saying why.
        """
        d = self.client.announce("udp://tracker.example/announce", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0))
        self.assertIn("has no port", str(self.failureResultOf(d, UDPTrackerError).value))
        d = self.client.announce("udp://[::1]:6969", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0))
        self.assertIn("IPv6", str(self.failureResultOf(d, UDPTrackerError).value))

    def test_cannotListen(self) -> None:
        """
        When no UDP socket can be opened, the announce fails as a
        L{UDPTrackerError} saying why.
        """
        def refuse(*args, **kwargs):
            raise CannotListenError("", 0, OSError("no sockets left"))

        self.clock.listenUDP = refuse
        error = self.failureResultOf(self.announce(), UDPTrackerError).value
        self.assertIn("could not announce", error.reason)
        self.assertIn("no sockets left", error.reason)

    def test_malformedURL(self) -> None:
        """
        A URL that does not parse fails as not a C{udp://host:port} URL.
        """
        d = self.client.announce("udp://[oops:1/", AnnounceQuery(INFO_HASH, PEER_ID, 1, 0, 0, 0))
        self.assertIn("not a udp://host:port", str(self.failureResultOf(d, UDPTrackerError).value))

    def test_timeout(self) -> None:
        """
        With C{timeout}, the announce fails then, whatever the schedule.
        """
        d = self.announce(timeout=5)
        self.clock.advance(5)
        self.assertEqual(self.failureResultOf(d, UDPTrackerError).value.reason,
                         "no answer from udp://tracker.example:6969 within 5 seconds")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling an announce stops its retries; it fails as a
        L{TrackerError}.
        """
        d = self.announce()
        d.cancel()
        self.assertIn("cancelled", str(self.failureResultOf(d, TrackerError).value))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close(self) -> None:
        """
        L{UDPTrackerClient.close} fails requests in flight and closes the
        port; the next request opens another.
        """
        d = self.announce()
        self.successResultOf(self.client.close())
        self.failureResultOf(d, TrackerError)
        self.assertFalse(self.clock.ports[0].listening)
        d = self.announce()
        self.assertEqual(len(self.clock.ports), 2)
        self.successResultOf(self.client.close())
        self.failureResultOf(d, TrackerError)

    def test_scrape(self) -> None:
        """
        A scrape fires with an entry per info hash.
        """
        other = b"\xff" * 20
        d = self.client.scrape(URL, [INFO_HASH, other])
        self.connect()
        request = self.sent()[-1][0]
        self.assertEqual(request.infoHashes, (INFO_HASH, other))
        self.answer(ScrapeReply(request.transactionId, (ScrapeEntry(1, 2, 3), ScrapeEntry(0, 0, 0))))
        self.assertEqual(self.successResultOf(d),
                         {INFO_HASH: ScrapeEntry(1, 2, 3), other: ScrapeEntry(0, 0, 0)})

    def test_scrapeWrongCount(self) -> None:
        """
        A scrape answer with another number of entries fails.
        """
        d = self.client.scrape(URL, [INFO_HASH])
        self.connect()
        self.answer(ScrapeReply(self.sent()[-1][0].transactionId, ()))
        self.assertIn("0 entries for 1 torrents", str(self.failureResultOf(d, UDPTrackerError).value))

    def test_triesBounded(self) -> None:
        """
        The number of tries is 1 to 9 (the BEP's n = 0 .. 8).
        """
        self.assertRaises(ValueError, UDPTrackerClient, self.clock, tries=0)
        self.assertRaises(ValueError, UDPTrackerClient, self.clock, tries=10)


class AnnouncerSchemeTests(SynchronousTestCase):
    """
    L{Announcer} picks the tracker client by URL scheme.
    """

    def setUp(self) -> None:
        self.patch(announcer, "_shuffle", lambda tier: None)
        self.clock = UDPClock({"tracker.example": TRACKER[0]})
        self.peers: list = []

    def makeAnnouncer(self, tiers) -> Announcer:
        return Announcer(tiers, INFO_HASH, PEER_ID, 6881, lambda: (0, 0, 10),
                         self.peers.append, reactor=self.clock)

    def sent(self) -> list:
        return [decodeRequest(data) for data, _ in self.clock.ports[-1].written]

    def advance(self, seconds: int) -> None:
        """
        Move the clock one second at a time, as time passes.
        """
        for _ in range(seconds):
            self.clock.advance(1)

    def test_udpAnnounce(self) -> None:
        """
        A C{udp://} tracker is announced to over UDP; its peers reach
        C{onPeers}; stopping sends C{stopped} and closes the socket.
        """
        a = self.makeAnnouncer([[URL]])
        a.start()
        client = self.clock.ports[0].protocol
        [connect] = self.sent()
        client.datagramReceived(encode(ConnectReply(connect.transactionId, 5)), TRACKER)
        request = self.sent()[-1]
        self.assertEqual(request.event, "started")
        client.datagramReceived(
            encode(AnnounceReply(request.transactionId, 1800, 1, 2, (("10.0.0.7", 7),))), TRACKER)
        self.assertEqual(self.peers, [[("10.0.0.7", 7)]])
        self.assertEqual((a.lastResponse.complete, a.lastResponse.incomplete), (2, 1))
        d = a.stop()
        stopped = self.sent()[-1]
        self.assertEqual((stopped.event, stopped.connectionId), ("stopped", 5))
        client.datagramReceived(encode(AnnounceReply(stopped.transactionId, 1800, 0, 0, ())), TRACKER)
        self.successResultOf(d)
        self.assertFalse(self.clock.ports[0].listening)

    def test_stopTimesOut(self) -> None:
        """
        An unanswered C{stopped} announce gives up after
        L{Announcer.STOP_TIMEOUT} seconds, and the socket is closed.
        """
        a = self.makeAnnouncer([[URL]])
        a.start()
        client = self.clock.ports[0].protocol
        client.datagramReceived(encode(ConnectReply(self.sent()[0].transactionId, 5)), TRACKER)
        client.datagramReceived(encode(AnnounceReply(self.sent()[-1].transactionId, 1800, 0, 0, ())),
                                TRACKER)
        d = a.stop()
        self.assertNoResult(d)
        self.clock.advance(Announcer.STOP_TIMEOUT)
        self.successResultOf(d)
        self.assertFalse(self.clock.ports[0].listening)

    def test_twoTriesWithSeveralTrackers(self) -> None:
        """
        With another tracker to fall back on, a silent UDP tracker is given
        2 tries (45 seconds), then the next tracker is asked.
        """
        a = self.makeAnnouncer([[URL, "udp://10.0.0.6:80"]])
        a.start()
        self.advance(44)
        self.assertEqual({addr for _, addr in self.clock.ports[0].written}, {TRACKER})
        self.advance(1)
        self.assertEqual(self.clock.ports[0].written[-1][1], ("10.0.0.6", 80))
        self.assertIsNone(a.lastError)

    def test_oneTrackerUsesDefaultTries(self) -> None:
        """
        A lone UDP tracker gets L{UDPTrackerClient.DEFAULT_TRIES} tries.
        """
        a = self.makeAnnouncer([[URL]])
        a.start()
        self.advance(sum(retryDelay(n) for n in range(UDPTrackerClient.DEFAULT_TRIES)))
        self.assertEqual(len(self.clock.ports[0].written), UDPTrackerClient.DEFAULT_TRIES)
        self.assertIn(f"after {UDPTrackerClient.DEFAULT_TRIES} tries", a.lastError.reason)
        self.successResultOf(a.stop())

    def test_unsupportedScheme(self) -> None:
        """
        L{tracker.trackerScheme} refuses a scheme without a client by name.
        """
        error = self.assertRaises(TrackerError, tracker.trackerScheme, "wss://t.example/x")
        self.assertEqual(str(error), "tracker wss://t.example/x: unsupported tracker scheme 'wss'")
        self.assertEqual(tracker.trackerScheme("UDP://t:1"), "udp")



