"""
Resume check: how fast bittwist hashes a complete download when it starts
without fast resume data, against C{hashlib.sha1} alone over the same data.

    python -m benchmarks.bench_resume [--size-mib 1024] [--rounds 2]

Both read the same file, warm in the page cache after the first round:
bittwist with L{bittwist.storage.FileStorage.check} on the reactor (the work
runs on the disk pool), the baseline piece by piece in one loop of
C{readinto} and C{hashlib.sha1}. The target is at least 80% of the
baseline's rate.
"""

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def hashlibAlone(path: str, pieceLength: int) -> float:
    """
    @return: seconds to SHA-1 every piece of the file at C{path}.
    """
    buffer = bytearray(pieceLength)
    view = memoryview(buffer)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buffer)
            if not n:
                break
            hashlib.sha1(view[:n]).digest()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from twisted.internet import reactor

    from bittwist import metainfo as _metainfo
    from tests.ltpeer import createTorrentWithLibtorrent, makePayload

    tmp = tempfile.mkdtemp(prefix="bench-resume-")
    try:
        makePayload(tmp, {"payload.bin": args.size_mib * 2**20})
        info = _metainfo.parse(createTorrentWithLibtorrent(tmp, "payload.bin"))
        path = os.path.join(tmp, "payload.bin")
        print(f"{args.size_mib} MiB, {info.numPieces} pieces of {info.pieceLength // 1024} KiB", flush=True)
        hashlibAlone(path, info.pieceLength)  # warm the page cache
        best = {"hashlib": 0.0, "bittwist": 0.0}
        ratios: list[float] = []

        # A reactor runs once per process: every round in one run, each
        # round hashlib alone (blocking the reactor, nothing else runs) then
        # bittwist's check, so that both see the same load on the machine.
        def checkRounds(round: int) -> None:
            from bittwist.storage import FileStorage

            alone = args.size_mib / hashlibAlone(path, info.pieceLength)
            best["hashlib"] = max(best["hashlib"], alone)
            storage = FileStorage(info, tmp, reactor=reactor)
            started = time.perf_counter()

            def checked(have: object) -> object:
                rate = args.size_mib / (time.perf_counter() - started)
                best["bittwist"] = max(best["bittwist"], rate)
                ratios.append(rate / alone)
                print(
                    f"round {round}: hashlib.sha1 alone {alone:7.1f} MiB/s, "
                    f"bittwist check {rate:7.1f} MiB/s",
                    flush=True,
                )
                if not storage.have.complete():
                    raise SystemExit("bittwist found pieces missing")
                return storage.close()

            def next(_: object) -> None:
                if round < args.rounds:
                    checkRounds(round + 1)
                else:
                    reactor.stop()

            storage.check().addCallback(checked).addCallback(next).addErrback(
                lambda f: (print(f.getTraceback()), reactor.stop())
            )

        reactor.callWhenRunning(checkRounds, 1)
        reactor.run()
        print(
            f"best: bittwist {best['bittwist']:.1f} MiB/s, hashlib alone {best['hashlib']:.1f} MiB/s, "
            f"ratio {best['bittwist'] / best['hashlib']:.2f}; median of the rounds' ratios "
            f"{sorted(ratios)[len(ratios) // 2]:.2f} (target >= 0.80)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
