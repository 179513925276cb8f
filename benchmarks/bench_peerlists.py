"""
Time to read a tracker's peer list: an HTTP answer of 500 compact peers
(L{bittwist.httptracker.parseAnnounceBody}) and a UDP announce reply of
1,000 (L{bittwist.udptrackercodec.decodeReply}), the most either takes.

    PYTHONPATH=. python benchmarks/bench_peerlists.py [--source DIR] [--rounds 300]

C{--source} imports bittwist from another tree (an export of an older
commit, say), to compare before and after in one run.  The best of seven
repeats is given, in CPU microseconds per answer.
"""

import argparse
import os
import sys
import time
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=ROOT, help="the tree to import bittwist from")
    parser.add_argument("--rounds", type=int, default=300, help="answers read per repeat")
    options = parser.parse_args()
    sys.path.insert(0, os.path.abspath(options.source))
    import bencodepy

    from bittwist.tracker import parseAnnounceBody
    try:
        from bittwist.udptrackercodec import AnnounceReply, decodeReply, encode
    except ImportError:  # before the codec had a module of its own
        from bittwist.udptracker import AnnounceReply, decodeReply, encode  # type: ignore[no-redef]

    def best(run) -> float:
        # CPU time: the machine is shared, and waiting for it is not our cost.
        return min(timeit.repeat(run, number=options.rounds, repeat=7, timer=time.process_time)) / options.rounds * 1e6

    compact = b"".join(
        bytes([10, i >> 8 & 255, i & 255, 1]) + (1000 + i).to_bytes(2, "big") for i in range(500)
    )
    body = bencodepy.encode({b"interval": 1800, b"peers": compact})
    peers = tuple((f"10.{i >> 8 & 255}.{i & 255}.1", 1000 + i) for i in range(1000))
    reply = encode(AnnounceReply(1, 60, 0, 0, peers))
    print(f"bittwist from {options.source}")
    print(f"  HTTP answer, 500 compact peers:  {best(lambda: parseAnnounceBody('http://t/', body)):7.0f} us")
    print(f"  UDP announce reply, 1,000 peers: {best(lambda: decodeReply(reply)):7.0f} us")


if __name__ == "__main__":
    main()
