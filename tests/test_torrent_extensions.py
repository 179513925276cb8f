# -*- test-case-name: tests.test_torrent_extensions -*-
"""
Tests for the extension protocol in the torrent engine:
L{bittwist.extensions.table} and the torrent's use of the peers'
extended handshakes.
"""

import dataclasses
import json
from typing import Any

from zope.interface import implementer
from zope.interface.verify import verifyObject

from bittwist import wire
from bittwist.bitfield import Bitfield
from bittwist.errors import ExtensionError
from bittwist.extensions.handshake import ExtendedHandshake
from bittwist.extensions.table import ExtensionTable, IExtensionHandler
from tests.test_torrent import NUM_PIECES, TorrentTestCase

EXTENDED = wire.makeReserved(wire.ReservedBit.EXTENSION_PROTOCOL)


@implementer(IExtensionHandler)
class RecordingHandler:
    """
    An extension handler that records what it is told.
    """

    def __init__(self, name: str, fields: Any = None) -> None:
        self.name = name
        self.fields = fields or {}
        self.calls: list[tuple[Any, ...]] = []

    def handshakeFields(self) -> dict[str, Any]:
        return dict(self.fields)

    def peerReady(self, peer: Any) -> None:
        self.calls.append(("ready", peer))

    def received(self, peer: Any, payload: bytes) -> None:
        if payload == b"bad":
            raise ExtensionError(self.name, "bad payload")
        self.calls.append(("received", peer, payload))

    def peerGone(self, peer: Any) -> None:
        self.calls.append(("gone", peer))


def theirHandshake(**fields: Any) -> wire.Extended:
    return wire.Extended(0, ExtendedHandshake(**fields).encode())


class ExtensionTableTests(TorrentTestCase):
    """
    The torrent hands each peer's extension messages to the handler of
    their extension.
    """

    def setUp(self) -> None:
        super().setUp()
        self.torrent = self.makeTorrent()
        self.torrent.port = 6999
        self.pex = RecordingHandler("ut_pex")
        self.metadata = RecordingHandler("ut_metadata", {"metadataSize": 77})
        self.torrent.extensions = ExtensionTable([self.pex, self.metadata])

    def ourHandshake(self, remote: Any) -> ExtendedHandshake:
        [ext] = [m for m in remote.received() if isinstance(m, wire.Extended)]
        return ExtendedHandshake.decode(ext.payload)

    def test_verifyHandler(self) -> None:
        """
        The test double provides L{IExtensionHandler}.
        """
        verifyObject(IExtensionHandler, self.pex)

    def test_ourHandshake(self) -> None:
        """
        Our extended handshake names the torrent's extensions, with the
        fields they set and our listening port.
        """
        remote = self.connect(1, reserved=EXTENDED)
        ours = self.ourHandshake(remote)
        self.assertEqual(ours.extensions, {"ut_pex": 1, "ut_metadata": 2})
        self.assertEqual(ours.metadataSize, 77)
        self.assertEqual(ours.listenPort, 6999)

    def test_dispatch(self) -> None:
        """
        A handler hears of a peer once it announces the handler's extension,
        gets that extension's messages, and hears when it goes.
        """
        remote = self.connect(1, reserved=EXTENDED)
        peer = remote.proto
        remote.send(theirHandshake(extensions={"ut_pex": 5}))
        self.assertEqual(self.pex.calls, [("ready", peer)])
        self.assertEqual(self.metadata.calls, [])
        remote.send(wire.Extended(1, b"one"), wire.Extended(2, b"two"))
        self.assertEqual(self.pex.calls[1:], [("received", peer, b"one")])
        self.assertEqual(self.metadata.calls, [("received", peer, b"two")])
        remote.close()
        self.assertEqual(self.pex.calls[-1], ("gone", peer))
        self.assertEqual(self.metadata.calls[-1], ("gone", peer))

    def test_badPayloadDrops(self) -> None:
        """
        A handler's L{ExtensionError} drops the peer.
        """
        remote = self.connect(1, reserved=EXTENDED)
        remote.send(wire.Extended(1, b"bad"))
        self.assertTrue(remote.dropped)

    def test_clientNameFromHandshake(self) -> None:
        """
        A peer's status names its client from its extended handshake's C{v}.
        """
        remote = self.connect(1, reserved=EXTENDED)
        remote.send(theirHandshake(client="Transmission 4.0.5"))
        [status] = self.torrent.peerStatuses()
        self.assertEqual(status.client, "Transmission 4.0.5")

    def test_requestQueueCapsDepth(self) -> None:
        """
        We keep no more requests in flight to a peer than its C{reqq} says
        it queues.
        """
        remote = self.connect(1, reserved=EXTENDED)
        remote.send(theirHandshake(requestQueue=3))
        remote.send(wire.Bitfield(Bitfield(NUM_PIECES, range(NUM_PIECES)).toBytes()), wire.Unchoke())
        self.assertEqual(len(remote.requests()), 3)


class ExtensionFlagsTests(TorrentTestCase):
    """
    A peer's status says which extensions are in use with it.
    """

    def test_flags(self) -> None:
        """
        C{ext} and C{fast} when both sides set their bits, and the peer's
        extensions we speak too; none for a plain BEP 3 peer. The JSON API
        gives them as a list.
        """
        self.makeTorrent()
        both = wire.makeReserved(wire.ReservedBit.EXTENSION_PROTOCOL, wire.ReservedBit.FAST)
        remote = self.connect(1, reserved=both)
        remote.send(theirHandshake(extensions={"ut_pex": 3, "ut_metadata": 4, "lt_donthave": 7}))
        self.connect(2)
        statuses = {s.address: s for s in self.torrent.peerStatuses()}
        self.assertEqual(statuses["10.0.0.1:6881"].extensions, ("ext", "fast", "pex", "metadata"))
        self.assertEqual(statuses["10.0.0.2:6881"].extensions, ())
        body = json.loads(json.dumps(dataclasses.asdict(statuses["10.0.0.1:6881"])))
        self.assertEqual(body["extensions"], ["ext", "fast", "pex", "metadata"])
