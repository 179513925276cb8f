"""
Tests for L{bittwist.torrent.lifecycle}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import InternalError, StorageError, TorrentStopped
from bittwist.torrent.lifecycle import (
    TRANSITIONS,
    Lifecycle,
    TorrentInput as I,
    TorrentState as S,
)


class TransitionTableTests(SynchronousTestCase):
    """
    The table of moves.
    """

    def test_everyStateCanStop(self) -> None:
        """
        Every state but C{stopped} can be stopped, and stopping leads to
        C{stopped}.
        """
        for state in S:
            if state is not S.STOPPED:
                self.assertIs(TRANSITIONS[(state, I.STOP)], S.STOPPED)
        self.assertNotIn((S.STOPPED, I.STOP), TRANSITIONS)

    def test_everyStateReachable(self) -> None:
        """
        Every state of a torrent is reachable from C{stopped}
        (C{fetching metadata} is a magnet's, before the torrent exists).
        """
        reached = {S.STOPPED}
        frontier = [S.STOPPED]
        while frontier:
            state = frontier.pop()
            for (source, _), target in TRANSITIONS.items():
                if source is state and target not in reached:
                    reached.add(target)
                    frontier.append(target)
        self.assertEqual(reached, set(S) - {S.FETCHING_METADATA})

    def test_finishedAndErrorCanResume(self) -> None:
        """
        C{finished} resumes to seeding, C{error} to checking.
        """
        self.assertIs(TRANSITIONS[(S.FINISHED, I.RESUME_COMPLETE)], S.SEEDING)
        self.assertIs(TRANSITIONS[(S.ERROR, I.RESUME_CHECK)], S.CHECKING)

    def test_stateValues(self) -> None:
        """
        States compare equal to the names the JSON API shows.
        """
        self.assertEqual(
            [state.value for state in S],
            [
                "stopped",
                "fetching metadata",
                "checking",
                "downloading",
                "seeding",
                "paused",
                "finished",
                "error",
            ],
        )
        self.assertEqual(S.SEEDING, "seeding")


class LifecycleTests(SynchronousTestCase):
    """
    Tests for L{Lifecycle}.
    """

    def setUp(self) -> None:
        self.lifecycle = Lifecycle("x")

    def test_process(self) -> None:
        """
        C{process} moves by the table and says where from and to.
        """
        self.assertEqual(self.lifecycle.process(I.START), (S.STOPPED, S.CHECKING))
        self.assertEqual(self.lifecycle.process(I.CHECKED_INCOMPLETE), (S.CHECKING, S.DOWNLOADING))
        self.assertIs(self.lifecycle.state, S.DOWNLOADING)

    def test_forbiddenMove(self) -> None:
        """
        A move the table does not allow raises L{InternalError} naming it and
        the state, and changes nothing.
        """
        error = self.assertRaises(InternalError, self.lifecycle.process, I.PAUSE)
        self.assertEqual(str(error), "x: 'pause' is not possible while stopped")
        self.assertIs(self.lifecycle.state, S.STOPPED)
        self.assertFalse(self.lifecycle.allows(I.PAUSE))
        self.assertTrue(self.lifecycle.allows(I.START))

    def test_whenComplete(self) -> None:
        """
        C{whenComplete} fires on C{complete}, and at once after it.
        """
        d = self.lifecycle.whenComplete()
        self.assertNoResult(d)
        self.lifecycle.complete()
        self.assertIsNone(self.successResultOf(d))
        self.assertIsNone(self.successResultOf(self.lifecycle.whenComplete()))

    def test_whenCompleteStopped(self) -> None:
        """
        Stopping before completion fails every waiter with
        L{TorrentStopped} naming the torrent.
        """
        d = self.lifecycle.whenComplete()
        self.lifecycle.stopped()
        error = self.failureResultOf(d, TorrentStopped).value
        self.assertEqual(str(error), "x: stopped before the download completed")

    def test_whenCompleteFailed(self) -> None:
        """
        A failure fails the waiters, and those that come while in error,
        with the error; checking again clears it.
        """
        self.lifecycle.process(I.START)
        d = self.lifecycle.whenComplete()
        error = StorageError("disk full")
        self.lifecycle.failed(error)
        self.lifecycle.process(I.FAIL)
        self.assertIs(self.failureResultOf(d, StorageError).value, error)
        self.assertIs(self.failureResultOf(self.lifecycle.whenComplete(), StorageError).value, error)
        self.lifecycle.process(I.RESUME_CHECK)
        self.assertIsNone(self.lifecycle.error)
        self.assertNoResult(self.lifecycle.whenComplete())
