"""
Tests for L{bittwist.udptracker}: the client on a L{Clock} with a fake UDP
port.
"""

import struct

from twisted.internet.error import CannotListenError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist import announcer, tracker
from bittwist.errors import TrackerError, UDPTrackerError
from bittwist.tracker import AnnounceQuery, Announcer, AnnounceResponse, ITrackerClient
from bittwist.udptracker import UDPTrackerClient, retryDelay
from bittwist.udptrackercodec import (
    AnnounceReply,
    AnnounceRequest,
    ConnectReply,
    ConnectRequest,
    ErrorReply,
    ScrapeEntry,
    ScrapeReply,
    decodeRequest,
    encode,
)
from tests.fakes import UDPClock

INFO_HASH = bytes(range(20))
PEER_ID = b"-BT0001-abcdefghijkl"
TRACKER = ("10.0.0.5", 6969)
URL = "udp://tracker.example:6969/announce"


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

    def test_retrySchedule(self) -> None:
        """
        BEP 15's waits: 15 * 2 ** n seconds, n capped at 8.
        """
        self.assertEqual([retryDelay(n) for n in range(11)],
                         [15, 30, 60, 120, 240, 480, 960, 1920, 3840, 3840, 3840])

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
