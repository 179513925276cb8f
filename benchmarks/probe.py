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

from twisted.internet.task import LoopingCall

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

class StallProbe:
    """
    A reactor-lag monitor: a timer due every L{PROBE_INTERVAL} seconds notes
    how late it runs; the longest delay is the longest time the reactor was
    busy with something else (one callback, one read, one write...).

    It also times the garbage collector's passes, which stop every thread.

    @ivar longest: the longest delay seen, in seconds.
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
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor
        self._last = 0.0
        self._lastCpu = 0.0
        self.longest = 0.0
        self.longestCpu = 0.0
        self.longestGc = 0.0
        self.gcSeconds = 0.0
        self.longestGcCpu = 0.0
        self._gcStarted = 0.0
        self._gcCpuStarted = 0.0
        self.fullCollections = 0
        self.largestHeap = 0

    def start(self) -> None:
        self._last = self._reactor.seconds()
        self._lastCpu = time.thread_time()
        self._loop.start(PROBE_INTERVAL, now=False)
        gc.callbacks.append(self._gc)
        if os.environ.get("BENCH_STALL_TRACE"):
            self.traces: collections.Counter = collections.Counter()
            thread = threading.Thread(target=self._watch, args=(threading.get_ident(),), daemon=True)
            thread.start()

    def _watch(self, reactorThread: int) -> None:
        """
        While the reactor is late by more than 20 ms, sample where it is,
        so that C{printTraces} can say what stalls it: each sample says
        whether the reactor thread ran most of the last 10 ms (busy) or
        waited (for a core, or in a system call).
        """
        clock = time.pthread_getcpuclockid(reactorThread)
        cpu = time.clock_gettime(clock)
        while self._loop.running:
            time.sleep(0.01)
            now = time.clock_gettime(clock)
            busy = now - cpu > 0.005
            cpu = now
            if self._reactor.seconds() - self._last > 0.02 + PROBE_INTERVAL:
                frame = sys._current_frames().get(reactorThread)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame)[-12:])
                    self.traces[("busy" if busy else "waiting") + "\n" + stack] += 1

    def figures(self) -> dict:
        """
        @return: what this probe measured, as a benchmark reports it
            (milliseconds where the name says so).
        """
        return {
            "stallMs": self.longest * 1000,
            "stallCpuMs": self.longestCpu * 1000,
            "gcMs": self.longestGc * 1000,
            "gcCpuMs": self.longestGcCpu * 1000,
            "gcSeconds": self.gcSeconds,
            "fullCollections": self.fullCollections,
            "largestHeap": self.largestHeap,
        }

    def printTraces(self) -> None:
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

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            if info["generation"] == 2:
                # Counted before the clock starts, so as not to time it.
                self.fullCollections += 1
                self.largestHeap = max(self.largestHeap, len(gc.get_objects()))
            self._gcStarted = time.perf_counter()
            self._gcCpuStarted = time.thread_time()
        else:
            self.longestGcCpu = max(self.longestGcCpu, time.thread_time() - self._gcCpuStarted)
            took = time.perf_counter() - self._gcStarted
            self.gcSeconds += took
            self.longestGc = max(self.longestGc, took)

    def _tick(self) -> None:
        now = self._reactor.seconds()
        cpu = time.thread_time()
        late = now - self._last - PROBE_INTERVAL
        if late > self.longest:
            self.longest = late
            self.longestCpu = cpu - self._lastCpu
        self._last = now
        self._lastCpu = cpu


__all__ = ["StallProbe", "cpuSeconds", "peakRssMiB", "rssMiB", "threadCount"]
