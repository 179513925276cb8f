"""
Peak memory of a bittwist download, two source trees back to back against
the same libtorrent seeders.

    python -m benchmarks.bench_rss [--payload 1g-2000] [--seeders 8] [--rounds 2]
                                   TREE [TREE ...]

Each TREE is a checkout of bittwist (C{git clone -q /work/main /tmp/base}
for main, C{.} for the working tree). The payload and its seeders are made
once; each round then runs the suite's bittwist download child
(L{benchmarks.suite.childDownloadBittwist}) from each tree in turn, the
order reversed every other round, and samples the child's
C{/proc/PID/status} every 20 ms: the peak of its anonymous memory
(C{RssAnon}: the heap, blocks included) apart from its file-backed memory
(C{RssFile}: the shared libraries), beside its MiB/s, its CPU seconds per
GiB and its reactor thread's. Rates swing with the machine's load: compare
a tree with the one run next to it.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAMPLE_INTERVAL = 0.02
"""Seconds between two samples of the child's memory."""


def memory(pid: int) -> dict[str, float]:
    """
    @return: C{VmRSS}, C{RssAnon} and C{RssFile} of process C{pid}, in MiB
        (nothing once it is gone).
    """
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    found[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found


def download(tree: str, torrentPath: str, folder: str, peers: str) -> dict:
    """
    Download with the bittwist of C{tree} in a child process, sampling its
    memory.

    @return: the child's report, with the peaks of C{RssAnon} and
        C{RssFile} added (C{peakAnonMiB}, C{peakFileMiB}).
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.suite", "--child", "down", "bittwist",
         torrentPath, folder, peers, ""],
        cwd=tree, env=dict(os.environ, PYTHONPATH=tree),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    peaks: dict[str, float] = {}
    while child.poll() is None:
        for key, value in memory(child.pid).items():
            peaks[key] = max(peaks.get(key, 0.0), value)
        time.sleep(SAMPLE_INTERVAL)
    out, err = child.communicate()
    if child.returncode:
        raise SystemExit(f"{tree}: the child failed:\n{err[-3000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    report["peakAnonMiB"] = peaks.get("RssAnon", 0.0)
    report["peakFileMiB"] = peaks.get("RssFile", 0.0)
    return report


def main(argv: Optional[list[str]] = None) -> None:
    from benchmarks.suite import PAYLOADS, preparePayload, startSeeder
    from tests.ltpeer import digestTree

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_rss", description=__doc__.split("\n\n")[0])
    parser.add_argument("--payload", default="1g-2000", help=", ".join(PAYLOADS))
    parser.add_argument("--seeders", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("trees", nargs="+", help="bittwist checkouts to compare")
    args = parser.parse_args(argv)
    trees = [os.path.abspath(tree) for tree in args.trees]
    tmp = tempfile.mkdtemp(prefix=f"bench-rss-{args.payload}-")
    try:
        print(f"{args.payload}: writing the payload", flush=True)
        seedDir, torrentPath, sizeMiB = preparePayload(tmp, args.payload)
        expected = digestTree(seedDir)
        seeders = [startSeeder(torrentPath, seedDir) for _ in range(args.seeders)]
        peers = ",".join(f"127.0.0.1:{s.listen_port()}" for s in seeders)
        gib = sizeMiB / 1024
        for round in range(args.rounds):
            for tree in trees if round % 2 == 0 else trees[::-1]:
                folder = os.path.join(tmp, "download")
                r = download(tree, torrentPath, folder, peers)
                if digestTree(folder) != expected:
                    raise SystemExit(f"{tree}: files differ from the seed")
                shutil.rmtree(folder)
                print(
                    f"round {round + 1} {tree}: {sizeMiB / r['seconds']:6.1f} MiB/s, "
                    f"{r['cpu'] / gib:.2f} CPU s/GiB (reactor {r['reactorCpu'] / gib:.2f}), "
                    f"peak RSS {r['peakRssMiB']:.1f} MiB (anonymous {r['peakAnonMiB']:.1f}, "
                    f"files {r['peakFileMiB']:.1f}), load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        del seeders
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
