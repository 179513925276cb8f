"""
The benchmark suite: bittwist beside libtorrent, downloading and uploading
large payloads, as whole processes, with a table of ratios measured in the
same run.

    python -m benchmarks [--payloads 1g,1g-2000] [--directions down,up,down8,up8]
                         [--rounds 1] [--with resume,many] [--many-count 1000]

Payloads: C{128m}, C{256m}, C{1g}, C{4g} (one file of that size), C{1g-2000}
(1 GiB in 2,000 files).  A payload that does not fit on the disk of the
temporary folder (it needs three times its size, ten with C{up8}) is
skipped, and said so.

For each payload and direction, the same libtorrent peer is on the other
side of both runs:

 - C{down}: a libtorrent seeder; the leecher is bittwist, then libtorrent.
 - C{up}: a libtorrent leecher; the seeder is bittwist, then libtorrent.
 - C{down8}: eight libtorrent seeders, each a session of its own; the one
   leecher is bittwist, then libtorrent.
 - C{up8}: eight libtorrent leechers, each a session of its own, all
   starting at once; the one seeder is bittwist, then libtorrent. The
   leechers also trade pieces among themselves (they learn of each other
   through peer exchange), as in a real swarm: the rate is the eight
   downloads together, the CPU per GiB is per GiB the seeder uploaded.

With C{--with}, it then runs L{benchmarks.bench_resume} (the resume check
of a complete 1 GiB download against C{hashlib.sha1} alone) and
L{benchmarks.bench_many} (many torrents in one process; start-up from a
state folder holding them all).

Each client under test runs in a child process of its own and reports its
CPU seconds and peak RSS; bittwist's also reports the longest reactor stall
(L{benchmarks.probe.StallProbe}).  The machine these run on is shared and
noisy: the ratios of one run mean more than the rates.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PAYLOADS = {
    # name: (total MiB, number of files)
    "128m": (128, 1),
    "256m": (256, 1),
    "1g": (1024, 1),
    "1g-2000": (1024, 2000),
    "4g": (4096, 1),
}


def _bittwistService(reactor: Any) -> Any:
    from bittwist.service import BitTorrentService

    return BitTorrentService(
        "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None
    )


SWARM = 8
"""
The peers on the other side in the C{down8} and C{up8} directions.
"""


def _addresses(peers: str) -> list[tuple[str, int]]:
    """
    @return: the addresses of C{peers}, C{"HOST:PORT,HOST:PORT..."}.
    """
    result = []
    for peer in peers.split(","):
        host, port = peer.rsplit(":", 1)
        result.append((host, int(port)))
    return result


def childDownloadBittwist(torrentPath: str, folder: str, peers: str, profile: str) -> dict:
    """
    Download with bittwist from the seeders at C{peers} (see L{_addresses}).
    """
    from twisted.internet import reactor

    from benchmarks.probe import StallProbe, cpuSeconds, runReactor, threadCount
    from bittwist.heap import freezeStartupObjects

    service = _bittwistService(reactor)
    torrent = service.addTorrent(torrentPath, folder, peers=_addresses(peers), announce=False)
    probe = StallProbe(reactor)
    result: dict = {}
    started = time.perf_counter()
    cpuBefore = cpuSeconds()

    def done(_: object) -> None:
        result["seconds"] = time.perf_counter() - started
        result["cpu"] = cpuSeconds() - cpuBefore
        result["threads"] = threadCount()
        probe.stop()
        reactor.callLater(0, reactor.stop)

    def failed(f: Any) -> None:
        result["error"] = f.getErrorMessage()
        reactor.stop()

    service.startService()
    # As twistd's plugin does once the reactor runs (bittwist.tap).
    freezeStartupObjects()
    probe.start()
    torrent.whenComplete().addCallbacks(done, failed)
    runReactor(reactor, profile)
    result.update(probe.figures())
    probe.printTraces()
    return result


def childDownloadLibtorrent(torrentPath: str, folder: str, peers: str, profile: str) -> dict:
    """
    Download with libtorrent from the seeders at C{peers}.
    """
    from benchmarks.probe import cpuSeconds
    from tests.ltpeer import addTorrentBlocking, blockingSession

    session = blockingSession()
    handle = addTorrentBlocking(session, torrentPath, folder, seed=False)
    started = time.perf_counter()
    cpuBefore = cpuSeconds()
    for address in _addresses(peers):
        handle.connect_peer(address)
    while not handle.status().is_seeding:
        time.sleep(0.01)
    return {"seconds": time.perf_counter() - started, "cpu": cpuSeconds() - cpuBefore}


def childSeedBittwist(torrentPath: str, folder: str, profile: str) -> dict:
    """
    Seed with bittwist: print the listening port once seeding, then seed
    until stdin closes.
    """
    from twisted.internet import reactor
    from twisted.internet.protocol import Protocol
    from twisted.internet.stdio import StandardIO

    from benchmarks.probe import StallProbe, cpuSeconds, runReactor, systemSeconds, threadCount
    from bittwist.heap import freezeStartupObjects

    service = _bittwistService(reactor)
    torrent = service.addTorrent(torrentPath, folder, announce=False)
    probe = StallProbe(reactor)
    result: dict = {}

    class UntilEOF(Protocol):
        def connectionLost(self, reason: object = None) -> None:
            result["cpu"] = cpuSeconds() - result.get("cpuReady", 0.0)
            result["sys"] = systemSeconds() - result.get("sysReady", 0.0)
            result["threads"] = threadCount()
            probe.stop()
            service.stopService().addBoth(lambda _: reactor.stop())

    def ready(_: None) -> None:
        if torrent.state != "seeding":
            print(json.dumps({"error": f"not seeding but {torrent.state}"}), flush=True)
            return
        result["cpuReady"] = cpuSeconds()
        result["sysReady"] = systemSeconds()
        probe.start()
        print(json.dumps({"port": service.session.port}), flush=True)

    service.startService()
    # As twistd's plugin does once the reactor runs (bittwist.tap).
    freezeStartupObjects()
    # Complete fires as the check ends, just before the state moves on.
    torrent.whenComplete().addCallback(lambda _: reactor.callLater(0, ready, None))
    StandardIO(UntilEOF())
    runReactor(reactor, profile)
    result.update(probe.figures())
    result["uploaded"] = torrent.status().uploaded
    probe.printTraces()
    return result


def childSeedLibtorrent(torrentPath: str, folder: str, profile: str) -> dict:
    """
    Seed with libtorrent, the same way.
    """
    from benchmarks.probe import cpuSeconds, systemSeconds
    from tests.ltpeer import addTorrentBlocking, blockingSession

    session = blockingSession()
    handle = addTorrentBlocking(session, torrentPath, folder, seed=True)
    cpuReady = cpuSeconds()
    sysReady = systemSeconds()
    print(json.dumps({"port": session.listen_port()}), flush=True)
    sys.stdin.read()
    return {
        "cpu": cpuSeconds() - cpuReady,
        "sys": systemSeconds() - sysReady,
        "uploaded": handle.status().total_payload_upload,
    }


def childMain(args: list[str]) -> None:
    from benchmarks.probe import peakRssMiB

    kind, client, *rest = args
    if kind == "down":
        run = childDownloadBittwist if client == "bittwist" else childDownloadLibtorrent
    else:
        run = childSeedBittwist if client == "bittwist" else childSeedLibtorrent
    result = run(*rest)
    result["peakRssMiB"] = peakRssMiB()
    print(json.dumps(result), flush=True)


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.suite", "--child", *args]


def download(client: str, torrentPath: str, folder: str, peers: str, profile: str) -> dict:
    out = subprocess.run(
        _child("down", client, torrentPath, folder, peers, profile),
        check=True, capture_output=True, text=True,
    )
    if os.environ.get("BENCH_STALL_TRACE"):
        print(out.stderr, file=sys.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def upload(
    client: str, torrentPath: str, seedDir: str, leechDirs: list[str], profile: str
) -> dict:
    """
    Seed with C{client} in a child process to a libtorrent leecher in each
    of C{leechDirs}, all started at once.
    """
    import libtorrent as lt

    from tests.ltpeer import addTorrentBlocking, blockingSession

    child = subprocess.Popen(
        _child("up", client, torrentPath, seedDir, profile),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    ready = json.loads(child.stdout.readline())
    if "error" in ready:
        raise SystemExit(f"{client}: {ready['error']}")
    sessions = [blockingSession(out_enc_policy=int(lt.enc_policy.disabled)) for _ in leechDirs]
    handles = [
        addTorrentBlocking(session, torrentPath, leechDir, seed=False)
        for session, leechDir in zip(sessions, leechDirs)
    ]
    started = time.perf_counter()
    for handle in handles:
        handle.connect_peer(("127.0.0.1", ready["port"]))
    deadline = started + 900
    while not all(handle.status().is_seeding for handle in handles):
        if time.perf_counter() > deadline:
            raise SystemExit("leechers: not done in 900 s")
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    del handles, sessions
    child.stdin.close()
    report = json.loads(child.stdout.readline())
    child.wait(timeout=120)
    report["seconds"] = seconds
    return report


def preparePayload(folder: str, name: str) -> tuple[str, str, int]:
    """
    Write payload C{name} and a libtorrent-made torrent of it under C{folder}.

    @return: the seed folder, the C{.torrent} path, the size in MiB.
    """
    from tests.ltpeer import createTorrentWithLibtorrent, makePayload

    sizeMiB, count = PAYLOADS[name]
    seedDir = os.path.join(folder, "seed")
    size = sizeMiB * 2**20
    if count == 1:
        files = {"payload.bin": size}
        makePayload(seedDir, files)
        torrentName = "payload.bin"
    else:
        each = size // count
        files = {f"f{i // 100:02}/{i:05}.bin": each for i in range(count - 1)}
        files[f"f{(count - 1) // 100:02}/{count - 1:05}.bin"] = size - each * (count - 1)
        makePayload(os.path.join(seedDir, "payload"), files)
        torrentName = "payload"
    torrentPath = os.path.join(folder, f"{name}.torrent")
    with open(torrentPath, "wb") as f:
        f.write(createTorrentWithLibtorrent(seedDir, torrentName))
    return seedDir, torrentPath, sizeMiB


def startSeeder(torrentPath: str, seedDir: str) -> Any:
    """
    @return: a libtorrent session seeding C{seedDir}, once it has checked
        it in full (in seed mode libtorrent hashes each piece the first time
        it sends it, which would slow whichever client goes first).
    """
    from tests.ltpeer import addTorrentBlocking, blockingSession

    seeder = blockingSession()
    handle = addTorrentBlocking(seeder, torrentPath, seedDir, seed=False)
    while not handle.status().is_seeding:
        time.sleep(0.05)
    return seeder


def fits(folder: str, sizeMiB: int, copies: int = 3) -> bool:
    """
    @return: whether the seed and C{copies - 1} downloaded copies fit under
        C{folder}.
    """
    return shutil.disk_usage(folder).free > (copies + 0.2) * sizeMiB * 2**20


def row(payload: str, direction: str, client: str, sizeMiB: int, r: dict) -> dict:
    """
    @return: the table's row for one run: MiB/s of every download together,
        CPU seconds per GiB the client moved (for a seeder, what it
        uploaded, if it says).
    """
    moved = sizeMiB * (SWARM if direction == "up8" else 1)
    gib = r["uploaded"] / 2**30 if direction.startswith("up") and r.get("uploaded") else sizeMiB / 1024
    return {
        "payload": payload,
        "direction": direction,
        "client": client,
        "rate": moved / r["seconds"],
        "seconds": r["seconds"],
        "cpuPerGiB": r["cpu"] / gib,
        "sysPerGiB": r["sys"] / gib if "sys" in r else None,
        "uploadedGiB": r["uploaded"] / 2**30 if r.get("uploaded") else None,
        "peakRssMiB": r["peakRssMiB"],
        "stallMs": r.get("stallMs"),
        "stallCpuMs": r.get("stallCpuMs"),
        "stallGc": r.get("stallGc"),
        "busyMs": r.get("busyMs"),
        "busyGc": r.get("busyGc"),
        "reactorCpuPerGiB": r["reactorCpu"] / gib if "reactorCpu" in r else None,
        "threads": r.get("threads"),
    }


def printTable(rows: list[dict]) -> None:
    print()
    print(
        f"{'payload':8} {'dir':5} {'client':10} {'MiB/s':>7} {'ratio':>6} "
        f"{'CPU s/GiB':>9} {'CPU ratio':>9} {'reactor':>7} {'peak RSS':>9} {'stall ms':>8} "
        f"{'busy ms':>7} {'threads':>7}"
    )
    for r in rows:
        base = next(
            b for b in rows
            if b["payload"] == r["payload"] and b["direction"] == r["direction"]
            and b["client"] == "libtorrent" and b["round"] == r["round"]
        )
        reactorCpu = r.get("reactorCpuPerGiB")
        print(
            f"{r['payload']:8} {r['direction']:5} {r['client']:10} {r['rate']:7.1f} "
            f"{r['rate'] / base['rate']:6.2f} {r['cpuPerGiB']:9.2f} "
            f"{r['cpuPerGiB'] / base['cpuPerGiB']:9.2f} "
            + (f"{reactorCpu:7.2f}" if reactorCpu is not None else f"{'':7}")
            + f" {r['peakRssMiB']:7.0f} M "
            + _stall(r.get("stallMs"), r.get("stallGc"), 8)
            + " " + _stall(r.get("busyMs"), r.get("busyGc"), 7)
            + (f" {r['threads']:7}" if r.get("threads") is not None else "")
        )
    print(
        "\nratio: MiB/s against libtorrent in the same round and direction "
        "(down: libtorrent seeds to the client; up: the client seeds to libtorrent)"
        "\nreactor: the reactor thread's CPU s/GiB; stall: the longest reactor delay by wall time;"
        " busy: the longest by the reactor thread's own CPU; g1, g2: a garbage collection"
        " of that generation ran during it"
    )


def _stall(ms: Optional[float], gc: Optional[int], width: int) -> str:
    """
    @return: a stall's milliseconds in C{width} columns, marked C{gN} if a
        collection of generation N ran during it (blank for libtorrent).
    """
    if ms is None:
        return " " * width
    mark = f" g{gc}" if gc is not None and gc > 0 else ""
    return f"{ms:.0f}{mark}".rjust(width)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--payloads", default="1g,1g-2000", help="comma-separated: " + ", ".join(PAYLOADS))
    parser.add_argument(
        "--directions", default="down,up", help="comma-separated: down, up, down8, up8"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", default="", help="cProfile each bittwist child into FILE.N")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    parser.add_argument("--with", dest="extras", default="", help="also run: resume, many (comma-separated)")
    parser.add_argument("--many-count", type=int, default=1000, help="torrents for --with many")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        childMain(args.child)
        return

    import libtorrent as lt

    from tests.ltpeer import digestTree

    rows: list[dict] = []
    profiles = 0
    for payload in filter(None, args.payloads.split(",")):
        tmp = tempfile.mkdtemp(prefix=f"bench-{payload}-")
        try:
            sizeMiB = PAYLOADS[payload][0]
            copies = 2 + (SWARM if "up8" in args.directions else 1)
            if not fits(tmp, sizeMiB, copies):
                print(
                    f"{payload}: skipped, needs {(copies + 0.2) * sizeMiB / 1024:.1f} GiB free in {tmp}",
                    flush=True,
                )
                continue
            print(f"{payload}: writing the payload", flush=True)
            seedDir, torrentPath, sizeMiB = preparePayload(tmp, payload)
            expected = digestTree(seedDir)
            seeders: list[Any] = []
            for direction in args.directions.split(","):
                wanted = {"down": 1, "down8": SWARM}.get(direction, 0)
                while len(seeders) < wanted:
                    seeders.append(startSeeder(torrentPath, seedDir))
                peers = ",".join(f"127.0.0.1:{s.listen_port()}" for s in seeders[:wanted])
                for round in range(args.rounds):
                    for client in ("bittwist", "libtorrent"):
                        profile = ""
                        if args.profile and client == "bittwist":
                            profiles += 1
                            profile = f"{args.profile}.{profiles}"
                        other = os.path.join(tmp, f"{direction}-{client}-{round}")
                        if direction.startswith("down"):
                            r = download(client, torrentPath, other, peers, profile)
                            others = [other]
                        else:
                            others = [other] if direction == "up" else [
                                f"{other}-{i}" for i in range(SWARM)
                            ]
                            r = upload(client, torrentPath, seedDir, others, profile)
                        if "error" in r:
                            raise SystemExit(f"{payload} {direction} {client}: {r['error']}")
                        for folder in others:
                            if digestTree(folder) != expected:
                                raise SystemExit(
                                    f"{payload} {direction} {client}: files differ from the seed"
                                )
                            shutil.rmtree(folder)
                        line = row(payload, direction, client, sizeMiB, r)
                        line["round"] = round
                        rows.append(line)
                        stall = line["stallMs"]
                        kernel = line["sysPerGiB"]
                        uploaded = line["uploadedGiB"]
                        print(
                            f"{payload} {direction} round {round + 1} {client:10} "
                            f"{line['rate']:7.1f} MiB/s, {line['cpuPerGiB']:.2f} CPU s/GiB"
                            + (f" ({kernel:.2f} in the kernel)" if kernel is not None else "")
                            + (f", {uploaded:.2f} GiB uploaded" if uploaded is not None else "")
                            + f", peak RSS {line['peakRssMiB']:.0f} MiB"
                            + (
                                f", reactor {line['reactorCpuPerGiB']:.2f} CPU s/GiB, longest stall "
                                f"{stall:.0f} ms ({line['stallCpuMs']:.0f} ms CPU), busy {line['busyMs']:.0f} ms"
                                if stall is not None else ""
                            ),
                            flush=True,
                        )
            del seeders
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nlibtorrent {lt.__version__}, {os.cpu_count()} CPUs")
    if rows:
        printTable(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    extras = set(filter(None, args.extras.split(",")))
    if "resume" in extras:
        print("\nresume check:", flush=True)
        subprocess.run([sys.executable, "-m", "benchmarks.bench_resume"], check=True)
    if "many" in extras:
        print("\nmany torrents:", flush=True)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_many", "--count", str(args.many_count)], check=True
        )


if __name__ == "__main__":
    main()
