"""
Encrypted download throughput: bittwist and libtorrent side by side, each
downloading the same payload from the same libtorrent seeder on 127.0.0.1,
with encryption required on both sides (MSE, RC4 only), each in a child
process of its own.

    python benchmarks/bench_mse.py [--size-mib 128] [--rounds 2]

bittwist runs with C{SessionConfig(encryption=Policy.REQUIRE)} (what
C{--encryption require} sets); the libtorrent leecher and seeder force
encryption in and out with RC4 as the only allowed level. Prints MiB/s per
client and round, and the bittwist/libtorrent ratio.
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

from tests.ltpeer import addTorrentBlocking, blockingSession  # noqa: E402
from benchmarks.common import checkSame, preparePayload, printBest  # noqa: E402
from benchmarks.probe import peakRssMiB  # noqa: E402

#: libtorrent settings: encrypted connections only, RC4 only.
FORCED_RC4 = {
    "out_enc_policy": int(lt.enc_policy.forced),
    "in_enc_policy": int(lt.enc_policy.forced),
    "allowed_enc_level": int(lt.enc_level.rc4),
}


def childBittwist(torrentPath: str, folder: str, peer: str) -> dict:
    from twisted.internet import reactor

    from bittwist.config import SessionConfig
    from bittwist.encryption import isEncrypted
    from bittwist.mse import Policy
    from bittwist.service import BitTorrentService

    host, port = peer.rsplit(":", 1)
    # The engine's own policy, as --encryption require sets it: every
    # connection, out and in, is RC4 or nothing.
    service = BitTorrentService(
        "tcp:0:interface=127.0.0.1",
        reactor=reactor,
        progressInterval=None,
        config=SessionConfig(encryption=Policy.REQUIRE),
    )
    torrent = service.addTorrent(torrentPath, folder, peers=[(host, int(port))], announce=False)
    result = {}
    encrypted = []

    def peerSeen(event):
        encrypted.extend(isEncrypted(p) for p in torrent.peers)

    def done(_):
        result["seconds"] = time.perf_counter() - started
        result["encrypted"] = bool(encrypted) and all(encrypted)
        reactor.callLater(0, reactor.stop)

    def failed(f):
        result["error"] = f.getErrorMessage()
        reactor.stop()

    started = time.perf_counter()
    service.startService()
    torrent.addObserver(peerSeen)
    torrent.whenComplete().addCallbacks(done, failed)
    reactor.run()
    return result


def childLibtorrent(torrentPath: str, folder: str, peer: str) -> dict:
    session = blockingSession(**FORCED_RC4)
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
    parser.add_argument("--size-mib", type=int, default=128)
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

    with tempfile.TemporaryDirectory(prefix="bench-mse-") as tmp:
        seedDir, torrentPath = preparePayload(tmp, args.size_mib)

        seeder = blockingSession(**FORCED_RC4)
        addTorrentBlocking(seeder, torrentPath, seedDir, seed=True)
        peer = f"127.0.0.1:{seeder.listen_port()}"
        print(
            f"payload {args.size_mib} MiB, seeder libtorrent {lt.__version__} at {peer}, "
            f"encryption forced (RC4) on every side"
        )

        rates: dict[str, list[float]] = {"bittwist": [], "libtorrent": []}
        for round in range(args.rounds):
            for client in ("bittwist", "libtorrent"):
                folder = os.path.join(tmp, f"{client}-{round}")
                result = runChild(client, torrentPath, folder, peer)
                if "error" in result:
                    raise SystemExit(f"{client} failed: {result['error']}")
                if client == "bittwist" and not result.get("encrypted"):
                    raise SystemExit("bittwist's connection was not RC4")
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
