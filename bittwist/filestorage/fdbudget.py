# -*- test-case-name: tests.test_fdbudget -*-
"""
L{DescriptorBudget}: how many files every L{bittwist.storage.FileStorage} of
a process keeps open together, sized by the process's open-files limit.
"""

import resource
import threading
from typing import Optional

__all__ = ["MIN_OPEN_FILES", "MAX_SHARED_BUDGET", "DescriptorBudget", "raiseOpenFilesLimit", "sharedBudget"]

MIN_OPEN_FILES = 8
"""
How many files a storage may keep open however spent the budget is: a
torrent being written is never down to one file at a time.  The budget can
be exceeded by this many per storage.
"""


class DescriptorBudget:
    """
    A count of the files the storages sharing it hold open, against a
    limit; each storage closes its own least recently used files while the
    count is over it.  Storages run their jobs on different pool threads:
    the count is kept under a lock, taken only when a file is opened or
    closed, never for a file already open.

    @ivar limit: how many files may be open together.
    @ivar inUse: how many are.
    """

    def __init__(self, limit: int) -> None:
        """
        @param limit: how many files may be open together.
        """
        self.limit = limit
        self.inUse = 0
        self._lock = threading.Lock()

    def opened(self) -> bool:
        """
        Count a file opened.

        @return: whether the budget is now over its limit.
        """
        with self._lock:
            self.inUse += 1
            return self.inUse > self.limit

    def closed(self, count: int = 1) -> bool:
        """
        Count C{count} files closed.

        @return: whether the budget is still over its limit.
        """
        with self._lock:
            self.inUse -= count
            return self.inUse > self.limit


def raiseOpenFilesLimit() -> int:
    """
    Raise this process's soft limit of open files to its hard limit, as
    Transmission does at start-up: the soft limit is often 1024, far below
    what a torrent of many files or a thousand torrents want.

    @return: the soft limit now.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        # An unlimited hard limit is refused by some systems: ask for a
        # large finite one instead.
        wanted = 2**20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


MAX_SHARED_BUDGET = 4096
"""
The most files the shared budget keeps open, however high the limit: enough
for torrents of thousands of files downloading at once without closing any,
and descriptors in the low thousands keep working with a reactor built on
C{select()} for the sockets opened before them.
"""

_shared: Optional[DescriptorBudget] = None
_sharedLock = threading.Lock()


def sharedBudget() -> DescriptorBudget:
    """
    @return: the budget every storage of the process shares unless given
        its own: half the open-files limit (raised to the hard limit first),
        the other half left for sockets and everything else, at most
        L{MAX_SHARED_BUDGET}.
    """
    global _shared
    with _sharedLock:
        if _shared is None:
            limit = min(MAX_SHARED_BUDGET, raiseOpenFilesLimit() // 2)
            _shared = DescriptorBudget(max(4 * MIN_OPEN_FILES, limit))
        return _shared
