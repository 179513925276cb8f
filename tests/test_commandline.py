"""
Tests for L{bittwist.commandline}: usage errors in one line, for
C{twistd bittorrent} and C{twistd bittorrent-tracker}.
"""

import io
import os
import subprocess
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import bittwist
from bittwist import tap, trackertap
from bittwist.commandline import OneLineUsageErrors, usageLine


class Runner(usage.Options):
    """
    A runner like C{twistd}'s C{ServerOptions}: the plugins are subcommands.
    """

    subCommands = [
        ("bittorrent", None, tap.Options, "bittwist"),
        ("bittorrent-tracker", None, trackertap.Options, "tracker"),
    ]


class OneLineUsageErrorsTests(SynchronousTestCase):
    """
    L{OneLineUsageErrors} on the plugins' options.
    """

    def setUp(self) -> None:
        self.patch(sys, "argv", ["/usr/bin/twistd"])

    def test_usageLine(self) -> None:
        """
        L{usageLine} is the command, what is wrong (on one line) and where
        to read more.
        """
        self.assertEqual(
            usageLine("twistd bittorrent", "--max-peers must\nbe at least 1"),
            "twistd bittorrent: --max-peers must be at least 1 "
            "(see 'twistd bittorrent --help')",
        )

    def test_subcommandExits(self) -> None:
        """
        Parsed as a runner's subcommand, a usage error of either plugin
        leaves with one line saying what is wrong, never with the usage text.
        """
        for argv, line in (
            (["bittorrent", "--max-peers", "0"],
             "twistd bittorrent: --max-peers must be at least 1 "
             "(see 'twistd bittorrent --help')"),
            (["bittorrent", "--bogus"],
             "twistd bittorrent: option --bogus not recognized "
             "(see 'twistd bittorrent --help')"),
            (["bittorrent-tracker", "--interval", "0"],
             "twistd bittorrent-tracker: --interval 0: must be between 1 and 86400 "
             "seconds (see 'twistd bittorrent-tracker --help')"),
        ):
            error = self.assertRaises(SystemExit, Runner().parseOptions, argv)
            self.assertEqual(error.code, line)

    def test_runnerName(self) -> None:
        """
        Under C{twist} the line names C{twist}; under anything else
        (C{python -m twisted}), C{twistd}.
        """
        self.patch(sys, "argv", ["/usr/bin/twist"])
        error = self.assertRaises(SystemExit, Runner().parseOptions,
                                  ["bittorrent", "--max-peers", "0"])
        self.assertTrue(error.code.startswith("twist bittorrent: "))
        self.patch(sys, "argv", ["/x/__main__.py"])
        error = self.assertRaises(SystemExit, Runner().parseOptions,
                                  ["bittorrent", "--max-peers", "0"])
        self.assertTrue(error.code.startswith("twistd bittorrent: "))

    def test_aloneRaises(self) -> None:
        """
        Parsed on their own (a program embedding bittwist, a test), the
        options raise L{usage.UsageError} as before.
        """
        for options, argv in ((tap.Options(), ["--max-peers", "0"]),
                              (trackertap.Options(), ["--interval", "0"])):
            self.assertIsInstance(options, OneLineUsageErrors)
            self.assertRaises(usage.UsageError, options.parseOptions, argv)

    def test_helpUnchanged(self) -> None:
        """
        C{--help} still prints the whole usage text and exits 0.
        """
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        error = self.assertRaises(SystemExit, Runner().parseOptions, ["bittorrent", "--help"])
        self.assertEqual(error.code, 0)
        self.assertIn("--max-peers", out.getvalue())
        self.assertGreater(out.getvalue().count("\n"), 10)


class TwistdTests(SynchronousTestCase):
    """
    The real C{twistd}, in a child process.
    """

    def twistd(self, *argv: str) -> subprocess.CompletedProcess:
        root = os.path.dirname(os.path.dirname(os.path.abspath(bittwist.__file__)))
        env = dict(os.environ, PYTHONPATH=root)
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        script = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
        return subprocess.run(
            [sys.executable, "-c", script, "--nodaemon", *argv],
            env=env, cwd=folder,
            capture_output=True, text=True, timeout=60,
        )

    def test_oneLine(self) -> None:
        """
        C{twistd bittorrent --max-peers 0} writes one line to stderr, none
        to stdout, and exits 1.
        """
        result = self.twistd("bittorrent", "--max-peers", "0")
        self.assertEqual(
            (result.returncode, result.stdout, result.stderr),
            (1, "", "twistd bittorrent: --max-peers must be at least 1 "
                    "(see 'twistd bittorrent --help')\n"),
        )
