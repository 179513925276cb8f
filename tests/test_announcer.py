"""
Tests for L{bittwist.announcer}: one torrent announced to its trackers, tier
by tier, against fake HTTP trackers through L{StubTreq}.
"""

import bencodepy
from treq.testing import StubTreq
from twisted.internet.testing import Clock, EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from bittwist import announcer
from bittwist.announcer import Announcer
from tests.test_httptracker import INFO_HASH, PEER_ID, FakeResponse, FakeTracker, SilentClient, okBody


class AnnouncerTests(SynchronousTestCase):
    """
    Tests for L{Announcer}.
    """

    def setUp(self) -> None:
        self.patch(announcer, "_shuffle", lambda tier: None)
        self.clock = Clock()
        self.root = Resource()
        self.trackers: dict[str, FakeTracker] = {}
        self.peers: list = []
        self.stats = (10, 20, 30)

    def addTracker(self, name: str, body: bytes | None = None, code: int = 200) -> str:
        fake = FakeTracker(body, code)
        self.trackers[name] = fake
        self.root.putChild(name.encode(), fake)
        return f"http://tracker.example/{name}"

    def makeAnnouncer(self, tiers, httpClient=None) -> Announcer:
        return Announcer(tiers, INFO_HASH, PEER_ID, 6881, lambda: self.stats,
                         self.peers.append, reactor=self.clock,
                         httpClient=httpClient or StubTreq(self.root))

    def asked(self) -> list[tuple[str, bytes | None]]:
        """
        Every request so far, as C{(tracker name, event)}, in no particular
        order across trackers but in order per tracker.
        """
        return [(name, e) for name, fake in sorted(self.trackers.items()) for e in fake.events()]

    def test_startAnnouncesStarted(self) -> None:
        """
        L{Announcer.start} announces C{started} with the current stats, and
        hands the peers to C{onPeers}.
        """
        a = self.makeAnnouncer([[self.addTracker("a")]])
        a.start()
        request = self.trackers["a"].requests[0]
        self.assertEqual(request[b"event"], b"started")
        self.assertEqual((request[b"uploaded"], request[b"downloaded"], request[b"left"]),
                         (b"10", b"20", b"30"))
        self.assertEqual(self.peers, [[("10.0.0.1", 6881)]])
        self.assertEqual(a.lastResponse.interval, 1800)
        self.assertIsNone(a.lastError)

    def test_reannounceAfterInterval(self) -> None:
        """
        The next announce, without an event, comes after C{interval}.
        """
        a = self.makeAnnouncer([[self.addTracker("a")]])
        a.start()
        self.clock.advance(1799)
        self.assertEqual(self.trackers["a"].events(), [b"started"])
        self.stats = (11, 21, 31)
        self.clock.advance(1)
        self.assertEqual(self.trackers["a"].events(), [b"started", None])
        self.assertEqual(self.trackers["a"].requests[1][b"left"], b"31")
        self.assertEqual(len(self.peers), 2)

    def test_minIntervalRespected(self) -> None:
        """
        C{min interval} longer than C{interval} delays the next announce;
        so does the L{Announcer.INTERVAL_FLOOR}.
        """
        a = self.makeAnnouncer([[self.addTracker("a", okBody(interval=10, min_interval=120))]])
        a.start()
        self.clock.advance(119)
        self.assertEqual(len(self.trackers["a"].requests), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.trackers["a"].requests), 2)

        self.trackers["a"].body = bencodepy.encode({b"interval": 1, b"peers": b""})
        self.clock.advance(120)
        self.assertEqual(len(self.trackers["a"].requests), 3)
        self.clock.advance(Announcer.INTERVAL_FLOOR - 1)
        self.assertEqual(len(self.trackers["a"].requests), 3)
        self.clock.advance(1)
        self.assertEqual(len(self.trackers["a"].requests), 4)

    def test_completedOnce(self) -> None:
        """
        L{Announcer.completed} announces C{completed} at once, and only once.
        """
        a = self.makeAnnouncer([[self.addTracker("a")]])
        a.start()
        a.completed()
        a.completed()
        self.clock.advance(1800)
        self.assertEqual(self.trackers["a"].events(), [b"started", b"completed", None])

    def test_completedRetriedUntilHeard(self) -> None:
        """
        A C{completed} announce that fails is sent again on the retry.
        """
        a = self.makeAnnouncer([[self.addTracker("a")]])
        a.start()
        self.trackers["a"].code = 500
        a.completed()
        self.trackers["a"].code = 200
        self.clock.advance(Announcer.BACKOFF_START)
        self.assertEqual(self.trackers["a"].events(), [b"started", b"completed", b"completed"])
        self.clock.advance(1800)
        self.assertEqual(self.trackers["a"].events()[-1], None)

    def test_stopSendsStopped(self) -> None:
        """
        L{Announcer.stop} announces C{stopped}, fires with L{None} and
        leaves no timer behind.
        """
        a = self.makeAnnouncer([[self.addTracker("a")]])
        a.start()
        self.assertIsNone(self.successResultOf(a.stop()))
        self.assertEqual(self.trackers["a"].events(), [b"started", b"stopped"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopBeforeStarted(self) -> None:
        """
        Stopping an announcer no tracker heard from sends nothing.
        """
        a = self.makeAnnouncer([[self.addTracker("a", code=500)]])
        self.assertIsNone(self.successResultOf(a.stop()))
        a.start()
        self.assertIsNone(self.successResultOf(a.stop()))
        self.assertEqual(self.trackers["a"].events(), [b"started"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopNeverFails(self) -> None:
        """
        The C{stopped} announce fires with L{None} even when the tracker
        fails, or does not answer within L{Announcer.STOP_TIMEOUT}.
        """
        a = self.makeAnnouncer([[self.addTracker("a")]])
        a.start()
        self.trackers["a"].code = 500
        self.assertIsNone(self.successResultOf(a.stop()))

        client = SilentClient()
        a = self.makeAnnouncer([["http://t.example/a"]], httpClient=client)
        a.start()
        client.requests[0][1].callback(FakeResponse(okBody()))
        d = a.stop()
        self.assertNoResult(d)
        self.clock.advance(Announcer.STOP_TIMEOUT)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopCancelsAnnounceInFlight(self) -> None:
        """
        Stopping while an announce is in flight cancels it, quietly.
        """
        client = SilentClient()
        a = self.makeAnnouncer([["http://t.example/a"]], httpClient=client)
        a.start()
        self.successResultOf(a.stop())
        self.assertEqual(len(client.cancelled), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.peers, [])

    def test_failoverWithinTier(self) -> None:
        """
        When a tracker fails the next one of its tier is asked, and the one
        that answered moves to the front of the tier.
        """
        a = self.makeAnnouncer([[self.addTracker("a", code=500), self.addTracker("b")]])
        a.start()
        self.assertEqual(self.asked(), [("a", b"started"), ("b", b"started")])
        self.trackers["a"].code = 200
        self.clock.advance(1800)
        self.assertEqual(self.asked(), [("a", b"started"), ("b", b"started"), ("b", None)])
        self.assertEqual(self.peers, [[("10.0.0.1", 6881)]] * 2)

    def test_trackerStatuses(self) -> None:
        """
        Each tracker's status says whether it worked, when, what it gave,
        its error (escaped), and when the next announce is; trackers not yet
        asked are "not contacted".
        """
        broken, good, later = self.addTracker("a", code=500), self.addTracker("b"), self.addTracker("c")
        a = self.makeAnnouncer([[broken, good], [later]])
        before = a.trackerStatuses()
        self.assertEqual([s.state for s in before], ["not contacted"] * 3)
        self.clock.advance(5)
        a.start()
        first, second, third = a.trackerStatuses()
        self.assertEqual((second.url, second.tier, second.state), (broken, 0, "error"))
        self.assertIn("500", second.error)
        self.assertEqual(second.lastAnnounce, 5)
        self.assertEqual(
            (first.url, first.state, first.peers, first.error, first.lastAnnounce),
            (good, "working", 1, None, 5),
        )
        self.assertEqual(first.nextAnnounce, 5 + 1800)
        self.assertEqual((third.url, third.tier, third.state), (later, 1, "not contacted"))

    def test_failoverToNextTier(self) -> None:
        """
        When a whole tier fails the next tier is asked; the first tier is
        still asked first next time.
        """
        a = self.makeAnnouncer([[self.addTracker("a", code=500)], [self.addTracker("b")]])
        a.start()
        self.assertEqual(self.asked(), [("a", b"started"), ("b", b"started")])
        self.trackers["a"].code = 200
        self.clock.advance(1800)
        self.assertEqual(self.asked(), [("a", b"started"), ("a", None), ("b", b"started")])

    def test_timeoutFailsOver(self) -> None:
        """
        A tracker that does not answer within the timeout is skipped for
        the next one.
        """
        self.addTracker("b")
        stub = StubTreq(self.root)
        silent = SilentClient()

        class Mixed:
            def get(self, url):
                return (silent if "silent" in url else stub).get(url)

        a = self.makeAnnouncer([["http://t.example/silent", "http://t.example/b"]],
                               httpClient=Mixed())
        a.start()
        self.assertEqual(self.asked(), [])
        self.clock.advance(Announcer.ANNOUNCE_TIMEOUT)
        self.assertEqual(self.asked(), [("b", b"started")])

    def test_backoffWhenAllFail(self) -> None:
        """
        When every tracker fails the error is kept and logged with the
        tracker's words, and retries come after 30 s, doubling up to 30 min.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        body = bencodepy.encode({b"failure reason": b"torrent not registered"})
        a = self.makeAnnouncer([[self.addTracker("a", body)], [self.addTracker("b", body)]])
        a.start()
        self.assertEqual(a.lastError.reason, "torrent not registered")
        self.assertTrue(any("torrent not registered" in str(e.get("reason")) and
                            "Every tracker failed" in e["log_format"] for e in logged))
        delays = []
        for _ in range(9):
            (call,) = self.clock.getDelayedCalls()
            delays.append(call.getTime() - self.clock.seconds())
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [30, 60, 120, 240, 480, 960, 1800, 1800, 1800])
        self.assertEqual(len(self.trackers["a"].requests), 10)
        self.assertEqual(set(self.trackers["a"].events()), {b"started"})

        self.trackers["b"].body = okBody()
        self.clock.advance(1800)
        self.assertIsNone(a.lastError)
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime() - self.clock.seconds(), 1800)

    def test_unsupportedSchemeSkipped(self) -> None:
        """
        Trackers of a scheme without a client are skipped with one log line
        saying so.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        a = self.makeAnnouncer([["wss://t.example/announce", self.addTracker("a")]])
        a.start()
        self.clock.advance(1800)
        self.assertEqual(self.asked(), [("a", b"started"), ("a", None)])
        self.assertEqual(
            [e["reason"] for e in logged if e.get("url") == "wss://t.example/announce"],
            ["unsupported tracker scheme 'wss'"])

    def test_noUsableTracker(self) -> None:
        """
        An announcer with only trackers of unsupported schemes does nothing.
        """
        a = self.makeAnnouncer([["wss://t.example/announce"]])
        a.start()
        a.announceNow()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIsNone(self.successResultOf(a.stop()))

    def test_tiersShuffledOnce(self) -> None:
        """
        Each tier is shuffled once, at start.
        """
        shuffled = []
        self.patch(announcer, "_shuffle", lambda tier: (tier.reverse(), shuffled.append(list(tier))))
        tiers = [[self.addTracker("a"), self.addTracker("b")], [self.addTracker("c")]]
        a = self.makeAnnouncer(tiers)
        a.start()
        self.clock.advance(1800)
        self.assertEqual(shuffled, [[tiers[0][1], tiers[0][0]], [tiers[1][0]]])
        self.assertEqual(self.asked(), [("b", b"started"), ("b", None)])

    def test_announceNow(self) -> None:
        """
        L{Announcer.announceNow} announces early, but no sooner than
        L{Announcer.ANNOUNCE_NOW_FLOOR} or C{min interval} after the last
        announce.
        """
        a = self.makeAnnouncer([[self.addTracker("a")]])
        a.start()
        self.clock.advance(10)
        a.announceNow()
        self.clock.advance(49)
        self.assertEqual(len(self.trackers["a"].requests), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.trackers["a"].requests), 2)
        self.clock.advance(100)
        a.announceNow()
        self.assertEqual(len(self.trackers["a"].requests), 3)

        self.trackers["a"].body = okBody(min_interval=300)
        self.clock.advance(1800)
        self.assertEqual(len(self.trackers["a"].requests), 4)
        a.announceNow()
        self.clock.advance(299)
        self.assertEqual(len(self.trackers["a"].requests), 4)
        self.clock.advance(1)
        self.assertEqual(len(self.trackers["a"].requests), 5)

    def test_trackerIdEchoed(self) -> None:
        """
        A C{tracker id} is sent back to that tracker.
        """
        a = self.makeAnnouncer([[self.addTracker("a", okBody(tracker_id=b"\x01id"))]])
        a.start()
        self.clock.advance(1800)
        requests = self.trackers["a"].requests
        self.assertNotIn(b"trackerid", requests[0])
        self.assertEqual(requests[1][b"trackerid"], b"\x01id")

    def test_keyPerAnnouncer(self) -> None:
        """
        Each announcer sends its own random key, the same every time.
        """
        url = self.addTracker("a")
        self.makeAnnouncer([[url]]).start()
        self.clock.advance(1800)
        self.makeAnnouncer([[url]]).start()
        keys = [r[b"key"] for r in self.trackers["a"].requests]
        self.assertEqual(keys[0], keys[1])
        self.assertNotEqual(keys[0], keys[2])

    def test_warningLogged(self) -> None:
        """
        A tracker's warning message is logged.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        a = self.makeAnnouncer([[self.addTracker("a", okBody(warning_message=b"old client"))]])
        a.start()
        self.assertEqual([e["trackerWarning"] for e in logged if "warns" in e["log_format"]],
                         ["old client"])

    def test_onPeersErrorLogged(self) -> None:
        """
        An exception from C{onPeers} is logged and announcing goes on.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

        def broken(peers):
            raise RuntimeError("boom")

        a = Announcer([[self.addTracker("a")]], INFO_HASH, PEER_ID, 6881,
                      lambda: self.stats, broken, reactor=self.clock,
                      httpClient=StubTreq(self.root))
        a.start()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(any("log_failure" in e for e in logged))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
