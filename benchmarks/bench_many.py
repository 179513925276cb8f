"""
Many torrents in one bittwist process: a seedbox's load.

    python -m benchmarks.bench_many [--count 1000] [--size-kib 1024] [--idle 10]

C{BENCH_IDLE_PROFILE=FILE} profiles each idle phase into C{FILE.PID}.

1. Download: C{count} torrents of C{size-kib} KiB each, all from one
   libtorrent session on 127.0.0.1, into one bittwist process (a state
   folder remembers them). Total time, peak RSS, threads, the longest reactor
   stall, then RSS and CPU while idle for C{idle} seconds, all seeding.
2. Start-up: a new bittwist process on that state folder, until every
   torrent is seeding again (fast resume: nothing is hashed), then idle.

Each bittwist run is a child process of its own, so its figures are its own.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _idle(reactor: Any, seconds: float, result: dict, then: Any) -> None:
    """
    Let the reactor run for C{seconds} with nothing to do but seed, noting
    the CPU it used and its RSS, then call C{then}.
    """
    from benchmarks.probe import cpuSeconds, rssMiB, threadCount

    before = cpuSeconds()
    profile = os.environ.get("BENCH_IDLE_PROFILE")
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

    def done() -> None:
        result["idleCpuPercent"] = 100 * (cpuSeconds() - before) / seconds
        if profile:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{os.getpid()}")
        result["idleRssMiB"] = rssMiB()
        result["threads"] = threadCount()
        then()

    reactor.callLater(seconds, done)


def childDownload(torrentsDir: str, downloadDir: str, stateDir: str, peer: str, idle: str) -> dict:
    from twisted.internet import reactor

    from benchmarks.probe import StallProbe, cpuSeconds, peakRssMiB, rssMiB, startLogging
    from bittwist.heap import FullCollections, freezeStartupObjects
    from bittwist.service import BitTorrentService

    startLogging()
    host, port = peer.rsplit(":", 1)
    rssBefore = rssMiB()
    service = BitTorrentService(
        "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None, stateDir=stateDir
    )
    started = time.perf_counter()
    torrents = [
        service.addTorrent(os.path.join(torrentsDir, name), downloadDir,
                           peers=[(host, int(port))], announce=False)
        for name in sorted(os.listdir(torrentsDir))
    ]
    result: dict = {"count": len(torrents), "rssBeforeMiB": rssBefore}
    probe = StallProbe(reactor)
    left = len(torrents)

    def stop() -> None:
        service.stopService().addBoth(lambda _: reactor.stop())

    def one(_: object) -> None:
        nonlocal left
        left -= 1
        if left == len(torrents) // 2 and os.environ.get("BENCH_GC_TYPES"):
            # What a full collection would cost halfway, every connection
            # busy (left out of the stall figures).
            result["gcHalfway"] = probe.timeFullCollection()
            print(
                "halfway: a full collection over {} objects, {:.1f} ms of CPU".format(
                    *result["gcHalfway"]
                ),
                file=sys.stderr,
            )
        if left == 0:
            result["seconds"] = time.perf_counter() - started
            result["cpu"] = cpuSeconds()
            result["peakRssMiB"] = peakRssMiB()
            result["rssMiB"] = rssMiB()
            probe.stop()
            # Measure idle once the state folder has written every record
            # (a thousand completions queue a thousand writes).
            savesFrom = time.perf_counter()
            service.state.whenIdle().addCallback(saved, savesFrom)

    def saved(_: object, savesFrom: float) -> None:
        result["saveSeconds"] = time.perf_counter() - savesFrom
        if os.environ.get("BENCH_GC_TYPES"):
            import collections
            import gc

            heap = gc.get_objects()
            types = collections.Counter(type(o).__name__ for o in heap)
            # Each collection walks every reference of every tracked object.
            references = sum(len(gc.get_referents(o)) for o in heap)
            print(len(heap), types.most_common(25), gc.get_stats(), file=sys.stderr)
            del heap
            # What a full collection's walk costs with every connection
            # alive: the second of two, with no garbage left to free.
            gc.collect()
            cpu = time.thread_time()
            gc.collect()
            cpu = time.thread_time() - cpu
            result["heapAfter"] = (len(gc.get_objects()), references, cpu * 1000)
            print(
                f"after the download: {result['heapAfter'][0]} objects tracked, {references} "
                f"references from them, a full collection {cpu * 1000:.1f} ms of CPU",
                file=sys.stderr,
            )
        _idle(reactor, float(idle), result, stop)

    def failed(f: Any) -> None:
        result.setdefault("error", f.getErrorMessage())

    service.startService()
    # As twistd's plugin does once the reactor runs (bittwist.tap).
    freezeStartupObjects()
    FullCollections(reactor).install()
    probe.start()
    for torrent in torrents:
        torrent.whenComplete().addCallbacks(one, failed)
    reactor.run()
    result.update(probe.figures())
    probe.printTraces()
    return result


def childStartup(stateDir: str, idle: str) -> dict:
    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall

    from benchmarks.probe import StallProbe, cpuSeconds, peakRssMiB, rssMiB, startLogging
    from bittwist.heap import FullCollections, freezeStartupObjects
    from bittwist.service import BitTorrentService

    startLogging()
    result: dict = {"rssBeforeMiB": rssMiB()}
    started = time.perf_counter()
    service = BitTorrentService(
        "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None, stateDir=stateDir
    )
    probe = StallProbe(reactor)

    def stop() -> None:
        service.stopService().addBoth(lambda _: reactor.stop())

    def poll() -> None:
        torrents = list(service.session.torrents.values())
        if torrents and all(t.state == "seeding" for t in torrents):
            watch.stop()
            probe.stop()
            result["count"] = len(torrents)
            result["seconds"] = time.perf_counter() - started
            result["cpu"] = cpuSeconds()
            result["peakRssMiB"] = peakRssMiB()
            result["rssMiB"] = rssMiB()
            _idle(reactor, float(idle), result, stop)

    service.startService()
    # As twistd's plugin does once the reactor runs (bittwist.tap).
    freezeStartupObjects()
    FullCollections(reactor).install()
    probe.start()
    watch = LoopingCall(poll)
    watch.start(0.01)
    reactor.run()
    result.update(probe.figures())
    probe.printTraces()
    return result


def run(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_many", "--child", *args],
        capture_output=True, text=True,
    )
    if out.returncode or os.environ.get("BENCH_STALL_TRACE") or os.environ.get("BENCH_GC_TYPES"):
        print(out.stderr, file=sys.stderr)
    out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])


def _gcMark(generation: int) -> str:
    """
    @return: what a stall's figure says of the collections during it.
    """
    return f", a generation {generation} collection in it" if generation > 0 else ""


def report(title: str, r: dict) -> None:
    print(
        f"{title}: {r['count']} torrents in {r['seconds']:.1f} s, {r['cpu']:.1f} CPU s, "
        f"peak RSS {r['peakRssMiB']:.0f} MiB (RSS {r['rssMiB']:.0f} MiB, "
        f"{1024 * (r['rssMiB'] - r['rssBeforeMiB']) / r['count']:.0f} KiB per torrent "
        f"over {r['rssBeforeMiB']:.0f} MiB before any), longest stall "
        f"{r['stallMs']:.0f} ms"
        + (
            f" ({r['stallCpuMs']:.0f} ms of reactor CPU{_gcMark(r['stallGc'])}), longest busy "
            f"stall {r['busyMs']:.0f} ms of reactor CPU{_gcMark(r['busyGc'])}"
            if "busyMs" in r else ""
        )
        + f" (longest garbage collection {r['gcMs']:.0f} ms, "
        + (f"{r['gcCpuMs']:.0f} ms of CPU at most, " if "gcCpuMs" in r else "")
        + f"{r['gcSeconds']:.1f} s in all, {r['fullCollections']} full collections, "
        f"the largest over {r['largestHeap']} objects); "
        + (f"state folder written {r['saveSeconds']:.1f} s after; " if "saveSeconds" in r else "")
        + f"idle after: {r['idleCpuPercent']:.1f}% CPU, "
        f"RSS {r['idleRssMiB']:.0f} MiB, {r['threads']} threads",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle after, measured")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = childDownload(*rest) if kind == "download" else childStartup(*rest)
        print(json.dumps(result), flush=True)
        return

    import libtorrent as lt

    from tests.ltpeer import addTorrentBlocking, blockingSession, createTorrentWithLibtorrent

    tmp = tempfile.mkdtemp(prefix="bench-many-")
    try:
        seedDir = os.path.join(tmp, "seed")
        torrentsDir = os.path.join(tmp, "torrents")
        os.makedirs(seedDir)
        os.makedirs(torrentsDir)
        started = time.perf_counter()
        for i in range(args.count):
            name = f"t{i:05}.bin"
            with open(os.path.join(seedDir, name), "wb") as f:
                f.write(os.urandom(args.size_kib * 1024))
            with open(os.path.join(torrentsDir, f"{name}.torrent"), "wb") as f:
                f.write(createTorrentWithLibtorrent(seedDir, name))
        seeder = blockingSession(
            connections_limit=args.count * 2 + 100,
            unchoke_slots_limit=-1,
            listen_queue_size=2048,
            active_seeds=-1,
            active_limit=-1,
        )
        for name in sorted(os.listdir(torrentsDir)):
            addTorrentBlocking(seeder, os.path.join(torrentsDir, name), seedDir, seed=True)
        print(
            f"{args.count} torrents of {args.size_kib} KiB, seeded by libtorrent "
            f"{lt.__version__} (ready in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        peer = f"127.0.0.1:{seeder.listen_port()}"
        downloadDir = os.path.join(tmp, "download")
        stateDir = os.path.join(tmp, "state")
        r = run("download", torrentsDir, downloadDir, stateDir, peer, str(args.idle))
        if "error" in r:
            raise SystemExit(f"download failed: {r['error']}")
        report("download", r)
        del seeder
        r = run("startup", stateDir, str(args.idle))
        report("start-up from the state folder", r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
