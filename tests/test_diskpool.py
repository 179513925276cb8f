"""
Tests for L{bittwist.diskpool}.
"""

import queue
import threading
import time
from typing import Any, Callable

from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from bittwist import diskpool
from bittwist.diskpool import BATCH, DiskPool, sharedPool
from tests.fakes import HeldPool

WAIT = 10.0
"""Seconds a test waits for a pool thread before failing (never reached)."""


class ThreadedReactor:
    """
    The part of a reactor a L{bittwist.diskpool.SerialQueue} uses:
    C{callFromThread}, whose calls the test runs with L{runNext}.
    """

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue = queue.SimpleQueue()

    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        self.calls.put((f, args))

    def runNext(self) -> None:
        f, args = self.calls.get(timeout=WAIT)
        f(*args)


class DiskPoolTests(TestCase):
    """
    Tests for L{DiskPool} and its L{bittwist.diskpool.SerialQueue}s.
    """

    def setUp(self) -> None:
        self.reactor = ThreadedReactor()

    def test_inOrder(self) -> None:
        """
        The jobs of one queue run one at a time, in the order queued, and
        their results are reported in that order, on the thread that runs
        the reactor's C{callFromThread} calls.
        """
        pool = DiskPool(size=3)
        jobs = pool.queue(self.reactor)
        ran: list[int] = []
        reported: list[tuple[int, threading.Thread]] = []
        count = BATCH * 2 + 5
        for i in range(count):
            jobs.call(
                lambda r: reported.append((r, threading.current_thread())),
                self.fail,
                lambda i=i: ran.append(i) or i,
            )
        while len(reported) < count:
            self.reactor.runNext()
        self.assertEqual(ran, list(range(count)))
        self.assertEqual([r for r, _ in reported], list(range(count)))
        self.assertEqual({t for _, t in reported}, {threading.current_thread()})

    def test_idle(self) -> None:
        """
        A queue is idle until a job is queued, busy until its jobs ran, and
        idle again after.
        """
        pool = HeldPool()
        jobs = pool.queue(self.reactor)
        self.assertTrue(jobs.idle)
        jobs.call(lambda _: None, self.fail, lambda: None)
        self.assertFalse(jobs.idle)
        pool.runJobs()
        self.assertTrue(jobs.idle)

    def test_failureReported(self) -> None:
        """
        A job that raises is reported to its errback with the failure; the
        jobs after it still run.
        """
        jobs = DiskPool(size=1).queue(self.reactor)
        failures: list[Failure] = []
        results: list[int] = []
        jobs.call(self.fail, failures.append, lambda: 1 // 0)
        jobs.call(results.append, self.fail, lambda: 7)
        while not results:
            self.reactor.runNext()
        self.assertTrue(failures[0].check(ZeroDivisionError))
        self.assertEqual(results, [7])

    def test_queuesSideBySide(self) -> None:
        """
        A queue whose job blocks does not hold up another queue's jobs: they
        run on another thread of the pool.
        """
        pool = DiskPool(size=2)
        first, second = pool.queue(self.reactor), pool.queue(self.reactor)
        release = threading.Event()
        otherRan = threading.Event()
        first.call(lambda _: None, self.fail, release.wait, WAIT)
        second.call(lambda _: None, self.fail, otherRan.set)
        self.assertTrue(otherRan.wait(WAIT))
        release.set()

    def test_boundedThreads(self) -> None:
        """
        However many queues have work, the pool runs at most C{size}
        threads.
        """
        pool = DiskPool(size=2)
        release = threading.Event()
        started = threading.Semaphore(0)

        def block() -> None:
            started.release()
            release.wait(WAIT)

        for _ in range(20):
            pool.queue(self.reactor).call(lambda _: None, self.fail, block)
        self.assertTrue(started.acquire(timeout=WAIT))
        self.assertTrue(started.acquire(timeout=WAIT))
        self.assertEqual(pool.threadCount(), 2)
        release.set()
        for _ in range(18):
            self.assertTrue(started.acquire(timeout=WAIT))
        self.assertEqual(pool.threadCount(), 2)

    def test_noThreadUntilUsed(self) -> None:
        """
        A pool starts no thread until a job is queued, and C{stop} on a
        queue never used runs its last job at once, on the caller's thread.
        """
        pool = DiskPool(size=2)
        jobs = pool.queue(self.reactor)
        ran: list[threading.Thread] = []
        d = jobs.stop(lambda: ran.append(threading.current_thread()))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(ran, [threading.current_thread()])
        self.assertEqual(pool.threadCount(), 0)

    def test_stopAfterJobs(self) -> None:
        """
        C{stop} runs its job after every job queued before it.
        """
        jobs = DiskPool(size=1).queue(self.reactor)
        ran: list[str] = []
        jobs.call(lambda _: None, self.fail, ran.append, "job")
        d = jobs.stop(lambda: ran.append("last"))
        while not d.called:
            self.reactor.runNext()
        self.assertEqual(ran, ["job", "last"])

    def test_atLeastOneThread(self) -> None:
        """
        A pool of no threads is refused.
        """
        self.assertRaises(ValueError, DiskPool, size=0)

    def test_sharedPool(self) -> None:
        """
        L{sharedPool} is one pool for the whole process.
        """
        self.assertIs(sharedPool(), sharedPool())

    def test_resultsPostedDuringLongBatch(self) -> None:
        """
        A batch that runs longer than L{POST_INTERVAL} hands the results it
        has to the reactor before its later jobs run: a write reported
        early frees its room in a download's backlog.
        """
        self.patch(diskpool, "POST_INTERVAL", -1.0)
        pool = DiskPool(size=1)
        jobs = pool.queue(self.reactor)
        release = threading.Event()
        reported: list[int] = []
        jobs.call(reported.append, self.fail, lambda: 1)
        jobs.call(reported.append, self.fail, lambda: release.wait(WAIT) and 2)
        self.reactor.runNext()
        self.assertEqual(reported, [1])
        release.set()
        while len(reported) < 2:
            self.reactor.runNext()
        self.assertEqual(reported, [1, 2])

    def test_deliveriesSpreadOverTurns(self) -> None:
        """
        Results waiting for the reactor are reported L{DELIVERY_SLICE}
        seconds at a time: past it, the rest wait for another
        C{callFromThread} call, so one reactor turn does not report them
        all.
        """
        self.patch(diskpool, "DELIVERY_SLICE", -1.0)
        pool = DiskPool(size=1)
        queues = [pool.queue(self.reactor) for _ in range(3)]
        hold = threading.Event()
        reported: list[int] = []
        # The one thread runs the three queues' jobs after the first is
        # released, so all three results wait when the reactor looks.
        queues[0].call(reported.append, self.fail, lambda: hold.wait(WAIT) and 0)
        for i, jobs in enumerate(queues[1:], 1):
            jobs.call(reported.append, self.fail, lambda i=i: i)
        outbox = pool._outboxes[self.reactor]
        hold.set()
        deadline = time.monotonic() + WAIT
        while len(outbox._batches) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        self.reactor.runNext()
        self.assertEqual(reported, [0])
        self.reactor.runNext()
        self.reactor.runNext()
        self.assertEqual(sorted(reported), [0, 1, 2])
        self.assertTrue(self.reactor.calls.empty())
