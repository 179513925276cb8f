# -*- test-case-name: tests.test_extensions -*-
"""
Tests for L{bittwist.extensions.handshake}.
"""

import ipaddress

import bencodepy
from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.clientname import sanitiseClientName
from bittwist.errors import ExtensionError, ProtocolError
from bittwist.extensions.handshake import (
    HANDSHAKE_ID,
    MAX_EXTENSION_NAME_LENGTH,
    MAX_EXTENSION_VALUES,
    MAX_EXTENSIONS,
    MAX_METADATA_SIZE,
    MAX_REQUEST_QUEUE,
    ExtendedHandshake,
    ExtensionRegistry,
    decodeDictionary,
)
from bittwist.wire import Extended

LIBTORRENT_HANDSHAKE = (
    b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e"
    b"12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1024e"
    b"1:pi6881e4:reqqi500e11:upload_onlyi0e1:v17:libtorrent 2.0.10"
    b"6:yourip4:\x7f\x00\x00\x01e"
)

names = st.text(min_size=1, max_size=20).filter(
    lambda name: len(name.encode("utf-8")) <= MAX_EXTENSION_NAME_LENGTH
)
handshakes = st.builds(
    ExtendedHandshake,
    extensions=st.dictionaries(names, st.integers(0, 255), max_size=10),
    client=st.one_of(
        st.none(), st.text(max_size=80).map(sanitiseClientName).filter(bool)
    ),
    listenPort=st.one_of(st.none(), st.integers(1, 65535)),
    requestQueue=st.one_of(st.none(), st.integers(1, MAX_REQUEST_QUEUE)),
    yourIp=st.one_of(st.none(), st.ip_addresses()),
    ipv4=st.one_of(st.none(), st.ip_addresses(v=4)),
    ipv6=st.one_of(st.none(), st.ip_addresses(v=6)),
    metadataSize=st.one_of(st.none(), st.integers(1, MAX_METADATA_SIZE)),
    uploadOnly=st.booleans(),
    completeAgo=st.one_of(st.none(), st.integers(0, 2**40)),
    preferEncryption=st.booleans(),
)
bencodable = st.recursive(
    st.one_of(st.integers(), st.binary(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.binary(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)


class DecodeDictionaryTests(SynchronousTestCase):
    """
    Tests for L{decodeDictionary}.
    """

    def test_dictionary(self) -> None:
        """
        A bencoded dictionary decodes, keys as bytes.
        """
        self.assertEqual(decodeDictionary(b"d1:ai1ee", "x"), {b"a": 1})

    def test_errors(self) -> None:
        """
        Invalid bencode, trailing bytes, or another type are an
        L{ExtensionError} naming the extension, which is a L{ProtocolError}.
        """
        for payload in [b"", b"d1:a", b"d1:ai1eeX", b"li1ee", b"i1e", b"l" * 200 + b"e" * 200]:
            error = self.assertRaises(ExtensionError, decodeDictionary, payload, "ut_pex")
            self.assertIsInstance(error, ProtocolError)
            self.assertEqual(error.extension, "ut_pex")
            self.assertIn("ut_pex", str(error))

    def test_valueLimit(self) -> None:
        """
        A message of more than L{MAX_EXTENSION_VALUES} values is refused as
        it is read: the dictionary, its key and the list take 3.
        """
        room = MAX_EXTENSION_VALUES - 3
        self.assertEqual(len(decodeDictionary(b"d1:ll" + b"le" * room + b"ee", "x")[b"l"]), room)
        error = self.assertRaises(
            ExtensionError, decodeDictionary, b"d1:ll" + b"le" * (room + 1) + b"ee", "x"
        )
        self.assertIn(f"more than the limit of {MAX_EXTENSION_VALUES} values", str(error))

    def test_hugeInteger(self) -> None:
        """
        An integer with too many digits for Python to convert is an
        L{ExtensionError}, not a L{ValueError}.
        """
        self.assertRaises(
            ExtensionError, decodeDictionary, b"d1:ai" + b"9" * 5000 + b"ee", "x"
        )


class ExtendedHandshakeTests(SynchronousTestCase):
    """
    Tests for L{ExtendedHandshake}.
    """

    def test_libtorrent(self) -> None:
        """
        A handshake as libtorrent sends it decodes to its fields; an unknown
        key is ignored and one of the wrong type is as good as absent.
        """
        handshake = ExtendedHandshake.decode(LIBTORRENT_HANDSHAKE)
        self.assertEqual(
            handshake,
            ExtendedHandshake(
                extensions={
                    "lt_donthave": 7,
                    "share_mode": 8,
                    "upload_only": 3,
                    "ut_holepunch": 4,
                    "ut_metadata": 2,
                    "ut_pex": 1,
                },
                client="libtorrent 2.0.10",
                listenPort=6881,
                requestQueue=500,
                yourIp=ipaddress.IPv4Address("127.0.0.1"),
                metadataSize=1024,
            ),
        )

    def test_encode(self) -> None:
        """
        A handshake encodes to the bencoded dictionary of its set fields,
        with BEP 10's keys.
        """
        handshake = ExtendedHandshake(
            extensions={"ut_metadata": 1, "ut_pex": 2},
            client="bittwist 0.1.0",
            listenPort=6881,
            requestQueue=250,
            yourIp=ipaddress.IPv6Address("::1"),
            ipv4=ipaddress.IPv4Address("10.0.0.1"),
            metadataSize=5,
            uploadOnly=True,
            completeAgo=0,
            preferEncryption=True,
        )
        self.assertEqual(
            bencodepy.decode(handshake.encode()),
            {
                b"m": {b"ut_metadata": 1, b"ut_pex": 2},
                b"v": b"bittwist 0.1.0",
                b"p": 6881,
                b"reqq": 250,
                b"yourip": bytes(15) + b"\x01",
                b"ipv4": b"\x0a\x00\x00\x01",
                b"metadata_size": 5,
                b"upload_only": 1,
                b"complete_ago": 0,
                b"e": 1,
            },
        )
        self.assertEqual(ExtendedHandshake().encode(), b"d1:mdee")

    def test_encodeRefusesOutOfBounds(self) -> None:
        """
        Fields out of the bounds decoding enforces are refused with
        L{ValueError}.
        """
        for handshake in [
            ExtendedHandshake(extensions={"x": 256}),
            ExtendedHandshake(extensions={"": 1}),
            ExtendedHandshake(extensions={"x" * (MAX_EXTENSION_NAME_LENGTH + 1): 1}),
            ExtendedHandshake(extensions={f"x{i}": 1 for i in range(MAX_EXTENSIONS + 1)}),
            ExtendedHandshake(listenPort=0),
            ExtendedHandshake(requestQueue=0),
            ExtendedHandshake(metadataSize=MAX_METADATA_SIZE + 1),
            ExtendedHandshake(completeAgo=-1),
        ]:
            self.assertRaises(ValueError, handshake.encode)

    def test_wrongTypesIgnored(self) -> None:
        """
        Optional keys of the wrong type or out of range (but not out of a
        bound) are as good as absent, as libtorrent has them.
        """
        payload = bencodepy.encode(
            {
                b"m": [b"ut_pex"],
                b"v": 5,
                b"p": 70000,
                b"reqq": -3,
                b"yourip": b"\x01\x02\x03",
                b"ipv4": b"\x00" * 16,
                b"ipv6": b"\x00" * 4,
                b"metadata_size": b"12",
                b"upload_only": b"1",
                b"complete_ago": -1,
                b"e": [],
            }
        )
        self.assertEqual(ExtendedHandshake.decode(payload), ExtendedHandshake())

    def test_mEntriesOfWrongType(self) -> None:
        """
        Entries of C{m} whose id is not an integer, or whose name is not
        UTF-8 or empty, are skipped; the others are kept.
        """
        payload = bencodepy.encode(
            {b"m": {b"ut_pex": b"1", b"\xff": 2, b"": 3, b"ut_metadata": 4}}
        )
        self.assertEqual(
            ExtendedHandshake.decode(payload).extensions, {"ut_metadata": 4}
        )

    def test_requestQueueClamped(self) -> None:
        """
        A C{reqq} over L{MAX_REQUEST_QUEUE} is taken as L{MAX_REQUEST_QUEUE}.
        """
        payload = bencodepy.encode({b"reqq": 10**9})
        self.assertEqual(
            ExtendedHandshake.decode(payload).requestQueue, MAX_REQUEST_QUEUE
        )

    def test_clientSanitised(self) -> None:
        """
        C{v} is sanitised and bounded; one with nothing printable is absent.
        """
        payload = bencodepy.encode({b"v": b"\x1b[2Jevil\x00\n" + b"x" * 1000})
        client = ExtendedHandshake.decode(payload).client
        self.assertTrue(client.startswith("[2Jevil x"))
        self.assertLessEqual(len(client), 64)
        self.assertIsNone(ExtendedHandshake.decode(b"d1:v3:\x00\x01\x02e").client)

    def test_bounds(self) -> None:
        """
        Too many extensions, a too long name, an id that is not a byte, and a
        C{metadata_size} that is not 1 to L{MAX_METADATA_SIZE} are
        L{ExtensionError}s.
        """
        for top in [
            {b"m": {b"x%d" % i: 1 for i in range(MAX_EXTENSIONS + 1)}},
            {b"m": {b"x" * (MAX_EXTENSION_NAME_LENGTH + 1): 1}},
            {b"m": {b"ut_pex": 256}},
            {b"m": {b"ut_pex": -1}},
            {b"metadata_size": 0},
            {b"metadata_size": -5},
            {b"metadata_size": MAX_METADATA_SIZE + 1},
        ]:
            self.assertRaises(
                ExtensionError, ExtendedHandshake.decode, bencodepy.encode(top)
            )

    def test_limitsAccepted(self) -> None:
        """
        Exactly L{MAX_EXTENSIONS} names of L{MAX_EXTENSION_NAME_LENGTH}
        bytes, ids 0 and 255 and a C{metadata_size} of L{MAX_METADATA_SIZE}
        are accepted.
        """
        m = {b"%064d" % i: i % 256 for i in range(MAX_EXTENSIONS)}
        m[b"%064d" % 0] = 255
        payload = bencodepy.encode({b"m": m, b"metadata_size": MAX_METADATA_SIZE})
        handshake = ExtendedHandshake.decode(payload)
        self.assertEqual(len(handshake.extensions), MAX_EXTENSIONS)
        self.assertEqual(handshake.metadataSize, MAX_METADATA_SIZE)

    @given(handshakes)
    def test_roundTrip(self, handshake) -> None:
        """
        Any valid handshake decodes from its encoding to itself.
        """
        self.assertEqual(ExtendedHandshake.decode(handshake.encode()), handshake)

    @given(st.binary(max_size=200))
    def test_arbitraryBytes(self, payload) -> None:
        """
        Arbitrary bytes decode to a handshake or raise L{ExtensionError},
        nothing else.
        """
        try:
            ExtendedHandshake.decode(payload)
        except ExtensionError:
            pass

    @given(st.dictionaries(st.sampled_from(
        [b"m", b"v", b"p", b"reqq", b"yourip", b"ipv4", b"ipv6", b"metadata_size",
         b"upload_only", b"complete_ago", b"e", b"x"]), bencodable))
    def test_arbitraryDictionaries(self, top) -> None:
        """
        Dictionaries with BEP 10's keys and any values decode to a handshake
        or raise L{ExtensionError}, nothing else; what decodes re-encodes.
        """
        try:
            handshake = ExtendedHandshake.decode(bencodepy.encode(top))
        except ExtensionError:
            return
        self.assertEqual(ExtendedHandshake.decode(handshake.encode()), handshake)


class ExtensionRegistryTests(SynchronousTestCase):
    """
    Tests for L{ExtensionRegistry}.
    """

    def test_local(self) -> None:
        """
        Our extensions are looked up both ways: by name for the id we
        announce, by the id of an incoming message for the name.
        """
        registry = ExtensionRegistry({"ut_metadata": 3, "ut_pex": 1})
        self.assertEqual(registry.localId("ut_metadata"), 3)
        self.assertIsNone(registry.localId("lt_donthave"))
        self.assertEqual(registry.localName(1), "ut_pex")
        self.assertIsNone(registry.localName(2))
        self.assertIsNone(registry.localName(HANDSHAKE_ID))
        self.assertEqual(registry.local, {"ut_metadata": 3, "ut_pex": 1})

    def test_withNames(self) -> None:
        """
        L{ExtensionRegistry.withNames} numbers the names from 1.
        """
        registry = ExtensionRegistry.withNames("ut_metadata", "ut_pex")
        self.assertEqual(registry.local, {"ut_metadata": 1, "ut_pex": 2})

    def test_badLocal(self) -> None:
        """
        Local ids that are 0, over 255 or shared, and bad names, are refused
        with L{ValueError}.
        """
        for local in [
            {"a": 0},
            {"a": 256},
            {"a": 1, "b": 1},
            {"": 1},
            {"x" * (MAX_EXTENSION_NAME_LENGTH + 1): 1},
            {f"x{i}": i + 1 for i in range(MAX_EXTENSIONS + 1)},
        ]:
            self.assertRaises(ValueError, ExtensionRegistry, local)

    def test_remote(self) -> None:
        """
        The peer's handshake gives the ids for outgoing messages; extensions
        we do not speak are not kept.
        """
        registry = ExtensionRegistry.withNames("ut_metadata", "ut_pex")
        self.assertIsNone(registry.remoteId("ut_pex"))
        registry.receiveHandshake(ExtendedHandshake.decode(LIBTORRENT_HANDSHAKE))
        self.assertEqual(registry.remoteId("ut_pex"), 1)
        self.assertEqual(registry.remoteId("ut_metadata"), 2)
        self.assertIsNone(registry.remoteId("lt_donthave"))
        self.assertEqual(registry.message("ut_metadata", b"x"), Extended(2, b"x"))

    def test_laterHandshake(self) -> None:
        """
        A later handshake disables names with id 0, changes ids it gives and
        keeps the others.
        """
        registry = ExtensionRegistry.withNames("ut_metadata", "ut_pex")
        registry.receiveHandshake(ExtendedHandshake({"ut_metadata": 2, "ut_pex": 1}))
        registry.receiveHandshake(ExtendedHandshake({"ut_pex": 0}))
        self.assertIsNone(registry.remoteId("ut_pex"))
        self.assertEqual(registry.remoteId("ut_metadata"), 2)
        registry.receiveHandshake(ExtendedHandshake({"ut_metadata": 9}))
        self.assertEqual(registry.remoteId("ut_metadata"), 9)

    def test_messageUnsupported(self) -> None:
        """
        A message for an extension the peer did not announce is refused with
        L{ValueError}.
        """
        registry = ExtensionRegistry.withNames("ut_pex")
        self.assertRaises(ValueError, registry.message, "ut_pex", b"")

    def test_makeHandshake(self) -> None:
        """
        Our handshake announces our extensions with the other fields given.
        """
        registry = ExtensionRegistry.withNames("ut_metadata")
        handshake = registry.makeHandshake(client="bittwist", metadataSize=10)
        self.assertEqual(
            handshake,
            ExtendedHandshake({"ut_metadata": 1}, client="bittwist", metadataSize=10),
        )
