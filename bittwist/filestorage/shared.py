# -*- test-case-name: tests.test_storage -*-
"""
What the parts of L{bittwist.storage.FileStorage} share: one file of the
layout (L{Span}), OS errors as L{StorageError}, the per-thread read buffer.
"""

import errno
import os
import threading

from bittwist.errors import StorageError

__all__ = [
    "HASH_CHUNK", "ZEROS", "Absent", "Span", "readBuffer", "pwriteAll", "unlink", "osError",
]

HASH_CHUNK = 1024 * 1024
"""Pieces are hashed from disk in chunks of at most this many bytes."""

ZEROS = memoryview(bytes(HASH_CHUNK))
"""
Zeros to hash pad bytes with: a view, so that a slice of it copies nothing
(a piece of a small file can be mostly pad).
"""

_perThread = threading.local()


class Absent(Exception):
    """
    Raised on the worker thread when data to read is not stored (missing or
    short file); never leaves the storage.
    """


class Span:
    """
    One file of the layout, as the storage uses it.

    @ivar offset: where it starts in the torrent's byte stream.
    @ivar length: its size.
    @ivar pad: whether it is a BEP 47 pad file.
    @ivar path: its path on disk (C{None} for a pad file).
    @ivar index: its position among the spans.
    """

    __slots__ = ("offset", "length", "pad", "path", "index")

    def __init__(self, offset: int, length: int, pad: bool, path: str | None, index: int):
        self.offset = offset
        self.length = length
        self.pad = pad
        self.path = path
        self.index = index


def readBuffer() -> memoryview:
    """
    @return: the calling thread's buffer of L{HASH_CHUNK} bytes to read
        into: per pool thread, not per torrent, so idle torrents hold none.
    """
    buffer = getattr(_perThread, "buffer", None)
    if buffer is None:
        buffer = _perThread.buffer = memoryview(bytearray(HASH_CHUNK))
    return buffer


def pwriteAll(fd: int, data: memoryview, offset: int) -> None:
    """
    Write all of C{data} at C{offset} of C{fd}, going on after short writes.

    @raise OSError: if a write fails.
    """
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


def unlink(path: str) -> None:
    """
    Delete the file C{path}, if there is one.

    @raise StorageError: if it cannot be deleted.
    """
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise osError(e, "deleting", path) from None


def osError(error: OSError, action: str, path: str) -> StorageError:
    """
    Turn an C{OSError} into a L{StorageError} a user can act on.

    @param action: C{"writing"}, C{"reading"} or C{"opening"}.
    """
    code = error.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        message = (
            f"disk full {action} {path}: free some space and restart; "
            f"verified pieces are kept"
        )
    elif code in (errno.EACCES, errno.EPERM):
        message = (
            f"permission denied {action} {path}: make the download folder "
            f"writable by this user"
        )
    elif code == errno.EROFS:
        message = f"read-only file system {action} {path}: choose another download folder"
    elif code == errno.EISDIR:
        message = (
            f"{path} is a folder where the torrent has a file: move it out of "
            f"the way and restart"
        )
    elif code in (errno.ENOTDIR, errno.EEXIST):
        message = (
            f"a file is in the way of the folders of {path}: move it out of "
            f"the way and restart"
        )
    elif code == errno.ELOOP:
        message = f"{path} is a symbolic link: refusing to follow it; remove it and restart"
    elif code in (errno.EMFILE, errno.ENFILE):
        message = f"too many open files {action} {path}: raise the open-files limit (ulimit -n)"
    else:
        message = f"error {action} {path}: {error.strerror or error}"
    return StorageError(message, path)
