"""
The API reference builds from the docstrings without a warning, as the tox
C{docs} environment builds it; the user guide covers every option and state,
and its commands run.
"""

import os
import re
import shlex
import subprocess
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

import bittwist
from bittwist import tap
from bittwist.metainfo import createTorrent
from bittwist.torrent import TorrentState

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readDoc(*path: str) -> str:
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def shellCommands(text: str) -> list[list[str]]:
    """
    @return: the commands in the C{sh} code blocks of a Markdown text, as
        argument lists (comments dropped, continued lines joined, lists of
        commands split).
    """
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command: list[str] = []
            for word in shlex.split(line, comments=True) + ["&&"]:
                if word in ("&&", "||", ";", "|"):
                    if command:
                        commands.append(command)
                    command = []
                else:
                    command.append(word)
    return commands


def bittorrentArguments(text: str) -> list[list[str]]:
    """
    @return: the arguments given to C{twistd ... bittorrent} by each such
        command in the C{sh} code blocks of C{text}.
    """
    found = []
    for words in shellCommands(text):
        if os.path.basename(words[0]) == "twistd" and "bittorrent" in words:
            found.append(words[words.index("bittorrent") + 1 :])
    return found


class APIReferenceTests(TestCase):
    """
    pydoctor over the C{bittwist} package.
    """

    def test_buildsWithoutWarnings(self):
        """
        pydoctor with C{-W} (warnings are errors) exits 0: every L{} link in
        every docstring resolves and every docstring parses as epytext.
        """
        package = os.path.dirname(bittwist.__file__)
        result = subprocess.run(
            [
                sys.executable, "-m", "pydoctor", "-q", "-W",
                "--project-name=bittwist", "--docformat=epytext",
                "--html-output", os.path.abspath(self.mktemp()), package,
            ],
            capture_output=True,
            text=True,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class UserGuideTests(SynchronousTestCase):
    """
    C{docs/usage.md} and the README against the code.
    """

    def setUp(self) -> None:
        self.usage = readDoc("docs", "usage.md")

    def test_everyOptionDocumented(self) -> None:
        """
        Every option of C{twistd bittorrent} is in the usage guide's table.
        """
        options = tap.Options()
        names = [option[0] for option in options.optParameters + options.optFlags]
        names += [name[len("opt_"):].replace("_", "-") for name in dir(options) if name.startswith("opt_")]
        names = sorted(set(names) - {"help", "version"})
        rows = [line for line in self.usage.splitlines() if line.startswith("| `--")]
        for name in names:
            self.assertTrue(
                any(f"`--{name}`" in row for row in rows), f"--{name} is not in docs/usage.md's table"
            )

    def test_everyStateDocumented(self) -> None:
        """
        Every torrent state has a row of the usage guide's table of states,
        and is listed in the web page's documentation of C{state}.
        """
        rows = re.findall(r"^\| `([a-z ]+)` \|", self.usage, re.M)
        web = readDoc("docs", "web.md")
        [stateLine] = re.findall(r"`state` is one of (.*?)\(", web, re.S)
        for state in TorrentState:
            self.assertIn(state.value, rows, f"{state.value} has no row in docs/usage.md")
            self.assertIn(f"`{state.value}`", stateLine, f"{state.value} is not in docs/web.md")

    def test_commandsParse(self) -> None:
        """
        Every C{twistd bittorrent} command of the README and the user guide
        parses (with the files it names made up): options, endpoints and
        values as written there are accepted.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        payload = os.path.join(folder, "payload.bin")
        with open(payload, "wb") as f:
            f.write(b"x" * 1000)
        torrent = os.path.join(folder, "x.torrent")
        with open(torrent, "wb") as f:
            f.write(createTorrent(payload, pieceLength=16384))
        made = {"--torrent": torrent, "-t": torrent, "--watch-dir": folder}
        commands = []
        for name in ("README.md", os.path.join("docs", "usage.md"), os.path.join("docs", "web.md")):
            commands += [(name, args) for args in bittorrentArguments(readDoc(name))]
        self.assertGreaterEqual(len(commands), 15)
        for name, args in commands:
            args = [made.get(args[i - 1], arg) if i else arg for i, arg in enumerate(args)]
            options = tap.Options()
            try:
                options.parseOptions(args)
            except usage.UsageError as e:
                self.fail(f"{name}: twistd bittorrent {shlex.join(args)}: {e}")

    def test_endpointExamples(self) -> None:
        """
        The guide shows C{--port} as a bare number and as endpoint
        descriptions, and C{--web} as an endpoint and as C{none}.
        """
        given: dict[str, set[str]] = {"--port": set(), "--web": set()}
        for args in bittorrentArguments(self.usage):
            for option, value in zip(args, args[1:]):
                if option in given:
                    given[option].add(value)
        self.assertTrue(any(v.isdigit() for v in given["--port"]), given)
        self.assertTrue(any("interface=" in v for v in given["--port"]), given)
        self.assertTrue(any(v.startswith("tcp6:") for v in given["--port"]), given)
        self.assertIn("none", given["--web"])
        self.assertTrue(any(v.startswith("tcp:") for v in given["--web"]), given)

    def test_topics(self) -> None:
        """
        The guide has a section on seeding files one has, the watch folder,
        the states, and the terminal; and shows C{--seed-time 0} and each
        C{--encryption} policy.
        """
        for heading in (
            "## Seeding files you already have",
            "## The watch folder",
            "## Torrent states",
            "## What the terminal shows",
            "## Endpoints for `--port` and `--web`",
        ):
            self.assertIn(heading, self.usage)
        self.assertIn("--seed-time 0", self.usage)
        for policy in ("`prefer`", "`require`", "`off`"):
            self.assertIn(policy, self.usage)
