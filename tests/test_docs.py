"""
The API reference builds from the docstrings without a warning, as the tox
C{docs} environment builds it.
"""

import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

import bittwist


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
