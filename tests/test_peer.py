# -*- test-case-name: tests.test_peer -*-
"""
Tests for L{bittwist.peer}.
"""

import struct
from typing import Any, Optional

from hypothesis import given, settings, strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.peer import (
    _TIMER_PERIOD,
    HANDSHAKE_TIMEOUT,
    IDLE_TIMEOUT,
    KEEPALIVE_INTERVAL,
    MAX_QUEUED_REQUESTS,
    OUR_RESERVED,
    PeerProtocol,
)

INFO_HASH = bytes(range(20))
OTHER_HASH = b"\xff" * 20
OUR_ID = b"-BT0001-ourpeerid000"
THEIR_ID = b"-XX0001-theirpeerid0"
NUM_PIECES = 20
"""
Three bytes of bitfield, the last with four spare bits.
"""


class RecordingTorrent:
    """
    A fake torrent: implements L{bittwist.peer.IPeerEvents} (and the
    connection reports of L{bittwist.factory.IConnectingTorrent}) by recording
    every call.

    @ivar calls: one C{(name, *args)} per call, in order.
    @ivar accept: what L{peerHandshaked} answers.
    @ivar bitfield: what L{ourBitfield} answers.
    """

    def __init__(
        self,
        infoHash: bytes = INFO_HASH,
        numPieces: int = NUM_PIECES,
        have: Any = (),
        accept: bool = True,
        peerId: bytes = OUR_ID,
    ) -> None:
        self.infoHash = infoHash
        self.numPieces = numPieces
        self.peerId = peerId
        self.accept = accept
        self.bitfield: Optional[Bitfield] = Bitfield(numPieces, have)
        self.extensionNames: tuple[str, ...] = ("ut_pex", "ut_metadata")
        self.extensionFields: dict[str, Any] = {"listenPort": 6881}
        self.ourDHTPort: Optional[int] = None
        self.calls: list[tuple[Any, ...]] = []
        self._waiters: dict[str, list[Deferred]] = {}

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name,) + args)
        for d in self._waiters.pop(name, []):
            d.callback(args)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        """
        @return: the arguments of every call to C{name}, in order.
        """
        return [call[1:] for call in self.calls if call[0] == name]

    def whenCalled(self, name: str) -> Deferred:
        """
        @return: a L{Deferred} firing with the arguments of the first call to
            C{name}, at once if it was already made.
        """
        done = self.named(name)
        if done:
            return succeed(done[0])
        d: Deferred = Deferred()
        self._waiters.setdefault(name, []).append(d)
        return d

    def peerHandshaked(self, peer: PeerProtocol) -> bool:
        self._record("peerHandshaked", peer)
        return self.accept

    def ourBitfield(self) -> Optional[Bitfield]:
        self._record("ourBitfield")
        return self.bitfield

    def peerBitfield(self, peer: PeerProtocol) -> None:
        self._record("peerBitfield", peer)

    def peerHave(self, peer: PeerProtocol, index: int) -> None:
        self._record("peerHave", peer, index)

    def peerChoked(self, peer: PeerProtocol, requests: list[tuple[int, int]]) -> None:
        self._record("peerChoked", peer, requests)

    def peerUnchoked(self, peer: PeerProtocol) -> None:
        self._record("peerUnchoked", peer)

    def peerInterestChanged(self, peer: PeerProtocol) -> None:
        self._record("peerInterestChanged", peer, peer.peerInterested)

    def blocksReceived(self, peer: PeerProtocol, blocks: list[wire.Piece]) -> None:
        self._record("blocksReceived", peer, list(blocks))

    def requestsReceived(self, peer: PeerProtocol, requests: list[tuple[int, int, int]]) -> None:
        self._record("requestsReceived", peer, list(requests))

    def requestsReported(self) -> list[tuple[int, int, int]]:
        """
        @return: every request reported to L{requestsReceived}, in order.
        """
        return [request for _, requests in self.named("requestsReceived") for request in requests]

    def requestsQueued(self, peer: PeerProtocol) -> None:
        self._record("requestsQueued", peer)

    def peerWritable(self, peer: PeerProtocol) -> None:
        self._record("peerWritable", peer)

    def peerDisconnected(self, peer: PeerProtocol, reason: str) -> None:
        self._record("peerDisconnected", peer, reason)

    def extendedHandshakeFields(self) -> tuple[Any, dict[str, Any]]:
        return self.extensionNames, dict(self.extensionFields)

    def peerExtended(self, peer: PeerProtocol) -> None:
        self._record("peerExtended", peer)

    def extensionMessage(self, peer: PeerProtocol, name: str, payload: bytes) -> None:
        self._record("extensionMessage", peer, name, payload)

    def peerPort(self, peer: PeerProtocol, port: int) -> None:
        self._record("peerPort", peer, port)

    def dhtPort(self) -> Optional[int]:
        return self.ourDHTPort

    def requestRejected(self, peer: PeerProtocol, index: int, begin: int) -> None:
        self._record("requestRejected", peer, index, begin)

    def peerAllowedFast(self, peer: PeerProtocol, index: int) -> None:
        self._record("peerAllowedFast", peer, index)

    def connectionFailed(self, address: tuple[str, int], reason: str) -> None:
        self._record("connectionFailed", address, reason)

    def connectionEnded(self, address: tuple[str, int], handshaked: bool) -> None:
        self._record("connectionEnded", address, handshaked)


class RecordingTransport(StringTransport):
    """
    A L{StringTransport} that also keeps each C{write} (or C{writeSequence})
    apart, in L{writes}.
    """

    def clear(self) -> None:
        super().clear()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)

    def writeSequence(self, data: list[bytes]) -> None:
        joined = b"".join(data)
        self.writes.append(joined)
        super().write(joined)


def sentMessages(transport: StringTransport, handshake: bool = False) -> list[Any]:
    """
    @return: the messages written to C{transport}, decoded.
    """
    # Every extension decoded as such: what we may send depends on what
    # the peer announced, which the tests check.
    decoder = wire.Decoder(expectHandshake=handshake, reserved=OUR_RESERVED)
    if not handshake:
        decoder.negotiate(OUR_RESERVED)
    messages = decoder.receiveData(transport.value())
    assert decoder.bufferedBytes == 0, "a partial message was written"
    return messages


