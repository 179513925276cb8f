"""
Download throughput and peak memory: bittwist and libtorrent side by side,
each downloading the same payload from the same libtorrent seeder on
127.0.0.1, each in a child process of its own (so peak RSS is its own).

    python benchmarks/bench_download.py [--size-mib 256] [--rounds 2]

Prints MiB/s and peak RSS per client and round, and the bittwist/libtorrent
ratio, which means more than the absolute figures on a shared machine.
"""

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import libtorrent as lt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.ltpeer import (  # noqa: E402
    addTorrentBlocking,
    blockingSession,
    createTorrentWithLibtorrent,
    makePayload,
)


def childBittwist(torrentPath: str, folder: str, peer: str) -> dict:
    from twisted.internet import reactor

    from bittwist.service import BitTorrentService

    host, port = peer.rsplit(":", 1)
    service = BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None)
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


def digestTree(root: str) -> str:
    digest = hashlib.sha1()
    for folder, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


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
        result["maxrssMiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        seedDir = os.path.join(tmp, "seed")
        size = args.size_mib * 2**20
        makePayload(os.path.join(seedDir, "payload"), {"a.bin": size // 2, "b/c.bin": size - size // 2})
        data = createTorrentWithLibtorrent(seedDir, "payload")
        torrentPath = os.path.join(tmp, "payload.torrent")
        with open(torrentPath, "wb") as f:
            f.write(data)
        expected = digestTree(seedDir)

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
                if digestTree(folder) != expected:
                    raise SystemExit(f"{client}: downloaded files differ from the seed")
                rate = args.size_mib / result["seconds"]
                rates[client].append(rate)
                print(
                    f"round {round + 1} {client:10} {rate:7.1f} MiB/s "
                    f"({result['seconds']:.2f} s), peak RSS {result['maxrssMiB']:.0f} MiB"
                )
                subprocess.run(["rm", "-rf", folder], check=True)
        best = {client: max(r) for client, r in rates.items()}
        print(
            f"best: bittwist {best['bittwist']:.1f} MiB/s, libtorrent "
            f"{best['libtorrent']:.1f} MiB/s, ratio {best['bittwist'] / best['libtorrent']:.2f}"
        )


if __name__ == "__main__":
    main()
