# -*- test-case-name: tests.test_diskpool -*-
"""
Disk work for every torrent of a process, on a few shared threads.

A L{DiskPool} runs jobs on at most a fixed number of threads, however many
torrents there are. Each storage queues its jobs on a L{SerialQueue} of its
own: the jobs of one queue run one at a time and in order (a hash check
always sees the writes queued before it), while the queues of different
torrents run side by side on different threads. A queue with work is taken
by a free thread, which runs a batch of its jobs and puts it back at the end
of the line if more wait, so one busy torrent does not starve the others.

Results go back to the reactor thread in batches: one C{callFromThread}
per batch of jobs, not one per job; and at most L{DELIVERY_SLICE} seconds
of them in one reactor turn, so that a thousand torrents' checks ending
together do not stall the reactor.
"""

import collections
import queue
import threading
import time
import weakref
from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["DiskPool", "SerialQueue", "sharedPool", "deliver", "DEFAULT_THREADS", "DELIVERY_SLICE"]

DEFAULT_THREADS = 4
"""
Threads of the shared pool: disk writes and hashing release the GIL, so a
few threads keep a few disks and cores busy; more would only contend.
"""

BATCH = 64
"""
At most this many jobs of one queue run before its results go back to the
reactor and other queues get a turn: few enough that completions flow while
a long queue drains, many enough that a burst of blocks costs one thread hop.
"""

POST_INTERVAL = 0.02
"""
Seconds of jobs after which a batch hands the results it has so far to the
reactor, not waiting for the rest: a download's writes count against the
session's budget until reported (L{bittwist.torrent.backlog.WriteBacklog}),
and while the disk is behind a batch of 64 writes kept the budget spent,
and requests stopped, long after most of their blocks were freed (eight
peers, 1 GiB in 2,000 files, 24 MiB in flight: 93-127 MiB/s without,
156-164 with). Not
less: at 5 ms, a single fast peer's reactor took a tenth more CPU for the
extra wake-ups.
"""

DELIVERY_SLICE = 0.02
"""
Seconds of reporting results in one go on the reactor thread; the rest wait
for the next reactor turn.  (10 ms was tried: with 1,000 torrents the peak
RSS grew, 220-350 MiB against about 210 without a bound, as reads got more
of each turn; 20 ms kept the start-up under 20 ms of reactor CPU.)
"""


class DiskPool:
    """
    C{size} threads running the jobs of any number of L{SerialQueue}s; the
    threads start when first needed and then wait for work
    (daemon threads: they never keep the process alive).

    @ivar size: the most threads.
    """

    def __init__(self, size: int = DEFAULT_THREADS, name: str = "bittwist-disk") -> None:
        if size < 1:
            raise ValueError(f"a disk pool needs at least one thread, not {size}")
        self.size = size
        self._name = name
        # Queues with jobs waiting, each at most once.
        self._ready: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # Per reactor, the results waiting to be reported on it; kept only
        # while the reactor lives (tests make many).
        self._outboxes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def queue(self, reactor: Any) -> "SerialQueue":
        """
        @return: a new queue of jobs run in order, reporting on C{reactor}.
        """
        try:
            outbox = self._outboxes.get(reactor)
            if outbox is None:
                outbox = self._outboxes[reactor] = _Outbox(reactor)
        except TypeError:
            # A reactor that cannot be weakly referenced: an outbox per queue.
            outbox = _Outbox(reactor)
        return SerialQueue(self, reactor, outbox)

    def threadCount(self) -> int:
        """
        @return: how many threads the pool has started.
        """
        return len(self._threads)

    def _schedule(self, serial: "SerialQueue") -> None:
        """
        C{serial} has jobs: have a thread run them. Called from any thread.
        """
        if len(self._threads) < self.size:
            self._startThreads()
        self._ready.put(serial)

    def _startThreads(self) -> None:
        # All at once: idle threads waiting on the queue cost nothing, and
        # counting busy ones would cost a lock on every job.
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _run(self) -> None:
        ready = self._ready
        while True:
            serial = ready.get()
            serial._runBatch()
            serial = None


_shared: Optional[DiskPool] = None
_sharedLock = threading.Lock()


def sharedPool() -> DiskPool:
    """
    @return: the process's L{DiskPool}, shared by every L{FileStorage
        <bittwist.storage.FileStorage>} not given one of its own.
    """
    global _shared
    with _sharedLock:
        if _shared is None:
            _shared = DiskPool()
        return _shared


