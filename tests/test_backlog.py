"""
Tests for L{bittwist.torrent.backlog}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.torrent.backlog import MAX_WRITE_BACKLOG, WAKE_FRACTION, WriteBacklog


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

    def test_requestedCountsAgainstBudget(self) -> None:
        """
        Bytes requested and bytes not yet written count against one budget,
        C{inFlightLimit}: L{WriteBacklog.room} is what is left of it, and
        the backlog is full once none is.
        """
        backlog = WriteBacklog(limit=100, inFlightLimit=40)
        backlog.requested += 25
        backlog.size += 10
        self.assertEqual(backlog.room(), 5)
        self.assertFalse(backlog.full)
        backlog.requested += 5
        self.assertEqual(backlog.room(), 0)
        self.assertTrue(backlog.full)

    def test_releasedWakesOneAtATime(self) -> None:
        """
        Requests given up (L{WriteBacklog.released}) make room too; the
        waiting refills are called in order while enough of the budget is
        free, and the ones left wait for more.
        """
        backlog = WriteBacklog(inFlightLimit=WAKE_FRACTION * 10)
        calls = []

        def first() -> None:
            calls.append("first")
            backlog.requested += 10

        def second() -> None:
            calls.append("second")

        backlog.requested = WAKE_FRACTION * 10
        backlog.waitForRoom(first)
        backlog.waitForRoom(second)
        backlog.released(5)
        self.assertEqual(calls, [])
        backlog.released(5)
        self.assertEqual(calls, ["first"])
        backlog.released(10)
        self.assertEqual(calls, ["first", "second"])

    def test_refillWaitingAgainCalledOncePerWake(self) -> None:
        """
        A refill that asks to wait again when woken, with room left, is not
        called again in the same wake.
        """
        backlog = WriteBacklog(inFlightLimit=WAKE_FRACTION * 10)
        calls = []

        def refill() -> None:
            calls.append("refill")
            backlog.waitForRoom(refill)

        backlog.requested = WAKE_FRACTION * 10
        backlog.waitForRoom(refill)
        backlog.released(WAKE_FRACTION * 10)
        self.assertEqual(calls, ["refill"])
        backlog.released(0)
        self.assertEqual(calls, ["refill", "refill"])