def theirHandshake(
    infoHash: bytes = INFO_HASH, peerId: bytes = THEIR_ID, reserved: bytes = bytes(8)
) -> bytes:
    return wire.encode(wire.Handshake(infoHash, peerId, reserved))


def encodeAll(*messages: Any) -> bytes:
    return b"".join(wire.encode(m) for m in messages)


def connectPeer(
    torrent: Optional[RecordingTorrent] = None, lookup: Any = None
) -> tuple[PeerProtocol, RecordingTransport, MemoryReactorClock]:
    """
    Connect a L{PeerProtocol}, outgoing if C{torrent} is given, else
    incoming with C{lookup}.
    """
    reactor = MemoryReactorClock()
    proto = PeerProtocol(reactor, OUR_ID, torrent=torrent, lookup=lookup)
    transport = RecordingTransport(peerAddress=IPv4Address("TCP", "10.0.0.2", 6881))
    proto.makeConnection(transport)
    return proto, transport, reactor


def advance(reactor: MemoryReactorClock, seconds: float, step: float = 1.0) -> None:
    """
    Move C{reactor}'s time by C{seconds}, a C{step} at a time.
    """
    while seconds > 0:
        reactor.advance(min(step, seconds))
        seconds -= step


class FeedMixin:
    """
    Feeds a peer's bytes to a protocol whole, or one byte at a time when
    C{byteByByte}.
    """

    byteByByte = False

    def feed(self, proto: PeerProtocol, data: bytes) -> None:
        if self.byteByByte:
            for i in range(len(data)):
                proto.dataReceived(data[i : i + 1])
        else:
            proto.dataReceived(data)

    def handshaken(
        self, **torrentArgs: Any
    ) -> tuple[PeerProtocol, RecordingTransport, RecordingTorrent, MemoryReactorClock]:
        """
        An outgoing connection past the handshake, with an empty transport
        and no calls recorded.
        """
        torrent = RecordingTorrent(**torrentArgs)
        proto, transport, reactor = connectPeer(torrent)
        self.feed(proto, theirHandshake())
        assert proto.handshaked and not transport.disconnecting
        transport.clear()
        del torrent.calls[:]
        return proto, transport, torrent, reactor


