"""
Tests for bittwist, run with trial: C{trial tests}.
"""

from hypothesis import HealthCheck, settings

# Hypothesis' per-example deadline (200 ms) measures the machine, not the
# code: on a loaded two-core CI machine it fails tests at random. Resource
# bounds are asserted by the tests themselves (tests/fuzzing.py).
settings.register_profile(
    "bittwist", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("bittwist")

# No test may use the user's own state folder (another bittwist may hold
# it, and tests must not leave torrents in it): the default one, for the
# tests and the processes they start, is a fresh temporary folder.
import atexit as _atexit
import os as _os
import shutil as _shutil
import tempfile as _tempfile

_os.environ["XDG_STATE_HOME"] = _tempfile.mkdtemp(prefix="bittwist-tests-state-")
_atexit.register(_shutil.rmtree, _os.environ["XDG_STATE_HOME"], True)
