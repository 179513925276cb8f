"""
Tests for L{bittwist.dht.storage}.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bittwist.dht.storage import PEER_TTL, PeerStore


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

    def test_boundedPerHost(self) -> None:
        """
        One IP address holds at most C{maxPerHost} entries, whatever its
        ports and info hashes; others still get in, and it may again once
        its entries expire.
        """
        store = PeerStore(self.clock, maxPerHost=3)
        results = [store.announce(bytes([n % 2]) * 20, ("10.0.0.1", 1000 + n)) for n in range(5)]
        self.assertEqual(results, [True, True, True, False, False])
        self.assertTrue(store.announce(b"\x00" * 20, ("10.0.0.2", 1)))
        # Renewing an entry it holds is not a new one.
        self.assertTrue(store.announce(b"\x00" * 20, ("10.0.0.1", 1000)))
        self.assertEqual(len(store), 4)
        self.clock.advance(PEER_TTL)
        self.assertTrue(store.announce(b"\x05" * 20, ("10.0.0.1", 1)))

    def test_hostCannotFlushASwarm(self) -> None:
        """
        A host announcing under many ports cannot push the peers of a full
        info hash out.
        """
        store = PeerStore(self.clock, maxPerInfoHash=10, maxPerHost=3)
        for n in range(7):
            store.announce(b"a" * 20, (f"10.0.0.{n}", 1))
        for port in range(1, 100):
            store.announce(b"a" * 20, ("192.0.2.1", port))
        held = store.peers(b"a" * 20, 100)
        self.assertEqual(len(held), 10)
        self.assertEqual(sum(1 for host, _ in held if host == "192.0.2.1"), 3)

    def test_fullStoreSweptOncePerMinute(self) -> None:
        """
        A refused announcement does not cost a sweep of the whole store each
        time: the store is swept at most once a minute.
        """
        store = PeerStore(self.clock, maxInfoHashes=100)
        for n in range(100):
            store.announce(n.to_bytes(20, "big"), (f"10.0.0.{n}", 1))
        sweeps = []
        expireAll = store.expireAll
        self.patch(store, "expireAll", lambda: (sweeps.append(1), expireAll()))
        for n in range(1000):
            self.assertFalse(store.announce(b"\xff" * 20, (f"10.1.{n // 256}.{n % 256}", 1)))
            self.clock.advance(0.01)
        self.assertEqual(len(sweeps), 1)

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(1, 4), st.sampled_from([0, 1, 700, 1800])),
            max_size=60,
        )
    )
    def test_boundsHold(self, steps: list[tuple[int, int, int, int]]) -> None:
        """
        Whatever is announced, from whom and when, every bound holds and the
        counts agree with the entries held.
        """
        store = PeerStore(self.clock, maxPerInfoHash=3, maxInfoHashes=4, maxPeers=8, maxPerHost=2)
        for infoHash, host, port, wait in steps:
            self.clock.advance(wait)
            store.announce(bytes([infoHash]) * 20, (f"10.0.0.{host}", port))
            entries = [(h, address) for h, swarm in store._swarms.items() for address in swarm]
            self.assertLessEqual(len(entries), 8)
            self.assertEqual(len(store), len(entries))
            self.assertLessEqual(store.infoHashCount, 4)
            self.assertTrue(all(0 < len(swarm) <= 3 for swarm in store._swarms.values()))
            perHost: dict[str, int] = {}
            for _, (h, _) in entries:
                perHost[h] = perHost.get(h, 0) + 1
            self.assertEqual(store._perHost, perHost)
            self.assertTrue(all(n <= 2 for n in perHost.values()))

