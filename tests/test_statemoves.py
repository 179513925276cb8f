"""
Tests for L{bittwist.torrent.statemoves}: each state move applied to the
lifecycle, then carried out on the torrent's parts.
"""

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bittwist import events
from bittwist.bitfield import Bitfield
from bittwist.errors import InternalError, StorageError, TorrentStopped
from bittwist.torrent.lifecycle import TorrentState
from bittwist.torrent.statemoves import StateMoves
from tests.faketorrent import FakePeer, FakeTorrent
from tests.test_status import makeMetainfo

S = TorrentState


class StateMovesTests(SynchronousTestCase):
    """
    Tests for L{StateMoves}.
    """

    def setUp(self) -> None:
        self.metainfo = makeMetainfo(self)
        self.checked: Deferred[Bitfield] = Deferred()

    def makeMoves(
        self, state: TorrentState = S.STOPPED, complete: bool = False, **kw: Any
    ) -> StateMoves:
        """
        @param state: the state the torrent is in.
        @param complete: whether its download says every wanted piece is in.
        """
        answers: dict[str, Any] = {
            "storage": {"check": lambda: self.checked, "close": lambda: succeed(None)},
            "sources": {"stop": lambda: succeed(None)},
            "download": {
                "complete": lambda: self.complete,
                "verifiedPieces": lambda: self.verified,
            },
        }
        self.complete = complete
        self.verified: Any = Bitfield(self.metainfo.numPieces, [0])
        self.torrent = FakeTorrent(self.metainfo, state, **answers, **kw)
        return StateMoves(self.torrent)  # type: ignore[arg-type]

    def states(self) -> list[str]:
        """
        @return: the states the observers were told of.
        """
        return [e.state for e in self.torrent.events if isinstance(e, events.StateChanged)]

    def test_startChecksThenDownloads(self) -> None:
        """
        L{StateMoves.start} checks storage; once checked with pieces
        missing, the torrent downloads: download and upload on, the swarm
        seeking, the periodic work awake, the sources started, dialling.
        """
        moves = self.makeMoves()
        d = moves.start(False, None, ())
        self.assertIs(self.torrent.lifecycle.state, S.CHECKING)
        self.assertEqual(self.torrent.called("storage"), [("check",)])
        self.checked.callback(Bitfield(self.metainfo.numPieces, [0]))
        self.successResultOf(d)
        self.assertIs(self.torrent.lifecycle.state, S.DOWNLOADING)
        self.assertEqual(self.states(), [S.CHECKING, S.DOWNLOADING])
        self.assertTrue(self.torrent.download.active)
        self.assertTrue(self.torrent.upload.active)
        self.assertTrue(self.torrent.swarm.seeking)
        self.assertEqual(self.torrent.called("periodic"), [("wake",)])
        self.assertEqual(self.torrent.called("sources"), [("start", self.torrent)])
        self.assertIn(("connectMore",), self.torrent.called("swarm"))

    def test_checkedCompleteSeeds(self) -> None:
        """
        Checked with every wanted piece in, the torrent seeds, not seeking
        peers, and L{whenComplete} fires.
        """
        moves = self.makeMoves(complete=True)
        moves.start(False, None, ())
        self.checked.callback(Bitfield(self.metainfo.numPieces, range(self.metainfo.numPieces)))
        self.assertIs(self.torrent.lifecycle.state, S.SEEDING)
        self.assertFalse(self.torrent.swarm.seeking)
        self.assertIn(("seedingStarted",), self.torrent.called("upload"))
        self.successResultOf(self.torrent.lifecycle.whenComplete())

    def test_fastResumeTrusts(self) -> None:
        """
        With pieces trusted, storage hashes only the ones to hash again.
        """
        moves = self.makeMoves()
        trusted = Bitfield(self.metainfo.numPieces, [1])
        moves.start(False, trusted, [2])
        self.assertEqual(self.torrent.called("storage"), [("check", trusted, [2])])

    def test_pauseWhileChecking(self) -> None:
        """
        Paused while checking, the torrent pauses once checked, contacting
        nobody.
        """
        moves = self.makeMoves()
        moves.start(False, None, ())
        self.successResultOf(moves.pause())
        self.checked.callback(Bitfield(self.metainfo.numPieces))
        self.assertIs(self.torrent.lifecycle.state, S.PAUSED)
        self.assertEqual(self.torrent.called("sources"), [])

    def test_pauseAndResume(self) -> None:
        """
        Pausing halts the swarm and stops the sources; resuming backs off
        no more and downloads again.
        """
        moves = self.makeMoves(S.DOWNLOADING)
        self.successResultOf(moves.pause())
        self.assertIs(self.torrent.lifecycle.state, S.PAUSED)
        self.assertIn(("halt", "paused"), self.torrent.called("swarm"))
        self.assertEqual(self.torrent.called("periodic"), [("sleep",)])
        self.assertEqual(self.torrent.called("sources"), [("stop",)])
        moves.resume()
        self.assertIs(self.torrent.lifecycle.state, S.DOWNLOADING)
        self.assertIn(("resetBackoff",), self.torrent.called("swarm"))

    def test_pauseNotAllowed(self) -> None:
        """
        A stopped torrent does not pause.
        """
        moves = self.makeMoves()
        self.successResultOf(moves.pause())
        self.assertIs(self.torrent.lifecycle.state, S.STOPPED)

    def test_resumeFinishedClearsGoals(self) -> None:
        """
        Resuming a finished torrent seeds again, its goals cleared.
        """
        moves = self.makeMoves(S.FINISHED, complete=True)
        moves.resume()
        self.assertIs(self.torrent.lifecycle.state, S.SEEDING)
        self.assertIn(("clearGoals",), self.torrent.called("upload"))

    def test_failedKeepsError(self) -> None:
        """
        A storage error puts the torrent in error, stops its sources and
        fails L{whenComplete} with it; resuming checks the verified pieces
        again.
        """
        moves = self.makeMoves(S.DOWNLOADING)
        waiting = self.torrent.lifecycle.whenComplete()
        error = StorageError("disk full")
        moves.failed(Failure(error))
        self.assertIs(self.torrent.lifecycle.state, S.ERROR)
        self.assertIs(self.torrent.lifecycle.error, error)
        self.assertIn(("stop",), self.torrent.called("sources"))
        self.assertIs(self.failureResultOf(waiting, StorageError).value, error)
        moves.resume()
        self.assertIs(self.torrent.lifecycle.state, S.CHECKING)
        self.assertEqual(self.torrent.called("storage")[-1], ("check", self.verified, ()))

    def test_bugIsInternalError(self) -> None:
        """
        An exception not ours is reported as an L{InternalError}, logged.
        """
        moves = self.makeMoves(S.SEEDING)
        moves.failed(Failure(ZeroDivisionError()))
        self.assertIsInstance(self.torrent.lifecycle.error, InternalError)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_failedOnceOnly(self) -> None:
        """
        A torrent in error does not fail again.
        """
        moves = self.makeMoves(S.ERROR)
        moves.failed(Failure(StorageError("again")))
        self.assertEqual(self.torrent.calls, [])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_stop(self) -> None:
        """
        Stopping stops the sources, closes storage and fails whoever waits
        with L{TorrentStopped}.
        """
        moves = self.makeMoves(S.DOWNLOADING)
        waiting = self.torrent.lifecycle.whenComplete()
        self.successResultOf(moves.stop())
        self.assertIs(self.torrent.lifecycle.state, S.STOPPED)
        self.assertIn(("stop",), self.torrent.called("sources"))
        self.assertIn(("close",), self.torrent.called("storage"))
        self.failureResultOf(waiting, TorrentStopped)
        self.successResultOf(moves.stop())
        self.assertEqual(self.torrent.called("storage").count(("close",)), 1)

    def test_pieceVerified(self) -> None:
        """
        A verified piece is announced to every peer and to the observers.
        """
        peers = [FakePeer(1), FakePeer(2)]
        self.makeMoves(S.DOWNLOADING, peers=peers).pieceVerified(3)
        self.assertEqual([p.said for p in peers], [[("have", 3)], [("have", 3)]])
        self.assertEqual(self.torrent.events, [events.PieceVerified(self.torrent, 3)])
        self.assertIs(self.torrent.lifecycle.state, S.DOWNLOADING)

    def test_lastPieceSeeds(self) -> None:
        """
        The last wanted piece verified, the torrent seeds: requests stop,
        the sources hear of it, seeds are dropped, whoever waits is told.
        """
        full = Bitfield(self.metainfo.numPieces, range(self.metainfo.numPieces))
        seed, leech = FakePeer(1, full), FakePeer(2)
        moves = self.makeMoves(S.DOWNLOADING, complete=True, peers=[seed, leech])
        moves.pieceVerified(3)
        self.assertIs(self.torrent.lifecycle.state, S.SEEDING)
        self.assertIn(("stopRequesting",), self.torrent.called("download"))
        self.assertIn(("completed",), self.torrent.called("sources"))
        self.assertEqual(seed.said[-1], ("drop", "both seeding"))
        self.assertEqual(leech.said, [("have", 3)])
        self.assertIn(events.Completed(self.torrent), self.torrent.events)
        self.successResultOf(self.torrent.lifecycle.whenComplete())

    def test_pieceFailedStrikes(self) -> None:
        """
        A failed piece strikes its sole sender twice, each of several once.
        """
        moves = self.makeMoves(S.DOWNLOADING)
        moves.pieceFailed(1, {"a"})
        moves.pieceFailed(2, {"b", "c"})
        self.assertEqual(
            sorted(self.torrent.called("swarm")),
            [("strike", "a", 2), ("strike", "b", 1), ("strike", "c", 1)],
        )

    def test_seedGoalReached(self) -> None:
        """
        A seed goal reached finishes the torrent and stops its sources.
        """
        moves = self.makeMoves(S.SEEDING, complete=True)
        moves.seedGoalReached("seed ratio 1.0 reached")
        self.assertIs(self.torrent.lifecycle.state, S.FINISHED)
        self.assertIn(("stop",), self.torrent.called("sources"))

    def test_wantedAgainDownloads(self) -> None:
        """
        Pieces wanted again while seeding: the torrent downloads again and
        L{whenComplete} waits for them.
        """
        moves = self.makeMoves(S.SEEDING)
        moves.wantedChanged()
        self.assertIs(self.torrent.lifecycle.state, S.DOWNLOADING)
        self.assertIn(("refreshInterest",), self.torrent.called("download"))
        self.assertNoResult(self.torrent.lifecycle.whenComplete())

    def test_wantedAllInSeeds(self) -> None:
        """
        Files skipped until every wanted piece is in: the torrent seeds.
        """
        moves = self.makeMoves(S.DOWNLOADING, complete=True)
        moves.wantedChanged()
        self.assertIs(self.torrent.lifecycle.state, S.SEEDING)

    def test_wantedBeforeCheck(self) -> None:
        """
        Before the check, a change of the wanted pieces moves nothing.
        """
        moves = self.makeMoves(S.CHECKING)
        self.verified = None
        moves.wantedChanged()
        self.assertIs(self.torrent.lifecycle.state, S.CHECKING)
