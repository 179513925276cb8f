"""
Tests for L{bittwist.udptrackercodec}: the BEP 15 packets, encoded and
decoded.
"""

import struct

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import UDPPacketError
from bittwist.udptrackercodec import (
    MAX_REPLY_PEERS,
    PROTOCOL_ID,
    AnnounceReply,
    AnnounceRequest,
    ConnectReply,
    ConnectRequest,
    ErrorReply,
    ScrapeEntry,
    ScrapeReply,
    ScrapeRequest,
    decodeReply,
    decodeRequest,
    encode,
)

INFO_HASH = bytes(range(20))
PEER_ID = b"-BT0001-abcdefghijkl"


def announceRequest(**overrides):
    fields = dict(
        connectionId=7, transactionId=9, infoHash=INFO_HASH, peerId=PEER_ID,
        downloaded=1, left=2, uploaded=3, event="started", ip=0, key=0xABCD,
        numwant=50, port=6881,
    )
    fields.update(overrides)
    return AnnounceRequest(**fields)

class CodecTests(SynchronousTestCase):
    """
    L{encode}, L{decodeRequest} and L{decodeReply}.
    """

    def test_connectRequestBytes(self) -> None:
        """
        A connect request is the protocol id, action 0 and the transaction
        id: 16 bytes.
        """
        data = encode(ConnectRequest(0x01020304))
        self.assertEqual(data, struct.pack(">QiI", PROTOCOL_ID, 0, 0x01020304))
        self.assertEqual(decodeRequest(data), ConnectRequest(0x01020304))

    def test_announceRequestLayout(self) -> None:
        """
        An announce request is 98 bytes in BEP 15's order, event
        C{started} as 2, and decodes back to itself.
        """
        request = announceRequest()
        data = encode(request)
        self.assertEqual(len(data), 98)
        self.assertEqual(data[:16], struct.pack(">QiI", 7, 1, 9))
        self.assertEqual(data[16:36], INFO_HASH)
        self.assertEqual(data[36:56], PEER_ID)
        self.assertEqual(struct.unpack(">QQQi", data[56:84]), (1, 2, 3, 2))
        self.assertEqual(struct.unpack(">IIiH", data[84:]), (0, 0xABCD, 50, 6881))
        self.assertEqual(decodeRequest(data), request)

    def test_requestsRoundTrip(self) -> None:
        """
        Every request kind decodes to what was encoded, every event too.
        """
        packets = [ConnectRequest(1), ScrapeRequest(5, 6, (INFO_HASH, b"x" * 20))]
        packets += [announceRequest(event=e) for e in (None, "started", "completed", "stopped")]
        for packet in packets:
            self.assertEqual(decodeRequest(encode(packet)), packet)

    def test_repliesRoundTrip(self) -> None:
        """
        Every reply kind decodes to what was encoded.
        """
        packets = [
            ConnectReply(1, 2 ** 64 - 1),
            AnnounceReply(3, 1800, 4, 5, (("10.0.0.1", 6881), ("192.168.1.2", 1))),
            ScrapeReply(4, (ScrapeEntry(1, 2, 3), ScrapeEntry(0, 0, 0))),
            ErrorReply(5, "go away"),
        ]
        for packet in packets:
            self.assertEqual(decodeReply(encode(packet)), packet)

    def test_ipv6Peers(self) -> None:
        """
        With 18-byte entries, an announce reply's peers are IPv6.
        """
        data = encode(AnnounceReply(3, 60, 0, 1, (("2001:db8::1", 6881),)))
        self.assertEqual(decodeReply(data, peerSize=18).peers, (("2001:db8::1", 6881),))

    def test_strictReplyLengths(self) -> None:
        """
        A connect reply that is not 16 bytes, an announce reply whose peers
        are not whole, a scrape reply that is not whole entries, a reply
        shorter than its header, and an unknown action are refused.
        """
        connect = encode(ConnectReply(1, 2))
        announce = encode(AnnounceReply(1, 60, 0, 0, (("10.0.0.1", 1),)))
        scrape = encode(ScrapeReply(1, (ScrapeEntry(1, 2, 3),)))
        for data in (connect[:-1], connect + b"\0", announce[:-1], announce[:19],
                     scrape + b"\0", b"\0\0\0", struct.pack(">iI", 9, 1)):
            self.assertRaises(UDPPacketError, decodeReply, data)

    def test_strictRequestLengths(self) -> None:
        """
        A connect request that is not 16 bytes or lacks the protocol id, a
        short announce, an overlong one, a scrape of no torrent or of half a
        hash, an unknown event or action are refused.
        """
        connect = encode(ConnectRequest(1))
        announce = encode(announceRequest())
        scrape = encode(ScrapeRequest(1, 2, (INFO_HASH,)))
        bad = [
            connect + b"\0", b"\0" * 8 + connect[8:], announce[:97],
            announce + b"\0" * 1000, scrape[:16], scrape[:-1],
            scrape[:16] + INFO_HASH * 75,
            announce[:80] + struct.pack(">i", 4) + announce[84:],
            struct.pack(">QiI", 1, 7, 1),
        ]
        for data in bad:
            self.assertRaises(UDPPacketError, decodeRequest, data)

    def test_optionsAfterAnnounceIgnored(self) -> None:
        """
        BEP 41 options after the 98 bytes of an announce are allowed and
        ignored.
        """
        request = announceRequest()
        self.assertEqual(decodeRequest(encode(request) + b"\x02\x05/path"), request)

    def test_peerCountBounded(self) -> None:
        """
        An announce reply lists at most L{MAX_REPLY_PEERS} peers, whatever
        it carries; port 0 entries and duplicates are dropped.
        """
        many = tuple((f"10.{i >> 8 & 255}.{i & 255}.1", 1000) for i in range(MAX_REPLY_PEERS + 10))
        self.assertEqual(len(decodeReply(encode(AnnounceReply(1, 60, 0, 0, many))).peers),
                         MAX_REPLY_PEERS)
        odd = (("10.0.0.1", 1), ("10.0.0.1", 1), ("10.0.0.2", 0))
        self.assertEqual(decodeReply(encode(AnnounceReply(1, 60, 0, 0, odd))).peers,
                         (("10.0.0.1", 1),))

    def test_errorMessageBounded(self) -> None:
        """
        An error reply's message is cut to 1024 bytes.
        """
        data = struct.pack(">iI", 3, 1) + b"x" * 5000
        self.assertEqual(len(decodeReply(data).message), 1024)

    @given(st.binary(max_size=2000))
    @settings(max_examples=500, deadline=None)
    def test_hostileReplies(self, data: bytes) -> None:
        """
        Any bytes decode as a reply or raise L{UDPPacketError}, and a
        decoded reply has bounded peers.
        """
        try:
            reply = decodeReply(data)
        except UDPPacketError:
            return
        if isinstance(reply, AnnounceReply):
            self.assertLessEqual(len(reply.peers), MAX_REPLY_PEERS)

    @given(st.binary(max_size=2000))
    @settings(max_examples=500, deadline=None)
    def test_hostileRequests(self, data: bytes) -> None:
        """
        Any bytes decode as a request that encodes back to their prefix,
        or raise L{UDPPacketError}.
        """
        try:
            request = decodeRequest(data)
        except UDPPacketError:
            return
        self.assertEqual(data[: len(encode(request))], encode(request))

    @given(st.integers(0, 2 ** 32 - 1), st.sampled_from([0, 1, 2, 3]),
           st.binary(min_size=20, max_size=20), st.integers(-1, 2 ** 31 - 1),
           st.integers(0, 65535), st.binary(max_size=200))
    @settings(max_examples=200, deadline=None)
    def test_mutatedAnnounce(self, tid, event, infoHash, numwant, port, tail) -> None:
        """
        Announce requests with any field values decode, or raise only
        L{UDPPacketError} when a tail makes them too long.
        """
        data = struct.pack(">QiI20s20sQQQiIIiH", 1, 1, tid, infoHash, PEER_ID, 0, 0, 0,
                           event, 0, 0, numwant, port) + tail
        try:
            request = decodeRequest(data)
        except UDPPacketError:
            self.assertGreater(len(data), 610)
            return
        self.assertEqual((request.transactionId, request.numwant, request.port),
                         (tid, numwant, port))
