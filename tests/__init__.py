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
