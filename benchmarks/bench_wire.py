"""
Throughput of the peer wire codec (L{bittwist.wire}).

Decodes 256 MiB of block payload sent as 16 KiB C{piece} messages, fed in
64 KiB chunks (so messages are split at every possible place), then in a few
other chunk sizes; and encodes the same number of messages, whole and as
header-only.  Run it as a plain script::

    python benchmarks/bench_wire.py [--mib 256]

libtorrent moves 115-125 MiB/s to itself on loopback on our test machine; the
decoder's target is at least 300 MiB/s.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bittwist.wire import (  # noqa: E402
    BLOCK_SIZE,
    Decoder,
    Piece,
    encode,
    encodePieceHeader,
)

MIB = 1024 * 1024
# Blocks in one cycle of the stream: 16 MiB of payload.  The cycle is cut
# into chunks once and fed again and again, so that the timing is of the
# decoder, not of slicing the input.
CYCLE_BLOCKS = 1024


def makeChunks(chunkSize: int) -> tuple[list[bytes], int]:
    """
    @return: one cycle of the stream cut into C{chunkSize} chunks, and the
        number of wire bytes in it.
    """
    block = bytes(range(256)) * (BLOCK_SIZE // 256)
    stream = b"".join(
        encode(Piece(i // 16, (i % 16) * BLOCK_SIZE, block))
        for i in range(CYCLE_BLOCKS)
    )
    chunks = [stream[i : i + chunkSize] for i in range(0, len(stream), chunkSize)]
    return chunks, len(stream)


def benchDecode(totalMiB: int, chunkSize: int) -> float:
    """
    Decode C{totalMiB} of block payload fed in C{chunkSize} chunks.

    @return: the payload rate in MiB/s.
    """
    chunks, wireBytes = makeChunks(chunkSize)
    cycles = max(1, totalMiB * MIB // (CYCLE_BLOCKS * BLOCK_SIZE))
    decoder = Decoder(expectHandshake=False)
    receive = decoder.receiveData
    received = 0
    start = time.perf_counter()
    for _ in range(cycles):
        for chunk in chunks:
            for message in receive(chunk):
                received += len(message.block)
    elapsed = time.perf_counter() - start
    assert received == cycles * CYCLE_BLOCKS * BLOCK_SIZE, received
    assert decoder.bufferedBytes == 0
    return received / MIB / elapsed


def benchEncode(totalMiB: int) -> tuple[float, float]:
    """
    Encode C{totalMiB} of block payload as C{piece} messages.

    @return: the payload rate in MiB/s of L{encode} and of
        L{encodePieceHeader} (header only, as a sender writing header and
        block separately does).
    """
    block = bytes(BLOCK_SIZE)
    count = totalMiB * MIB // BLOCK_SIZE
    pieces = [Piece(i // 16, (i % 16) * BLOCK_SIZE, block) for i in range(1024)]
    start = time.perf_counter()
    for i in range(count):
        encode(pieces[i & 1023])
    whole = count * BLOCK_SIZE / MIB / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(count):
        encodePieceHeader(i >> 4, (i & 15) * BLOCK_SIZE, BLOCK_SIZE)
    header = count * BLOCK_SIZE / MIB / (time.perf_counter() - start)
    return whole, header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--mib", type=int, default=256, help="MiB of payload")
    options = parser.parse_args()
    print(f"payload: {options.mib} MiB of {BLOCK_SIZE}-byte piece messages")
    for chunkSize, label in [
        (65536, "64 KiB chunks"),
        (65521, "65521-byte chunks (prime)"),
        (1460, "1460-byte chunks (one TCP segment)"),
        (1 << 20, "1 MiB chunks"),
    ]:
        rate = benchDecode(options.mib, chunkSize)
        print(f"decode, {label:36}: {rate:8.0f} MiB/s")
    whole, header = benchEncode(options.mib)
    print(f"encode, {'whole Piece (header + block copy)':36}: {whole:8.0f} MiB/s")
    print(f"encode, {'encodePieceHeader only':36}: {header:8.0f} MiB/s")


if __name__ == "__main__":
    main()
