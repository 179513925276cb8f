# -*- test-case-name: tests.test_ratelimit -*-
"""
Tests for L{bittwist.ratelimit}: token buckets on a L{Clock}.
"""

from hypothesis import given, strategies as st
from twisted.internet.defer import CancelledError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.ratelimit import BucketChain, TokenBucket, parseRate

BLOCK = 16384


class ParseRateTests(SynchronousTestCase):
    """
    Tests for L{parseRate}.
    """

    def test_plainBytes(self) -> None:
        """
        A bare number is bytes per second; 0 is 0 (unlimited).
        """
        self.assertEqual(parseRate("500000"), 500000)
        self.assertEqual(parseRate("0"), 0)

    def test_suffixes(self) -> None:
        """
        K, M and G are binary multiples, in either case, with an optional
        B, iB or /s after them.
        """
        self.assertEqual(parseRate("500K"), 500 * 1024)
        self.assertEqual(parseRate("2M"), 2 * 2**20)
        self.assertEqual(parseRate("2m"), 2 * 2**20)
        self.assertEqual(parseRate("1.5M"), 3 * 2**19)
        self.assertEqual(parseRate("1G"), 2**30)
        self.assertEqual(parseRate("100KiB/s"), 100 * 1024)
        self.assertEqual(parseRate("100kB"), 100 * 1024)

    def test_garbage(self) -> None:
        """
        Anything else raises L{ValueError} naming the input.
        """
        for text in ["", "fast", "-1K", "2X", "1e3", "K"]:
            error = self.assertRaises(ValueError, parseRate, text)
            self.assertIn(repr(text), str(error))

    @given(st.text(max_size=20))
    def test_anyText(self, text: str) -> None:
        """
        Any text parses to a non-negative int or raises L{ValueError}.
        """
        try:
            rate = parseRate(text)
        except ValueError:
            return
        self.assertIsInstance(rate, int)
        self.assertGreaterEqual(rate, 0)


