"""
What the single-purpose benchmarks share (L{benchmarks.bench_download},
L{benchmarks.bench_mse}, L{benchmarks.bench_upload}): the payload and its
torrent, each client in a child process of its own reporting one JSON line,
the download by either client, the rounds, the check that a download is
byte for byte the seed, and the closing comparison line.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.ltpeer import (  # noqa: E402
    addTorrentBlocking,
    blockingSession,
    createTorrentWithLibtorrent,
    digestTree,
    makePayload,
)
from benchmarks.probe import peakRssMiB  # noqa: E402

CLIENTS = ("bittwist", "libtorrent")
"""
The clients compared, in the order each round runs them.
"""


def preparePayload(folder: str, sizeMiB: int) -> tuple[str, str]:
    """
    Write a two-file payload of C{sizeMiB} MiB under C{folder}/seed and a
    libtorrent-made torrent of it.

    @return: the seed folder and the C{.torrent} path.
    """
    seedDir = os.path.join(folder, "seed")
    size = sizeMiB * 2**20
    makePayload(os.path.join(seedDir, "payload"), {"a.bin": size // 2, "b/c.bin": size - size // 2})
    torrentPath = os.path.join(folder, "payload.torrent")
    with open(torrentPath, "wb") as f:
        f.write(createTorrentWithLibtorrent(seedDir, "payload"))
    return seedDir, torrentPath


def checkSame(downloaded: str, seedDir: str, client: str) -> None:
    """
    Stop the benchmark unless C{downloaded} holds exactly the seed's files;
    then delete them.
    """
    if digestTree(downloaded) != digestTree(seedDir):
        raise SystemExit(f"{client}: downloaded files differ from the seed")
    shutil.rmtree(downloaded)


def printBest(rates: dict[str, list[float]]) -> None:
    """
    Print each client's best round and bittwist's ratio to libtorrent.
    """
    best = {client: max(r) for client, r in rates.items()}
    print(
        f"best: bittwist {best['bittwist']:.1f} MiB/s, libtorrent "
        f"{best['libtorrent']:.1f} MiB/s, ratio {best['bittwist'] / best['libtorrent']:.2f}"
    )


def benchmarkParser(defaultSizeMiB: int, childArguments: tuple[str, ...]) -> argparse.ArgumentParser:
    """
    @param childArguments: the names of what a child process is given
        after C{--child}, the client first.
    @return: the options of every single-purpose benchmark: C{--size-mib},
        C{--rounds}, and C{--child} (how the benchmark runs itself as one
        client).
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=defaultSizeMiB)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=len(childArguments), metavar=childArguments)
    return parser


def childMain(arguments: list[str], runners: dict[str, Callable[..., dict]]) -> None:
    """
    Run as one client: C{runners[client](*rest)}, then print its result with
    the process's peak RSS (C{maxrssMiB}) as the last line, in JSON.

    @param arguments: what came after C{--child}, the client first.
    """
    client, *rest = arguments
    result = runners[client](*rest)
    result["maxrssMiB"] = peakRssMiB()
    print(json.dumps(result), flush=True)


def childCommand(script: str, *arguments: str) -> list[str]:
    """
    @return: the command that runs C{script} as a child with C{arguments}.
    """
    return [sys.executable, script, "--child", *arguments]


def runChild(script: str, *arguments: str) -> dict:
    """
    Run C{script} as a child to the end.

    @return: the result it printed last.
    """
    out = subprocess.run(childCommand(script, *arguments), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def runRounds(
    rounds: int,
    sizeMiB: int,
    measure: Callable[[str, int], dict],
    describe: Callable[[float, dict], str],
) -> None:
    """
    Measure each client in turn, C{rounds} times; print each run and then
    the best of each.

    @param measure: runs C{client} in round C{n} and returns its result,
        with its C{seconds}.
    @param describe: the line printed after the round and client, given
        the rate in MiB/s and the result.
    """
    rates: dict[str, list[float]] = {client: [] for client in CLIENTS}
    for round in range(rounds):
        for client in CLIENTS:
            result = measure(client, round)
            if "error" in result:
                raise SystemExit(f"{client} failed: {result['error']}")
            rate = sizeMiB / result["seconds"]
            rates[client].append(rate)
            print(f"round {round + 1} {client:10} {describe(rate, result)}", flush=True)
    printBest(rates)


def downloadWithBittwist(
    torrentPath: str,
    folder: str,
    peer: str,
    config: Any,
    watch: Optional[Callable[[Any], Callable[[], dict]]] = None,
) -> dict:
    """
    Download with a bittwist service from the seeder at C{peer}
    (C{"HOST:PORT"}), with the session's C{config}.

    @param watch: given the torrent before it starts; what it returns is
        called once complete, for more results.
    @return: C{seconds} from start to complete, or C{error}.
    """
    from twisted.internet import reactor

    from bittwist.service import BitTorrentService

    host, port = peer.rsplit(":", 1)
    service = BitTorrentService(
        "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None, config=config
    )
    torrent = service.addTorrent(torrentPath, folder, peers=[(host, int(port))], announce=False)
    more = watch(torrent) if watch is not None else dict
    result: dict = {}

    def done(_: object) -> None:
        result["seconds"] = time.perf_counter() - started
        result.update(more())
        reactor.callLater(0, reactor.stop)

    def failed(f: Any) -> None:
        result["error"] = f.getErrorMessage()
        reactor.stop()

    started = time.perf_counter()
    service.startService()
    torrent.whenComplete().addCallbacks(done, failed)
    reactor.run()
    return result


def downloadWithLibtorrent(torrentPath: str, folder: str, peer: str, **settings: Any) -> dict:
    """
    Download with a libtorrent session of C{settings} from the seeder at
    C{peer} (C{"HOST:PORT"}).

    @return: C{seconds} from connecting to complete.
    """
    session = blockingSession(**settings)
    handle = addTorrentBlocking(session, torrentPath, folder, seed=False)
    started = time.perf_counter()
    host, port = peer.rsplit(":", 1)
    handle.connect_peer((host, int(port)))
    while not handle.status().is_seeding:
        time.sleep(0.01)
    return {"seconds": time.perf_counter() - started}


def downloadRounds(
    script: str, tmp: str, sizeMiB: int, rounds: int, banner: str, **seederSettings: Any
) -> None:
    """
    The download benchmark: a libtorrent seeder of C{seederSettings} on
    127.0.0.1; in each round, C{script} run as a child downloads from it
    as bittwist, then as libtorrent; every download is checked against the
    seed.

    @param banner: what the first line says after the payload and seeder.
    """
    import libtorrent as lt

    seedDir, torrentPath = preparePayload(tmp, sizeMiB)
    seeder = blockingSession(**seederSettings)
    addTorrentBlocking(seeder, torrentPath, seedDir, seed=True)
    peer = f"127.0.0.1:{seeder.listen_port()}"
    print(f"payload {sizeMiB} MiB, seeder libtorrent {lt.__version__} at {peer}{banner}")

    def measure(client: str, round: int) -> dict:
        folder = os.path.join(tmp, f"{client}-{round}")
        result = runChild(script, client, torrentPath, folder, peer)
        if "error" not in result:
            checkSame(folder, seedDir, client)
        return result

    runRounds(
        rounds,
        sizeMiB,
        measure,
        lambda rate, r: f"{rate:7.1f} MiB/s ({r['seconds']:.2f} s), peak RSS {r['maxrssMiB']:.0f} MiB",
    )
