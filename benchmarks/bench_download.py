"""
Download throughput and peak memory: bittwist and libtorrent side by side,
each downloading the same payload from the same libtorrent seeder on
127.0.0.1, each in a child process of its own (so peak RSS is its own).

    python benchmarks/bench_download.py [--size-mib 256] [--rounds 2]

Prints MiB/s and peak RSS per client and round, and the bittwist/libtorrent
ratio, which means more than the absolute figures on a shared machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import libtorrent as lt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.ltpeer import (  # noqa: E402
    addTorrentBlocking,
    blockingSession,
)
from benchmarks.common import checkSame, preparePayload, printBest  # noqa: E402
from benchmarks.probe import peakRssMiB  # noqa: E402


def childBittwist(torrentPath: str, folder: str, peer: str) -> dict:
    from twisted.internet import reactor

    from bittwist.config import SessionConfig
    from bittwist.mse import Policy
    from bittwist.service import BitTorrentService

    host, port = peer.rsplit(":", 1)
    service = BitTorrentService(
        "tcp:0:interface=127.0.0.1",
        reactor=reactor,
        progressInterval=None,
        # BENCH_ENCRYPTION=off compares with a bittwist that had no MSE.
        config=SessionConfig(encryption=Policy(os.environ.get("BENCH_ENCRYPTION", "prefer"))),
    )
    torrent = service.addTorrent(torrentPath, folder, peers=[(host, int(port))], announce=False)
    result = {}

    def done(_):
        result["seconds"] = time.perf_counter() - started
        reactor.callLater(0, reactor.stop)

    def failed(f):
        result["error"] = f.getErrorMessage()
        reactor.stop()

    started = time.perf_counter()
    service.startService()
    torrent.whenComplete().addCallbacks(done, failed)
    reactor.run()
    return result


def childLibtorrent(torrentPath: str, folder: str, peer: str) -> dict:
    session = blockingSession()
    handle = addTorrentBlocking(session, torrentPath, folder, seed=False)
    started = time.perf_counter()
    host, port = peer.rsplit(":", 1)
    handle.connect_peer((host, int(port)))
    while not handle.status().is_seeding:
        time.sleep(0.01)
    return {"seconds": time.perf_counter() - started}


def runChild(client: str, torrentPath: str, folder: str, peer: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", client, torrentPath, folder, peer],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=4, metavar=("CLIENT", "TORRENT", "DIR", "PEER"))
    args = parser.parse_args()
    if args.child:
        client, torrentPath, folder, peer = args.child
        run = childBittwist if client == "bittwist" else childLibtorrent
        result = run(torrentPath, folder, peer)
        result["maxrssMiB"] = peakRssMiB()
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        seedDir, torrentPath = preparePayload(tmp, args.size_mib)

        seeder = blockingSession()
        addTorrentBlocking(seeder, torrentPath, seedDir, seed=True)
        peer = f"127.0.0.1:{seeder.listen_port()}"
        print(f"payload {args.size_mib} MiB, seeder libtorrent {lt.__version__} at {peer}")

        rates: dict[str, list[float]] = {"bittwist": [], "libtorrent": []}
        for round in range(args.rounds):
            for client in ("bittwist", "libtorrent"):
                folder = os.path.join(tmp, f"{client}-{round}")
                result = runChild(client, torrentPath, folder, peer)
                if "error" in result:
                    raise SystemExit(f"{client} failed: {result['error']}")
                checkSame(folder, seedDir, client)
                rate = args.size_mib / result["seconds"]
                rates[client].append(rate)
                print(
                    f"round {round + 1} {client:10} {rate:7.1f} MiB/s "
                    f"({result['seconds']:.2f} s), peak RSS {result['maxrssMiB']:.0f} MiB"
                )
                subprocess.run(["rm", "-rf", folder], check=True)
        printBest(rates)

if __name__ == "__main__":
    main()
