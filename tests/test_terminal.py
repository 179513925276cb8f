# -*- test-case-name: tests.test_terminal -*-
"""
Tests for L{bittwist.terminal}, and C{twistd -n bittorrent} on a real
pseudo-terminal.
"""

import io
import os
import re
import sys
from typing import Any

from twisted.application.service import Application, IService
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import ILogObserver, Logger, LogLevel
from twisted.python.failure import Failure
from twisted.python.usage import Options
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from bittwist.metainfo import createTorrent
from bittwist.service import BitTorrentService
from bittwist.terminal import (
    CLEAR_LINE,
    StatusLine,
    TerminalLogObserver,
    TwistdRoot,
    consoleObserver,
    logsToStdout,
    streamIsTerminal,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeTerminal(io.StringIO):
    """
    A stream that says it is a terminal, and counts its flushes.
    """

    flushes = 0

    def isatty(self) -> bool:
        return True

    def flush(self) -> None:
        self.flushes += 1


class StatusLineTests(SynchronousTestCase):
    """
    Tests for L{StatusLine}.
    """

    def setUp(self) -> None:
        self.stream = FakeTerminal()
        self.width = 40
        self.line = StatusLine(self.stream, lambda: self.width)

    def test_showRedrawsInPlace(self) -> None:
        """
        Each L{StatusLine.show} goes back to the start of the line, erases
        it and writes the text, without a newline, and flushes.
        """
        self.line.show("one")
        self.line.show("two")
        self.assertEqual(self.stream.getvalue(), CLEAR_LINE + "one" + CLEAR_LINE + "two")
        self.assertNotIn("\n", self.stream.getvalue())
        self.assertEqual(self.stream.flushes, 2)
        self.assertEqual(self.line.text, "two")

    def test_cutToWidth(self) -> None:
        """
        A line longer than the terminal is cut to one column less than its
        width, asked at each redraw; newlines in the text become spaces.
        """
        self.line.show("x" * 100)
        self.assertEqual(self.stream.getvalue(), CLEAR_LINE + "x" * 39)
        self.width = 10
        self.line.show("a\nb" + "y" * 20)
        self.assertTrue(self.stream.getvalue().endswith(CLEAR_LINE + "a b" + "y" * 6))

    def test_writeAbove(self) -> None:
        """
        Text written while a line is shown erases the line, is written as
        whole lines, and the line is drawn again below it.
        """
        self.line.show("progress")
        self.line.writeAbove("a log line")
        self.assertEqual(
            self.stream.getvalue(),
            CLEAR_LINE + "progress" + CLEAR_LINE + "a log line\n" + CLEAR_LINE + "progress",
        )

    def test_writeAboveNothingShown(self) -> None:
        """
        With no line shown, text is written as it is.
        """
        self.line.writeAbove("first\n")
        self.assertEqual(self.stream.getvalue(), "first\n")

    def test_clear(self) -> None:
        """
        L{StatusLine.clear} erases the line once; later text is written
        plainly.
        """
        self.line.show("progress")
        self.line.clear()
        self.line.clear()
        self.line.writeAbove("after")
        self.assertEqual(
            self.stream.getvalue(), CLEAR_LINE + "progress" + CLEAR_LINE + "after\n"
        )

    def test_defaultWidth(self) -> None:
        """
        Without a width function, a stream that is no terminal counts as 80
        columns wide.
        """
        stream = io.StringIO()
        StatusLine(stream).show("z" * 200)
        self.assertEqual(stream.getvalue(), CLEAR_LINE + "z" * 79)


class StreamIsTerminalTests(SynchronousTestCase):
    """
    Tests for L{streamIsTerminal}.
    """

    def test_terminal(self) -> None:
        """
        A stream whose C{isatty} is true is a terminal; a plain one, or a
        closed one, is not.
        """
        self.assertTrue(streamIsTerminal(FakeTerminal()))
        self.assertFalse(streamIsTerminal(io.StringIO()))
        closed = io.StringIO()
        closed.close()
        self.assertFalse(streamIsTerminal(closed))


class ConsoleObserverTests(SynchronousTestCase):
    """
    Tests for L{consoleObserver} and L{TerminalLogObserver}.
    """

    def emit(self, observer: ILogObserver, level: LogLevel, text: str) -> None:
        log = Logger(namespace="bittwist.test", observer=observer)
        log.emit(level, text)

    def test_debugOffByDefault(self) -> None:
        """
        Debug lines are dropped; info and above are written as twistd
        writes them (time, system, text).
        """
        stream = io.StringIO()
        observer = consoleObserver(stream)
        verifyObject(ILogObserver, observer)
        self.emit(observer, LogLevel.debug, "hidden detail")
        self.emit(observer, LogLevel.info, "shown info")
        self.emit(observer, LogLevel.warn, "shown warning")
        text = stream.getvalue()
        self.assertNotIn("hidden detail", text)
        self.assertRegex(text, r"\[bittwist\.test#info\] shown info\n")
        self.assertRegex(text, r"\[bittwist\.test#warn\] shown warning\n")

    def test_verbose(self) -> None:
        """
        With C{verbose}, debug lines are written too.
        """
        stream = io.StringIO()
        self.emit(consoleObserver(stream, verbose=True), LogLevel.debug, "a detail")
        self.assertIn("[bittwist.test#debug] a detail\n", stream.getvalue())

    def test_aboveStatusLine(self) -> None:
        """
        Given a status line, log lines are written above it and the line is
        drawn again.
        """
        stream = FakeTerminal()
        line = StatusLine(stream, lambda: 80)
        line.show("50.0% of 1 MiB")
        observer = consoleObserver(stream, line=line)
        self.emit(observer, LogLevel.info, "hello")
        self.emit(observer, LogLevel.debug, "not this")
        written = stream.getvalue()
        self.assertRegex(
            written, re.escape(CLEAR_LINE) + r"\S+ \[bittwist\.test#info\] hello\n"
            + re.escape(CLEAR_LINE + "50.0% of 1 MiB") + "$",
        )
        self.assertNotIn("not this", written)

    def test_terminalObserver(self) -> None:
        """
        L{TerminalLogObserver} is an L{ILogObserver}; an event with nothing
        to say writes nothing.
        """
        stream = FakeTerminal()
        observer = TerminalLogObserver(StatusLine(stream, lambda: 80))
        verifyObject(ILogObserver, observer)
        observer({"log_format": None})
        self.assertEqual(stream.getvalue(), "")


class TwistdOptions(Options):
    """
    The options of twistd that decide where it logs.
    """

    optFlags = [["nodaemon", "n", ""], ["syslog", None, ""]]
    optParameters = [["logfile", "l", None, ""], ["logger", None, None, ""]]


def twistdOptions(*args: str) -> TwistdOptions:
    options = TwistdOptions()
    options.parseOptions(list(args))
    return options


class LogsToStdoutTests(SynchronousTestCase):
    """
    Tests for L{logsToStdout}.
    """

    def test_stdout(self) -> None:
        """
        twistd logs to standard output when not a daemon and given no log
        file, or C{-}.
        """
        self.assertTrue(logsToStdout(twistdOptions("-n")))
        self.assertTrue(logsToStdout(twistdOptions("-n", "--logfile", "-")))

    def test_elsewhere(self) -> None:
        """
        A daemon, a log file, syslog or a logger of the user's: not to
        standard output; nor without twistd at all.
        """
        self.assertFalse(logsToStdout(twistdOptions()))
        self.assertFalse(logsToStdout(twistdOptions("-n", "--logfile", "x.log")))
        self.assertFalse(logsToStdout(twistdOptions("-n", "--syslog")))
        self.assertFalse(logsToStdout(twistdOptions("-n", "--logger", "a.b")))
        self.assertFalse(logsToStdout(None))


class TwistdRootTests(SynchronousTestCase):
    """
    Tests for L{TwistdRoot}.
    """

    def test_givesObserver(self) -> None:
        """
        Joined to an application, it sets the application's
        L{ILogObserver}, which twistd logs through.
        """
        observer = consoleObserver(io.StringIO())
        application = Application("test")
        root = TwistdRoot(observer)
        root.setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver), observer)
        self.assertIn(root, list(IService(application)))

    def test_keepsObserverSet(self) -> None:
        """
        An observer the application already has is kept.
        """
        application = Application("test")
        mine = consoleObserver(io.StringIO())
        application.setComponent(ILogObserver, mine)
        TwistdRoot(consoleObserver(io.StringIO())).setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver), mine)


