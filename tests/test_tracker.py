"""
Tests for L{bittwist.tracker}: the names users import, from the modules that
hold them.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist import announcer, httptracker, tracker, trackerclient


class PublicNamesTests(SynchronousTestCase):
    """
    L{bittwist.tracker} gives the very objects its parts hold.
    """

    def test_sameObjects(self) -> None:
        """
        Each name of C{bittwist.tracker.__all__} is the object of the one
        module that defines it.
        """
        for name in tracker.__all__:
            owners = [m for m in (announcer, httptracker, trackerclient) if name in m.__all__]
            self.assertEqual(len(owners), 1, name)
            self.assertIs(getattr(tracker, name), getattr(owners[0], name), name)
