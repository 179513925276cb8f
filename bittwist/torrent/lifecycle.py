# -*- test-case-name: tests.test_lifecycle -*-
"""
The states of a torrent and the one table of moves between them.

Written the way hyper-h2 writes its connection state machine: every move is
an input applied to the current state, looked up in L{TRANSITIONS}; an input
the table does not allow in a state is a bug in the caller, raised as
L{bittwist.errors.InternalError}.
"""

import enum
from typing import Optional

from twisted.internet.defer import Deferred, fail, succeed

from bittwist.errors import BittwistError, InternalError, TorrentStopped
from bittwist.waiters import Waiters

__all__ = ["TorrentState", "TorrentInput", "TRANSITIONS", "Lifecycle"]


class TorrentState(enum.StrEnum):
    """
    Where a torrent is in its life. Values are the names the JSON API and
    the web page show.
    """

    STOPPED = "stopped"
    """Not started, or stopped for good (storage closed)."""
    FETCHING_METADATA = "fetching metadata"
    """Added by magnet link: getting the torrent's metadata from peers
    (then the torrent made of it checks, downloads and seeds)."""
    CHECKING = "checking"
    """Finding out which pieces storage already holds."""
    DOWNLOADING = "downloading"
    """Getting pieces, and serving those it has."""
    SEEDING = "seeding"
    """Every wanted piece is verified; serving them. With files skipped
    (L{bittwist.torrent.facade.Torrent.setFilePriorities}) this is a
    partial seed: libtorrent's "finished" downloading, not our
    C{finished}. Wanting a missing file again goes back to C{downloading}."""
    PAUSED = "paused"
    """No peers, no announces; storage open, every verified piece kept."""
    FINISHED = "finished"
    """Done seeding: the seed ratio or time was reached. Resuming seeds again."""
    ERROR = "error"
    """Storage failed (disk full, read-only folder, data gone); resuming
    checks the data again, keeping every verified piece."""


class TorrentInput(enum.Enum):
    """
    What can happen to a torrent.
    """

    START = "start"
    CHECKED_INCOMPLETE = "checked, pieces missing"
    CHECKED_COMPLETE = "checked, every piece verified"
    CHECKED_PAUSED = "checked while asked to pause"
    PAUSE = "pause"
    RESUME_INCOMPLETE = "resume, pieces missing"
    RESUME_COMPLETE = "resume, every piece verified"
    RESUME_CHECK = "resume after an error: check again"
    COMPLETED = "last wanted piece verified"
    WANT_MORE = "files wanted again, pieces missing"
    SEED_GOAL = "seed goal reached"
    FAIL = "fail"
    STOP = "stop"


S = TorrentState
I = TorrentInput  # noqa: E741

TRANSITIONS: dict[tuple[TorrentState, TorrentInput], TorrentState] = {
    (S.STOPPED, I.START): S.CHECKING,
    (S.CHECKING, I.CHECKED_INCOMPLETE): S.DOWNLOADING,
    (S.CHECKING, I.CHECKED_COMPLETE): S.SEEDING,
    (S.CHECKING, I.CHECKED_PAUSED): S.PAUSED,
    (S.DOWNLOADING, I.PAUSE): S.PAUSED,
    (S.SEEDING, I.PAUSE): S.PAUSED,
    (S.FINISHED, I.PAUSE): S.PAUSED,
    (S.PAUSED, I.RESUME_INCOMPLETE): S.DOWNLOADING,
    (S.PAUSED, I.RESUME_COMPLETE): S.SEEDING,
    (S.FINISHED, I.RESUME_COMPLETE): S.SEEDING,
    (S.ERROR, I.RESUME_CHECK): S.CHECKING,
    (S.DOWNLOADING, I.COMPLETED): S.SEEDING,
    (S.SEEDING, I.WANT_MORE): S.DOWNLOADING,
    (S.FINISHED, I.WANT_MORE): S.DOWNLOADING,
    (S.SEEDING, I.SEED_GOAL): S.FINISHED,
    (S.STOPPED, I.FAIL): S.ERROR,
    (S.CHECKING, I.FAIL): S.ERROR,
    (S.DOWNLOADING, I.FAIL): S.ERROR,
    (S.SEEDING, I.FAIL): S.ERROR,
    (S.PAUSED, I.FAIL): S.ERROR,
    (S.FINISHED, I.FAIL): S.ERROR,
    **{(state, I.STOP): S.STOPPED for state in S if state is not S.STOPPED},
}
"""
Every allowed move: C{(state, input)} to the next state.
"""

del S, I

ACTIVE = frozenset({TorrentState.DOWNLOADING, TorrentState.SEEDING})
"""
The states in which a torrent has peers.
"""


class Lifecycle:
    """
    The state of one torrent, and those waiting for it to complete.

    @ivar state: the current state.
    @ivar error: why the torrent is in C{error}, or C{None}.
    """

    def __init__(self, name: str) -> None:
        """
        @param name: the torrent's name, for messages.
        """
        self._name = name
        self.state = TorrentState.STOPPED
        self.error: Optional[BittwistError] = None
        self._waiting: Waiters[None] = Waiters()
        self._complete = False

    def process(self, event: TorrentInput) -> tuple[TorrentState, TorrentState]:
        """
        Apply C{event}.

        @return: the state before and after.
        @raise InternalError: if C{event} is not allowed in this state.
        """
        old = self.state
        try:
            new = TRANSITIONS[(old, event)]
        except KeyError:
            raise InternalError(
                f"{self._name}: {event.value!r} is not possible while {old.value}"
            ) from None
        self.state = new
        if new is TorrentState.CHECKING:
            self.error = None
        return old, new

    def allows(self, event: TorrentInput) -> bool:
        """
        @return: whether C{event} may be applied now.
        """
        return (self.state, event) in TRANSITIONS

    # Waiting for completion.

    def whenComplete(self) -> Deferred[None]:
        """
        @return: fires when every piece is verified (at once if already); fails
            with the error that put the torrent in C{error}, or with
            L{TorrentStopped} if it is stopped (or removed) first.
        """
        if self._complete:
            return succeed(None)
        if self.state is TorrentState.ERROR and self.error is not None:
            return fail(self.error)
        return self._waiting.wait()

    def complete(self) -> None:
        """
        Every piece is verified: fire L{whenComplete}.
        """
        self._complete = True
        self._waiting.fire(None)

    def incomplete(self) -> None:
        """
        Pieces are wanted again (a skipped file wanted): L{whenComplete}
        waits for them.
        """
        self._complete = False

    def failed(self, error: BittwistError) -> None:
        """
        The torrent failed with C{error}: fail L{whenComplete}.
        """
        self.error = error
        self._waiting.fail(error)

    def stopped(self) -> None:
        """
        The torrent stopped before completing: fail L{whenComplete}.
        """
        self._waiting.fail(TorrentStopped(self._name))
