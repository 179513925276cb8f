# -*- test-case-name: tests.test_statemoves,tests.test_torrent -*-
"""
L{StateMoves}: a torrent's state moves, carried out on its parts.

Each move is an input applied to the torrent's L{Lifecycle} (the one table
of moves); this module then sets the parts for the new state: the download
and the upload on or off, the swarm seeking or halted, the peer sources
started or stopped, the periodic work awake or asleep. It also answers what
the download reports (a piece verified, a piece failed, storage failed),
since each may move the torrent.
"""

from typing import TYPE_CHECKING, Any, Iterable, Optional

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist import events
from bittwist.bitfield import Bitfield
from bittwist.errors import BittwistError, InternalError
from bittwist.safetext import printable
from bittwist.torrent.lifecycle import ACTIVE, TorrentInput, TorrentState

if TYPE_CHECKING:
    from bittwist.torrent.facade import Torrent

__all__ = ["StateMoves"]

_In = TorrentInput
_State = TorrentState


class StateMoves:
    """
    Starts, pauses, resumes, stops and fails one torrent, and moves it on as
    its pieces are verified: see L{TorrentState} for the states.
    """

    log = Logger()

    def __init__(self, torrent: "Torrent") -> None:
        """
        @param torrent: the torrent whose parts are set; its parts are read
            when a move is made, so they may be made after this.
        """
        self._torrent = torrent
        self._lifecycle = torrent.lifecycle
        # Its name as logged: made safe for a terminal once, not per line.
        self._logName = printable(torrent.metainfo.name)
        self._pauseWhenChecked = False

    def _move(self, event: TorrentInput) -> TorrentState:
        """
        Apply C{event} to the lifecycle, then set the parts for the new
        state and tell the observers.
        """
        old, new = self._lifecycle.process(event)
        torrent = self._torrent
        if new is _State.SEEDING:
            torrent.upload.seedingStarted()
        if new in ACTIVE:
            self._activate(new)
        elif old in ACTIVE:
            self._deactivate(new)
        if old is not new:
            torrent.observers.emit(events.StateChanged(torrent, new))
        return new

    def _activate(self, state: TorrentState) -> None:
        torrent = self._torrent
        downloading = state is _State.DOWNLOADING
        torrent.download.active = downloading
        torrent.upload.active = True
        torrent.swarm.seeking = downloading
        torrent.periodic.wake()
        torrent.sources.start(torrent)
        torrent.swarm.connectMore()

    def _deactivate(self, state: TorrentState) -> None:
        torrent = self._torrent
        torrent.periodic.sleep()
        torrent.download.active = False
        torrent.upload.active = False
        torrent.swarm.halt(state.value)

    # What the user asks for.

    def start(
        self, paused: bool, trusted: Optional[Bitfield], rehash: Iterable[int]
    ) -> Deferred[None]:
        """
        See L{bittwist.torrent.facade.Torrent.start}.
        """
        self._pauseWhenChecked = paused
        self._move(_In.START)
        return self._check(trusted, rehash)

    def _check(self, trusted: Optional[Bitfield], rehash: Iterable[int]) -> Deferred[None]:
        storage = self._torrent.storage
        if trusted is None:
            self.log.info("{name}: checking existing data", name=self._logName)
            d = storage.check()
        else:
            d = storage.check(trusted, rehash)
        d.addCallback(self._checked)
        d.addErrback(self.failed)
        return d

    def _checked(self, have: Bitfield) -> None:
        if self._lifecycle.state is not _State.CHECKING:
            return
        download = self._torrent.download
        download.begin(have)
        self.log.info(
            "{name}: {count} of {total} pieces already verified",
            name=self._logName,
            count=len(have),
            total=self._torrent.numPieces,
        )
        complete = download.complete()
        if self._pauseWhenChecked:
            self._move(_In.CHECKED_PAUSED)
        else:
            self._move(_In.CHECKED_COMPLETE if complete else _In.CHECKED_INCOMPLETE)
        # Last: whoever waits on whenComplete sees the torrent seeding.
        if complete:
            self._lifecycle.complete()

    def pause(self) -> Deferred[None]:
        """
        See L{bittwist.torrent.facade.Torrent.pause}.
        """
        if self._lifecycle.state is _State.CHECKING:
            # Paused once checked: the check runs on, nobody is contacted.
            self._pauseWhenChecked = True
            return succeed(None)
        if not self._lifecycle.allows(_In.PAUSE):
            return succeed(None)
        self._move(_In.PAUSE)
        return self._torrent.sources.stop()

    def resume(self) -> None:
        """
        See L{bittwist.torrent.facade.Torrent.resume}.
        """
        torrent = self._torrent
        state = self._lifecycle.state
        if state is _State.CHECKING:
            self._pauseWhenChecked = False
        elif state is _State.ERROR:
            self.log.info("{name}: resuming after an error", name=self._logName)
            self._pauseWhenChecked = False
            self._move(_In.RESUME_CHECK)
            self._check(torrent.download.verifiedPieces(), ())
        elif state in (_State.PAUSED, _State.FINISHED):
            if state is _State.FINISHED:
                torrent.upload.clearGoals()
            torrent.swarm.resetBackoff()
            complete = torrent.download.complete()
            self._move(_In.RESUME_COMPLETE if complete else _In.RESUME_INCOMPLETE)

    def stop(self) -> Deferred[None]:
        """
        See L{bittwist.torrent.facade.Torrent.stop}.
        """
        if self._lifecycle.state is _State.STOPPED:
            return succeed(None)
        self._move(_In.STOP)
        self._lifecycle.stopped()
        torrent = self._torrent
        d = DeferredList([torrent.sources.stop(), torrent.storage.close()], consumeErrors=True)
        return d.addCallback(lambda _: None)

    def failed(self, failure: Failure) -> None:
        """
        Stop because storage (or our own code) failed, keeping every
        verified piece: the torrent is in C{error}, unless it cannot fail
        now (e.g. it failed already).
        """
        if not self._lifecycle.allows(_In.FAIL):
            return
        if failure.check(BittwistError):
            error = failure.value
            self.log.error("{name}: {error}", name=self._logName, error=error)
        else:
            error = InternalError(
                f"{self._torrent.metainfo.name}: internal error ({failure.getErrorMessage()}); "
                "this is a bug in bittwist, please report it with the log"
            )
            self.log.failure("{name}: internal error", failure, name=self._logName)
        self._lifecycle.error = error
        self._move(_In.FAIL)
        self._torrent.sources.stop()
        self._lifecycle.failed(error)

    # What the download and the periodic work report.

    def pieceVerified(self, index: int) -> None:
        """
        Piece C{index} passed its hash check: tell the peers and the
        observers; seed if it was the last one wanted.
        """
        torrent = self._torrent
        for peer in torrent.swarm.peers:
            peer.sender.sendHave(index)
        torrent.observers.emit(events.PieceVerified(torrent, index))
        # Seeding already: a piece of a file skipped while it downloaded.
        if torrent.download.complete() and self._lifecycle.state not in (
            _State.SEEDING,
            _State.FINISHED,
        ):
            self._completed()

    def _completed(self) -> None:
        """
        Every wanted piece is verified: seed, and tell whoever waits.
        """
        torrent = self._torrent
        verified = torrent.download.verifiedPieces()
        count = len(verified) if verified is not None else 0
        if count == torrent.numPieces:
            message = "{name}: download complete, all {count} pieces verified"
        else:
            message = (
                "{name}: download complete, the {count} pieces of the wanted files "
                "verified (some files skipped)"
            )
        self.log.info(message, name=self._logName, count=count)
        if self._lifecycle.state is _State.DOWNLOADING:
            self._move(_In.COMPLETED)
            torrent.download.stopRequesting()
            torrent.swarm.seeking = False
            torrent.sources.completed()
            for peer in list(torrent.swarm.peers):
                if peer.state.pieces.complete():
                    peer.drop("both seeding")
        torrent.observers.emit(events.Completed(torrent))
        self._lifecycle.complete()

    def pieceFailed(self, index: int, contributors: set[Any]) -> None:
        """
        Piece C{index} failed its hash check: strike the peers that sent
        it (twice a peer that sent it alone).
        """
        self.log.warn(
            "{name}: piece {index} failed its hash check; downloading it again",
            name=self._logName,
            index=index,
        )
        swarm = self._torrent.swarm
        for peer in contributors:
            swarm.strike(peer, 2 if len(contributors) == 1 else 1)

    def seedGoalReached(self, why: str) -> None:
        """
        A seed goal was reached (C{why} says which): done seeding.
        """
        self.log.info("{name}: {why}; done seeding", name=self._logName, why=why)
        self._move(_In.SEED_GOAL)
        self._torrent.sources.stop()

    def wantedChanged(self) -> None:
        """
        The wanted pieces changed: seed if they are all in, download again
        if some are missing.
        """
        torrent = self._torrent
        if torrent.download.verifiedPieces() is None:
            return  # not checked yet: the check decides
        complete = torrent.download.complete()
        if not complete:
            self._lifecycle.incomplete()
        state = self._lifecycle.state
        if state is _State.DOWNLOADING and complete:
            self._completed()
        elif state in (_State.SEEDING, _State.FINISHED) and not complete:
            # Seeds we dropped as "both seeding" have what we now want.
            torrent.swarm.resetBackoff()
            self._move(_In.WANT_MORE)
            torrent.download.refreshInterest()