class OutgoingHandshakeTestsMixin(FeedMixin):
    """
    Tests for the handshake of an outgoing connection.
    """

    def test_handshakeSentOnConnect(self) -> None:
        """
        connectionMade writes our handshake for the torrent's info_hash, and
        nothing else; the peer's address is kept.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        self.assertTrue(proto.outgoing)
        self.assertEqual(
            sentMessages(transport, handshake=True),
            [wire.Handshake(INFO_HASH, OUR_ID, OUR_RESERVED)],
        )
        self.assertEqual(proto.address, ("10.0.0.2", 6881))
        self.assertEqual(repr(proto), "<Peer 10.0.0.2:6881>")
        self.assertEqual(torrent.calls, [])
        self.assertFalse(proto.handshaked)

    def test_handshakeCompletes(self) -> None:
        """
        The peer's handshake records its id and reserved bytes, gives it an
        empty bitfield of the torrent's size and is reported with
        peerHandshaked; nothing is sent when we have no piece.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        transport.clear()
        reserved = b"\x00\x00\x00\x00\x00\x10\x00\x05"
        self.feed(proto, wire.encode(wire.Handshake(INFO_HASH, THEIR_ID, reserved)))
        self.assertTrue(proto.handshaked)
        self.assertEqual(proto.peerId, THEIR_ID)
        self.assertEqual(proto.reserved, reserved)
        self.assertEqual(proto.state.pieces, Bitfield(NUM_PIECES))
        self.assertEqual(torrent.calls, [("peerHandshaked", proto), ("ourBitfield",)])
        # Both sides speak the fast extension and the extension protocol:
        # have none (we have no piece) and our extended handshake are sent.
        haveNone, extended = sentMessages(transport)
        self.assertEqual(haveNone, wire.HaveNone())
        self.assertEqual(extended.extendedId, 0)
        self.assertFalse(transport.disconnecting)

    def test_dhtPortAnnounced(self) -> None:
        """
        With a DHT node, our handshake sets the DHT bit, and a peer whose
        handshake sets it too hears our node's port; a peer without the bit
        does not.
        """
        for theirs, expected in (
            (wire.makeReserved(wire.ReservedBit.DHT), [wire.Port(6999)]),
            (bytes(8), []),
        ):
            torrent = RecordingTorrent()
            torrent.ourDHTPort = 6999
            proto, transport, _ = connectPeer(torrent)
            [handshake] = sentMessages(transport, handshake=True)
            self.assertTrue(wire.hasReservedBit(handshake.reserved, wire.ReservedBit.DHT))
            transport.clear()
            self.feed(proto, wire.encode(wire.Handshake(INFO_HASH, THEIR_ID, theirs)))
            self.assertEqual([m for m in sentMessages(transport) if isinstance(m, wire.Port)], expected)

    def test_handshakeWaitsForLastByte(self) -> None:
        """
        Nothing happens until all 68 bytes of the handshake are in.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        self.feed(proto, theirHandshake()[:-1])
        self.assertFalse(proto.handshaked)
        self.assertEqual(torrent.calls, [])
        self.feed(proto, theirHandshake()[-1:])
        self.assertTrue(proto.handshaked)

    def test_otherInfoHashDrops(self) -> None:
        """
        A handshake for another info_hash drops the connection, unreported.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        self.feed(proto, theirHandshake(infoHash=OTHER_HASH))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(proto.handshaked)
        self.assertEqual(torrent.calls, [])

    def test_selfConnectionDrops(self) -> None:
        """
        A handshake carrying our own peer id (we dialled ourselves) drops the
        connection, unreported.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        self.feed(proto, theirHandshake(peerId=OUR_ID))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(proto.handshaked)
        self.assertEqual(torrent.calls, [])

    def test_bitfieldSentWhenWeHavePieces(self) -> None:
        """
        After the handshake, our bitfield is sent if we have any piece.
        """
        torrent = RecordingTorrent(have=[0, 5, 19])
        proto, transport, _ = connectPeer(torrent)
        transport.clear()
        self.feed(proto, theirHandshake())
        self.assertEqual(
            sentMessages(transport),
            [wire.Bitfield(Bitfield(NUM_PIECES, [0, 5, 19]).toBytes())],
        )

    def test_noBitfieldWithoutOne(self) -> None:
        """
        A torrent without a bitfield yet (C{None}) makes us send nothing.
        """
        torrent = RecordingTorrent()
        torrent.bitfield = None
        proto, transport, _ = connectPeer(torrent)
        transport.clear()
        self.feed(proto, theirHandshake())
        self.assertTrue(proto.handshaked)
        self.assertEqual(transport.value(), b"")

    def test_refusedByTorrentDrops(self) -> None:
        """
        When peerHandshaked answers C{False} the connection is dropped: no
        bitfield is sent and the messages that came with the handshake are
        not processed.
        """
        torrent = RecordingTorrent(have=[1], accept=False)
        proto, transport, _ = connectPeer(torrent)
        transport.clear()
        self.feed(proto, theirHandshake() + encodeAll(wire.Interested(), wire.Have(3)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(torrent.calls, [("peerHandshaked", proto)])
        self.assertFalse(proto.state.peerInterested)

    def test_messageBeforeHandshakeDrops(self) -> None:
        """
        A message where the handshake should be drops the connection.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        self.feed(proto, encodeAll(wire.Interested()) + theirHandshake())
        self.assertTrue(transport.disconnecting)
        self.assertFalse(proto.handshaked)
        self.assertEqual(torrent.calls, [])

    def test_wrongProtocolNameDrops(self) -> None:
        """
        A handshake naming another protocol drops the connection.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        self.feed(proto, b"\x13BitTorrent protocoX" + theirHandshake()[20:])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])


class IncomingHandshakeTestsMixin(FeedMixin):
    """
    Tests for the handshake of an incoming connection.
    """

    def lookupFor(self, *torrents: RecordingTorrent) -> Any:
        byHash = {t.infoHash: t for t in torrents}
        self.lookups: list[bytes] = []

        def lookup(infoHash: bytes) -> Optional[RecordingTorrent]:
            self.lookups.append(infoHash)
            return byHash.get(infoHash)

        return lookup

    def test_waitsForHandshake(self) -> None:
        """
        An incoming connection sends nothing and looks nothing up until the
        peer's handshake is complete.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(lookup=self.lookupFor(torrent))
        self.assertFalse(proto.outgoing)
        self.assertEqual(transport.value(), b"")
        self.feed(proto, theirHandshake()[:-1])
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.lookups, [])
        self.assertIsNone(proto.torrent)

    def test_answersHandshake(self) -> None:
        """
        The peer's handshake is looked up by info_hash and answered with our
        handshake for it, then our bitfield; the torrent hears
        peerHandshaked.
        """
        torrent = RecordingTorrent(have=[2])
        other = RecordingTorrent(infoHash=OTHER_HASH)
        proto, transport, _ = connectPeer(lookup=self.lookupFor(torrent, other))
        self.feed(proto, theirHandshake())
        self.assertEqual(self.lookups, [INFO_HASH])
        self.assertIs(proto.torrent, torrent)
        self.assertTrue(proto.handshaked)
        self.assertEqual(proto.peerId, THEIR_ID)
        self.assertEqual(
            sentMessages(transport, handshake=True),
            [
                wire.Handshake(INFO_HASH, OUR_ID, OUR_RESERVED),
                wire.Bitfield(Bitfield(NUM_PIECES, [2]).toBytes()),
            ],
        )
        self.assertEqual(torrent.calls, [("peerHandshaked", proto), ("ourBitfield",)])
        self.assertEqual(other.calls, [])

    def test_unknownInfoHashDrops(self) -> None:
        """
        A handshake for an info_hash we do not serve drops the connection
        without an answer.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(lookup=self.lookupFor(torrent))
        self.feed(proto, theirHandshake(infoHash=OTHER_HASH) + encodeAll(wire.Interested()))
        self.assertEqual(self.lookups, [OTHER_HASH])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        self.assertFalse(proto.handshaked)
        self.assertEqual(torrent.calls, [])

    def test_selfConnectionDrops(self) -> None:
        """
        An incoming handshake with our own peer id drops the connection,
        unreported to the torrent.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(lookup=self.lookupFor(torrent))
        self.feed(proto, theirHandshake(peerId=OUR_ID))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(proto.handshaked)
        self.assertEqual(torrent.calls, [])