class SerialQueue:
    """
    Jobs run in order, one at a time, on the threads of a L{DiskPool}; their
    results reported on the reactor thread. Only the reactor thread queues
    jobs.
    """

    def __init__(self, pool: DiskPool, reactor: Any, outbox: Optional["_Outbox"] = None) -> None:
        self._pool = pool
        self._reactor = reactor
        self._outbox = outbox if outbox is not None else _Outbox(reactor)
        self._jobs: collections.deque = collections.deque()
        # Guards _scheduled: whether the queue is with the pool (waiting for
        # a thread, or being run).
        self._lock = threading.Lock()
        self._scheduled = False
        self._used = False

    def submit(self, function: Callable[..., Any], *args: Any) -> Deferred:
        """
        Queue C{function(*args)}.

        @return: a C{Deferred} firing, on the reactor thread, with its result.
        """
        d: Deferred = Deferred()
        self.call(d.callback, d.errback, function, *args)
        return d

    def call(
        self,
        callback: Callable[[Any], None],
        errback: Callable[[Failure], None],
        function: Callable[..., Any],
        *args: Any,
    ) -> None:
        """
        Queue C{function(*args)}; then, on the reactor thread, call
        C{callback} with its result or C{errback} with the failure.
        """
        self._used = True
        self._jobs.append((callback, errback, function, args))
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._pool._schedule(self)

    @property
    def idle(self) -> bool:
        """
        Whether no job is queued or running: until the reactor thread
        queues one, no pool thread touches what the jobs use, so the
        reactor thread may (briefly) use it itself. Read on the reactor
        thread.
        """
        # _scheduled goes false, under the lock, only after the last job
        # ran; reading a stale true only makes us wait for the pool.
        return not self._scheduled

    def stop(self, function: Callable[[], Any]) -> Deferred:
        """
        Queue C{function} as the last job.

        @return: a C{Deferred} firing with C{None} once it ran, or failing
            with what it raised.
        """
        if not self._used:
            try:
                function()
            except BaseException:
                return defer.fail()
            return defer.succeed(None)
        return self.submit(function).addCallback(lambda _: None)

    def _runBatch(self) -> None:
        """
        On a pool thread: run up to L{BATCH} jobs, hand their results to the
        reactor, and go back in line if more wait.
        """
        jobs = self._jobs
        results: list = []
        clock = time.perf_counter
        due = clock() + POST_INTERVAL
        for _ in range(BATCH):
            try:
                callback, errback, function, args = jobs.popleft()
            except IndexError:
                break
            try:
                results.append((callback, function(*args)))
            except BaseException:
                results.append((errback, Failure()))
            # Drop our references to the job's data (written blocks, and the
            # closure reporting their failure) now.
            function = args = errback = None
            if clock() >= due:
                self._outbox.post(results)
                results = []
                due = clock() + POST_INTERVAL
        if results:
            self._outbox.post(results)
        with self._lock:
            # The reactor appends before it looks at _scheduled, under this
            # lock: a job queued now is seen here, or schedules us again.
            again = bool(jobs)
            self._scheduled = again
        if again:
            self._pool._schedule(self)



class _Outbox:
    """
    The results of a pool's jobs waiting to be reported on one reactor, in
    the order they were posted: reported L{DELIVERY_SLICE} seconds at a
    time, one C{callFromThread} for as many batches as are waiting.
    """

    def __init__(self, reactor: Any) -> None:
        # Weakly: the pool keeps its outboxes by reactor, and a strong
        # reference here would keep every reactor alive. Its queues hold it.
        self._reactor = weakref.ref(reactor) if _weakable(reactor) else (lambda: reactor)
        self._batches: collections.deque = collections.deque()
        # Guards _scheduled: whether a _drain is due on the reactor.
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, results: list) -> None:
        """
        From any thread: report C{results} (see L{deliver}) on the reactor.
        """
        self._batches.append(results)
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        reactor = self._reactor()
        if reactor is not None:
            reactor.callFromThread(self._drain)

    def _drain(self) -> None:
        batches = self._batches
        deadline = time.perf_counter() + DELIVERY_SLICE
        while True:
            try:
                results = batches.popleft()
            except IndexError:
                with self._lock:
                    # A post appends before it looks at _scheduled, under
                    # this lock: seen here, or it schedules us again.
                    if not batches:
                        self._scheduled = False
                        return
                continue
            deliver(results)
            if batches and time.perf_counter() > deadline:
                # The rest in a later turn: callFromThread from the reactor
                # thread runs after what is due now.
                reactor = self._reactor()
                if reactor is not None:
                    reactor.callFromThread(self._drain)
                return


def _weakable(o: object) -> bool:
    try:
        weakref.ref(o)
    except TypeError:
        return False
    return True


_log = Logger()


def deliver(results: list) -> None:
    """
    On the reactor thread: call each C{(report, value)} of C{results}, in
    order, logging what one raises.
    """
    for report, value in results:
        try:
            report(value)
        except Exception:
            # A Deferred never raises here; a plain callback might, and
            # must not keep the rest of the batch from being reported.
            _log.failure("Reporting a storage result with {report}", report=report)
