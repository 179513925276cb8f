"""
Tests for L{bittwist.torrent.observers}: whoever watches a torrent's events.
"""

from twisted.logger import globalLogPublisher
from twisted.internet.testing import EventLoggingObserver
from twisted.trial.unittest import SynchronousTestCase

from bittwist import events
from bittwist.torrent.observers import Observers


class ObserversTests(SynchronousTestCase):
    """
    Tests for L{Observers}.
    """

    def test_emitInOrder(self) -> None:
        """
        Every observer hears each event, in the order they were added; a
        removed one hears no more.
        """
        observers = Observers()
        heard: list[tuple[str, events.TorrentEvent]] = []
        first = lambda event: heard.append(("first", event))  # noqa: E731
        observers.add(first)
        observers.add(lambda event: heard.append(("second", event)))
        one, two = events.Completed("t"), events.PieceVerified("t", 3)
        observers.emit(one)
        observers.remove(first)
        observers.emit(two)
        self.assertEqual(heard, [("first", one), ("second", one), ("second", two)])
        self.assertNotIn(first, observers)

    def test_removeUnknown(self) -> None:
        """
        Removing an observer that is not observing does nothing.
        """
        observers = Observers()
        observers.remove(print)
        self.assertNotIn(print, observers)

    def test_failingObserverLogged(self) -> None:
        """
        An observer that raises is logged with the event; the others still
        hear it.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        observers = Observers()
        heard: list[events.TorrentEvent] = []

        def broken(event: events.TorrentEvent) -> None:
            raise RuntimeError("observer bug")

        observers.add(broken)
        observers.add(heard.append)
        event = events.Completed("t")
        observers.emit(event)
        self.assertEqual(heard, [event])
        self.assertEqual([e["event"] for e in logged if "log_failure" in e], [event])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