class ReceiveTestsMixin(FeedMixin):
    """
    Tests for the messages a handshaken peer sends.
    """

    def test_unchoke(self) -> None:
        """
        An unchoke clears peerChoking and is reported once; a second is not.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.assertTrue(proto.state.peerChoking)
        self.feed(proto, encodeAll(wire.Unchoke(), wire.Unchoke()))
        self.assertFalse(proto.state.peerChoking)
        self.assertEqual(torrent.calls, [("peerUnchoked", proto)])

    def test_chokeReturnsRequests(self) -> None:
        """
        A choke sets peerChoking, discards our requests in flight and hands
        them to the torrent.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Unchoke()))
        proto.sendRequests([(0, 0, 16384), (0, 16384, 16384)])
        del torrent.calls[:]
        self.feed(proto, encodeAll(wire.Choke()))
        self.assertTrue(proto.state.peerChoking)
        self.assertEqual(proto.state.requested, {})
        self.assertEqual(torrent.calls, [("peerChoked", proto, [(0, 0), (0, 16384)])])

    def test_chokeWhenChoked(self) -> None:
        """
        A choke while the peer already chokes us is not reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Choke()))
        self.assertTrue(proto.state.peerChoking)
        self.assertEqual(torrent.calls, [])
        self.assertFalse(transport.disconnecting)

    def test_interestOnlyOnChange(self) -> None:
        """
        interested and not interested update peerInterested and are reported
        only when they change it.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(
            proto,
            encodeAll(
                wire.NotInterested(),
                wire.Interested(),
                wire.Interested(),
                wire.NotInterested(),
                wire.NotInterested(),
            ),
        )
        self.assertFalse(proto.state.peerInterested)
        self.assertEqual(
            torrent.calls,
            [("peerInterestChanged", proto, True), ("peerInterestChanged", proto, False)],
        )

    def test_have(self) -> None:
        """
        have adds the piece to the peer's pieces and is reported once.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Have(3), wire.Have(NUM_PIECES - 1), wire.Have(3)))
        self.assertEqual(list(proto.state.pieces), [3, NUM_PIECES - 1])
        self.assertEqual(
            torrent.calls, [("peerHave", proto, 3), ("peerHave", proto, NUM_PIECES - 1)]
        )

    def test_haveOutOfRangeDrops(self) -> None:
        """
        have for a piece index past the torrent drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Have(NUM_PIECES), wire.Interested()))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])
        self.assertEqual(len(proto.state.pieces), 0)

    def test_bitfield(self) -> None:
        """
        A bitfield as the first message (keep-alives aside) sets the peer's
        pieces and is reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        expected = Bitfield(NUM_PIECES, [0, 7, 8, 19])
        self.feed(proto, encodeAll(wire.KeepAlive(), wire.Bitfield(expected.toBytes())))
        self.assertEqual(proto.state.pieces, expected)
        self.assertEqual(torrent.calls, [("peerBitfield", proto)])
        self.assertFalse(transport.disconnecting)

    def test_bitfieldWithHandshake(self) -> None:
        """
        A bitfield arriving in the same data as the handshake is taken.
        """
        torrent = RecordingTorrent()
        proto, transport, _ = connectPeer(torrent)
        expected = Bitfield(NUM_PIECES, range(NUM_PIECES))
        self.feed(proto, theirHandshake() + encodeAll(wire.Bitfield(expected.toBytes())))
        self.assertEqual(proto.state.pieces, expected)
        self.assertEqual(torrent.named("peerBitfield"), [(proto,)])

    def test_bitfieldAfterOtherMessageDrops(self) -> None:
        """
        A bitfield after another message drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Have(1), wire.Bitfield(b"\xff\xff\xf0")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [("peerHave", proto, 1)])
        self.assertEqual(list(proto.state.pieces), [1])

    def test_secondBitfieldDrops(self) -> None:
        """
        A second bitfield drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Bitfield(b"\x80\x00\x00"), wire.Bitfield(b"\xff\xff\xf0")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [("peerBitfield", proto)])
        self.assertEqual(list(proto.state.pieces), [0])

    def test_bitfieldWrongSizeDrops(self) -> None:
        """
        A bitfield shorter or longer than the torrent's drops the connection.
        """
        for payload in [b"\xff\xff", b"\xff\xff\xf0\x00", b""]:
            proto, transport, torrent, _ = self.handshaken()
            self.feed(proto, encodeAll(wire.Bitfield(payload)))
            self.assertTrue(transport.disconnecting, payload)
            self.assertEqual(torrent.calls, [], payload)
            self.assertEqual(len(proto.state.pieces), 0)

    def test_bitfieldSpareBitsDrop(self) -> None:
        """
        A bitfield with a spare bit set drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Bitfield(b"\xff\xff\xf8")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])

    def test_requestIgnoredWhileChoking(self) -> None:
        """
        A request while we choke the peer is ignored, without dropping.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Request(0, 0, 16384)))
        self.assertEqual(list(proto.state.requestsIn), [])
        self.assertEqual(torrent.calls, [])
        self.assertFalse(transport.disconnecting)

    def test_request(self) -> None:
        """
        A request while we do not choke is queued and reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.setChoking(False)
        self.feed(proto, encodeAll(wire.Request(1, 0, 16384), wire.Request(1, 16384, 100)))
        self.assertEqual(list(proto.state.requestsIn), [(1, 0, 16384), (1, 16384, 100)])
        self.assertEqual(torrent.requestsReported(), [(1, 0, 16384), (1, 16384, 100)])
        self.assertEqual(torrent.calls[-1], ("requestsQueued", proto))

    def test_tooManyRequestsDrop(self) -> None:
        """
        MAX_QUEUED_REQUESTS requests may wait for an answer; one more drops
        the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.setChoking(False)
        requests = [wire.Request(0, i, 1) for i in range(MAX_QUEUED_REQUESTS)]
        self.feed(proto, encodeAll(*requests))
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(proto.state.requestsIn), MAX_QUEUED_REQUESTS)
        self.feed(proto, encodeAll(wire.Request(1, 0, 1)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(proto.state.requestsIn), MAX_QUEUED_REQUESTS)
        self.assertEqual(len(torrent.requestsReported()), MAX_QUEUED_REQUESTS)

    def test_cancel(self) -> None:
        """
        cancel removes the matching queued request; a cancel matching none is
        ignored.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.setChoking(False)
        self.feed(
            proto,
            encodeAll(
                wire.Request(1, 0, 16384),
                wire.Request(1, 16384, 16384),
                wire.Cancel(1, 0, 16384),
                wire.Cancel(1, 16384, 100),
                wire.Cancel(9, 0, 16384),
            ),
        )
        self.assertEqual(list(proto.state.requestsIn), [(1, 16384, 16384)])
        self.assertFalse(transport.disconnecting)

    def test_piece(self) -> None:
        """
        A piece answering our request leaves C{requested}, is reported, and
        counts in downloadRate.
        """
        proto, transport, torrent, reactor = self.handshaken()
        proto.sendRequests([(1, 0, 4), (1, 4, 4)])
        reactor.advance(7)
        self.feed(proto, encodeAll(wire.Piece(1, 0, b"abcd")))
        self.assertEqual(proto.state.requested, {(1, 4): 4})
        self.assertEqual(torrent.calls, [("blocksReceived", proto, [wire.Piece(1, 0, b"abcd")])])
        self.assertEqual(proto.downloadRate.total, 4)
        self.assertGreater(proto.downloadRate.rate(), 0)

    def test_piecesInOneRead(self) -> None:
        """
        The blocks of one read that follow each other reach the torrent as
        one batch, in order; a message between them splits the batch, so
        that the torrent hears everything in the order it was sent.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sendRequests([(1, 0, 2), (1, 2, 2), (1, 4, 2)])
        proto.dataReceived(
            encodeAll(wire.Piece(1, 0, b"ab"), wire.Piece(1, 2, b"cd"), wire.Have(3), wire.Piece(1, 4, b"ef"))
        )
        self.assertEqual(
            torrent.calls,
            [
                ("blocksReceived", proto, [wire.Piece(1, 0, b"ab"), wire.Piece(1, 2, b"cd")]),
                ("peerHave", proto, 3),
                ("blocksReceived", proto, [wire.Piece(1, 4, b"ef")]),
            ],
        )
        self.assertEqual(proto.state.requested, {})
        self.assertEqual(proto.downloadRate.total, 6)

    def test_pieceUnrequestedAfterGoodOnes(self) -> None:
        """
        A block we never asked for, after blocks we did in the same read,
        drops the peer, but the blocks before it are still handed on: they
        are no longer counted as requested, so the torrent must hear of them.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sendRequests([(1, 0, 2)])
        proto.dataReceived(encodeAll(wire.Piece(1, 0, b"ab"), wire.Piece(1, 2, b"cd")))
        self.assertEqual(torrent.calls, [("blocksReceived", proto, [wire.Piece(1, 0, b"ab")])])
        self.assertTrue(transport.disconnecting)

    def test_pieceUnrequested(self) -> None:
        """
        A piece we never asked for drops the peer: a peer may not push data
        on us (it would cost memory and disk writes at its will).
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Piece(2, 0, b"xy")))
        self.assertEqual(torrent.calls, [])
        self.assertTrue(transport.disconnecting)

    def test_pieceCancelled(self) -> None:
        """
        A piece we asked for and then cancelled is still passed on (it was on
        its way): the torrent decides whether it is wasted.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sendRequests([(2, 0, 2)])
        proto.cancelRequest(2, 0)
        self.feed(proto, encodeAll(wire.Piece(2, 0, b"xy")))
        self.assertEqual(torrent.calls, [("blocksReceived", proto, [wire.Piece(2, 0, b"xy")])])
        self.assertFalse(transport.disconnecting)
        self.assertFalse(transport.disconnecting)

    def test_pieceWrongLengthDrops(self) -> None:
        """
        A piece of another length than we asked for drops the connection,
        unreported.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.sendRequests([(1, 0, 4)])
        self.feed(proto, encodeAll(wire.Piece(1, 0, b"abc")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])
        self.assertEqual(proto.downloadRate.total, 0)

    def test_ignoredMessages(self) -> None:
        """
        Unknown messages (an extended message without the extension
        protocol) and keep-alives change nothing and are not reported.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(
            proto,
            encodeAll(
                wire.KeepAlive(),
                wire.UnknownMessage(20, b"d1:md11:ut_metadatai1eee"),
                wire.UnknownMessage(42, b""),
            ),
        )
        self.assertEqual(torrent.calls, [])
        self.assertFalse(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_portReported(self) -> None:
        """
        A port message (BEP 5) is reported with peerPort, and may come
        before the bitfield.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, encodeAll(wire.Port(6881), wire.Bitfield(b"\x80\x00\x00")))
        self.assertEqual(torrent.calls, [("peerPort", proto, 6881), ("peerBitfield", proto)])
        self.assertFalse(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_garbageLengthDrops(self) -> None:
        """
        A length prefix beyond any message drops the connection, and nothing
        after it is processed, in the same data or later.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, b"\xff\xff\xff\xff" + encodeAll(wire.Interested()))
        self.assertTrue(transport.disconnecting)
        self.feed(proto, encodeAll(wire.Have(1)))
        self.assertEqual(torrent.calls, [])
        self.assertFalse(proto.state.peerInterested)

    def test_oversizeLengthDrops(self) -> None:
        """
        One byte over the largest message drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(
            proto,
            struct.pack(">IB", wire.MAX_MESSAGE_LENGTH + 1, 7) + encodeAll(wire.Interested()),
        )
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])

    def test_wrongLengthForIdDrops(self) -> None:
        """
        A message whose length its id cannot have drops the connection.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.feed(proto, struct.pack(">IBI", 5, 2, 0) + encodeAll(wire.Have(1)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.calls, [])

    def test_droppedByTorrentStopsProcessing(self) -> None:
        """
        When the torrent drops the peer from a callback, the messages after
        the one reported are not processed.
        """
        proto, transport, torrent, _ = self.handshaken()
        torrent.peerHave = lambda peer, index: peer.drop("no")  # type: ignore[method-assign]
        self.feed(proto, encodeAll(wire.Have(1), wire.Interested()))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(proto.state.peerInterested)
        self.assertEqual(torrent.calls, [])


class OutgoingHandshakeWholeTests(OutgoingHandshakeTestsMixin, SynchronousTestCase):
    pass


class OutgoingHandshakeByteByByteTests(OutgoingHandshakeTestsMixin, SynchronousTestCase):
    byteByByte = True


class IncomingHandshakeWholeTests(IncomingHandshakeTestsMixin, SynchronousTestCase):
    pass


class IncomingHandshakeByteByByteTests(IncomingHandshakeTestsMixin, SynchronousTestCase):
    byteByByte = True


class ReceiveWholeTests(ReceiveTestsMixin, SynchronousTestCase):
    def test_requestsQueuedOncePerRead(self) -> None:
        """
        The requests of one read are reported, then queued for serving,
        once: not once per request.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.setChoking(False)
        self.feed(proto, encodeAll(*(wire.Request(1, i * 4, 4) for i in range(3))))
        self.assertEqual(
            torrent.calls,
            [
                ("requestsReceived", proto, [(1, 0, 4), (1, 4, 4), (1, 8, 4)]),
                ("requestsQueued", proto),
            ],
        )

    def test_noRequestsQueuedOnceDropped(self) -> None:
        """
        Requests followed, in the same read, by an offence that drops the
        peer are not served.
        """
        proto, transport, torrent, _ = self.handshaken()
        proto.setChoking(False)
        self.feed(proto, encodeAll(wire.Request(1, 0, 4), wire.Have(99)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.named("requestsQueued"), [])


class ReceiveByteByByteTests(ReceiveTestsMixin, SynchronousTestCase):
    byteByByte = True


class SendTests(FeedMixin, SynchronousTestCase):
    """
    Tests for what L{PeerProtocol} sends when its torrent asks.
    """

    def test_setInterested(self) -> None:
        """
        setInterested sends interested or not interested only on change.
        """
        proto, transport, _, _ = self.handshaken()
        proto.setInterested(False)
        self.assertEqual(transport.value(), b"")
        proto.setInterested(True)
        proto.setInterested(True)
        self.assertTrue(proto.state.amInterested)
        self.assertEqual(sentMessages(transport), [wire.Interested()])
        transport.clear()
        proto.setInterested(False)
        self.assertFalse(proto.state.amInterested)
        self.assertEqual(sentMessages(transport), [wire.NotInterested()])

    def test_setChoking(self) -> None:
        """
        setChoking sends unchoke or choke only on change; choking discards
        the peer's queued requests.
        """
        proto, transport, _, _ = self.handshaken()
        self.assertTrue(proto.state.amChoking)
        proto.setChoking(True)
        self.assertEqual(transport.value(), b"")
        proto.setChoking(False)
        proto.setChoking(False)
        self.assertFalse(proto.state.amChoking)
        self.assertEqual(sentMessages(transport), [wire.Unchoke()])
        self.feed(proto, encodeAll(wire.Request(0, 0, 10)))
        self.assertEqual(len(proto.state.requestsIn), 1)
        transport.clear()
        proto.setChoking(True)
        self.assertTrue(proto.state.amChoking)
        self.assertEqual(sentMessages(transport), [wire.Choke()])
        self.assertEqual(list(proto.state.requestsIn), [])

    def test_sendRequests(self) -> None:
        """
        sendRequests writes every request in one write and remembers them in
        order as in flight.
        """
        proto, transport, _, reactor = self.handshaken()
        blocks = [(0, 0, 16384), (0, 16384, 16384), (4, 0, 100)]
        self.assertEqual(proto.sendRequests(iter(blocks)), blocks)
        self.assertEqual(len(transport.writes), 1)
        self.assertEqual(sentMessages(transport), [wire.Request(*b) for b in blocks])
        self.assertEqual(list(proto.state.requested.items()), [((i, b), n) for i, b, n in blocks])
        proto.sendRequests([(5, 0, 1)])
        self.assertEqual(len(proto.state.requested), 4)

    def test_sendRequestsNone(self) -> None:
        """
        sendRequests with no block writes nothing.
        """
        proto, transport, _, _ = self.handshaken()
        proto.sendRequests([])
        self.assertEqual(transport.writes, [])

    def test_cancelRequest(self) -> None:
        """
        cancelRequest sends a cancel for a request in flight and forgets it;
        for any other block it sends nothing.
        """
        proto, transport, _, _ = self.handshaken()
        proto.sendRequests([(0, 0, 16384), (0, 16384, 200)])
        transport.clear()
        proto.cancelRequest(0, 16384)
        self.assertEqual(sentMessages(transport), [wire.Cancel(0, 16384, 200)])
        self.assertEqual(proto.state.requested, {(0, 0): 16384})
        transport.clear()
        proto.cancelRequest(0, 16384)
        proto.cancelRequest(7, 0)
        self.assertEqual(transport.value(), b"")

    def queued(self, *requests: wire.Request) -> tuple[PeerProtocol, RecordingTransport]:
        proto, transport, _, _ = self.handshaken()
        proto.setChoking(False)
        self.feed(proto, encodeAll(*requests))
        transport.clear()
        return proto, transport

    def test_sendBlock(self) -> None:
        """
        sendBlock answers a request taken by nextRequest with a piece, in one
        write, forgets it and counts it in uploadRate.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4), wire.Request(1, 4, 4))
        self.assertEqual(proto.nextRequest(4), (1, 0, 4))
        self.assertEqual(proto.nextRequest(4), (1, 4, 4))
        self.assertTrue(proto.sendBlock(1, 4, b"efgh"))
        self.assertEqual(len(transport.writes), 1)
        self.assertEqual(sentMessages(transport), [wire.Piece(1, 4, b"efgh")])
        self.assertEqual(proto.state.serving, [(1, 0, 4)])
        self.assertEqual(proto.uploadRate.total, 4)

    def test_sendRun(self) -> None:
        """
        sendRun answers the requests still wanted among a run taken by
        nextRun, from their blocks read end to end, all in one write, and
        says how many bytes it sent.
        """
        proto, transport = self.queued(
            wire.Request(1, 0, 4), wire.Request(1, 4, 4), wire.Request(1, 8, 4)
        )
        run = proto.nextRun(4)
        self.assertEqual(run, [(1, 0, 4), (1, 4, 4), (1, 8, 4)])
        self.feed(proto, encodeAll(wire.Cancel(1, 4, 4)))
        transport.clear()
        sent = proto.sendRun(run, bytearray(b"abcdefghijkl"))
        self.assertEqual(sent, 8)
        self.assertEqual(len(transport.writes), 1)
        self.assertEqual(
            sentMessages(transport), [wire.Piece(1, 0, b"abcd"), wire.Piece(1, 8, b"ijkl")]
        )
        self.assertEqual(proto.state.serving, [])
        self.assertEqual(proto.uploadRate.total, 8)

    def test_nextRunWhilePaused(self) -> None:
        """
        nextRun hands out nothing while the transport pauses us.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.pauseProducing()
        self.assertEqual(proto.nextRun(4), [])
        proto.resumeProducing()
        self.assertEqual(proto.nextRun(4), [(1, 0, 4)])

    def test_sendBlockNotQueued(self) -> None:
        """
        sendBlock for a block not being served (cancelled, never asked, or
        of another length) sends nothing.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4), wire.Request(2, 0, 4))
        proto.nextRequest(4)
        proto.nextRequest(4)
        self.feed(proto, encodeAll(wire.Cancel(2, 0, 4)))
        self.assertFalse(proto.wants((2, 0, 4)))
        self.assertTrue(proto.wants((1, 0, 4)))
        self.assertFalse(proto.sendBlock(2, 0, b"abcd"))
        self.assertFalse(proto.sendBlock(3, 0, b"abcd"))
        self.assertFalse(proto.sendBlock(1, 0, b"abc"))
        self.assertEqual(transport.value(), b"")
        self.assertEqual(proto.uploadRate.total, 0)

    def test_sendBlockWhileChoking(self) -> None:
        """
        sendBlock after we choked the peer sends nothing.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.nextRequest(4)
        proto.setChoking(True)
        transport.clear()
        self.assertFalse(proto.wants((1, 0, 4)))
        self.assertFalse(proto.sendBlock(1, 0, b"abcd"))
        self.assertEqual(transport.value(), b"")

    def test_nextRequestInOrder(self) -> None:
        """
        nextRequest takes queued requests oldest first, at most
        C{maxServing} at a time; sending one makes room for the next.
        """
        proto, _ = self.queued(wire.Request(1, 0, 4), wire.Request(2, 0, 4), wire.Request(3, 0, 4))
        self.assertEqual(proto.nextRequest(2), (1, 0, 4))
        self.assertEqual(proto.nextRequest(2), (2, 0, 4))
        self.assertIsNone(proto.nextRequest(2))
        self.assertTrue(proto.sendBlock(1, 0, b"abcd"))
        self.assertEqual(proto.nextRequest(2), (3, 0, 4))
        self.assertIsNone(proto.nextRequest(2))

    def test_nextRequestNoneWhilePaused(self) -> None:
        """
        The protocol is a streaming producer on its transport: while the
        transport has paused it, nextRequest hands out nothing; on resume
        the torrent hears that the peer is writable.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.assertIs(transport.producer, proto)
        self.assertTrue(transport.streaming)
        proto.setChoking(False)
        self.feed(proto, encodeAll(wire.Request(1, 0, 4)))
        proto.pauseProducing()
        self.assertIsNone(proto.nextRequest(4))
        self.assertEqual(torrent.named("peerWritable"), [])
        proto.resumeProducing()
        self.assertEqual(torrent.named("peerWritable"), [(proto,)])
        self.assertEqual(proto.nextRequest(4), (1, 0, 4))

    def test_nextRequestNoneWhileChoking(self) -> None:
        """
        A choke discards every queued and served request.
        """
        proto, _ = self.queued(wire.Request(1, 0, 4), wire.Request(2, 0, 4))
        proto.nextRequest(4)
        proto.setChoking(True)
        self.assertEqual(proto.state.serving, [])
        self.assertIsNone(proto.nextRequest(4))

    def test_dropUnregistersProducer(self) -> None:
        """
        Dropping the peer unregisters the protocol as producer, or
        loseConnection would wait for it forever.
        """
        proto, transport = self.queued()
        proto.drop("test")
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(proto.nextRequest(4))

    def test_nothingSentAfterDrop(self) -> None:
        """
        Once dropped, nothing more is written.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.drop("test")
        self.assertTrue(transport.disconnecting)
        proto.setInterested(True)
        proto.sendRequests([(0, 0, 1)])
        proto.sendMessage(wire.Have(1))
        self.assertFalse(proto.sendBlock(1, 0, b"abcd"))
        self.assertEqual(transport.value(), b"")

    def test_nothingSentAfterConnectionLost(self) -> None:
        """
        Once the connection is lost, nothing more is written (a block read
        from storage after the peer left is not counted as sent).
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.connectionLost(Failure(ConnectionDone()))
        proto.sendMessage(wire.Have(1))
        self.assertFalse(proto.sendBlock(1, 0, b"abcd"))
        self.assertEqual(transport.value(), b"")
        self.assertEqual(proto.uploadRate.total, 0)


