"""
Tests for L{bittwist.dht.krpc}: the KRPC codec, with hostile input.
"""

import bencodepy
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.dht import krpc
from bittwist.dht.krpc import (
    ANNOUNCE_PEER,
    FIND_NODE,
    GET_PEERS,
    MAX_DATAGRAM,
    PING,
    Error,
    NodeInfo,
    Query,
    Response,
    decode,
    encode,
)
from bittwist.errors import KRPCError, ProtocolError

ID = b"\x01" * 20
OTHER = b"\x02" * 20


def _q(method: bytes, args: dict, extra: dict = {}) -> bytes:
    top = {b"t": b"aa", b"y": b"q", b"q": method, b"a": args}
    top.update(extra)
    return bencodepy.encode(top)


def _r(extra: bytes = b"") -> bytes:
    """
    @return: a response datagram with C{extra} (bencoded key-value pairs)
        added to its body, keys unsorted.
    """
    return b"d1:t2:aa1:y1:r1:rd2:id20:" + ID + extra + b"ee"


class BoundsTests(SynchronousTestCase):
    """
    Datagrams are decoded by L{bittwist.bdecode} under KRPC's own bounds;
    its errors are L{KRPCError}s.
    """

    def test_valid(self) -> None:
        self.assertEqual(decode(_r()), Response(b"aa", ID))

    def test_badNumbers(self) -> None:
        for bad in [b"i-0e", b"i03e", b"ie", b"i+1e", b"i1_0e", b"i" + b"9" * 30 + b"e",
                    b"01:a", b"1_0:aaaaaaaaaa", b"999999999:a"]:
            error = self.assertRaises(KRPCError, decode, _r(b"1:x" + bad))
            self.assertIn("byte", error.reason)

    def test_tooDeep(self) -> None:
        """
        The message, its body and two more levels are allowed
        (L{krpc.MAX_DEPTH}); a fifth is not.
        """
        self.assertEqual(decode(_r(b"1:xllee")), Response(b"aa", ID))
        error = self.assertRaises(KRPCError, decode, _r(b"1:xllleee"))
        self.assertIn("deeper than the limit of 4 levels", error.reason)

    def test_tooManyItems(self) -> None:
        """
        At most L{krpc.MAX_ITEMS} values, keys included: the bare response
        holds 9, the extra key and its list 2.
        """
        room = krpc.MAX_ITEMS - 11
        self.assertEqual(decode(_r(b"1:xl" + b"i1e" * room + b"e")), Response(b"aa", ID))
        error = self.assertRaises(KRPCError, decode, _r(b"1:xl" + b"i1e" * (room + 1) + b"e"))
        self.assertIn(f"more than the limit of {krpc.MAX_ITEMS} values", error.reason)

    def test_trailing(self) -> None:
        self.assertRaises(KRPCError, decode, _r() + b"i1e")

    def test_repeatedKey(self) -> None:
        self.assertRaises(KRPCError, decode, _r(b"2:id20:" + OTHER))

    def test_nonStringKey(self) -> None:
        self.assertRaises(KRPCError, decode, _r(b"i1ei2e"))

    def test_unsortedKeysAccepted(self) -> None:
        self.assertEqual(decode(b"d1:y1:r1:rd2:id20:" + ID + b"e1:t2:aae"), Response(b"aa", ID))


