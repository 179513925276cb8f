# -*- test-case-name: tests.test_peer -*-
"""
Tests for L{bittwist.peer}.
"""

from typing import Any, Optional

from hypothesis import given, settings, strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.incomingrequests import MAX_QUEUED_REQUESTS
from bittwist.peer import OUR_RESERVED, PeerProtocol

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
    A fake torrent: implements L{bittwist.peerevents.IPeerEvents} (and the
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


class OutgoingHandshakeWholeTests(OutgoingHandshakeTestsMixin, SynchronousTestCase):
    pass


class OutgoingHandshakeByteByByteTests(OutgoingHandshakeTestsMixin, SynchronousTestCase):
    byteByByte = True


class IncomingHandshakeWholeTests(IncomingHandshakeTestsMixin, SynchronousTestCase):
    pass


class IncomingHandshakeByteByByteTests(IncomingHandshakeTestsMixin, SynchronousTestCase):
    byteByByte = True


class DropTests(FeedMixin, SynchronousTestCase):
    """
    Tests for L{PeerProtocol.drop}.
    """

    def test_dropUnregistersProducer(self) -> None:
        """
        Dropping the peer unregisters the protocol as producer, or
        loseConnection would wait for it forever.
        """
        proto, transport, _, _ = self.handshaken()
        proto.drop("test")
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(proto.sender.nextRequest(4))


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
        list(proto.requestsIn.queued),
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
            proto.sender.setChoking(False)
        proto.sender.sendRequests([(1, 0, 4), (2, 2, 3)])
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
            proto.sender.setChoking(False)
        for chunk in splitAt(stream, points):
            proto.dataReceived(chunk)
        self.assertLessEqual(len(proto.requestsIn.queued), MAX_QUEUED_REQUESTS)
        if transport.disconnecting:
            before = list(torrent.calls)
            proto.dataReceived(encodeAll(wire.Interested(), wire.Have(1)))
            self.assertEqual(torrent.calls, before)
