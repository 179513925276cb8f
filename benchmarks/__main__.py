"""
C{python -m benchmarks}: the benchmark suite, see L{benchmarks.suite}.
"""

from benchmarks.suite import main

main()
