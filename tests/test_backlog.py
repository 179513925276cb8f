"""
Tests for L{bittwist.torrent.backlog}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.torrent.backlog import MAX_WRITE_BACKLOG, WriteBacklog


class WriteBacklogTests(SynchronousTestCase):
    """
    Tests for L{WriteBacklog}.
    """

    def test_defaultLimit(self) -> None:
        """
        A backlog holds L{MAX_WRITE_BACKLOG} bytes by default, and is full
        from then on.
        """
        backlog = WriteBacklog()
        self.assertEqual(backlog.limit, MAX_WRITE_BACKLOG)
        backlog.size += MAX_WRITE_BACKLOG - 1
        self.assertFalse(backlog.full)
        backlog.size += 1
        self.assertTrue(backlog.full)

    def test_wakesWaitersOnceWhenRoom(self) -> None:
        """
        The refills waiting for room are called once each, in order, when
        written bytes take the backlog below its limit; a refill waiting
        twice is called once; none is called while it stays full.
        """
        backlog = WriteBacklog(10)
        calls = []

        def first() -> None:
            calls.append("first")

        def second() -> None:
            calls.append("second")

        backlog.size += 12
        backlog.waitForRoom(first)
        backlog.waitForRoom(second)
        backlog.waitForRoom(first)
        backlog.written(2)
        self.assertEqual(calls, [])
        backlog.written(1)
        self.assertEqual(calls, ["first", "second"])
        backlog.written(5)
        self.assertEqual(calls, ["first", "second"])
        self.assertEqual(backlog.size, 4)
