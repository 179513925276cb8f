# -*- test-case-name: tests.test_state -*-
"""
The file operations of a state folder: bounded reads, atomic writes, and
removing what an interrupted write left behind.
"""

import os
import re
import stat

from bittwist.atomicfile import temporaryFile, writeAtomically

__all__ = ["DamagedFile", "readBounded", "writeAtomically", "temporaryFile", "removeTemporaries"]

TEMPORARY = re.compile(r"\.(?:[0-9a-f]{40}\.(?:json|torrent)|settings\.json)[a-z0-9_]{8}\.tmp")
"""
The names L{temporaryFile} gives (C{tempfile.mkstemp} adds 8 characters of
C{[a-z0-9_]}); nothing else in a state folder is removed as stale.
"""


class DamagedFile(Exception):
    """
    A state file cannot be used; the message says why.  Never leaves the
    state package: a damaged file is logged and skipped.

    @ivar missing: whether the file is not there at all.
    """

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def readBounded(path: str, limit: int, what: str) -> bytes:
    """
    Read at most C{limit + 1} bytes of a regular file (a FIFO or a device
    in its place would block or never end).

    @param what: how the file is named in messages.
    @raise DamagedFile: if it is missing (then its C{missing} is true),
        cannot be read, or is not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        missing = isinstance(e, FileNotFoundError)
        raise DamagedFile(f"{what} cannot be read ({e.strerror or e})", missing) from None
    with os.fdopen(fd, "rb") as f:
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise DamagedFile(f"{what} is not a regular file")
            # Not read(limit + 1) at once: that allocates the whole limit
            # (64 MiB for a .torrent) whatever the file's size.
            size = min(status.st_size, limit) + 1
            data = f.read(size)
            if len(data) == size and size <= limit:
                data += f.read(limit + 1 - size)  # it grew meanwhile
            return data
        except OSError as e:
            raise DamagedFile(f"{what} cannot be read ({e.strerror or e})") from None


def removeTemporaries(folder: str) -> tuple[int, list[tuple[str, str]]]:
    """
    Delete the stale temporary files of L{writeAtomically} in C{folder}:
    regular files named as L{temporaryFile} names them, nothing else.  Run
    it when no write is under way.

    @return: how many were removed, and the path and error of each that
        could not be.
    """
    removed = 0
    failures: list[tuple[str, str]] = []
    try:
        with os.scandir(folder) as entries:
            stale = [
                entry.path for entry in entries
                if TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
            ]
    except OSError as e:
        return 0, [(folder, e.strerror or str(e))]
    for path in stale:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            failures.append((path, e.strerror or str(e)))
        else:
            removed += 1
    return removed, failures
