# -*- test-case-name: tests.test_progress -*-
"""
Progress for people: human sizes, rates and durations; a periodic log line
per torrent; and, on a terminal, one progress line redrawn in place.
"""

from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Protocol, Sequence

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from bittwist.torrent.lifecycle import TorrentState

if TYPE_CHECKING:
    from bittwist.torrent import Torrent, TorrentStatus

__all__ = [
    "formatSize",
    "formatRate",
    "formatDuration",
    "describeProgress",
    "ProgressLogger",
    "ProgressLine",
]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def formatSize(count: float) -> str:
    """
    @return: C{count} bytes in binary units, e.g. C{"1.5 MiB"}.
    """
    for unit in _UNITS:
        text = f"{count:.0f}" if unit == "B" else f"{count:.1f}"
        # Compare the rounded text, or 1048575 would read "1024.0 KiB".
        if abs(float(text)) < 1024 or unit == _UNITS[-1]:
            return f"{text} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def formatRate(bytesPerSecond: float) -> str:
    """
    @return: a rate, e.g. C{"3.2 MiB/s"}.
    """
    return formatSize(bytesPerSecond) + "/s"


def formatDuration(seconds: Optional[float]) -> str:
    """
    @return: a duration in its two largest units, e.g. C{"45s"},
        C{"3m05s"}, C{"2h10m"}, C{"3d04h"}; C{"?"} for C{None} (unknown).
    """
    if seconds is None:
        return "?"
    total = max(int(round(seconds)), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def describeProgress(statuses: Sequence["TorrentStatus"]) -> str:
    """
    @return: one line on the torrents: the percentage verified and the
        size, the state (or how many torrents download), the rates down and
        up, the peers connected, while downloading the time left at the
        current rate, and last (the first thing a narrow terminal cuts) the
        torrent's name.
    """
    if not statuses:
        return "No torrent yet"
    total = sum(s.totalLength for s in statuses)
    verified = sum(s.verifiedLength for s in statuses)
    down = sum(s.downloadRate for s in statuses)
    up = sum(s.uploadRate for s in statuses)
    peers = sum(s.peers for s in statuses)
    downloading = [s for s in statuses if s.state is TorrentState.DOWNLOADING]
    percent = 100 * verified / total if total else 100.0
    if len(statuses) == 1:
        [status] = statuses
        state, name = str(status.state), status.name
    else:
        state, name = f"{len(downloading)} downloading", f"{len(statuses)} torrents"
    parts = [
        f"{percent:.1f}% of {formatSize(total)}",
        state,
        f"down {formatRate(down)}",
        f"up {formatRate(up)}",
        f"{peers} peer" if peers == 1 else f"{peers} peers",
    ]
    if downloading:
        left = sum(s.totalLength - s.verifiedLength for s in downloading)
        parts.append("ETA " + formatDuration(left / down if down > 0 else None))
    parts.append(name)
    return " | ".join(parts)


class Line(Protocol):
    """
    Where L{ProgressLine} draws: a L{bittwist.terminal.StatusLine}.
    """

    def show(self, text: str) -> None: ...

    def clear(self) -> None: ...


class ProgressLine(Service):
    """
    Redraws one line describing the torrents (see L{describeProgress}) every
    C{interval} seconds while running, on the reactor's clock; erases it
    when stopped.
    """

    def __init__(
        self,
        torrents: Callable[[], Iterable["Torrent"]],
        line: Line,
        reactor: Any,
        interval: float = 0.5,
    ) -> None:
        """
        @param torrents: returns the torrents to describe, asked anew each
            time.
        @param line: where the line is drawn.
        @param reactor: the clock.
        @param interval: seconds between redraws; a few times a second at
            most is enough for the eye and costs the terminal little.
        """
        self._torrents = torrents
        self._line = line
        self._loop = LoopingCall(self.redraw)
        self._loop.clock = reactor
        self._interval = interval

    def startService(self) -> None:
        super().startService()
        self._loop.start(self._interval, now=True)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        self._line.clear()

    def redraw(self) -> None:
        """
        Draw the line anew.
        """
        self._line.show(describeProgress([t.status() for t in self._torrents()]))


class ProgressLogger(Service):
    """
    Logs each torrent's progress every C{interval} seconds while running.
    """

    log = Logger()

    def __init__(
        self, torrents: Callable[[], Iterable["Torrent"]], reactor: Any, interval: float = 5.0
    ) -> None:
        self._torrents = torrents
        self._interval = interval
        self._loop = LoopingCall(self.report)
        self._loop.clock = reactor

    def startService(self) -> None:
        super().startService()
        self._loop.start(self._interval, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()

    def report(self) -> None:
        """
        Log one line per torrent.
        """
        for torrent in self._torrents():
            status = torrent.status()
            self.log.info(
                "{name}: {state}, {percent:.1f}% of {size}, "
                "{down} down, {up} up, {peers} peers",
                name=status.name,
                state=status.state,
                percent=100 * status.progress,
                size=formatSize(status.totalLength),
                down=formatRate(status.downloadRate),
                up=formatRate(status.uploadRate),
                peers=status.peers,
                status=status,
            )
