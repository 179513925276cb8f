"""
Time and peak memory of parsing a hostile torrent: one file whose path has
many components (40,000 by default: a 120 KB torrent), which once took
bittwist ~40 s and ~6 GiB (every prefix of the path went into a set).

Each parse runs in a child process of its own, so its peak RSS is its own:
L{bittwist.metainfo.parse} of the bytes, and libtorrent's C{torrent_info} of
the same bytes for comparison.  Run it as a plain script::

    PYTHONPATH=. python benchmarks/bench_metainfo.py [--components 40000]
        [--source DIR] [--timeout 120] [--normal 1000000,2000]

C{--normal PIECES,FILES} also times a big ordinary torrent: that many
pieces (16 KiB each) over that many files in a few folders.

C{--source} imports bittwist from another tree, e.g. an export of an older
commit (C{git archive COMMIT bittwist | tar -x -C /tmp/before}), to measure
before and after in the same run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
path, which, raiseLimits = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with open(path, "rb") as f:
    data = f.read()
if which == "bittwist":
    from bittwist.errors import MetainfoError
    from bittwist import metainfo
    from bittwist.metainfo import parse
    errors = (MetainfoError,)
    if raiseLimits and hasattr(metainfo, "MAX_PATH_DEPTH"):
        # To time the path checks themselves, past the limits that refuse
        # the torrent first.
        metainfo.MAX_PATH_DEPTH = metainfo.MAX_PATH_LENGTH = 10**9
else:
    import libtorrent as lt
    parse = lt.torrent_info
    errors = (RuntimeError, ValueError)
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
wall, cpu = time.perf_counter(), time.process_time()
try:
    result = parse(data)
    outcome = "parsed"
except errors as e:
    outcome = "refused: " + str(e)
print(json.dumps({
    "wall": time.perf_counter() - wall,
    "cpu": time.process_time() - cpu,
    "baselineKiB": baseline,
    "peakKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "outcome": outcome,
}))
"""


def deepPathTorrent(components: int) -> bytes:
    """
    @return: a multi-file torrent of one 1-byte file whose path has
        C{components} components, each C{a}.
    """
    return (
        b"d4:infod5:filesld6:lengthi1e4:pathl" + b"1:a" * components
        + b"eee4:name4:deep12:piece lengthi16384e6:pieces20:" + b"x" * 20 + b"ee"
    )


def normalTorrent(pieces: int, files: int) -> bytes:
    """
    @return: a well-formed multi-file torrent of C{pieces} pieces of 16 KiB
        spread evenly over C{files} files, ten files to a folder, with the
        keys in sorted order as every client writes them.
    """
    pieceLength = 16384
    size, extra = divmod(pieces * pieceLength, files)
    # Written out by hand rather than by bencodepy: building 300,000 file
    # dictionaries would raise this process's peak RSS, which the child
    # inherits as its own.
    entries = b"".join(
        b"d6:lengthi%de4:pathl%d:folder%d%d:file%d.binee"
        % (size + (i < extra), len(b"folder%d" % (i // 10)), i // 10,
           len(b"file%d.bin" % i), i)
        for i in range(files)
    )
    return (
        b"d8:announce31:http://tracker.example/announce13:creation datei1700000000e"
        b"4:infod5:filesl" + entries + b"e4:name6:normal12:piece lengthi%de6:pieces%d:"
        % (pieceLength, 20 * pieces) + bytes(range(20)) * pieces + b"ee"
    )


def measure(
    source: str, torrentPath: str, which: str, timeout: float, raiseLimits: bool = False
) -> dict:
    """
    @return: the child's figures, or C{{"outcome": "timed out"}}.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, source, torrentPath, which,
             "1" if raiseLimits else "0"],
            capture_output=True, text=True, timeout=timeout, check=True,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {timeout:.0f} s: stopped"}
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=40000)
    parser.add_argument("--source", default=ROOT, help="the tree to import bittwist from")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--no-libtorrent", action="store_true")
    parser.add_argument(
        "--raise-limits", action="store_true",
        help="also parse with the path limits raised, to time the path checks themselves",
    )
    parser.add_argument(
        "--normal", metavar="PIECES,FILES",
        help="also time an ordinary torrent of that many pieces and files",
    )
    options = parser.parse_args()

    data = deepPathTorrent(options.components)
    with tempfile.TemporaryDirectory() as folder:
        torrentPath = os.path.join(folder, "deep.torrent")
        with open(torrentPath, "wb") as f:
            f.write(data)
        print(f"torrent: one file, a path of {options.components} components, "
              f"{len(data)} bytes")
        runs = [("bittwist", False)]
        if options.raise_limits:
            runs.append(("bittwist", True))
        if not options.no_libtorrent:
            runs.append(("libtorrent", False))
        report(options, torrentPath, runs)
        if options.normal:
            pieces, files = (int(n) for n in options.normal.split(","))
            data = normalTorrent(pieces, files)
            with open(torrentPath, "wb") as f:
                f.write(data)
            print(f"torrent: {pieces} pieces in {files} files, {len(data)} bytes")
            report(options, torrentPath, [r for r in runs if not r[1]])


def report(options: argparse.Namespace, torrentPath: str, runs: list) -> None:
    """
    Parse the torrent at C{torrentPath} once per run and print the figures.
    """
    for which, raiseLimits in runs:
        figures = measure(options.source, torrentPath, which, options.timeout, raiseLimits)
        label = which if which == "libtorrent" else f"bittwist ({options.source})"
        if raiseLimits:
            label += " with the path limits raised"
        if "wall" not in figures:
            print(f"{label}: {figures['outcome']}")
            continue
        print(
            f"{label}: {figures['wall']:.3f} s wall, {figures['cpu']:.3f} s CPU, "
            f"peak RSS {figures['peakKiB'] / 1024:.1f} MiB "
            f"(baseline {figures['baselineKiB'] / 1024:.1f} MiB); {figures['outcome']}"
        )


if __name__ == "__main__":
    main()
