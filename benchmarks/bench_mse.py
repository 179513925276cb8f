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

import os
import sys
import tempfile
from typing import Any, Callable

import libtorrent as lt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    benchmarkParser,
    childMain,
    downloadRounds,
    downloadWithBittwist,
    downloadWithLibtorrent,
)

#: libtorrent settings: encrypted connections only, RC4 only.
FORCED_RC4 = {
    "out_enc_policy": int(lt.enc_policy.forced),
    "in_enc_policy": int(lt.enc_policy.forced),
    "allowed_enc_level": int(lt.enc_level.rc4),
}


def watchEncryption(torrent: Any) -> Callable[[], dict]:
    """
    Note whether each peer connection seen is encrypted.

    @return: gives an C{error} unless every one was.
    """
    from bittwist.encryption import isEncrypted

    encrypted: list[bool] = []
    torrent.addObserver(lambda event: encrypted.extend(isEncrypted(p) for p in torrent.peers))
    return lambda: {} if encrypted and all(encrypted) else {"error": "the connection was not RC4"}


def childBittwist(torrentPath: str, folder: str, peer: str) -> dict:
    from bittwist.config import SessionConfig
    from bittwist.mse import Policy

    # The engine's own policy, as --encryption require sets it: every
    # connection, out and in, is RC4 or nothing.
    config = SessionConfig(encryption=Policy.REQUIRE)
    return downloadWithBittwist(torrentPath, folder, peer, config, watchEncryption)


def childLibtorrent(torrentPath: str, folder: str, peer: str) -> dict:
    return downloadWithLibtorrent(torrentPath, folder, peer, **FORCED_RC4)


def main() -> None:
    args = benchmarkParser(128, ("CLIENT", "TORRENT", "DIR", "PEER")).parse_args()
    if args.child:
        childMain(args.child, {"bittwist": childBittwist, "libtorrent": childLibtorrent})
        return
    with tempfile.TemporaryDirectory(prefix="bench-mse-") as tmp:
        banner = ", encryption forced (RC4) on every side"
        downloadRounds(__file__, tmp, args.size_mib, args.rounds, banner, **FORCED_RC4)


if __name__ == "__main__":
    main()
