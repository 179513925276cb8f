# -*- test-case-name: tests.test_storage -*-
"""
Benchmark L{bittwist.storage.FileStorage}: write a torrent's worth of blocks
on a real reactor, the way a download does (a bounded number of blocks in
flight, each piece verified as soon as its last block is queued), and report
the throughput and peak memory.

Run: C{PYTHONPATH=. python benchmarks/bench_storage.py [--size-mib 256]}
"""

import argparse
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time

import bencodepy
from twisted.internet import defer, task

from bittwist.metainfo import parse
from bittwist.storage import FileStorage

__all__ = ["main"]

MIB = 1024 * 1024


def makeMetainfo(totalLength, pieceLength, numFiles, pool):
    """
    A torrent of C{numFiles} files of equal size whose pieces cycle through
    C{pool}.
    """
    numPieces = -(-totalLength // pieceLength)
    hashes = [hashlib.sha1(piece).digest() for piece in pool]
    pieces = b"".join(hashes[i % len(pool)] for i in range(numPieces))
    fileLength = totalLength // numFiles
    lengths = [fileLength] * (numFiles - 1) + [totalLength - fileLength * (numFiles - 1)]
    info = {
        b"name": b"bench",
        b"piece length": pieceLength,
        b"pieces": pieces,
        b"files": [
            {b"length": length, b"path": [b"file%03d" % i]}
            for i, length in enumerate(lengths)
        ],
    }
    return parse(bencodepy.encode({b"info": info}), "<bench>")


@defer.inlineCallbacks
def run(reactor, options):
    pieceLength = options.piece_kib * 1024
    blockSize = options.block_kib * 1024
    totalLength = options.size_mib * MIB
    pool = [os.urandom(pieceLength) for _ in range(16)]
    blocks = [
        [piece[b:b + blockSize] for b in range(0, pieceLength, blockSize)]
        for piece in pool
    ]
    metainfo = makeMetainfo(totalLength, pieceLength, options.files, pool)
    folder = tempfile.mkdtemp(prefix="bench-storage-", dir=options.dir)
    store = FileStorage(metainfo, folder, reactor)

    window = defer.DeferredSemaphore(options.window)
    verifies = []
    started = time.perf_counter()
    try:
        for index in range(metainfo.numPieces):
            for block in range(len(blocks[0])):
                yield window.acquire()
                d = store.writeBlock(index, block * blockSize, blocks[index % 16][block])
                d.addBoth(lambda result: (window.release(), result)[1])
            verifies.append(store.verifyPiece(index))
        results = yield defer.gatherResults(verifies, consumeErrors=True)
        elapsed = time.perf_counter() - started
        yield store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    if not all(results):
        print(f"FAILED: {results.count(False)} pieces did not verify", file=sys.stderr)
        raise SystemExit(1)
    rssMib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"wrote and verified {options.size_mib} MiB in {metainfo.numPieces} pieces of "
        f"{options.piece_kib} KiB, {options.block_kib} KiB blocks, {options.files} files, "
        f"{options.window} blocks in flight: {elapsed:.2f} s, "
        f"{options.size_mib / elapsed:.0f} MiB/s, peak RSS {rssMib:.0f} MiB"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--piece-kib", type=int, default=256)
    parser.add_argument("--block-kib", type=int, default=16)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--window", type=int, default=1024,
                        help="blocks written but not yet acknowledged")
    parser.add_argument("--dir", default=None, help="where to write (default: $TMPDIR)")
    options = parser.parse_args(argv)
    task.react(run, [options])


if __name__ == "__main__":
    main()