class DecodeTests(SynchronousTestCase):
    """
    Decoding KRPC messages.
    """

    def test_errorIsProtocolError(self) -> None:
        self.assertTrue(issubclass(KRPCError, ProtocolError))

    def test_ping(self) -> None:
        self.assertEqual(decode(_q(b"ping", {b"id": ID})), Query(b"aa", PING, ID))

    def test_findNode(self) -> None:
        message = decode(_q(b"find_node", {b"id": ID, b"target": OTHER}))
        self.assertEqual(message, Query(b"aa", FIND_NODE, ID, target=OTHER))

    def test_getPeers(self) -> None:
        message = decode(_q(b"get_peers", {b"id": ID, b"info_hash": OTHER}))
        self.assertEqual(message, Query(b"aa", GET_PEERS, ID, infoHash=OTHER))

    def test_announcePeer(self) -> None:
        message = decode(
            _q(b"announce_peer", {b"id": ID, b"info_hash": OTHER, b"port": 6881, b"token": b"tok"})
        )
        self.assertEqual(
            message, Query(b"aa", ANNOUNCE_PEER, ID, infoHash=OTHER, port=6881, token=b"tok")
        )

    def test_announceImpliedPort(self) -> None:
        message = decode(
            _q(
                b"announce_peer",
                {b"id": ID, b"info_hash": OTHER, b"implied_port": 1, b"token": b"t", b"port": 0},
            )
        )
        self.assertTrue(message.impliedPort)
        self.assertIsNone(message.port)

    def test_announceBadPortOrToken(self) -> None:
        for args in [
            {b"id": ID, b"info_hash": OTHER, b"port": 0, b"token": b"t"},
            {b"id": ID, b"info_hash": OTHER, b"port": 70000, b"token": b"t"},
            {b"id": ID, b"info_hash": OTHER, b"port": b"1", b"token": b"t"},
            {b"id": ID, b"info_hash": OTHER, b"port": 1},
            {b"id": ID, b"info_hash": OTHER, b"port": 1, b"token": b"x" * 65},
        ]:
            e = self.assertRaises(KRPCError, decode, _q(b"announce_peer", args))
            self.assertEqual((e.transactionId, e.isQuery), (b"aa", True))

    def test_unknownMethod(self) -> None:
        message = decode(_q(b"sample_infohashes", {b"id": ID, b"target": OTHER}))
        self.assertEqual(message, Query(b"aa", "sample_infohashes", ID))

    def test_readOnly(self) -> None:
        self.assertTrue(decode(_q(b"ping", {b"id": ID}, {b"ro": 1})).readOnly)

    def test_spoofedIds(self) -> None:
        """
        Ids that are not 20 bytes are refused, naming the transaction so an
        error can be answered.
        """
        for bad in [b"", b"x" * 19, b"x" * 21, 5, [ID]]:
            e = self.assertRaises(KRPCError, decode, _q(b"ping", {b"id": bad}))
            self.assertEqual(e.transactionId, b"aa")
            self.assertTrue(e.isQuery)
            self.assertRaises(KRPCError, decode, _q(b"find_node", {b"id": ID, b"target": bad}))

    def test_response(self) -> None:
        nodes = (NodeInfo(OTHER, ("10.0.0.1", 6881)), NodeInfo(ID, ("192.168.1.2", 1)))
        data = bencodepy.encode(
            {
                b"t": b"xy",
                b"y": b"r",
                b"r": {
                    b"id": ID,
                    b"nodes": krpc.encodeNodes(nodes),
                    b"values": [bytes([1, 2, 3, 4, 0x1A, 0xE1]), b"\x00" * 18],
                    b"token": b"tk",
                },
            }
        )
        self.assertEqual(
            decode(data), Response(b"xy", ID, nodes, (("1.2.3.4", 6881),), b"tk")
        )

    def test_portZeroSkipped(self) -> None:
        blob = OTHER + bytes([10, 0, 0, 1, 0, 0])
        self.assertEqual(krpc.decodeNodes(blob), ())
        self.assertEqual(krpc.decodePeers([bytes([10, 0, 0, 1, 0, 0])]), ())

    def test_badNodes(self) -> None:
        for nodes in [b"x" * 25, b"x" * 27, 5, [b"x" * 26]]:
            data = bencodepy.encode({b"t": b"x", b"y": b"r", b"r": {b"id": ID, b"nodes": nodes}})
            self.assertRaises(KRPCError, decode, data)

    def test_badValues(self) -> None:
        for values in [b"x" * 6, [b"x" * 5], [7], [[b"x" * 6]]]:
            data = bencodepy.encode({b"t": b"x", b"y": b"r", b"r": {b"id": ID, b"values": values}})
            self.assertRaises(KRPCError, decode, data)

    def test_error(self) -> None:
        data = bencodepy.encode({b"t": b"x", b"y": b"e", b"e": [201, b"A Generic Error"]})
        self.assertEqual(decode(data), Error(b"x", 201, "A Generic Error"))

    def test_errorMessageTruncated(self) -> None:
        data = bencodepy.encode({b"t": b"x", b"y": b"e", b"e": [201, b"\xff" * 1000]})
        self.assertEqual(len(decode(data).message), krpc.MAX_ERROR_MESSAGE)

    def test_badErrors(self) -> None:
        for body in [[], [201], [b"201", b"x"], 201, [201, 5]]:
            data = bencodepy.encode({b"t": b"x", b"y": b"e", b"e": body})
            self.assertRaises(KRPCError, decode, data)

    def test_tooLarge(self) -> None:
        """
        A datagram longer than L{MAX_DATAGRAM} is refused before decoding.
        """
        data = _q(b"ping", {b"id": ID, b"pad": b"x" * MAX_DATAGRAM})
        e = self.assertRaises(KRPCError, decode, data)
        self.assertIn("longer than", str(e))
        self.assertIsNone(e.transactionId)

    def test_badTransactionId(self) -> None:
        for tid in [b"", b"x" * 17, 5]:
            data = bencodepy.encode({b"t": tid, b"y": b"q", b"q": b"ping", b"a": {b"id": ID}})
            self.assertRaises(KRPCError, decode, data)

    def test_notKRPC(self) -> None:
        for data in [b"", b"i1e", b"le", b"de", b"d1:t2:aa1:y1:ze", b"GET / HTTP/1.1\r\n\r\n"]:
            self.assertRaises(KRPCError, decode, data)

    def test_queryWithoutArguments(self) -> None:
        data = bencodepy.encode({b"t": b"aa", b"y": b"q", b"q": b"ping"})
        e = self.assertRaises(KRPCError, decode, data)
        self.assertTrue(e.isQuery)


# Strategies for hypothesis.

