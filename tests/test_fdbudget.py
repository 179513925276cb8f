"""
Tests for L{bittwist.filestorage.fdbudget}.
"""

import resource

from twisted.trial.unittest import SynchronousTestCase

from bittwist.filestorage import fdbudget
from bittwist.filestorage.fdbudget import (
    MAX_SHARED_BUDGET, MIN_OPEN_FILES, DescriptorBudget, raiseOpenFilesLimit, sharedBudget,
)


class DescriptorBudgetTests(SynchronousTestCase):
    """
    Tests for L{DescriptorBudget}.
    """

    def test_overOnceBeyondLimit(self) -> None:
        """
        L{DescriptorBudget.opened} tells whether the count went over the
        limit; L{DescriptorBudget.closed} whether it still is.
        """
        budget = DescriptorBudget(2)
        self.assertEqual([budget.opened() for _ in range(4)], [False, False, True, True])
        self.assertEqual(budget.inUse, 4)
        self.assertTrue(budget.closed())
        self.assertFalse(budget.closed(2))
        self.assertEqual(budget.inUse, 1)


class OpenFilesLimitTests(SynchronousTestCase):
    """
    Tests for L{raiseOpenFilesLimit} and L{sharedBudget}.
    """

    def setUp(self) -> None:
        self.limits = [1024, 4096]
        self.patch(fdbudget.resource, "getrlimit", lambda kind: tuple(self.limits))
        self.patch(fdbudget.resource, "setrlimit", self.setrlimit)

    def setrlimit(self, kind: int, limits: tuple[int, int]) -> None:
        self.assertEqual(kind, resource.RLIMIT_NOFILE)
        unlimited = limits[1] == resource.RLIM_INFINITY
        if limits[1] != self.limits[1] or (not unlimited and limits[0] > limits[1]):
            raise ValueError("not allowed")
        self.limits = list(limits)

    def test_softRaisedToHard(self) -> None:
        """
        The soft limit is raised to the hard one, and returned.
        """
        self.assertEqual(raiseOpenFilesLimit(), 4096)
        self.assertEqual(self.limits, [4096, 4096])

    def test_unlimitedHard(self) -> None:
        """
        With no hard limit, the soft one is raised to a large finite one;
        if that is refused, it stays as it was.
        """
        self.limits = [1024, resource.RLIM_INFINITY]
        self.assertEqual(raiseOpenFilesLimit(), 2**20)
        self.assertEqual(self.limits, [2**20, resource.RLIM_INFINITY])

        def refuse(kind: int, limits: tuple[int, int]) -> None:
            raise ValueError("not allowed")

        self.limits = [1024, resource.RLIM_INFINITY]
        self.patch(fdbudget.resource, "setrlimit", refuse)
        self.assertEqual(raiseOpenFilesLimit(), 1024)

    def test_sharedIsHalfTheLimit(self) -> None:
        """
        The process's shared budget is half the raised limit, made once;
        never below a few storages' minimum, nor above L{MAX_SHARED_BUDGET}.
        """
        self.patch(fdbudget, "_shared", None)
        budget = sharedBudget()
        self.assertEqual(budget.limit, 2048)
        self.assertIs(sharedBudget(), budget)
        self.patch(fdbudget, "_shared", None)
        self.limits = [16, 16]
        self.assertEqual(sharedBudget().limit, 4 * MIN_OPEN_FILES)
        self.patch(fdbudget, "_shared", None)
        self.limits = [1024, 2**20]
        self.assertEqual(sharedBudget().limit, MAX_SHARED_BUDGET)
