"""
Tests for L{bittwist.dht.tokens} and L{bittwist.dht.storage}.
"""

import itertools

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.dht.storage import PEER_TTL, PeerStore
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


class PeerStoreTests(SynchronousTestCase):
    """
    Announced peers, expiring and bounded.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_announceAndGet(self) -> None:
        store = PeerStore(self.clock)
        store.announce(b"a" * 20, ("10.0.0.1", 1))
        store.announce(b"a" * 20, ("10.0.0.2", 2))
        self.assertEqual(sorted(store.peers(b"a" * 20, 10)), [("10.0.0.1", 1), ("10.0.0.2", 2)])
        self.assertEqual(len(store.peers(b"a" * 20, 1)), 1)
        self.assertEqual(store.peers(b"b" * 20, 10), [])

    def test_expires(self) -> None:
        store = PeerStore(self.clock)
        store.announce(b"a" * 20, ("10.0.0.1", 1))
        self.clock.advance(PEER_TTL - 1)
        store.announce(b"a" * 20, ("10.0.0.2", 2))
        self.clock.advance(1)
        self.assertEqual(store.peers(b"a" * 20, 10), [("10.0.0.2", 2)])
        self.clock.advance(PEER_TTL)
        store.expireAll()
        self.assertEqual((len(store), store.infoHashCount), (0, 0))

    def test_renewal(self) -> None:
        store = PeerStore(self.clock)
        store.announce(b"a" * 20, ("10.0.0.1", 1))
        self.clock.advance(PEER_TTL - 1)
        store.announce(b"a" * 20, ("10.0.0.1", 1))
        self.clock.advance(10)
        self.assertEqual(store.peers(b"a" * 20, 10), [("10.0.0.1", 1)])
        self.assertEqual(len(store), 1)

    def test_boundedPerInfoHash(self) -> None:
        store = PeerStore(self.clock, maxPerInfoHash=3)
        for n in range(5):
            self.assertTrue(store.announce(b"a" * 20, (f"10.0.0.{n}", 1)))
        self.assertEqual(sorted(store.peers(b"a" * 20, 10)), [(f"10.0.0.{n}", 1) for n in (2, 3, 4)])
        self.assertEqual(len(store), 3)

    def test_boundedInfoHashes(self) -> None:
        store = PeerStore(self.clock, maxInfoHashes=2)
        self.assertTrue(store.announce(b"a" * 20, ("10.0.0.1", 1)))
        self.assertTrue(store.announce(b"b" * 20, ("10.0.0.1", 1)))
        self.assertFalse(store.announce(b"c" * 20, ("10.0.0.1", 1)))
        self.clock.advance(PEER_TTL)
        self.assertTrue(store.announce(b"c" * 20, ("10.0.0.1", 1)))

    def test_boundedTotal(self) -> None:
        store = PeerStore(self.clock, maxPeers=3)
        for n in range(3):
            store.announce(bytes([n]) * 20, ("10.0.0.1", 1))
        self.assertFalse(store.announce(b"z" * 20, ("10.0.0.1", 1)))
        self.assertEqual((len(store), store.infoHashCount), (3, 3))
