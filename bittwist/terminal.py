# -*- test-case-name: tests.test_terminal -*-
"""
The terminal C{twistd -n bittorrent} logs to: one status line at the bottom,
redrawn in place, with log lines written above it; and the log observer
twistd is given, which drops debug lines unless asked for them.
"""

import os
from typing import Callable, Optional, TextIO

from twisted.application.service import MultiService
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    formatEventAsClassicLogText,
    textFileLogObserver,
)
from twisted.python.components import Componentized
from zope.interface import implementer

__all__ = [
    "StatusLine",
    "TerminalLogObserver",
    "consoleObserver",
    "streamIsTerminal",
    "logsToStdout",
    "TwistdRoot",
]

CLEAR_LINE = "\r\x1b[K"
"""
Back to the start of the line, and erase it (ANSI "erase in line").
"""

DEFAULT_WIDTH = 80


def terminalWidth(stream: TextIO) -> int:
    """
    @return: the width in columns of the terminal C{stream} writes to, or
        L{DEFAULT_WIDTH} when that cannot be told.
    """
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_WIDTH
    except (AttributeError, OSError, ValueError):
        return DEFAULT_WIDTH


def streamIsTerminal(stream: TextIO) -> bool:
    """
    @return: whether C{stream} is a terminal (and so understands
        L{CLEAR_LINE}).
    """
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class StatusLine:
    """
    One line of text at the bottom of a terminal, redrawn in place; other
    text is written above it.

    @ivar text: the line shown, or C{""} when none is.
    """

    def __init__(self, stream: TextIO, width: Optional[Callable[[], int]] = None) -> None:
        """
        @param stream: the terminal.
        @param width: returns the terminal's width in columns (asked at each
            redraw, so a resized terminal is followed).
        """
        self._stream = stream
        self._width = width if width is not None else lambda: terminalWidth(stream)
        self.text = ""

    def show(self, text: str) -> None:
        """
        Replace the line shown by C{text}, cut to the terminal's width (a
        line that wrapped could no longer be erased in place).
        """
        self.text = text.replace("\n", " ").replace("\r", " ")
        self._draw()

    def clear(self) -> None:
        """
        Erase the line; nothing is shown until the next L{show}.
        """
        if self.text:
            self._write(CLEAR_LINE)
            self.text = ""

    def writeAbove(self, text: str) -> None:
        """
        Write C{text} (whole lines) above the status line, which is drawn
        again below it.
        """
        if not text.endswith("\n"):
            text += "\n"
        if self.text:
            self._write(CLEAR_LINE + text)
            self._draw()
        else:
            self._write(text)

    def _draw(self) -> None:
        # One column spare: writing the last column makes some terminals
        # wrap at once.
        room = max(self._width() - 1, 1)
        self._write(CLEAR_LINE + self.text[:room])

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


@implementer(ILogObserver)
class TerminalLogObserver:
    """
    Writes log events as twistd's text logs do, above a L{StatusLine}.
    """

    def __init__(self, line: StatusLine) -> None:
        self._line = line

    def __call__(self, event: LogEvent) -> None:
        text = formatEventAsClassicLogText(event)
        if text is not None:
            self._line.writeAbove(text)


def consoleObserver(
    stream: TextIO, verbose: bool = False, line: Optional[StatusLine] = None
) -> ILogObserver:
    """
    @param stream: where the log lines go.
    @param verbose: whether debug lines are written too.
    @param line: the status line to write above, when C{stream} is a
        terminal; plain lines otherwise.
    @return: the observer to log to C{stream}: lines as twistd writes them,
        debug ones only when C{verbose}.
    """
    observer: ILogObserver
    if line is not None:
        observer = TerminalLogObserver(line)
    else:
        observer = textFileLogObserver(stream)
    level = LogLevel.debug if verbose else LogLevel.info
    return FilteringLogObserver(observer, [LogLevelFilterPredicate(defaultLogLevel=level)])


def logsToStdout(twistdOptions: object) -> bool:
    """
    @param twistdOptions: twistd's own options (C{ServerOptions}), the
        parent of a plugin's options.
    @return: whether twistd would log to its standard output: not a
        daemon, no log file (or C{-}), no syslog, no C{--logger} of the
        user's.
    """
    get = getattr(twistdOptions, "get", None)
    if get is None:
        return False
    if not get("nodaemon") or get("syslog") or get("logger"):
        return False
    return get("logfile") in (None, "", "-")


class TwistdRoot(MultiService):
    """
    The service C{twistd bittorrent} runs when twistd would log to standard
    output: joined to twistd's application, it gives the application the
    log observer twistd then logs through (twistd looks for an
    C{ILogObserver} component on the application before making its own, as
    a C{.tac} file may set one).

    @ivar observer: that observer.
    """

    def __init__(self, observer: ILogObserver) -> None:
        super().__init__()
        self.observer = observer

    def setServiceParent(self, parent: object) -> None:  # type: ignore[override]
        super().setServiceParent(parent)  # type: ignore[arg-type]
        if isinstance(parent, Componentized) and parent.getComponent(ILogObserver) is None:
            parent.setComponent(ILogObserver, self.observer)

