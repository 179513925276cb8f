# -*- test-case-name: tests.test_state -*-
"""
The lock that keeps a state folder to one process: C{flock} on its
L{LOCK_NAME} file, which holds the owner's pid.  The kernel releases it
when the process ends, however it ends, so a crash leaves no stale lock.
"""

import errno
import fcntl
import os
import stat
from typing import Optional

from twisted.logger import Logger

from bittwist.errors import StateFolderError, StateFolderLocked

__all__ = ["FolderLock", "LOCK_NAME", "MAX_PID_SIZE"]

LOCK_NAME = "lock"
"""
The lock file in a state folder: L{FolderLock.acquire} locks it and writes
its pid in it.
"""

MAX_PID_SIZE = 32
"""
How much of a lock file is read for the pid of its owner.
"""


class FolderLock:
    """
    This process's hold on a state folder.

    @ivar path: the folder.
    """

    log = Logger()

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        """
        Whether L{acquire} has taken the folder (and L{release} not given it
        back).
        """
        return self._fd is not None

    def acquire(self) -> None:
        """
        Create the folder (private to this user) if needed, lock its lock
        file and write this process's pid in it.  Called again while held,
        it only writes the pid again: a daemon that forked since holds the
        same lock under a new pid.

        @raise StateFolderLocked: if another L{FolderLock}, in this process
            or another, holds the folder.
        @raise StateFolderError: if the folder or its lock file cannot be
            created or opened.
        """
        if self._fd is not None:
            _writePid(self._fd)
            return
        self._fd = self._lock()

    def release(self) -> None:
        """
        Give the folder back.  The lock file stays: deleting it would let
        two processes lock two different files of the same name.  Does
        nothing if not held.
        """
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)

    def _lock(self) -> int:
        """
        @return: the descriptor of the locked lock file, kept open (and not
            inherited by programs run) while this process owns the folder.
        @raise StateFolderLocked: if another holds the lock.
        @raise StateFolderError: if the folder or lock file is unusable.
        """
        lockPath = os.path.join(self.path, LOCK_NAME)
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            fd = os.open(
                lockPath, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                0o600,
            )
        except OSError as e:
            raise StateFolderError(
                self.path, f"cannot create {lockPath} ({e.strerror or e})"
            ) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise StateFolderError(
                    self.path, f"{lockPath} is not a regular file", "delete it"
                )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateFolderLocked(self.path, _readPid(fd)) from None
            except OSError as e:
                if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                    raise StateFolderError(
                        self.path, f"cannot lock {lockPath} ({e.strerror or e})"
                    ) from None
                self.log.warn(
                    "Cannot lock the state folder {path} ({error}): nothing stops "
                    "another bittwist from using it at the same time",
                    path=self.path,
                    error=e.strerror or str(e),
                )
            _writePid(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd


def _writePid(fd: int) -> None:
    """
    Write this process's pid in the lock file open on C{fd}; best effort,
    as it only serves the message of L{StateFolderLocked}.
    """
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    except OSError:
        pass


def _readPid(fd: int) -> Optional[int]:
    """
    @return: the pid in the lock file open on C{fd}, if it holds one.
    """
    try:
        text = os.pread(fd, MAX_PID_SIZE, 0).strip()
    except OSError:
        return None
    if not text.isdigit() or len(text) > 10:
        return None
    return int(text) or None
