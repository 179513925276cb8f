"""
Tests for L{bittwist.filestorage.filecache}.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import StorageError
from bittwist.filestorage import filecache
from bittwist.filestorage.fdbudget import MIN_OPEN_FILES, DescriptorBudget
from bittwist.filestorage.filecache import FileCache
from bittwist.filestorage.shared import Span


class FileCacheTests(SynchronousTestCase):
    """
    Tests for L{FileCache}.
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)

    def makeCache(self, budget: DescriptorBudget) -> FileCache:
        cache = FileCache(self.folder, budget)
        self.addCleanup(cache.closeAll)
        return cache

    def spans(self, count: int, folders: int = 1) -> list[Span]:
        return [
            Span(n * 10, 10, False, os.path.join(self.folder, f"d{n % folders}", f"f{n}"), n)
            for n in range(count)
        ]

    def test_budgetShedsLeastRecentlyUsed(self) -> None:
        """
        Beyond the budget the least recently used files are closed; the
        budget counts every open file and gets them back on close.
        """
        budget = DescriptorBudget(MIN_OPEN_FILES + 2)
        cache = self.makeCache(budget)
        spans = self.spans(MIN_OPEN_FILES + 4)
        for span in spans[:-1]:
            cache.fd(span, True)
        cache.fd(spans[0], True)
        cache.fd(spans[-1], True)
        self.assertEqual(list(cache.fds), [n for n in range(3, len(spans) - 1)] + [0, len(spans) - 1])
        self.assertEqual(budget.inUse, MIN_OPEN_FILES + 2)
        cache.close(spans[0])
        self.assertEqual(budget.inUse, MIN_OPEN_FILES + 1)
        cache.closeAll()
        self.assertEqual(budget.inUse, 0)

    def test_budgetShared(self) -> None:
        """
        A cache over a budget spent by another closes its own files, down to
        L{MIN_OPEN_FILES}, never the other's.
        """
        budget = DescriptorBudget(MIN_OPEN_FILES + 2)
        first, second = self.makeCache(budget), self.makeCache(budget)
        spans = self.spans(2 * MIN_OPEN_FILES + 4)
        for span in spans[:MIN_OPEN_FILES + 2]:
            first.fd(span, True)
        for span in spans[MIN_OPEN_FILES + 2:]:
            second.fd(span, True)
        self.assertEqual(len(first.fds), MIN_OPEN_FILES + 2)
        self.assertEqual(len(second.fds), MIN_OPEN_FILES)
        self.assertEqual(budget.inUse, 2 * MIN_OPEN_FILES + 2)

    def test_folderResolvedOnce(self) -> None:
        """
        Each folder is resolved once, however many of its files are opened,
        for reading or writing.
        """
        resolved = []
        realpath = os.path.realpath

        def counting(path: str) -> str:
            resolved.append(path)
            return realpath(path)

        self.patch(filecache.os.path, "realpath", counting)
        cache = self.makeCache(DescriptorBudget(100))
        spans = self.spans(6, folders=2)
        for span in spans:
            cache.fd(span, True)
        cache.closeAll()
        for span in spans:
            cache.fd(span, False)
        folders = [os.path.join(self.folder, f"d{n}") for n in range(2)]
        # The root once, then each folder before and after it was made.
        self.assertEqual(resolved, [self.folder] + [f for f in folders for _ in range(2)])

    def test_missingFolderNotRemembered(self) -> None:
        """
        Reading from a folder not there yet finds nothing; a symbolic link
        put there later is still refused.
        """
        cache = self.makeCache(DescriptorBudget(100))
        [span] = self.spans(1)
        self.assertIsNone(cache.fd(span, False))
        outside = os.path.abspath(self.mktemp())
        os.makedirs(outside)
        os.symlink(outside, os.path.join(self.folder, "d0"))
        self.assertRaises(StorageError, cache.fd, span, True)
        self.assertEqual(os.listdir(outside), [])

    def test_folderRemovedMadeAgain(self) -> None:
        """
        A folder removed after it was checked is made again, and checked
        again, on the next file created in it.
        """
        cache = self.makeCache(DescriptorBudget(100))
        first, second = self.spans(2)
        cache.fd(first, True)
        cache.closeAll()
        os.unlink(first.path)
        os.rmdir(os.path.dirname(first.path))
        cache.fd(second, True)
        self.assertTrue(os.path.exists(second.path))

    def test_symlinkedFolderAfterRemovalRefused(self) -> None:
        """
        A checked folder removed and replaced by a symbolic link to outside
        the download folder is refused when a file must be created in it.
        """
        cache = self.makeCache(DescriptorBudget(100))
        first, second = self.spans(2)
        cache.fd(first, True)
        cache.closeAll()
        os.unlink(first.path)
        folder = os.path.dirname(first.path)
        os.rmdir(folder)
        outside = os.path.abspath(self.mktemp())
        os.makedirs(outside)
        os.symlink(os.path.join(outside, "gone"), folder)
        self.assertRaises(StorageError, cache.fd, second, True)
        self.assertEqual(os.listdir(outside), [])
