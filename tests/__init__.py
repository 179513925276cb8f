"""
Tests for bittwist, run with trial: C{trial tests}.
"""
