"""
A stand-in for L{bittwist.torrent.facade.Torrent} as the parts that act on
its other parts see it (L{bittwist.torrent.statemoves.StateMoves},
L{bittwist.torrent.periodic.PeriodicWork},
L{bittwist.torrent.peerdispatch.PeerDispatch}): a real lifecycle and real
observers, and parts that record what they are told.
"""

from types import SimpleNamespace
from typing import Any, Iterable, Optional

from bittwist.bitfield import Bitfield
from bittwist.metainfo import Metainfo
from bittwist.torrent.lifecycle import Lifecycle, TorrentState
from bittwist.torrent.observers import Observers

__all__ = ["RecordingPart", "FakeTorrent", "FakePeer"]


class RecordingPart:
    """
    Stands for one part of a torrent: each method called on it is recorded
    in a log shared by the parts, as C{(part, method, *args)}, and returns
    what C{answers} says for it (called first, if callable), else C{None}.
    Its attributes are set as the test needs them.
    """

    def __init__(self, name: str, log: list[tuple[Any, ...]], **answers: Any) -> None:
        self._name = name
        self._log = log
        self._answers = answers

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        def record(*args: Any) -> Any:
            self._log.append((self._name, method, *args))
            answer = self._answers.get(method)
            return answer() if callable(answer) else answer

        return record


class FakePeer:
    """
    A connected peer, as the torrent's parts see it.

    @ivar said: what it was told (C{have} messages, rejects) and whether it
        was dropped, in order.
    @ivar sender: what the torrent sends through: the fake itself.
    """

    def __init__(self, n: int, pieces: Optional[Bitfield] = None, reject: bool = True) -> None:
        self.address = (f"10.0.0.{n}", 6881)
        self.peerId = b"-XX0000-" + bytes([n]) * 12
        self.state = SimpleNamespace(pieces=pieces if pieces is not None else Bitfield(4))
        self._reject = reject
        self.said: list[tuple[Any, ...]] = []
        self.sender = self

    def __repr__(self) -> str:
        return f"<FakePeer {self.address[0]}>"

    def sendHave(self, index: int) -> None:
        self.said.append(("have", index))

    def drop(self, reason: str) -> None:
        self.said.append(("drop", reason))

    def rejectRequest(self, index: int, begin: int, length: int) -> bool:
        if self._reject:
            self.said.append(("reject", index, begin, length))
        return self._reject


class FakeTorrent:
    """
    A torrent made of recording parts: C{download}, C{upload}, C{swarm},
    C{sources}, C{storage}, C{periodic}, C{moves} and C{extensions}, each
    recording in C{calls}.

    @ivar events: what its observers heard.
    """

    def __init__(
        self,
        metainfo: Metainfo,
        state: TorrentState = TorrentState.STOPPED,
        peers: Iterable[FakePeer] = (),
        **answers: dict[str, Any],
    ) -> None:
        """
        @param state: the state its lifecycle starts in.
        @param peers: its swarm's peers.
        @param answers: per part, what its methods answer (see
            L{RecordingPart}).
        """
        self.calls: list[tuple[Any, ...]] = []
        self.metainfo = metainfo
        self.infoHash = metainfo.infoHash
        self.numPieces = metainfo.numPieces
        self.port = 6881
        self.lifecycle = Lifecycle(metainfo.name)
        self.lifecycle.state = state
        self.observers = Observers()
        self.events: list[Any] = []
        self.observers.add(self.events.append)
        for name in ("download", "upload", "swarm", "sources", "storage", "periodic", "moves",
                     "extensions"):
            setattr(self, name, RecordingPart(name, self.calls, **answers.get(name, {})))
        self.swarm.peers = set(peers)
        self.download.rate = SimpleNamespace(total=0)
        self.upload.seedTime = None

    def __repr__(self) -> str:
        return "<FakeTorrent>"

    def called(self, part: str) -> list[tuple[Any, ...]]:
        """
        @return: the calls made to C{part}, each as C{(method, *args)}.
        """
        return [call[1:] for call in self.calls if call[0] == part]
