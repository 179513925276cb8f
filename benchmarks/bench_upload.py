"""
Upload throughput and peak memory: bittwist and libtorrent side by side,
each seeding the same payload to a fresh libtorrent leecher on 127.0.0.1,
each seeder in a child process of its own (so peak RSS is its own).

    python benchmarks/bench_upload.py [--size-mib 256] [--rounds 2] [--profile FILE]

Prints MiB/s and the seeder's peak RSS per client and round, and the
bittwist/libtorrent ratio, which means more than the absolute figures on a
shared machine. With C{--profile}, the bittwist seeder runs under cProfile
and writes its stats to FILE.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import libtorrent as lt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.ltpeer import addTorrentBlocking, blockingSession  # noqa: E402
from benchmarks.common import (  # noqa: E402
    benchmarkParser,
    checkSame,
    childCommand,
    childMain,
    preparePayload,
    runRounds,
)
from benchmarks.probe import runReactor  # noqa: E402


def childBittwist(torrentPath: str, folder: str, profile: str) -> dict:
    """
    Seed with bittwist: print the listening port once seeding, then seed
    until stdin closes.

    @return: the bytes uploaded.
    """
    from twisted.internet import reactor
    from twisted.internet.protocol import Protocol
    from twisted.internet.stdio import StandardIO

    from bittwist.config import SessionConfig
    from bittwist.mse import Policy
    from bittwist.service import BitTorrentService

    service = BitTorrentService(
        "tcp:0:interface=127.0.0.1",
        reactor=reactor,
        progressInterval=None,
        # BENCH_ENCRYPTION=off compares with a bittwist that had no MSE.
        config=SessionConfig(encryption=Policy(os.environ.get("BENCH_ENCRYPTION", "prefer"))),
    )
    torrent = service.addTorrent(torrentPath, folder, announce=False)

    class UntilEOF(Protocol):
        def connectionLost(self, reason: object = None) -> None:
            service.stopService().addBoth(lambda _: reactor.stop())

    def ready(_: None) -> None:
        if torrent.state != "seeding":
            print(json.dumps({"error": f"not seeding but {torrent.state}"}), flush=True)
            reactor.stop()
            return
        print(json.dumps({"port": service.session.port}), flush=True)

    service.startService()
    torrent.whenComplete().addCallback(ready)
    StandardIO(UntilEOF())
    runReactor(reactor, profile)
    return {"uploaded": torrent.status().uploaded}


def childLibtorrent(torrentPath: str, folder: str, profile: str) -> dict:
    """
    Seed with libtorrent, the same way.
    """
    session = blockingSession()
    handle = addTorrentBlocking(session, torrentPath, folder, seed=True)
    print(json.dumps({"port": session.listen_port()}), flush=True)
    sys.stdin.read()
    return {"uploaded": handle.status().total_payload_upload}


def leech(torrentPath: str, folder: str, port: int) -> float:
    """
    Download with a fresh libtorrent session from 127.0.0.1:C{port}.

    @return: seconds from connecting to having everything.
    """
    # Plaintext: this measures serving, not RC4 (bench_mse.py does), and
    # libtorrent would otherwise try MSE first.
    session = blockingSession(out_enc_policy=int(lt.enc_policy.disabled))
    handle = addTorrentBlocking(session, torrentPath, folder, seed=False)
    started = time.perf_counter()
    handle.connect_peer(("127.0.0.1", port))
    deadline = started + 600
    while not handle.status().is_seeding:
        if time.perf_counter() > deadline:
            raise SystemExit("leecher: no progress in 600 s")
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    del handle, session
    return seconds


def runRound(client: str, torrentPath: str, seedDir: str, leechDir: str, profile: str) -> dict:
    child = subprocess.Popen(
        childCommand(__file__, client, torrentPath, seedDir, profile or ""),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    ready = json.loads(child.stdout.readline())
    if "error" in ready:
        raise SystemExit(f"{client}: {ready['error']}")
    seconds = leech(torrentPath, leechDir, ready["port"])
    child.stdin.close()
    report = json.loads(child.stdout.readline())
    child.wait(timeout=60)
    report["seconds"] = seconds
    return report


def main() -> None:
    parser = benchmarkParser(256, ("CLIENT", "TORRENT", "DIR", "PROFILE"))
    parser.add_argument("--profile", default="", help="cProfile the bittwist seeder into FILE")
    args = parser.parse_args()
    if args.child:
        childMain(args.child, {"bittwist": childBittwist, "libtorrent": childLibtorrent})
        return

    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        seedDir, torrentPath = preparePayload(tmp, args.size_mib)
        print(f"payload {args.size_mib} MiB, leecher libtorrent {lt.__version__}")

        def measure(client: str, round: int) -> dict:
            leechDir = os.path.join(tmp, f"leech-{client}-{round}")
            result = runRound(client, torrentPath, seedDir, leechDir, args.profile)
            checkSame(leechDir, seedDir, client)
            return result

        runRounds(
            args.rounds,
            args.size_mib,
            measure,
            lambda rate, r: (
                f"seeding {rate:7.1f} MiB/s ({r['seconds']:.2f} s, {r['uploaded'] / 2**20:.0f} MiB "
                f"sent), seeder peak RSS {r['maxrssMiB']:.0f} MiB"
            ),
        )


if __name__ == "__main__":
    main()
