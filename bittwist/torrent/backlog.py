# -*- test-case-name: tests.test_backlog -*-
"""
The bytes a session has received and not yet written: one bound for every
torrent's download.
"""

from typing import Callable

__all__ = ["WriteBacklog", "MAX_WRITE_BACKLOG"]

MAX_WRITE_BACKLOG = 16 * 2**20
"""
Bytes received but not yet on disk, for a whole session. Past this, no more
blocks are requested until the disk catches up: memory (and the objects the
garbage collector walks) stays bounded when the network is faster than the
disk, however many torrents download at once.
"""


class WriteBacklog:
    """
    Counts the bytes on their way to disk, across the downloads sharing it,
    and wakes the downloads that stopped requesting once it has room again.

    @ivar size: the bytes received and not yet written.
    @ivar limit: the most bytes before downloads stop requesting.
    """

    def __init__(self, limit: int = MAX_WRITE_BACKLOG) -> None:
        self.size = 0
        self.limit = limit
        # Called once each when there is room again: the downloads that
        # found it full, by their refill method (a dict keeps them once,
        # in order).
        self._waiting: dict[Callable[[], None], None] = {}

    @property
    def full(self) -> bool:
        """
        Whether the backlog is at or over its limit.
        """
        return self.size >= self.limit

    def waitForRoom(self, refill: Callable[[], None]) -> None:
        """
        Call C{refill} once when the backlog drops below its limit.
        """
        self._waiting[refill] = None

    def written(self, size: int) -> None:
        """
        C{size} bytes reached the disk (or failed to): take them off, and
        wake the waiting downloads if that made room.
        """
        wasFull = self.size >= self.limit
        self.size -= size
        if wasFull and self.size < self.limit and self._waiting:
            waiting, self._waiting = self._waiting, {}
            for refill in waiting:
                refill()
