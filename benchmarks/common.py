"""
What the benchmarks share: the payload and its torrent, the check that a
download is byte for byte the seed, and the closing comparison line.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.ltpeer import createTorrentWithLibtorrent, digestTree, makePayload  # noqa: E402


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
    Stop the benchmark unless C{downloaded} holds exactly the seed's files.
    """
    if digestTree(downloaded) != digestTree(seedDir):
        raise SystemExit(f"{client}: downloaded files differ from the seed")


def printBest(rates: dict[str, list[float]]) -> None:
    """
    Print each client's best round and bittwist's ratio to libtorrent.
    """
    best = {client: max(r) for client, r in rates.items()}
    print(
        f"best: bittwist {best['bittwist']:.1f} MiB/s, libtorrent "
        f"{best['libtorrent']:.1f} MiB/s, ratio {best['bittwist'] / best['libtorrent']:.2f}"
    )
