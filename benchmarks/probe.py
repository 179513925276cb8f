"""
What a benchmark child measures about itself: CPU seconds, peak RSS, threads,
and the longest stall of its reactor.
"""

import collections
import gc
import os
import resource
import sys
import threading
import time
import traceback
from typing import Any


PROBE_INTERVAL = 0.005
"""Seconds between two reactor-lag probes."""


def cpuSeconds() -> float:
    """
    @return: user and system CPU seconds of this process so far, every
        thread included.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def systemSeconds() -> float:
    """
    @return: the system (kernel) part of L{cpuSeconds}: on loopback, the
        sender's C{send} also runs much of the receiver's TCP stack.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def peakRssMiB() -> float:
    """
    @return: this process's peak resident set size, in MiB.

    Read from C{VmHWM}, not C{getrusage}: Linux carries C{ru_maxrss} across
    C{fork} and C{exec}, so a child's would be at least its parent's size
    when it was started (the benchmark runner's, libtorrent seeder and all).
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rssMiB() -> float:
    """
    @return: this process's resident set size now, in MiB.
    """
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def threadCount() -> int:
    """
    @return: the threads of this process, Python's and any others.
    """
    return len(os.listdir("/proc/self/task"))



def runReactor(reactor: Any, profile: str) -> None:
    """
    Run C{reactor} until it stops, under cProfile if C{profile} names a
    file to write the stats to. With C{BENCH_PROFILE_CPU=1} the profile
    counts the reactor thread's CPU time, not wall time: on a loaded
    machine wall time also counts waiting for a core.
    """
    if profile:
        import cProfile

        timer = time.thread_time if os.environ.get("BENCH_PROFILE_CPU") else time.perf_counter
        profiler = cProfile.Profile(timer)
        try:
            profiler.runcall(reactor.run)
        finally:
            profiler.dump_stats(profile)
    else:
        reactor.run()

def startLogging() -> None:
    """
    Log warnings and errors to standard error, as a service under twistd
    logs (L{bittwist.tap}): until logging starts, Twisted keeps every event
    (up to 65,536, debug ones too) in memory, each with the object that
    logged it, so closed connections lived on and a benchmark's heap was
    not a service's.
    """
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    observer = FilteringLogObserver(
        textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)]
    )
    globalLogBeginner.beginLoggingTo([observer], discardBuffer=True, redirectStandardIO=False)


def _kind(o: object) -> str:
    """
    @return: what C{o} is, for a census of the heap: its type's name, and
        for a bound method or a timed call the function's name too.
    """
    name = type(o).__name__
    if name == "method":
        return f"method {getattr(o.__func__, '__qualname__', '?')}"  # type: ignore[attr-defined]
    if name in ("tuple", "list") and os.environ.get("BENCH_GC_TYPES") in ("2", "3"):
        return f"{name} of " + ",".join(type(item).__name__ for item in o[:4])  # type: ignore[index]
    if name == "DelayedCall":
        # A cancelled call forgets its function: the name noted by
        # StallProbe's callLater says what it was.
        site = getattr(o, "site", None) or getattr(getattr(o, "func", None), "__qualname__", "?")
        state = " (cancelled)" if getattr(o, "cancelled", 0) else ""
        return f"DelayedCall {site}{state}"
    return name


def _innermost(frame: Any, depth: int = 5) -> str:
    """
    @return: the innermost C{depth} frames of a stack, innermost last, as
        C{file:line function} on one line.
    """
    frames = traceback.extract_stack(frame)[-depth:]
    return " > ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in frames)


def _census(heap: list) -> collections.Counter:
    """
    @return: how many objects of each L{_kind} C{heap} holds; with
        C{BENCH_GC_TYPES=3}, each kind also says the type of one object
        referring to it ("dict in PeerState"): what keeps it alive.
    """
    if os.environ.get("BENCH_GC_TYPES") != "3":
        return collections.Counter(map(_kind, heap))
    owners: dict[int, str] = {}
    for o in heap:
        name = type(o).__name__
        for r in gc.get_referents(o):
            owners.setdefault(id(r), name)
    return collections.Counter(f"{_kind(o)} in {owners.get(id(o), '?')}" for o in heap)


class StallProbe:
    """
    A reactor-lag monitor: a timer due every L{PROBE_INTERVAL} seconds notes
    how late it runs; the longest delay is the longest time the reactor was
    busy with something else (one callback, one read, one write...) or
    waiting for a core.

    To tell our stalls from the machine's, each interval's CPU time of the
    reactor thread (C{time.thread_time}) is noted too: a stall is "busy" for
    as much of it as the reactor thread was running. On a loaded machine the
    longest stall by wall time is mostly waiting for a core; the longest
    busy one is what our own code costs in one go.

    It also times the garbage collector's passes, which stop every thread.

    @ivar longest: the longest delay seen, in seconds.
    @ivar longestCpu: the reactor thread's CPU time during that delay.
    @ivar longestGcRan: the highest generation the garbage collector
        collected during that delay, or C{-1} if it did not run.
    @ivar longestBusy: the most CPU time the reactor thread spent in one
        late interval (at most its delay), in seconds.
    @ivar longestBusyGc: the highest generation collected in that interval,
        or C{-1} for none.
    @ivar cpu: the reactor thread's CPU seconds while the probe ran.
    @ivar longestGc: the longest garbage collection, in seconds.
    @ivar longestGcCpu: the CPU time of the longest garbage collection
        (by CPU time), in seconds: on a loaded machine a collection may take
        far longer than the work it does, waiting for a core.
    @ivar longestCpu: the reactor thread's CPU time during the longest
        delay, in seconds: far less than the delay when the thread waited
        for a core (a loaded machine), not for its own work.
    @ivar gcSeconds: the time spent collecting garbage, in all.
    @ivar fullCollections: how many collections of the oldest generation
        ran (those walk every tracked object).
    @ivar largestHeap: the most objects tracked at the start of a full
        collection.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        # A plain callLater chain, not a LoopingCall: 200 ticks a second
        # through maybeDeferred were a measurable part of what we measure.
        self._call: Any = None
        self._last = 0.0
        self._lastCpu = 0.0
        # The CPU time the probe's own census took since the last tick.
        self._probeCpu = 0.0
        self._startCpu = 0.0
        # The highest generation collected since the last tick, -1 if none.
        self._gcInInterval = -1
        self.longest = 0.0
        self.longestCpu = 0.0
        self.longestGcRan = -1
        self.longestBusy = 0.0
        self.longestBusyGc = -1
        self.cpu = 0.0
        self.longestGc = 0.0
        self.gcSeconds = 0.0
        self.longestGcCpu = 0.0
        self._gcStarted = 0.0
        self._gcCpuStarted = 0.0
        self.fullCollections = 0
        self.largestHeap = 0
        # BENCH_STALL_TRACE: the samples of the late interval so far, and
        # those of the longest busy one (what that stall was).
        self._samples: list = []
        self.longestBusySamples: list = []

    def start(self) -> None:
        self._last = self._reactor.seconds()
        self._lastCpu = self._startCpu = time.thread_time()
        self._call = self._reactor.callLater(PROBE_INTERVAL, self._tick)
        gc.callbacks.append(self._gc)
        if os.environ.get("BENCH_GC_TYPES") in ("2", "3"):
            self._noteCallSites()
        if os.environ.get("BENCH_STALL_TRACE"):
            self.traces: collections.Counter = collections.Counter()
            thread = threading.Thread(target=self._watch, args=(threading.get_ident(),), daemon=True)
            thread.start()

    def _noteCallSites(self) -> None:
        """
        Have every timed call note the name of its function (C{site}), for
        the census of L{_kind}: a cancelled one forgets its function but
        may stay in the reactor's heap a while.
        """
        callLater = self._reactor.callLater

        def noting(delay: float, func: Any, *args: Any, **kw: Any) -> Any:
            call = callLater(delay, func, *args, **kw)
            call.site = getattr(func, "__qualname__", type(func).__name__)
            return call

        self._reactor.callLater = noting

    def _watch(self, reactorThread: int) -> None:
        """
        While the reactor is late by more than 20 ms, sample where it is,
        so that C{printTraces} can say what stalls it: each sample says
        whether the reactor thread ran most of the last 10 ms (busy) or
        waited (for a core, or in a system call).
        """
        clock = time.pthread_getcpuclockid(reactorThread)
        cpu = time.clock_gettime(clock)
        while self._call is not None:
            time.sleep(0.01)
            now = time.clock_gettime(clock)
            busy = now - cpu > 0.005
            cpu = now
            if self._reactor.seconds() - self._last > 0.02 + PROBE_INTERVAL:
                frame = sys._current_frames().get(reactorThread)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame)[-12:])
                    kind = "busy" if busy else "waiting"
                    self.traces[kind + "\n" + stack] += 1
                    self._samples.append((kind, _innermost(frame)))

    def figures(self) -> dict:
        """
        @return: what this probe measured, as a benchmark reports it
            (milliseconds where the name says so).
        """
        return {
            "stallMs": self.longest * 1000,
            "stallCpuMs": self.longestCpu * 1000,
            "stallGc": self.longestGcRan,
            "busyMs": self.longestBusy * 1000,
            "busyGc": self.longestBusyGc,
            "reactorCpu": self.cpu,
            "gcMs": self.longestGc * 1000,
            "gcCpuMs": self.longestGcCpu * 1000,
            "gcSeconds": self.gcSeconds,
            "fullCollections": self.fullCollections,
            "largestHeap": self.largestHeap,
        }

    def printTraces(self) -> None:
        heapTypes = getattr(self, "heapTypes", None)
        if heapTypes:
            top = heapTypes.most_common(int(os.environ.get("BENCH_GC_TOP", "40")))
            print(f"largest heap ({self.largestHeap} objects): {top}", file=sys.stderr)
        if not hasattr(self, "traces"):
            return
        print(
            f"longest stall {self.longest * 1000:.0f} ms ({self.longestCpu * 1000:.0f} ms CPU); "
            f"longest collection {self.longestGc * 1000:.0f} ms "
            f"({self.longestGcCpu * 1000:.0f} ms CPU), {self.fullCollections} full, "
            f"at most {self.largestHeap} objects",
            file=sys.stderr,
        )
        for stack, count in self.traces.most_common(5):
            print(f"--- {count} samples over 20 ms late:\n{stack}", file=sys.stderr)
        print(
            f"--- the longest busy stall ({self.longestBusy * 1000:.0f} ms of reactor CPU), "
            f"sampled every 10 ms once 20 ms late:",
            file=sys.stderr,
        )
        for kind, where in self.longestBusySamples:
            print(f"  {kind}: {where}", file=sys.stderr)

    def stop(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None
            self.cpu = time.thread_time() - self._startCpu
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def timeFullCollection(self) -> tuple[int, float]:
        """
        Collect every generation now, timed, and leave it out of this
        probe's figures: what a full collection would cost at this point.

        @return: the objects it walked, and its CPU time in ms.
        """
        gc.callbacks.remove(self._gc)
        try:
            started = time.thread_time()
            heap = gc.get_objects()
            objects = len(heap)
            if os.environ.get("BENCH_GC_TYPES") and objects > self.largestHeap:
                self.largestHeap = objects
                self.heapTypes = _census(heap)
            del heap
            counted = time.thread_time()
            gc.collect()
            spent = time.thread_time() - counted
            self._probeCpu += time.thread_time() - started
        finally:
            gc.callbacks.append(self._gc)
        return objects, spent * 1000

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gcInInterval = max(self._gcInInterval, info["generation"])
            if info["generation"] == 2:
                # Counted before the clock starts, so as not to time it, and
                # left out of the interval's CPU (_tick): listing the heap
                # takes a few ms, a census of it tens.
                counting = time.thread_time()
                self.fullCollections += 1
                heap = gc.get_objects()
                if len(heap) > self.largestHeap:
                    self.largestHeap = len(heap)
                    if os.environ.get("BENCH_GC_TYPES"):
                        # What the largest heap is made of, for printTraces.
                        self.heapTypes = _census(heap)
                del heap
                self._probeCpu += time.thread_time() - counting
            self._gcStarted = time.perf_counter()
            self._gcCpuStarted = time.thread_time()
        else:
            self.longestGcCpu = max(self.longestGcCpu, time.thread_time() - self._gcCpuStarted)
            took = time.perf_counter() - self._gcStarted
            self.gcSeconds += took
            self.longestGc = max(self.longestGc, took)

    def _tick(self) -> None:
        now = self._reactor.seconds()
        # The reactor thread's own CPU: the collector runs on whichever
        # thread allocates, mostly this one, so it is in here too.
        cpu = time.thread_time()
        late = now - self._last - PROBE_INTERVAL
        used = cpu - self._lastCpu - self._probeCpu
        self._probeCpu = 0.0
        if late > self.longest:
            self.longest, self.longestCpu, self.longestGcRan = late, used, self._gcInInterval
        busy = min(late, used)
        if busy > self.longestBusy:
            self.longestBusy, self.longestBusyGc = busy, self._gcInInterval
            self.longestBusySamples = self._samples
        self._samples = []
        self._last, self._lastCpu, self._gcInInterval = now, cpu, -1
        self._call = self._reactor.callLater(PROBE_INTERVAL, self._tick)


__all__ = ["StallProbe", "cpuSeconds", "peakRssMiB", "rssMiB", "startLogging", "threadCount"]
