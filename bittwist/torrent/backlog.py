# -*- test-case-name: tests.test_backlog -*-
"""
The bytes a session has asked for and not yet written: one budget for every
torrent's download.
"""

from typing import Callable

__all__ = ["WriteBacklog", "MAX_WRITE_BACKLOG", "MAX_IN_FLIGHT"]

MAX_WRITE_BACKLOG = 16 * 2**20
"""
Bytes received but not yet on disk, for a whole session. Past this, no more
blocks are requested until the disk catches up: memory (and the objects the
garbage collector walks) stays bounded when the network is faster than the
disk, however many torrents download at once.
"""

MAX_IN_FLIGHT = 24 * 2**20
"""
Bytes requested and not yet on disk (in flight on the network, or received
and waiting for the disk), for a whole session. Bounding what was received
alone let a thousand torrents each ask for a whole pipeline at once, and the
answers, arriving together, were all in memory before any reached the disk.

This, not L{MAX_WRITE_BACKLOG}, bounds the blocks in memory: what was asked
for comes, whether or not the disk keeps up. At 48 MiB, eight fast peers
ahead of the disk put 45 MiB of blocks in memory, the process over 100 MiB;
at 24 MiB each of eight still has about 190 requests in flight (3 MiB, a
tenth of a second of its rate on loopback), one peer alone its full
L{bittwist.torrent.pipeline.MAX_REQUEST_DEPTH}. (Not reading from peers
past the backlog's limit bounded memory as well, but cost the reactor
thread a third more CPU: a receive window reopened has the sender's
transmission run in the receiver's system calls, on loopback.)
"""

WAKE_FRACTION = 16
"""
Waiting downloads are woken while this fraction of L{MAX_IN_FLIGHT} (or of
a backlog's own limit) is free: each then sends a batch of requests, not a
request or two per block written, each a write that wakes its peer.
"""



class WriteBacklog:
    """
    Counts the bytes requested and the bytes on their way to disk, across the
    downloads sharing it, and wakes the downloads that stopped requesting, one
    at a time, while it has room enough again (L{WAKE_FRACTION}).

    @ivar size: the bytes received and not yet written.
    @ivar requested: the bytes requested and not yet received.
    @ivar limit: the most bytes received and not written before downloads
        stop requesting.
    @ivar inFlightLimit: the most bytes requested or received and not
        written before downloads stop requesting.
    """

    def __init__(self, limit: int = MAX_WRITE_BACKLOG, inFlightLimit: int = MAX_IN_FLIGHT) -> None:
        self.size = 0
        self.requested = 0
        self.limit = limit
        self.inFlightLimit = inFlightLimit
        # Called once each when there is room again: the downloads that
        # found it full, by their refill method (a dict keeps them once,
        # in order).
        self._waiting: dict[Callable[[], None], None] = {}
        self._waking = False

    @property
    def full(self) -> bool:
        """
        Whether the backlog or the bytes in flight are at or over a limit.
        """
        size = self.size
        return size >= self.limit or size + self.requested >= self.inFlightLimit

    def room(self) -> int:
        """
        @return: how many more bytes may be requested now.
        """
        size = self.size
        if size >= self.limit:
            return 0
        return max(0, self.inFlightLimit - size - self.requested)

    def waitForRoom(self, refill: Callable[[], None]) -> None:
        """
        Call C{refill} once when there is room again.
        """
        self._waiting[refill] = None

    def written(self, size: int) -> None:
        """
        C{size} bytes reached the disk (or failed to): take them off, and
        wake waiting downloads if that made room enough.
        """
        self.size -= size
        if self._waiting:
            self._wake()

    def released(self, size: int) -> None:
        """
        C{size} bytes requested will not come (cancelled, choked, rejected,
        the peer gone): take them off, and wake waiting downloads if that
        made room enough.
        """
        self.requested -= size
        if self._waiting:
            self._wake()

    def _wake(self) -> None:
        # One at a time, in the order they came, while there is room: waking
        # all of a thousand downloads for the room of a few blocks would have
        # most of them find it full again, in one reactor turn.
        if self._waking:
            return
        self._waking = True
        try:
            # Each called once per wake: a refill that asks to wait again
            # waits for the next.
            waiting, self._waiting = self._waiting, {}
            threshold = self.inFlightLimit // WAKE_FRACTION
            while waiting and self.room() >= threshold:
                refill = next(iter(waiting))
                del waiting[refill]
                refill()
            if waiting:
                # Not woken: ahead of the ones that asked during this wake.
                waiting.update(self._waiting)
                self._waiting = waiting
        finally:
            self._waking = False
