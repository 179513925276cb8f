"""
Tests for L{bittwist.waiters}: Deferreds waiting for one outcome.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import TorrentStopped
from bittwist.waiters import Waiters


class WaitersTests(SynchronousTestCase):
    """
    Tests for L{Waiters}.
    """

    def test_fireFiresEveryWaiterInOrder(self) -> None:
        """
        L{Waiters.fire} fires every Deferred handed out, in order, with the
        result; none fires before.
        """
        waiters: Waiters[str] = Waiters()
        fired: list[tuple[int, str]] = []
        first, second = waiters.wait(), waiters.wait()
        first.addCallback(lambda result: fired.append((1, result)))
        second.addCallback(lambda result: fired.append((2, result)))
        self.assertEqual((fired, len(waiters)), ([], 2))
        waiters.fire("done")
        self.assertEqual(fired, [(1, "done"), (2, "done")])

    def test_firedOnce(self) -> None:
        """
        Fired Deferreds are forgotten: a second outcome reaches only those
        who waited since, including those who waited from a callback.
        """
        waiters: Waiters[int] = Waiters()
        early = waiters.wait()
        late = []
        early.addCallback(lambda _: late.append(waiters.wait()))
        waiters.fire(1)
        self.assertEqual(self.successResultOf(early), None)
        self.assertNoResult(late[0])
        waiters.fire(2)
        self.assertEqual(self.successResultOf(late[0]), 2)
        self.assertEqual(len(waiters), 0)

    def test_fail(self) -> None:
        """
        L{Waiters.fail} fails every waiting Deferred with the reason.
        """
        waiters: Waiters[None] = Waiters()
        ds = [waiters.wait(), waiters.wait()]
        waiters.fail(TorrentStopped("x"))
        for d in ds:
            self.failureResultOf(d, TorrentStopped)
        self.assertEqual(len(waiters), 0)