class TimerTests(FeedMixin, SynchronousTestCase):
    """
    Tests for keep-alives and timeouts, on a fake clock.
    """

    def test_keepAlive(self) -> None:
        """
        A keep-alive is sent once we have sent nothing for
        KEEPALIVE_INTERVAL, and again after each further interval.
        """
        proto, transport, _, reactor = self.handshaken()
        advance(reactor, KEEPALIVE_INTERVAL - 1)
        self.assertEqual(transport.value(), b"")
        advance(reactor, 1 + _TIMER_PERIOD)
        self.assertEqual(sentMessages(transport), [wire.KeepAlive()])
        # The peer's keep-alive keeps it from the idle timeout.
        self.feed(proto, encodeAll(wire.KeepAlive()))
        advance(reactor, KEEPALIVE_INTERVAL)
        self.assertEqual(sentMessages(transport), [wire.KeepAlive()] * 2)
        self.assertFalse(transport.disconnecting)

    def test_sendingPostponesKeepAlive(self) -> None:
        """
        Any message we send restarts the keep-alive interval.
        """
        proto, transport, _, reactor = self.handshaken()
        advance(reactor, 100)
        proto.setInterested(True)
        advance(reactor, KEEPALIVE_INTERVAL - 1)
        self.assertEqual(sentMessages(transport), [wire.Interested()])
        advance(reactor, 1 + _TIMER_PERIOD)
        self.assertEqual(sentMessages(transport), [wire.Interested(), wire.KeepAlive()])

    def test_idleTimeout(self) -> None:
        """
        A peer silent for IDLE_TIMEOUT is dropped, though we keep sending
        keep-alives.
        """
        proto, transport, torrent, reactor = self.handshaken()
        advance(reactor, IDLE_TIMEOUT - 1)
        self.assertFalse(transport.disconnecting)
        self.assertIn(wire.KeepAlive(), sentMessages(transport))
        advance(reactor, 1 + _TIMER_PERIOD)
        self.assertTrue(transport.disconnecting)

    def test_keepAlivePostponesIdleTimeout(self) -> None:
        """
        A keep-alive from the peer restarts the idle timeout.
        """
        proto, transport, torrent, reactor = self.handshaken()
        advance(reactor, 200)
        self.feed(proto, encodeAll(wire.KeepAlive()))
        advance(reactor, IDLE_TIMEOUT - 1)
        self.assertFalse(transport.disconnecting)
        advance(reactor, 1 + _TIMER_PERIOD)
        self.assertTrue(transport.disconnecting)

    def test_handshakeTimeout(self) -> None:
        """
        A connection without a handshake within HANDSHAKE_TIMEOUT is dropped,
        even while handshake bytes trickle in.
        """
        for lookup in [None, lambda infoHash: RecordingTorrent()]:
            torrent = None if lookup else RecordingTorrent()
            proto, transport, reactor = connectPeer(torrent, lookup)
            data = theirHandshake()
            for i in range(int(HANDSHAKE_TIMEOUT) - 1):
                reactor.advance(1)
                proto.dataReceived(data[i : i + 1])
            self.assertFalse(transport.disconnecting)
            advance(reactor, 1 + _TIMER_PERIOD)
            self.assertTrue(transport.disconnecting)
            self.assertFalse(proto.handshaked)

    def test_handshakeInTime(self) -> None:
        """
        A handshake completed in time is not dropped at HANDSHAKE_TIMEOUT.
        """
        torrent = RecordingTorrent()
        proto, transport, reactor = connectPeer(torrent)
        advance(reactor, HANDSHAKE_TIMEOUT - 1)
        self.feed(proto, theirHandshake())
        advance(reactor, _TIMER_PERIOD * 4)
        self.assertFalse(transport.disconnecting)

    def test_abortWhenNotClosed(self) -> None:
        """
        A dropped connection still open a timer period later (the peer is
        not reading) is aborted.
        """
        proto, transport, torrent, reactor = self.handshaken()
        proto.drop("test")
        self.assertFalse(transport.disconnected)
        advance(reactor, _TIMER_PERIOD)
        self.assertTrue(transport.disconnected)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_connectionLostCancelsTimers(self) -> None:
        """
        connectionLost leaves no delayed call behind, and tells the torrent
        why a handshaken peer left.
        """
        proto, transport, torrent, reactor = self.handshaken()
        self.assertEqual(len(reactor.getDelayedCalls()), 1)
        advance(reactor, 50)
        self.assertEqual(len(reactor.getDelayedCalls()), 1)
        reason = Failure(ConnectionDone("bye"))
        proto.connectionLost(reason)
        self.assertEqual(reactor.getDelayedCalls(), [])
        self.assertEqual(
            torrent.calls, [("peerDisconnected", proto, reason.getErrorMessage())]
        )

    def test_connectionLostBeforeHandshake(self) -> None:
        """
        A connection lost before the handshake cancels its timer and is not
        reported to the torrent.
        """
        torrent = RecordingTorrent()
        proto, transport, reactor = connectPeer(torrent)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(reactor.getDelayedCalls(), [])
        self.assertEqual(torrent.calls, [])


