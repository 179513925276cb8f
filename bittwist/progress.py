# -*- test-case-name: tests.test_progress -*-
"""
Progress for people: human sizes and rates, and a periodic log line per
torrent.
"""

from typing import TYPE_CHECKING, Any, Callable, Iterable

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

if TYPE_CHECKING:
    from bittwist.torrent import Torrent

__all__ = ["formatSize", "formatRate", "ProgressLogger"]

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
