# -*- test-case-name: tests.test_storage -*-
"""
L{RunningHashes}: pieces hashed as their blocks are written in order, so
that verifying them reads nothing back.
"""

import hashlib
from typing import Any, Callable, Iterator

from bittwist.errors import StorageError
from bittwist.filestorage.shared import HASH_CHUNK, ZEROS, Absent, Span

__all__ = ["MAX_RUNNING_HASHES", "RunningHashes"]

MAX_RUNNING_HASHES = 256
"""
How many pieces one L{bittwist.storage.FileStorage} hashes as their blocks
are written, at most; beyond that the oldest is forgotten (and read back
when verified).  Pieces in flight are far fewer; a piece abandoned half-way
keeps its place until then.
"""


class RunningHashes:
    """
    The SHA-1 of each piece's first bytes, as written, and how many those
    are.  Invariant: a running hash covers exactly the piece's first bytes
    as they are on disk; a write over bytes it covers ends it.  Blocks
    written beyond them (out of order: a seeder's disk reads may finish in
    any order, and pieces shared by peers arrive interleaved) are noted;
    once the gap before them is filled they are read back from the page
    cache and hashed then, at most a piece's worth, rather than the whole
    piece at its check.  Only ever used on the pool thread running the
    storage's jobs.
    """

    def __init__(
        self,
        pieceLength: int,
        segments: Callable[[int, int], Iterator[tuple[Span, int, int]]],
        readChunks: Callable[[int, int, Callable[[Any], None]], None],
    ) -> None:
        """
        @param pieceLength: the torrent's piece length.
        @param segments: cuts a byte range of the stream at file boundaries
            (see L{bittwist.storage._StorageBase._segments}).
        @param readChunks: reads a byte range of the stream in chunks,
            pad bytes as zeros (see
            L{bittwist.filestorage.reader.BlockReader.readChunks}).
        """
        self._pieceLength = pieceLength
        self._segments = segments
        self._readChunks = readChunks
        # Per piece: its SHA-1 so far, how many of its first bytes that
        # covers, and the blocks written beyond those (their start in the
        # piece to their length), or None.
        self._running: dict[int, tuple[Any, int, dict[int, int] | None]] = {}

    def written(self, start: int, data: bytes, padded: bool) -> None:
        """
        Carry on the running hash of the piece C{data} was written to, if it
        continues what is hashed so far (and then the blocks written beyond
        that it joins up with); note it if it lies beyond; start one if it
        begins the piece.  Pad bytes are hashed as the zeros they read back
        as, whatever a peer sent.

        @param start: where C{data} was written in the stream.
        @param padded: whether C{data} spans pad bytes.
        """
        index, begin = divmod(start, self._pieceLength)
        running = self._running
        entry = running.pop(index, None)
        if entry is None or (begin == 0 and entry[1]):
            if entry is None and len(running) >= MAX_RUNNING_HASHES:
                del running[next(iter(running))]
            sha1, hashed, ahead = hashlib.sha1(), 0, None
        else:
            sha1, hashed, ahead = entry
        if begin > hashed:
            if ahead is None:
                ahead = {}
            ahead[begin] = len(data)
            running[index] = (sha1, hashed, ahead)
            return
        if begin < hashed:
            # Written over bytes already hashed: the hash is no more.
            return
        if padded:
            view = memoryview(data)
            position = 0
            for span, _, size in self._segments(start, len(data)):
                sha1.update(ZEROS[:size] if span.pad else view[position:position + size])
                position += size
        else:
            sha1.update(data)
        hashed += len(data)
        if ahead:
            caught = self._catchUp(index, sha1, hashed, ahead)
            if caught is None:
                return
            hashed = caught
        running[index] = (sha1, hashed, ahead)

    def _catchUp(self, index: int, sha1: Any, hashed: int, ahead: dict[int, int]) -> int | None:
        """
        Hash the blocks written beyond the first C{hashed} bytes of piece
        C{index} that now follow on from them, read back.

        @return: how many of the piece's first bytes are hashed now;
            C{None} if reading failed (the piece is to be read back whole,
            which reports the error).
        """
        length = 0
        while hashed + length in ahead:
            length += ahead.pop(hashed + length)
        if length:
            try:
                self._readChunks(index * self._pieceLength + hashed, length, sha1.update)
            except (Absent, StorageError):
                return None
        return hashed + length

    def forget(self, index: int) -> None:
        """
        End the running hash of piece C{index}, if any: a write to it
        failed, and part of it may be on disk.
        """
        self._running.pop(index, None)

    def take(self, index: int, size: int) -> bytes | None:
        """
        End the running hash of piece C{index}.

        @param size: the piece's size.
        @return: its digest if it covers the whole piece (pad bytes ending
            the piece count as the zeros they are), else C{None}: the piece
            is to be read back.
        """
        entry = self._running.pop(index, None)
        if entry is None:
            return None
        sha1, hashed, _ = entry
        if hashed < size:
            # Pad bytes that end the piece are never downloaded: they are
            # zeros.
            start = index * self._pieceLength
            rest = list(self._segments(start + hashed, size - hashed))
            if all(span.pad for span, _, _ in rest):
                for _, _, length in rest:
                    # From the shared zeros, not a new buffer per piece.
                    while length:
                        n = min(length, HASH_CHUNK)
                        sha1.update(ZEROS[:n])
                        length -= n
                hashed = size
        if hashed == size:
            return sha1.digest()
        return None
