# -*- test-case-name: tests.test_metadataserver -*-
"""
Tests for L{bittwist.torrent.metadataserver}: serving our metadata (BEP 9)
through a torrent to fake peers.
"""

from typing import Any

from zope.interface.verify import verifyObject

from bittwist import wire
from bittwist.extensions.handshake import ExtendedHandshake
from bittwist.extensions.table import IExtensionHandler
from bittwist.extensions.ut_metadata import (
    MetadataData,
    MetadataReject,
    MetadataRequest,
    decodeMetadataMessage,
)
from bittwist.torrent.metadataserver import (
    MAX_ANSWERS_PER_PIECE,
    MAX_REQUESTS_PER_PIECE,
    MetadataServer,
)
from tests.test_torrent import TorrentTestCase

EXTENDED = wire.makeReserved(wire.ReservedBit.EXTENSION_PROTOCOL)
THEIR_ID = 5


class MetadataServerTests(TorrentTestCase):
    """
    A torrent answers peers' metadata requests with its info dictionary.
    """

    def setUp(self) -> None:
        super().setUp()
        self.makeTorrent()
        self.remote = self.connect(1, reserved=EXTENDED)
        [ours] = [m for m in self.remote.received() if isinstance(m, wire.Extended)]
        self.ours = ExtendedHandshake.decode(ours.payload)
        self.remote.send(
            wire.Extended(0, ExtendedHandshake(extensions={"ut_metadata": THEIR_ID}).encode())
        )

    def ask(self, piece: int) -> None:
        ourId = self.ours.extensions["ut_metadata"]
        self.remote.send(wire.Extended(ourId, MetadataRequest(piece).encode()))

    def answers(self) -> list[Any]:
        return [
            decodeMetadataMessage(m.payload)
            for m in self.remote.received()
            if isinstance(m, wire.Extended) and m.extendedId == THEIR_ID
        ]

    def test_interface(self) -> None:
        """
        L{MetadataServer} is an extension handler.
        """
        verifyObject(IExtensionHandler, MetadataServer(b"d4:name1:xe"))

    def test_handshakeSaysSize(self) -> None:
        """
        Our extended handshake announces C{ut_metadata} and the size of our
        metadata.
        """
        self.assertIn("ut_metadata", self.ours.extensions)
        self.assertEqual(self.ours.metadataSize, len(self.metainfo.infoBytes))

    def test_served(self) -> None:
        """
        A request for a piece of our metadata is answered with it; one for
        a piece past the end, with a reject.
        """
        self.ask(0)
        self.ask(7)
        self.assertEqual(
            self.answers(),
            [
                MetadataData(0, len(self.metainfo.infoBytes), self.metainfo.infoBytes),
                MetadataReject(7),
            ],
        )

    def test_bounded(self) -> None:
        """
        A connection gets each piece at most L{MAX_ANSWERS_PER_PIECE} times,
        then rejects; past L{MAX_REQUESTS_PER_PIECE} requests it is dropped.
        """
        for _ in range(MAX_REQUESTS_PER_PIECE):
            self.ask(0)
        answers = self.answers()
        self.assertEqual(len(answers), MAX_REQUESTS_PER_PIECE)
        self.assertEqual(
            [type(a) for a in answers],
            [MetadataData] * MAX_ANSWERS_PER_PIECE
            + [MetadataReject] * (MAX_REQUESTS_PER_PIECE - MAX_ANSWERS_PER_PIECE),
        )
        self.assertFalse(self.remote.dropped)
        self.ask(0)
        self.assertTrue(self.remote.dropped)

    def test_notReadingNotAnswered(self) -> None:
        """
        While the peer does not read what we send, nothing is answered.
        """
        self.remote.proto.pauseProducing()
        self.ask(0)
        self.assertEqual(self.answers(), [])

    def test_withoutMetadata(self) -> None:
        """
        Without metadata, every request is rejected and no size announced.
        """
        server = MetadataServer(None)
        self.assertEqual(server.handshakeFields(), {})
        self.torrent.extensions = type(self.torrent.extensions)([server])
        self.ask(0)
        self.assertEqual(self.answers(), [MetadataReject(0)])