_ids = st.binary(min_size=20, max_size=20)
_tids = st.binary(min_size=1, max_size=4)
_addresses = st.tuples(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.integers(1, 65535),
)
_nodes = st.builds(NodeInfo, _ids, _addresses)
_queries = st.one_of(
    st.builds(lambda t, i: Query(t, PING, i), _tids, _ids),
    st.builds(lambda t, i, x: Query(t, FIND_NODE, i, target=x), _tids, _ids, _ids),
    st.builds(lambda t, i, x: Query(t, GET_PEERS, i, infoHash=x), _tids, _ids, _ids),
    st.builds(
        lambda t, i, x, p, k: Query(t, ANNOUNCE_PEER, i, infoHash=x, port=p, token=k),
        _tids,
        _ids,
        _ids,
        st.integers(1, 65535),
        st.binary(min_size=1, max_size=20),
    ),
)
_responses = st.builds(
    Response,
    _tids,
    _ids,
    st.lists(_nodes, max_size=8).map(tuple),
    st.lists(_addresses, max_size=50).map(tuple),
    st.one_of(st.none(), st.binary(min_size=1, max_size=20)),
)
_errors = st.builds(Error, _tids, st.integers(200, 299), st.text(max_size=50))

_bencodable = st.recursive(
    st.one_of(st.integers(), st.binary(max_size=30)),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.binary(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


class HostileInputTests(SynchronousTestCase):
    """
    Whatever bytes arrive, decoding gives a message or a L{KRPCError}, and
    well-formed messages survive a round trip.
    """

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(_queries, _responses, _errors))
    def test_roundTrip(self, message) -> None:
        self.assertEqual(decode(encode(message, b"BW01")), message)

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=2000))
    def test_randomBytes(self, data: bytes) -> None:
        try:
            decode(data)
        except KRPCError:
            pass

    @settings(max_examples=150, deadline=None)
    @given(_bencodable)
    def test_wrongShapes(self, value) -> None:
        """
        Any bencoded value, in place of a message or of its arguments.
        """
        for data in [
            bencodepy.encode(value),
            _q(b"get_peers", {b"id": ID, b"info_hash": value}),
            _q(b"announce_peer", {b"id": ID, b"info_hash": OTHER, b"port": value, b"token": value}),
            bencodepy.encode({b"t": b"x", b"y": b"r", b"r": {b"id": ID, b"values": value, b"nodes": value}}),
            bencodepy.encode({b"t": b"x", b"y": b"e", b"e": value}),
        ]:
            try:
                decode(data)
            except KRPCError:
                pass

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(_queries, _responses), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
    def test_mutated(self, message, position: int, junk: bytes) -> None:
        """
        A valid datagram with bytes changed decodes or is refused cleanly.
        """
        data = bytearray(encode(message))
        position %= len(data)
        data[position : position + len(junk)] = junk
        try:
            decode(bytes(data))
        except KRPCError:
            pass

    @settings(max_examples=50, deadline=None)
    @given(st.integers(5, 700))
    def test_deepNesting(self, depth: int) -> None:
        """
        Nesting as deep as a datagram allows is refused without recursion
        trouble.
        """
        self.assertRaises(KRPCError, decode, b"l" * depth + b"e" * depth)


def _canonical(message: Response, version: bytes | None) -> bytes:
    """
    @return: C{message} as bencodepy encodes the dictionary BEP 5 describes.
    """
    body: dict[bytes, object] = {b"id": message.senderId}
    if message.nodes:
        body[b"nodes"] = b"".join(
            n.nodeId + bytes(map(int, n.address[0].split("."))) + n.address[1].to_bytes(2, "big")
            for n in message.nodes
        )
    if message.values:
        body[b"values"] = [bytes(map(int, h.split("."))) + p.to_bytes(2, "big") for h, p in message.values]
    if message.token is not None:
        body[b"token"] = message.token
    top: dict[bytes, object] = {b"t": message.transactionId, b"y": b"r", b"r": body}
    if version is not None:
        top[b"v"] = version
    return bencodepy.encode(top)


class EncodeTests(SynchronousTestCase):
    """
    Responses, written out directly, are the canonical bencoding; compact
    forms refuse what is not IPv4.
    """

    @settings(max_examples=300, deadline=None)
    @given(_responses, st.one_of(st.none(), st.binary(max_size=4)))
    def test_responseCanonical(self, message: Response, version: bytes | None) -> None:
        self.assertEqual(encode(message, version), _canonical(message, version))

    def test_nodeCompact(self) -> None:
        info = NodeInfo(ID, ("192.0.2.1", 6881))
        self.assertEqual(info.compact, ID + b"\xc0\x00\x02\x01\x1a\xe1")
        self.assertEqual(krpc.encodeNodes([info, info]), info.compact * 2)

    def test_notIPv4(self) -> None:
        for address in [("::1", 1), ("1", 1), ("192.0.2.1", 70000), ("example.com", 1)]:
            self.assertRaises(ValueError, krpc.encodeNodes, [NodeInfo(ID, address)])
            self.assertRaises(ValueError, krpc.encodePeer, address)
            self.assertRaises(ValueError, encode, Response(b"aa", ID, values=(address,)))
