"""
Download throughput and peak memory: bittwist and libtorrent side by side,
each downloading the same payload from the same libtorrent seeder on
127.0.0.1, each in a child process of its own (so peak RSS is its own).

    python benchmarks/bench_download.py [--size-mib 256] [--rounds 2]

Prints MiB/s and peak RSS per client and round, and the bittwist/libtorrent
ratio, which means more than the absolute figures on a shared machine.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    benchmarkParser,
    childMain,
    downloadRounds,
    downloadWithBittwist,
    downloadWithLibtorrent,
)


def childBittwist(torrentPath: str, folder: str, peer: str) -> dict:
    from bittwist.config import SessionConfig
    from bittwist.mse import Policy

    # BENCH_ENCRYPTION=off compares with a bittwist that had no MSE.
    config = SessionConfig(encryption=Policy(os.environ.get("BENCH_ENCRYPTION", "prefer")))
    return downloadWithBittwist(torrentPath, folder, peer, config)


def main() -> None:
    args = benchmarkParser(256, ("CLIENT", "TORRENT", "DIR", "PEER")).parse_args()
    if args.child:
        childMain(args.child, {"bittwist": childBittwist, "libtorrent": downloadWithLibtorrent})
        return
    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        downloadRounds(__file__, tmp, args.size_mib, args.rounds, "")


if __name__ == "__main__":
    main()
