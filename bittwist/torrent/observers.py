# -*- test-case-name: tests.test_observers -*-
"""
L{Observers}: whoever watches a torrent's events, told of each in turn.

Shared by L{bittwist.torrent.Torrent} and
L{bittwist.torrent.magnet.MagnetTorrent}, whose C{addObserver} and
C{removeObserver} hand over to it.
"""

from typing import Callable

from twisted.logger import Logger

from bittwist.events import TorrentEvent

__all__ = ["Observers", "Observer"]

Observer = Callable[[TorrentEvent], None]


class Observers:
    """
    The observers of one torrent. One that raises is logged and does not
    disturb the torrent or the others.
    """

    log = Logger()

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def __contains__(self, observer: Observer) -> bool:
        return observer in self._observers

    def add(self, observer: Observer) -> None:
        """
        Call C{observer} with every event from now on.
        """
        self._observers.append(observer)

    def remove(self, observer: Observer) -> None:
        """
        Stop calling C{observer}; nothing happens if it is not observing
        (the torrent may have been replaced or removed since).
        """
        if observer in self._observers:
            self._observers.remove(observer)

    def emit(self, event: TorrentEvent) -> None:
        """
        Tell every observer of C{event}, in the order they were added; an
        observer added or removed meanwhile counts from the next event.
        """
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                self.log.failure("Observer {observer} failed on {event}", observer=observer, event=event)