class TokenBucketTests(SynchronousTestCase):
    """
    Tests for L{TokenBucket}.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def assertWithinTenPercent(self, ratio: float, what: str = "") -> None:
        """
        C{ratio} is 1 within 10%.
        """
        self.assertTrue(0.9 <= ratio <= 1.1, f"{what} ratio {ratio:.3f}, not 1 within 10%")

    def pump(self, bucket: TokenBucket, seconds: float, amount: int = BLOCK) -> int:
        """
        A greedy sender: acquire C{amount} again as soon as the last acquire
        fires, for C{seconds} of clock time in steps of 10 ms.

        @return: the bytes acquired in that time.
        """
        sent = [0]
        stopAt = self.clock.seconds() + seconds

        def again(_: object = None) -> None:
            if self.clock.seconds() < stopAt:
                bucket.acquire(amount).addCallback(granted)

        def granted(_: object) -> None:
            sent[0] += amount
            again()

        again()
        for _ in range(int(seconds * 100)):
            self.clock.advance(0.01)
        return sent[0]

    def test_clear(self) -> None:
        """
        C{clear} forgets waiting acquires (they never fire) and waiting
        callbacks, and leaves no timer; the bucket works again afterwards.
        """
        bucket = TokenBucket(self.clock, 1000)
        bucket.consume(5000)
        waiting = bucket.acquire(10)
        called = []
        bucket.whenAvailable(lambda: called.append(True))
        self.assertTrue(self.clock.getDelayedCalls())
        bucket.clear()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(60)
        self.assertNoResult(waiting)
        self.assertEqual(called, [])
        self.successResultOf(bucket.acquire(10))

    def test_unlimited(self) -> None:
        """
        With rate 0 every acquire fires at once.
        """
        bucket = TokenBucket(self.clock)
        self.assertFalse(bucket.limited)
        for _ in range(100):
            self.successResultOf(bucket.acquire(2**20))
        self.assertTrue(bucket.allows())

    def test_holdsRate(self) -> None:
        """
        A greedy sender gets the rate, within 10%, over ten seconds.
        """
        for rate in [50 * 1024, 500 * 1024, 2 * 2**20]:
            bucket = TokenBucket(self.clock, rate)
            sent = self.pump(bucket, 10.0)
            self.assertWithinTenPercent(sent / 10.0 / rate, f"rate {rate}")

    def test_rateBelowOneBlock(self) -> None:
        """
        A rate below one block per second still holds: a block overdraws the
        bucket and the next waits until it is paid for.
        """
        bucket = TokenBucket(self.clock, 4096)
        sent = self.pump(bucket, 80.0)
        self.assertWithinTenPercent(sent / 80.0 / 4096)

    def test_sharedFairly(self) -> None:
        """
        Two greedy senders on one bucket share the rate about evenly and
        together hold it.
        """
        rate = 256 * 1024
        bucket = TokenBucket(self.clock, rate)
        sent = [0, 0]

        def sender(i: int) -> None:
            def again(_: object = None) -> None:
                sent[i] += BLOCK
                bucket.acquire(BLOCK).addCallback(again)

            again()

        sender(0)
        sender(1)
        for _ in range(1000):
            self.clock.advance(0.01)
        self.assertWithinTenPercent(sum(sent) / 10.0 / rate)
        self.assertWithinTenPercent(sent[0] / sent[1])

    def test_waitersInOrder(self) -> None:
        """
        Acquires that must wait are granted in the order made.
        """
        bucket = TokenBucket(self.clock, 1000)
        order: list[int] = []
        bucket.acquire(1000)
        for i in range(3):
            bucket.acquire(1000).addCallback(lambda _, i=i: order.append(i))
        self.assertEqual(order, [])
        self.clock.advance(1.0)
        self.assertEqual(order, [0])
        self.clock.advance(1.0)
        self.assertEqual(order, [0, 1])
        self.clock.advance(1.0)
        self.assertEqual(order, [0, 1, 2])

    def test_cancelLeavesQueue(self) -> None:
        """
        A cancelled acquire fails with L{CancelledError} and spends nothing.
        """
        bucket = TokenBucket(self.clock, 1000)
        bucket.acquire(1000)
        d = bucket.acquire(5000)
        after = bucket.acquire(1000)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.clock.advance(1.0)
        self.successResultOf(after)
        self.assertAlmostEqual(bucket.available(), -1000)

    def test_whenAvailable(self) -> None:
        """
        C{whenAvailable} calls back at once if the bucket is not overdrawn,
        else once it is paid back.
        """
        bucket = TokenBucket(self.clock, 1000)
        called: list[float] = []
        bucket.whenAvailable(lambda: called.append(self.clock.seconds()))
        self.assertEqual(called, [0.0])
        bucket.consume(2500)
        self.assertFalse(bucket.allows())
        bucket.whenAvailable(lambda: called.append(self.clock.seconds()))
        self.clock.advance(2.0)
        self.assertEqual(called, [0.0])
        self.clock.advance(0.5)
        self.assertEqual(called, [0.0, 2.5])

    def test_burstCapsSavings(self) -> None:
        """
        Tokens saved while idle are capped at the burst: a quiet minute
        does not allow a minute's worth at once.
        """
        bucket = TokenBucket(self.clock, 1000)
        self.clock.advance(60)
        self.assertEqual(bucket.available(), 250)
        bucket = TokenBucket(self.clock, 1000, burst=5000)
        self.clock.advance(60)
        self.assertEqual(bucket.available(), 5000)

    def test_refund(self) -> None:
        """
        A negative spend gives tokens back.
        """
        bucket = TokenBucket(self.clock, 1000)
        bucket.consume(800)
        bucket.consume(-800)
        self.assertEqual(bucket.available(), 0)

    def test_liftingLimitReleasesWaiters(self) -> None:
        """
        Setting the rate to 0 lets every waiter through at once.
        """
        bucket = TokenBucket(self.clock, 10)
        bucket.acquire(10000)
        waiting = [bucket.acquire(10000) for _ in range(3)]
        bucket.setRate(0)
        for d in waiting:
            self.successResultOf(d)
        self.assertFalse(self.clock.getDelayedCalls())

    def test_negativeRate(self) -> None:
        """
        A negative rate is refused.
        """
        self.assertRaises(ValueError, TokenBucket, self.clock, -1)


class BucketChainTests(SynchronousTestCase):
    """
    Tests for L{BucketChain}: a torrent's limit within the session's.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def pump(self, chain: BucketChain, seconds: float) -> int:
        """
        A greedy sender through C{chain} for C{seconds}.

        @return: the bytes it got.
        """
        sent = [0]
        stopAt = self.clock.seconds() + seconds

        def again(_: object = None) -> None:
            if self.clock.seconds() < stopAt:
                chain.acquire(BLOCK).addCallback(granted)

        def granted(_: object) -> None:
            sent[0] += BLOCK
            again()

        again()
        for _ in range(int(seconds * 100)):
            self.clock.advance(0.01)
        return sent[0]

    def test_tighterWins(self) -> None:
        """
        The spends go at the rate of the tighter bucket, whichever it is;
        both buckets are charged.
        """
        for own, shared, expected in ((100_000, 0, 100_000), (0, 50_000, 50_000), (100_000, 50_000, 50_000)):
            ownBucket, sharedBucket = TokenBucket(self.clock, own), TokenBucket(self.clock, shared)
            chain = BucketChain(ownBucket, sharedBucket)
            self.assertEqual(chain.limited, bool(own or shared))
            rate = self.pump(chain, 10) / 10
            self.assertTrue(0.85 <= rate / expected <= 1.15, f"{own}, {shared}: {rate}")

    def test_unlimited(self) -> None:
        """
        Two unlimited buckets never make a spend wait.
        """
        chain = BucketChain(TokenBucket(self.clock), TokenBucket(self.clock))
        self.assertFalse(chain.limited)
        self.assertTrue(chain.acquire(10**9).called)
        called = []
        chain.whenAvailable(lambda: called.append(True))
        self.assertEqual(called, [True])

    def test_cancel(self) -> None:
        """
        A waiting spend can be cancelled.
        """
        own, shared = TokenBucket(self.clock, 1000), TokenBucket(self.clock, 1000)
        chain = BucketChain(own, shared)
        chain.consume(10_000)
        d = chain.acquire(100)
        self.assertNoResult(d)
        d.cancel()
        self.failureResultOf(d, CancelledError)

    def test_anyNumberOfBuckets(self) -> None:
        """
        Three limited buckets: spends go at the rate of the tightest, the
        last one, and every bucket is charged.
        """
        rates = (200_000, 100_000, 50_000)
        sent = self.pump(BucketChain(*(TokenBucket(self.clock, rate) for rate in rates)), 10)
        self.assertTrue(0.85 <= sent / 10 / 50_000 <= 1.15, sent)
        buckets = [TokenBucket(self.clock, rate) for rate in rates]
        self.successResultOf(BucketChain(*buckets).acquire(1000))
        self.assertEqual([bucket.available() for bucket in buckets], [-1000] * 3)

    def test_cancelInLastBucket(self) -> None:
        """
        A spend cancelled while it waits in the last of three buckets gives
        up its place in that bucket's queue: the next spend there goes first.
        """
        first, second, last = (TokenBucket(self.clock, 1000) for _ in range(3))
        last.consume(10_000)
        d = BucketChain(first, second, last).acquire(100)
        self.assertNoResult(d)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        after = last.acquire(100)
        self.clock.advance(10)
        self.successResultOf(after)
        self.assertAlmostEqual(last.available(), -100, delta=1)
