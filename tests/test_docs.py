"""
The API reference builds from the docstrings without a warning, as the tox
C{docs} environment builds it; the user guide covers every option and state,
and its commands run.
"""

import ast
import importlib
import inspect
import operator
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


#: A limit named in C{docs/security.md}: C{`module.NAME = value`}.
_LIMIT_MARKER = re.compile(r"`([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+) = ([^`]+)`")

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Pow: operator.pow,
    ast.FloorDiv: operator.floordiv,
}


def documentedLimits(text: str) -> list[tuple[str, str]]:
    """
    @return: the C{(dotted name, value expression)} of every limit marker in
        C{text}.
    """
    return _LIMIT_MARKER.findall(text)


def codeValue(dotted: str) -> tuple[object, dict[str, object]]:
    """
    Find what a marker's name names: a module's constant, a class attribute,
    or a keyword argument's default (C{module.Class.argument},
    C{module.function.argument}).

    @param dotted: the name under C{bittwist}, e.g. C{dht.node.MAX_VALUES}.
    @return: its value, and the namespace of its module (for the names a
        value expression uses).
    @raise LookupError: if the name names nothing.
    """
    parts = dotted.split(".")
    module = None
    for end in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module("bittwist." + ".".join(parts[:end]))
        except ImportError:
            continue
        break
    if module is None:
        raise LookupError(f"no module bittwist.{dotted}")
    value: object = module
    for name in parts[end:]:
        if hasattr(value, name):
            value = getattr(value, name)
            continue
        try:
            parameter = inspect.signature(value).parameters[name]  # type: ignore[arg-type]
        except (TypeError, ValueError, KeyError):
            raise LookupError(f"bittwist.{dotted}: no {name!r} in {value!r}") from None
        if parameter.default is inspect.Parameter.empty:
            raise LookupError(f"bittwist.{dotted}: {name!r} has no default")
        value = parameter.default
    return value, vars(module)


def evaluate(expression: str, namespace: dict[str, object]) -> object:
    """
    @return: the value of a marker's expression: numbers, strings and bytes,
        C{+ - * ** //}, and names of the module's constants.
    @raise ValueError: for anything else.
    """

    def walk(node: ast.AST) -> object:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bytes)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)  # type: ignore[operator]
        if isinstance(node, ast.Name) and node.id in namespace:
            return namespace[node.id]
        raise ValueError(f"not a simple value: {ast.dump(node)}")

    return walk(ast.parse(expression.strip(), mode="eval").body)


def limitMismatches(text: str) -> list[str]:
    """
    @return: a line for each limit marker of C{text} whose name names
        nothing in the code or whose value differs from the code's.
    """
    wrong = []
    for dotted, expression in documentedLimits(text):
        try:
            actual, namespace = codeValue(dotted)
            stated = evaluate(expression, namespace)
        except (LookupError, ValueError, SyntaxError) as e:
            wrong.append(f"`{dotted} = {expression}`: {e}")
            continue
        if stated != actual or type(stated) is not type(actual):
            wrong.append(f"`{dotted} = {expression}`: the code has {actual!r}")
    return wrong


class SecurityDocTests(SynchronousTestCase):
    """
    C{docs/security.md} states each limit as C{`module.NAME = value`}; the
    code must agree.
    """

    def test_limitsMatchTheCode(self):
        """
        Every limit named in the threat model exists in the code with the
        value the page states.
        """
        self.assertEqual(limitMismatches(readDoc("docs", "security.md")), [])

    def test_everyDoorHasLimits(self):
        """
        Each section of the threat model names its limits as markers (so a
        change of syntax cannot make the check above vacuous).
        """
        text = readDoc("docs", "security.md")
        sections = re.split(r"^## ", text, flags=re.M)[1:]
        titles = [section.splitlines()[0] for section in sections]
        self.assertEqual(
            titles,
            ["Peers", "Trackers", "Torrent files and magnet links", "Web clients", "The DHT", "Local users"],
        )
        for title, section in zip(titles, sections):
            self.assertGreaterEqual(len(documentedLimits(section)), 3, title)

    def test_mismatchesFound(self):
        """
        A wrong value, a wrong type, a name that names nothing and a value
        that is no simple expression are each reported; constants, class
        attributes, defaults and expressions over module names are read.
        """
        self.assertEqual(
            limitMismatches(
                "`wire.MAX_BLOCK_LENGTH = 131072`, `wire.MAX_MESSAGE_LENGTH = 1 + 8 + MAX_BLOCK_LENGTH`, "
                "`tracker.Announcer.BACKOFF_MAX = 30 * 60`, `dht.node.DHTNode.answerRate = 5.0`, "
                "`config.TorrentConfig.maxPeers = 50`, `web.site.CSRF_HEADER = b\"x-bittwist\"`"
            ),
            [],
        )
        wrong = limitMismatches(
            "`wire.MAX_BLOCK_LENGTH = 131073` `dht.node.DHTNode.answerRate = 5` `wire.NO_SUCH = 1` "
            "`nosuchmodule.X = 1` `wire.MAX_BLOCK_LENGTH = len('x')`"
        )
        self.assertEqual(len(wrong), 5, wrong)
        self.assertIn("the code has 131072", wrong[0])
        self.assertIn("the code has 5.0", wrong[1])
