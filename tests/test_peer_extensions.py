# -*- test-case-name: tests.test_peer_extensions -*-
"""
Tests for the extension protocol (BEP 10) on a L{bittwist.peer.PeerProtocol}
connection: negotiation, our extended handshake, theirs, and the routing of
extension messages.
"""

import ipaddress

from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.clientname import describeClient
from bittwist.extensions.handshake import ExtendedHandshake
from bittwist.peer import CLIENT_NAME, MAX_QUEUED_REQUESTS, PeerProtocol
from tests.test_peer import (
    THEIR_ID,
    FeedMixin,
    RecordingTorrent,
    connectPeer,
    encodeAll,
    sentMessages,
    theirHandshake,
)

EXTENDED = wire.makeReserved(wire.ReservedBit.EXTENSION_PROTOCOL)


def extended(handshake: ExtendedHandshake) -> wire.Extended:
    return wire.Extended(0, handshake.encode())


class ExtensionProtocolTests(FeedMixin, SynchronousTestCase):
    """
    BEP 10 on one connection.
    """

    def connect(self, reserved=EXTENDED, outgoing=True, **torrentArgs):
        """
        @return: a connection past a handshake with C{reserved}, its
            transport (cleared before the handshake's answer) and torrent.
        """
        torrent = RecordingTorrent(**torrentArgs)
        if outgoing:
            proto, transport, _ = connectPeer(torrent)
        else:
            proto, transport, _ = connectPeer(lookup=lambda infoHash: torrent)
        transport.clear()
        self.feed(proto, theirHandshake(reserved=reserved))
        return proto, transport, torrent

    def test_noExtensionBitNoHandshake(self) -> None:
        """
        A peer that does not announce the extension protocol gets no
        extended handshake, and its id-20 messages are ignored.
        """
        proto, transport, torrent = self.connect(reserved=bytes(8))
        self.assertFalse(proto.extensionProtocol)
        self.assertFalse(proto.fast)
        self.assertEqual(sentMessages(transport), [])
        transport.clear()
        self.feed(proto, wire.encode(wire.UnknownMessage(20, b"d1:md6:ut_pexi1eee")))
        self.assertFalse(transport.disconnecting)
        self.assertEqual(torrent.named("peerExtended"), [])
        self.assertIsNone(proto.extendedHandshake)
        self.assertFalse(proto.supports("ut_pex"))
        self.assertIsNone(proto.listenAddress)

    def test_ourHandshake(self) -> None:
        """
        With both bits, our extended handshake goes out right after the
        handshake (and bitfield): our extensions under ids 1, 2, ..., our
        client name, the torrent's fields (listening port, metadata size),
        our request queue and the peer's address as we see it.
        """
        proto, transport, torrent = self.connect(reserved=EXTENDED, have=[0])
        self.assertTrue(proto.extensionProtocol)
        bitfield, ext = sentMessages(transport)
        self.assertIsInstance(bitfield, wire.Bitfield)
        self.assertEqual(ext.extendedId, 0)
        ours = ExtendedHandshake.decode(ext.payload)
        self.assertEqual(ours.extensions, {"ut_pex": 1, "ut_metadata": 2})
        self.assertEqual(ours.client, CLIENT_NAME)
        self.assertTrue(CLIENT_NAME.startswith("bittwist "))
        self.assertEqual(ours.listenPort, 6881)
        self.assertEqual(ours.requestQueue, MAX_QUEUED_REQUESTS)
        self.assertEqual(ours.yourIp, ipaddress.ip_address("10.0.0.2"))
        self.assertIsNone(ours.metadataSize)

    def test_metadataSizeSent(self) -> None:
        """
        The torrent's fields go into our handshake, metadata size included.
        """
        torrent = RecordingTorrent()
        torrent.extensionFields = {"listenPort": 7000, "metadataSize": 1234}
        proto, transport, _ = connectPeer(torrent)
        transport.clear()
        self.feed(proto, theirHandshake(reserved=EXTENDED))
        [ext] = sentMessages(transport)
        ours = ExtendedHandshake.decode(ext.payload)
        self.assertEqual((ours.listenPort, ours.metadataSize), (7000, 1234))

    def test_theirHandshake(self) -> None:
        """
        The peer's extended handshake is decoded and reported: its ids for
        our extensions, its client name (preferred to the peer id's), its
        request queue and, for an incoming peer, its listening address.
        """
        proto, transport, torrent = self.connect(outgoing=False)
        self.feed(
            proto,
            wire.encode(
                extended(
                    ExtendedHandshake(
                        extensions={"ut_pex": 7, "lt_donthave": 9},
                        client="libtorrent 2.0.11",
                        listenPort=51413,
                        requestQueue=100,
                    )
                )
            ),
        )
        self.assertEqual(torrent.named("peerExtended"), [(proto,)])
        self.assertTrue(proto.supports("ut_pex"))
        self.assertFalse(proto.supports("ut_metadata"))
        self.assertFalse(proto.supports("lt_donthave"))
        self.assertEqual(proto.clientName, "libtorrent 2.0.11")
        self.assertEqual(proto.requestQueueLimit, 100)
        self.assertEqual(proto.listenAddress, ("10.0.0.2", 51413))
        transport.clear()
        self.assertTrue(proto.sender.sendExtended("ut_pex", b"de"))
        self.assertFalse(proto.sender.sendExtended("ut_metadata", b"de"))
        self.assertEqual(sentMessages(transport), [wire.Extended(7, b"de")])

    def test_clientNameFromPeerId(self) -> None:
        """
        Without an extended handshake (or without C{v} in it), the client
        name comes from the peer id.
        """
        proto, _, _ = self.connect()
        fromId = describeClient(THEIR_ID)
        self.assertEqual(proto.clientName, fromId)
        self.feed(proto, wire.encode(extended(ExtendedHandshake(extensions={"ut_pex": 1}))))
        self.assertEqual(proto.clientName, fromId)
        self.assertIsNone(proto.requestQueueLimit)

    def test_outgoingListenAddressIsDialled(self) -> None:
        """
        The listening address of a peer we dialled is the address dialled.
        """
        torrent = RecordingTorrent()
        reactor = connectPeer(torrent)[2]
        proto = PeerProtocol(reactor, b"o" * 20, torrent=torrent, dialed=("10.0.0.9", 7001))
        self.assertEqual(proto.listenAddress, ("10.0.0.9", 7001))

    def test_handshakeBeforeBitfield(self) -> None:
        """
        An extended handshake (or port message) may come before the bitfield.
        """
        proto, transport, torrent = self.connect()
        self.feed(
            proto,
            encodeAll(extended(ExtendedHandshake()), wire.Port(6881), wire.Bitfield(b"\xff\xff\xf0")),
        )
        self.assertFalse(transport.disconnecting)
        self.assertTrue(proto.state.pieces.complete())

    def test_messagesRoutedByOurIds(self) -> None:
        """
        An extension message is named by the id we announced for it and
        handed to the torrent; an id we did not announce is ignored.
        """
        proto, transport, torrent = self.connect()
        self.feed(
            proto,
            encodeAll(
                extended(ExtendedHandshake(extensions={"ut_pex": 3})),
                wire.Extended(1, b"d5:added0:e"),
                wire.Extended(2, b"d8:msg_typei0e5:piecei0ee"),
                wire.Extended(77, b"x"),
            ),
        )
        self.assertEqual(
            torrent.named("extensionMessage"),
            [(proto, "ut_pex", b"d5:added0:e"), (proto, "ut_metadata", b"d8:msg_typei0e5:piecei0ee")],
        )
        self.assertFalse(transport.disconnecting)

    def test_badHandshakeDrops(self) -> None:
        """
        An extended handshake that is not a bencoded dictionary drops the
        peer.
        """
        proto, transport, torrent = self.connect()
        self.feed(proto, wire.encode(wire.Extended(0, b"not bencode")))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(torrent.named("peerExtended"), [])

    def test_handlerErrorDrops(self) -> None:
        """
        A torrent that refuses an extension message with a protocol error
        (L{bittwist.errors.ExtensionError}) drops the peer.
        """
        from bittwist.errors import ExtensionError

        proto, transport, torrent = self.connect()

        def refuse(peer, name, payload):
            raise ExtensionError(name, "bad")

        torrent.extensionMessage = refuse
        self.feed(proto, wire.encode(wire.Extended(1, b"d5:added0:e")))
        self.assertTrue(transport.disconnecting)
