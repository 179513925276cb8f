"""
Helpers of the fuzz suite (L{tests.test_fuzz}): how many inputs each parser
is tried with, and the time and memory one input may cost.

By default each fuzz test tries few inputs, so the suite stays fast.  Set
C{BITTWIST_FUZZ_EXAMPLES} to try that many per test instead (C{tox -e
fuzz} does), and C{BITTWIST_FUZZ_REPORT} to a file to which each test
appends, per parser, the inputs tried and the most time and memory one took;
C{python -m tests.fuzzing FILE} prints that file as a table.
"""

import os
import sys
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from hypothesis import HealthCheck, settings
from twisted.trial.unittest import SynchronousTestCase

__all__ = [
    "EXAMPLES_VARIABLE",
    "REPORT_VARIABLE",
    "fuzzSettings",
    "Limits",
    "ResourceLimitExceeded",
    "InputMeter",
]

EXAMPLES_VARIABLE = "BITTWIST_FUZZ_EXAMPLES"
REPORT_VARIABLE = "BITTWIST_FUZZ_REPORT"

MiB = 1024 * 1024


def fuzzSettings(examples: int) -> settings:
    """
    @param examples: how many inputs to try by default.
    @return: hypothesis settings trying C{examples} inputs, or
        C{$BITTWIST_FUZZ_EXAMPLES} when set; no per-example deadline (the
        L{InputMeter} bounds each input instead, on CPU time, which a busy
        machine does not inflate).
    """
    override = os.environ.get(EXAMPLES_VARIABLE)
    return settings(
        max_examples=int(override) if override else examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )


@dataclass(frozen=True)
class Limits:
    """
    What one input may cost a parser.

    @ivar seconds: CPU seconds.
    @ivar memory: bytes of peak memory allocated (as C{tracemalloc} counts
        it) above what was allocated before.
    """

    seconds: float
    memory: int


class ResourceLimitExceeded(AssertionError):
    """
    One input cost a parser more time or memory than its L{Limits}.
    """


class InputMeter:
    """
    Measures each input given to one parser against its L{Limits}, and
    counts the inputs.

    @ivar parser: what is measured, e.g. C{"metainfo.parse"}.
    @ivar count: the inputs measured so far.
    @ivar maxSeconds: the most CPU time one input took.
    @ivar maxMemory: the most memory one input took.
    """

    def __init__(
        self, testCase: SynchronousTestCase, parser: str, limits: Limits, report: bool = True
    ) -> None:
        """
        @param testCase: when it ends, the counts are reported if C{report}
            and C{$BITTWIST_FUZZ_REPORT} names a file.
        """
        self.parser = parser
        self.limits = limits
        self.count = 0
        self.maxSeconds = 0.0
        self.maxMemory = 0
        if report:
            testCase.addCleanup(self.report)

    @contextmanager
    def measure(self) -> Iterator[None]:
        """
        Measure the body as one input: when it ends without an exception,
        fail if it took more than the limits allow.

        Allocations are traced only meanwhile (so generating inputs stays
        fast); tracing slows code that allocates much, up to some fifteen
        times, which the time limits allow for.

        @raise ResourceLimitExceeded: if it did.
        """
        tracing = tracemalloc.is_tracing()
        if tracing:
            tracemalloc.reset_peak()
        else:
            tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        start = time.process_time()
        try:
            yield
        finally:
            seconds = time.process_time() - start
            memory = max(0, tracemalloc.get_traced_memory()[1] - baseline)
            if not tracing:
                tracemalloc.stop()
            self.count += 1
            self.maxSeconds = max(self.maxSeconds, seconds)
            self.maxMemory = max(self.maxMemory, memory)
        if seconds > self.limits.seconds:
            raise ResourceLimitExceeded(
                f"{self.parser}: one input took {seconds:.2f} s of CPU, over "
                f"{self.limits.seconds} s"
            )
        if memory > self.limits.memory:
            raise ResourceLimitExceeded(
                f"{self.parser}: one input took {memory / MiB:.1f} MiB, over "
                f"{self.limits.memory / MiB:.1f} MiB"
            )

    def report(self) -> None:
        """
        Append C{parser, count, maxSeconds, maxMemory} as a line to
        C{$BITTWIST_FUZZ_REPORT}, if set.
        """
        path = os.environ.get(REPORT_VARIABLE)
        if path:
            with open(path, "a") as f:
                f.write(f"{self.parser}\t{self.count}\t{self.maxSeconds:.4f}\t{self.maxMemory}\n")


def summarize(lines: list[str]) -> str:
    """
    @param lines: the lines of a report file.
    @return: a table of the inputs tried per parser (summed over the tests
        that fuzz it), and the most time and memory one input took.
    """
    totals: dict[str, list[float]] = {}
    for line in lines:
        parser, count, seconds, memory = line.rstrip("\n").split("\t")
        row = totals.setdefault(parser, [0, 0.0, 0])
        row[0] += int(count)
        row[1] = max(row[1], float(seconds))
        row[2] = max(row[2], int(memory))
    width = max([len("parser")] + [len(p) for p in totals])
    out = [f"{'parser':<{width}}  {'inputs':>8}  {'max CPU s':>9}  {'max MiB':>7}"]
    for parser in sorted(totals):
        count, seconds, memory = totals[parser]
        out.append(f"{parser:<{width}}  {count:>8}  {seconds:>9.3f}  {memory / MiB:>7.2f}")
    out.append(f"{'total':<{width}}  {sum(r[0] for r in totals.values()):>8}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    """
    Print the table of the report file C{argv[0]}.
    """
    with open(argv[0]) as f:
        sys.stdout.write(summarize(f.readlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
