# -*- test-case-name: tests.test_ut_pex -*-
"""
Tests for L{bittwist.extensions.ut_pex}.
"""

import bencodepy
from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.bdecode import MAX_INTEGER_DIGITS
from bittwist.errors import ExtensionError
from bittwist.extensions.ut_pex import (
    MAX_PEX_PEERS,
    MAX_PEX_PEERS_RECEIVED,
    PexFlags,
    PexMessage,
    nextPexMessage,
)

ports = st.integers(1, 65535)
integers = st.integers(-(10**MAX_INTEGER_DIGITS) + 1, 10**MAX_INTEGER_DIGITS - 1)
v4Addresses = st.tuples(st.ip_addresses(v=4).map(str), ports)
v6Addresses = st.tuples(st.ip_addresses(v=6).map(str), ports)
flags = st.integers(0, 255).map(PexFlags)


def v4(i: int, port: int = 6881) -> tuple[str, int]:
    """
    @return: an IPv4 peer address numbered C{i}.
    """
    return (f"10.0.{i // 256}.{i % 256}", port)


class PexMessageTests(SynchronousTestCase):
    """
    Tests for L{PexMessage}.
    """

    def test_encode(self) -> None:
        """
        A message encodes to the six compact lists of BEP 11, IPv4 and IPv6
        apart, flags a byte a peer.
        """
        message = PexMessage(
            added=(
                (("1.2.3.4", 6881), PexFlags.SEED | PexFlags.ENCRYPTION),
                (("2001:db8::1", 80), PexFlags.UTP),
                (("5.6.7.8", 1), PexFlags.REACHABLE | PexFlags.HOLEPUNCH),
            ),
            dropped=(("9.9.9.9", 258), ("::1", 2)),
        )
        self.assertEqual(
            bencodepy.decode(message.encode()),
            {
                b"added": b"\x01\x02\x03\x04\x1a\xe1\x05\x06\x07\x08\x00\x01",
                b"added.f": b"\x03\x18",
                b"dropped": b"\x09\x09\x09\x09\x01\x02",
                b"added6": b" \x01\x0d\xb8" + bytes(11) + b"\x01\x00\x50",
                b"added6.f": b"\x04",
                b"dropped6": bytes(15) + b"\x01\x00\x02",
            },
        )

    def test_flagValues(self) -> None:
        """
        The flags have BEP 11's values.
        """
        self.assertEqual(
            [int(f) for f in (PexFlags.ENCRYPTION, PexFlags.SEED, PexFlags.UTP,
                              PexFlags.HOLEPUNCH, PexFlags.REACHABLE)],
            [0x01, 0x02, 0x04, 0x08, 0x10],
        )

    def test_encodeBounds(self) -> None:
        """
        More than L{MAX_PEX_PEERS} added or dropped peers, bad addresses and
        bad ports are refused with L{ValueError}.
        """
        many = tuple((v4(i), PexFlags.NONE) for i in range(MAX_PEX_PEERS + 1))
        for message in [
            PexMessage(added=many),
            PexMessage(dropped=tuple(address for address, _ in many)),
            PexMessage(dropped=(("host.example", 1),)),
            PexMessage(dropped=(("1.2.3.4", 0),)),
            PexMessage(dropped=(("1.2.3.4", 65536),)),
            PexMessage(added=((("1.2.3.4", 1), PexFlags(256)),)),
        ]:
            self.assertRaises(ValueError, message.encode)
        PexMessage(added=many[:-1], dropped=tuple(a for a, _ in many[:-1])).encode()

    def test_decodeLibtorrentFirstMessage(self) -> None:
        """
        A first message listing 100 added peers, as libtorrent sends, is read
        whole.
        """
        blob = b"".join(bytes([10, 0, 0, i]) + b"\x1a\xe1" for i in range(100))
        payload = bencodepy.encode(
            {b"added": blob, b"added.f": b"\x02" * 100, b"dropped": b""}
        )
        message = PexMessage.decode(payload)
        self.assertEqual(len(message.added), 100)
        self.assertEqual(message.added[99], (("10.0.0.99", 6881), PexFlags.SEED))

    def test_decodeTruncates(self) -> None:
        """
        Past L{MAX_PEX_PEERS_RECEIVED} added (IPv4 first, then IPv6) and as
        many dropped peers, the rest are ignored.
        """
        count = MAX_PEX_PEERS_RECEIVED + 10
        blob = b"".join(bytes([10, 0, i // 256, i % 256]) + b"\x00\x01" for i in range(count))
        blob6 = bytes(16) + b"\x00\x01"
        payload = bencodepy.encode(
            {b"added": blob, b"added6": blob6, b"dropped": blob, b"dropped6": blob6}
        )
        message = PexMessage.decode(payload)
        self.assertEqual(len(message.added), MAX_PEX_PEERS_RECEIVED)
        self.assertEqual(len(message.dropped), MAX_PEX_PEERS_RECEIVED)
        self.assertEqual(message.added[-1][0], (f"10.0.0.{MAX_PEX_PEERS_RECEIVED - 1}", 1))

    def test_decodeLenient(self) -> None:
        """
        Missing keys and keys of the wrong type are empty lists, a trailing
        partial entry and entries with port 0 are skipped, flags of the
        wrong length are zero, unknown keys are ignored.
        """
        payload = bencodepy.encode(
            {
                b"added": b"\x01\x02\x03\x04\x00\x05" + b"\x01\x01\x01\x01\x00\x00" + b"\x09",
                b"added.f": b"\x02",
                b"added6": 7,
                b"dropped6": bytes(16) + b"\x00\x03" + b"\x00",
                b"extra": b"x",
            }
        )
        self.assertEqual(
            PexMessage.decode(payload),
            PexMessage(added=((("1.2.3.4", 5), PexFlags.NONE),), dropped=(("::", 3),)),
        )
        self.assertEqual(PexMessage.decode(b"de"), PexMessage())

    def test_decodeFlagsByPosition(self) -> None:
        """
        Flags go with the entry at the same position, also when an entry
        before it is skipped for its port 0.
        """
        payload = bencodepy.encode(
            {
                b"added": b"\x01\x01\x01\x01\x00\x00\x02\x02\x02\x02\x00\x02",
                b"added.f": b"\x01\x02",
            }
        )
        self.assertEqual(
            PexMessage.decode(payload).added, ((("2.2.2.2", 2), PexFlags.SEED),)
        )

    def test_decodeErrors(self) -> None:
        """
        A payload that is not a bencoded dictionary is an L{ExtensionError}.
        """
        for payload in [b"", b"le", b"d5:added"]:
            self.assertRaises(ExtensionError, PexMessage.decode, payload)

    @given(
        st.lists(st.tuples(v4Addresses, flags), max_size=25),
        st.lists(st.tuples(v6Addresses, flags), max_size=25),
        st.lists(v4Addresses, max_size=25),
        st.lists(v6Addresses, max_size=25),
    )
    def test_roundTrip(self, added4, added6, dropped4, dropped6) -> None:
        """
        Any message decodes from its encoding to itself (IPv4 peers first).
        """
        message = PexMessage(tuple(added4 + added6), tuple(dropped4 + dropped6))
        self.assertEqual(PexMessage.decode(message.encode()), message)

    @given(st.binary(max_size=300))
    def test_arbitraryBytes(self, payload) -> None:
        """
        Arbitrary bytes decode to a message or raise L{ExtensionError},
        nothing else.
        """
        try:
            PexMessage.decode(payload)
        except ExtensionError:
            pass

    @given(
        st.dictionaries(
            st.sampled_from([b"added", b"added.f", b"added6", b"added6.f",
                             b"dropped", b"dropped6", b"x"]),
            st.one_of(st.binary(max_size=80), integers, st.lists(integers)),
        )
    )
    def test_arbitraryDictionaries(self, top) -> None:
        """
        Dictionaries with BEP 11's keys and any values (integers as long as
        L{bittwist.bdecode} reads) decode to a message within the bounds
        that re-encodes, if it is within the sending bounds.
        """
        message = PexMessage.decode(bencodepy.encode(top))
        self.assertLessEqual(len(message.added), MAX_PEX_PEERS_RECEIVED)
        self.assertLessEqual(len(message.dropped), MAX_PEX_PEERS_RECEIVED)
        if len(message.added) <= MAX_PEX_PEERS and len(message.dropped) <= MAX_PEX_PEERS:
            self.assertEqual(PexMessage.decode(message.encode()), message)


class NextPexMessageTests(SynchronousTestCase):
    """
    Tests for L{nextPexMessage}.
    """

    def test_first(self) -> None:
        """
        The first message adds every connected peer, with its flags.
        """
        current = {v4(1): PexFlags.SEED, v4(2): PexFlags.NONE}
        message, sent = nextPexMessage({}, current)
        self.assertEqual(
            message, PexMessage(added=((v4(1), PexFlags.SEED), (v4(2), PexFlags.NONE)))
        )
        self.assertEqual(sent, current)

    def test_diff(self) -> None:
        """
        Later messages add the new peers and drop the lost ones.
        """
        _, sent = nextPexMessage({}, [v4(1), v4(2)])
        message, sent = nextPexMessage(sent, [v4(2), v4(3)])
        self.assertEqual(
            message, PexMessage(added=((v4(3), PexFlags.NONE),), dropped=(v4(1),))
        )
        self.assertEqual(set(sent), {v4(2), v4(3)})

    def test_noChange(self) -> None:
        """
        Without a change there is no message; a change of flags alone is
        not one.
        """
        _, sent = nextPexMessage({}, {v4(1): PexFlags.NONE})
        message, again = nextPexMessage(sent, {v4(1): PexFlags.SEED})
        self.assertIsNone(message)
        self.assertEqual(again, sent)
        self.assertEqual(nextPexMessage({}, []), (None, {}))

    def test_capped(self) -> None:
        """
        At most C{limit} peers are added, and dropped, a message; the rest
        come in the next ones.
        """
        current = [v4(i) for i in range(120)]
        message, sent = nextPexMessage({}, current)
        self.assertEqual(len(message.added), MAX_PEX_PEERS)
        message, sent = nextPexMessage(sent, current)
        self.assertEqual(len(message.added), MAX_PEX_PEERS)
        message, sent = nextPexMessage(sent, current)
        self.assertEqual(len(message.added), 20)
        self.assertEqual(set(sent), set(current))
        message, sent = nextPexMessage(sent, current[:10], limit=30)
        self.assertEqual(len(message.dropped), 30)
        self.assertEqual(len(sent), 90)
        message.encode()

    def test_exclude(self) -> None:
        """
        The recipient is never told of itself, and is dropped if it was.
        """
        message, sent = nextPexMessage({}, [v4(1), v4(2)], exclude=v4(1))
        self.assertEqual(message.added, ((v4(2), PexFlags.NONE),))
        message, sent = nextPexMessage({v4(1): PexFlags.NONE}, [v4(1)], exclude=v4(1))
        self.assertEqual(message.dropped, (v4(1),))
        self.assertEqual(sent, {})

    def test_badLimit(self) -> None:
        """
        A limit that is not 1 to L{MAX_PEX_PEERS} is refused.
        """
        self.assertRaises(ValueError, nextPexMessage, {}, [], limit=0)
        self.assertRaises(ValueError, nextPexMessage, {}, [], limit=MAX_PEX_PEERS + 1)

    @given(
        st.lists(st.sets(st.integers(0, 150), max_size=130), min_size=1, max_size=6),
        st.integers(1, MAX_PEX_PEERS),
    )
    def test_convergesToCurrent(self, rounds, limit) -> None:
        """
        Whatever the sequence of peer sets, each message is encodable and
        within C{limit}, what the recipient is told never includes a peer
        twice, and enough rounds with no change tell it the current set.
        """
        sent: dict = {}
        told: set = set()
        for peers in rounds + [rounds[-1]] * 4:
            current = [v4(i) for i in sorted(peers)]
            message, sent = nextPexMessage(sent, current, limit=limit)
            if message is None:
                continue
            message.encode()
            self.assertLessEqual(len(message.added), limit)
            self.assertLessEqual(len(message.dropped), limit)
            for address, _ in message.added:
                self.assertNotIn(address, told)
                told.add(address)
            for address in message.dropped:
                told.remove(address)
            self.assertEqual(told, set(sent))
        # 150 peers at most change: ceil(150 / limit) rounds may be needed.
        while True:
            message, sent = nextPexMessage(sent, [v4(i) for i in rounds[-1]], limit=limit)
            if message is None:
                break
        self.assertEqual(set(sent), {v4(i) for i in rounds[-1]})