class Terminal(ProcessProtocol):
    """
    Collects what a process writes to its pseudo-terminal.
    """

    def __init__(self) -> None:
        self.output = b""
        self.ended: Deferred[int] = Deferred()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.output += data

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)


PROGRESS = re.compile(
    r"^(\d+\.\d)% of \S+ \S+ \| downloading \| down \S+ \S+ \| up \S+ \S+ \| \d+ peers? \| ETA \S+"
)


class TwistdOnTerminalTests(TestCase):
    """
    C{twistd -n bittorrent} with its output on a pseudo-terminal, while it
    downloads from a seeder in this process.
    """

    timeout = 60

    @inlineCallbacks
    def test_progressLine(self) -> Any:
        """
        On a terminal, a progress line with the percentage, rates, peers
        and ETA is redrawn in place (carriage return, erase line) as the
        download goes on; log lines come as whole lines; no debug line is
        written (no C{--verbose}); the completion line names the downloaded
        file's path; C{--seed-time 0} exits once it is verified.
        """
        folder = os.path.abspath(self.mktemp())
        seedDir = os.path.join(folder, "seed")
        os.makedirs(seedDir)
        payload = os.path.join(seedDir, "payload.bin")
        with open(payload, "wb") as f:
            f.write(os.urandom(768 * 1024))
        torrentPath = os.path.join(folder, "payload.torrent")
        with open(torrentPath, "wb") as f:
            f.write(createTorrent(payload, pieceLength=16384))
        seeder = BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None)
        seeder.addTorrent(torrentPath, seedDir, announce=False)
        seeder.startService()
        self.addCleanup(seeder.stopService)
        port = yield seeder.whenListening()

        downloads = os.path.join(folder, "downloads")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
        terminal = Terminal()
        reactor.spawnProcess(
            terminal,
            sys.executable,
            [
                sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "bittorrent",
                "--torrent", torrentPath, "--download-dir", downloads,
                "--state-dir", os.path.join(folder, "state"), "--web", "none",
                "--port", "tcp:0:interface=127.0.0.1", "--peer", f"127.0.0.1:{port}",
                "--max-download-rate", "256K", "--seed-time", "0",
            ],
            env=env,
            path=folder,
            usePTY=True,
        )
        code = yield terminal.ended
        text = terminal.output.decode("utf-8", "replace")
        self.assertEqual(code, 0, text)
        # What the terminal shows at each redraw: the text after each
        # "erase line", up to the next one or the end of a line.
        drawn = [piece.split("\r")[0].split("\n")[0] for piece in text.split(CLEAR_LINE)[1:]]
        percents = [float(m.group(1)) for m in map(PROGRESS.match, drawn) if m]
        self.assertGreaterEqual(len(set(percents)), 2, text)
        self.assertEqual(percents, sorted(percents))
        self.assertTrue(any(0 < p < 100 for p in percents), percents)
        self.assertNotIn("#debug]", text)
        self.assertRegex(
            text,
            r"payload\.bin: complete and verified: .* the files are in "
            + re.escape(os.path.join(downloads, "payload.bin")),
        )
        with open(payload, "rb") as f, open(os.path.join(downloads, "payload.bin"), "rb") as g:
            self.assertEqual(f.read(), g.read())
