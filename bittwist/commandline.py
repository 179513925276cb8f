# -*- test-case-name: tests.test_commandline -*-
"""
Command-line errors in one line.

C{twistd} (and C{twist}) answer a C{usage.UsageError} raised by a plugin's
options with the whole usage text, some thirty lines, before the line that
says what is wrong.  L{OneLineUsageErrors} makes a plugin's options say it
in one line instead, pointing to C{--help} for the rest.
"""

import os
import sys
from typing import Any, Optional, Sequence

from twisted.python import usage

__all__ = ["OneLineUsageErrors", "usageLine"]


def usageLine(command: str, message: str) -> str:
    """
    @param command: the command as typed, e.g. C{"twistd bittorrent"}.
    @param message: what is wrong.
    @return: one line saying so, and where to read more.
    """
    message = " ".join(message.split())
    return f"{command}: {message} (see '{command} --help')"


class OneLineUsageErrors:
    """
    A mixin for C{usage.Options}, first among the bases: parsed as a
    C{twistd} subcommand, a C{usage.UsageError} leaves the process at once
    with L{usageLine} on standard error and exit status 1 (what C{twistd}
    gives a usage error), so the runner never prints its usage text.

    Parsed on its own (by a test or a program embedding bittwist), the
    options raise C{usage.UsageError} as usual: only a runner that made them
    a subcommand (set C{parent} and its C{subCommand}) gets the exit.
    """

    parent: Any

    def parseOptions(self, options: Optional[Sequence[str]] = None) -> None:
        try:
            super().parseOptions(options)  # type: ignore[misc]
        except usage.UsageError as e:
            runner = getattr(self, "parent", None)
            subCommand = getattr(runner, "subCommand", None)
            if runner is None or subCommand is None:
                raise
            raise SystemExit(usageLine(f"{_program()} {subCommand}", str(e))) from None


def _program() -> str:
    """
    @return: the runner as typed: C{twist} or C{twistd} (the default, also
        for C{python -m twisted}).
    """
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    return name if name in ("twist", "twistd") else "twistd"