uint32 = st.integers(min_value=0, max_value=2**32 - 1)
validMessages = st.one_of(
    st.builds(wire.KeepAlive),
    st.builds(wire.Choke),
    st.builds(wire.Unchoke),
    st.builds(wire.Interested),
    st.builds(wire.NotInterested),
    st.builds(wire.Have, st.integers(min_value=0, max_value=NUM_PIECES + 2)),
    # At most the torrent's size: a larger one is refused by the decoder
    # as soon as the handshake is known, which loses the messages decoded
    # with it, so whole and split feeds would differ.
    st.builds(wire.Bitfield, st.binary(max_size=(NUM_PIECES + 7) // 8)),
    st.builds(
        wire.Request,
        st.integers(min_value=0, max_value=NUM_PIECES),
        uint32,
        st.integers(min_value=1, max_value=wire.MAX_BLOCK_LENGTH),
    ),
    st.builds(
        wire.Cancel,
        st.integers(min_value=0, max_value=NUM_PIECES),
        uint32,
        st.integers(min_value=1, max_value=wire.MAX_BLOCK_LENGTH),
    ),
    st.builds(wire.Piece, st.integers(0, 3), st.integers(0, 3), st.binary(max_size=8)),
    st.builds(wire.Port, st.integers(min_value=0, max_value=65535)),
    st.builds(wire.UnknownMessage, st.integers(10, 255), st.binary(max_size=8)),
)


def splitAt(data: bytes, points: list[int]) -> list[bytes]:
    edges = [0] + sorted(set(points)) + [len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def observable(proto: PeerProtocol, torrent: RecordingTorrent) -> tuple[Any, ...]:
    """
    Everything a run can be compared by, with the peer left out of the calls
    and the requests reported one by one (they are reported, and queued for
    serving, once per read: as often as the bytes came in).
    """
    calls: list[tuple[Any, ...]] = []
    for c in torrent.calls:
        if c[0] == "requestsReceived":
            calls += [("request", *request) for request in c[2]]
        elif c[0] != "requestsQueued":
            calls.append((c[0],) + c[2:] if c[1:2] == (proto,) else c)
    return (
        calls,
        proto.transport.disconnecting,
        proto.transport.value(),
        proto.state.pieces,
        list(proto.state.requestsIn),
        dict(proto.state.requested),
        (proto.state.peerChoking, proto.state.peerInterested, proto.downloadRate.total),
    )


class PropertyTests(SynchronousTestCase):
    """
    Property tests of L{PeerProtocol} on untrusted input.
    """

    def feedRun(self, chunks: list[bytes], unchoke: bool) -> tuple[PeerProtocol, RecordingTorrent]:
        torrent = RecordingTorrent(have=[0])
        proto, transport, _ = connectPeer(torrent)
        proto.dataReceived(theirHandshake())
        if unchoke:
            proto.setChoking(False)
        proto.sendRequests([(1, 0, 4), (2, 2, 3)])
        for chunk in chunks:
            proto.dataReceived(chunk)
        return proto, torrent

    @settings(max_examples=200, deadline=None)
    @given(st.lists(validMessages, max_size=25), st.booleans(), st.data())
    def test_splitDoesNotMatter(self, messages: list[Any], unchoke: bool, data: Any) -> None:
        """
        Well-framed messages fed whole and fed split anywhere have the same
        effects, drops included.
        """
        stream = encodeAll(*messages)
        points = data.draw(st.lists(st.integers(0, len(stream)), max_size=40))
        whole = observable(*self.feedRun([stream], unchoke))
        split = observable(*self.feedRun(splitAt(stream, points), unchoke))
        self.assertEqual(whole, split)

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.one_of(st.binary(max_size=40), validMessages.map(wire.encode)), max_size=15),
        st.booleans(),
        st.data(),
    )
    def test_anyBytes(self, pieces: list[bytes], unchoke: bool, data: Any) -> None:
        """
        Whatever a handshaken peer sends, split anywhere, no exception
        escapes dataReceived, and once dropped nothing more is reported.
        """
        stream = b"".join(pieces)
        points = data.draw(st.lists(st.integers(0, len(stream)), max_size=40))
        torrent = RecordingTorrent(have=[0])
        proto, transport, _ = connectPeer(torrent)
        proto.dataReceived(theirHandshake())
        if unchoke:
            proto.setChoking(False)
        for chunk in splitAt(stream, points):
            proto.dataReceived(chunk)
        self.assertLessEqual(len(proto.state.requestsIn), MAX_QUEUED_REQUESTS)
        if transport.disconnecting:
            before = list(torrent.calls)
            proto.dataReceived(encodeAll(wire.Interested(), wire.Have(1)))
            self.assertEqual(torrent.calls, before)
