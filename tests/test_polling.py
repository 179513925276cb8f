"""
Tests for L{tests.polling}: waiting for a condition by polling.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.polling import pollUntil


class PollUntilTests(SynchronousTestCase):
    """
    Tests for L{pollUntil}, on a L{Clock}.
    """

    def test_firesOnceTrue(self) -> None:
        """
        It fires at the first poll that finds the condition true, asking
        again (C{retry}) before each wait.
        """
        clock = Clock()
        state = {"done": False, "retries": 0}

        def retry() -> None:
            state["retries"] += 1

        d = pollUntil(lambda: state["done"], 10, "done", interval=1, retry=retry, reactor=clock)
        clock.advance(1)
        self.assertNoResult(d)
        state["done"] = True
        clock.advance(1)
        self.successResultOf(d)
        self.assertEqual(state["retries"], 2)

    def test_timesOut(self) -> None:
        """
        After the timeout it fails, saying what it waited for and what
        C{describe} adds.
        """
        clock = Clock()
        d = pollUntil(lambda: False, 3, "godot", describe=lambda: "still nothing", interval=1, reactor=clock)
        clock.advance(5)
        message = str(self.failureResultOf(d, AssertionError).value)
        self.assertEqual(message, "timed out after 3 s waiting for godot\nstill nothing")
