"""
Tests for L{bittwist.atomicfile}.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from bittwist import atomicfile
from bittwist.atomicfile import writeAtomically


class WriteAtomicallyTests(SynchronousTestCase):
    """
    L{writeAtomically} replaces a file whole and leaves nothing behind.
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.mkdir(self.folder)
        self.path = os.path.join(self.folder, "table.dat")

    def test_replaces(self) -> None:
        """
        The file holds the new bytes, and no temporary file is left.
        """
        writeAtomically(self.path, b"old")
        writeAtomically(self.path, b"new")
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"new")
        self.assertEqual(os.listdir(self.folder), ["table.dat"])

    def test_failedWriteKeepsOld(self) -> None:
        """
        If the rename fails, the old file is intact and the temporary file
        is removed.
        """
        writeAtomically(self.path, b"old")

        def refuse(source: str, destination: str) -> None:
            raise OSError("no room")

        self.patch(atomicfile.os, "replace", refuse)
        self.assertRaises(OSError, writeAtomically, self.path, b"new")
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"old")
        self.assertEqual(os.listdir(self.folder), ["table.dat"])

    def test_temporaryBeside(self) -> None:
        """
        The temporary file is in the same folder, named after the file.
        """
        fd, temporary = atomicfile.temporaryFile(self.path)
        os.close(fd)
        self.assertEqual(os.path.dirname(temporary), self.folder)
        self.assertTrue(os.path.basename(temporary).startswith(".table.dat"))
        self.assertTrue(temporary.endswith(".tmp"))
