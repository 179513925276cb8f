"""
Tests for L{bittwist.dht.tokens}.
"""

import itertools

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.dht.tokens import ROTATE_EVERY, TokenKeeper


def _counter():
    counter = itertools.count()
    return lambda n: next(counter).to_bytes(n, "big")


class TokenKeeperTests(SynchronousTestCase):
    """
    Tokens bound to an IP, valid for one to two rotation periods.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.keeper = TokenKeeper(self.clock, _counter())

    def test_boundToHost(self) -> None:
        token = self.keeper.tokenFor("10.0.0.1")
        self.assertTrue(self.keeper.check(token, "10.0.0.1"))
        self.assertFalse(self.keeper.check(token, "10.0.0.2"))
        self.assertFalse(self.keeper.check(b"x" * len(token), "10.0.0.1"))

    def test_previousSecretAccepted(self) -> None:
        token = self.keeper.tokenFor("10.0.0.1")
        self.clock.advance(ROTATE_EVERY)
        self.assertTrue(self.keeper.check(token, "10.0.0.1"))
        self.assertNotEqual(self.keeper.tokenFor("10.0.0.1"), token)

    def test_expiresAfterTwoRotations(self) -> None:
        token = self.keeper.tokenFor("10.0.0.1")
        self.clock.advance(ROTATE_EVERY)
        self.keeper.tokenFor("10.0.0.9")
        self.clock.advance(ROTATE_EVERY)
        self.assertFalse(self.keeper.check(token, "10.0.0.1"))

    def test_expiresAfterLongSilence(self) -> None:
        """
        Nobody asked for ten minutes: a token from before is refused at once.
        """
        token = self.keeper.tokenFor("10.0.0.1")
        self.clock.advance(2 * ROTATE_EVERY)
        self.assertFalse(self.keeper.check(token, "10.0.0.1"))
