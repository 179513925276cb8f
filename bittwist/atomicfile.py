# -*- test-case-name: tests.test_atomicfile -*-
"""
Files replaced whole: written beside their place, synced, then renamed
over it, so that a crash leaves the old version or the new one, never half
of one.  Shared by the state folder and the DHT's routing table file.
"""

import os
import tempfile

__all__ = ["temporaryFile", "writeAtomically"]


def temporaryFile(path: str) -> tuple[int, str]:
    """
    Create the temporary file a write of C{path} goes through, in the same
    folder (for C{os.replace}): C{.}, C{path}'s name, 8 random characters,
    C{.tmp}.

    @return: its descriptor and path.
    """
    folder = os.path.dirname(path)
    return tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path), suffix=".tmp")


def writeAtomically(path: str, data: bytes) -> None:
    """
    Replace the file at C{path} with C{data}: readers see the old file or
    the new one, whole, even after a crash.

    @raise OSError: if it cannot be written; the temporary file is removed.
    """
    fd, temporary = temporaryFile(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
