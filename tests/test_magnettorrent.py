"""
Tests for L{bittwist.torrent.magnet} and L{bittwist.service.BitTorrentService.addMagnet}:
a torrent added by magnet link fetches its metadata from peers, then
downloads as any torrent. Unit tests on a L{Clock} with fake connections,
and a download from a real libtorrent seeder given only a magnet link.
"""

import hashlib
import os

from twisted.internet import reactor
from twisted.internet.defer import TimeoutError, inlineCallbacks
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bittwist import wire
from bittwist.config import SessionConfig
from bittwist.errors import MagnetError, TorrentStopped, UsageError
from bittwist.extensions.handshake import ExtendedHandshake
from bittwist.extensions.ut_metadata import MetadataData, MetadataRequest, decodeMetadataMessage
from bittwist.factory import PeerDialer
from bittwist.magnet import MagnetLink
from bittwist.metainfo import createTorrent, parse
from bittwist.mse import Policy
from bittwist.peer import OUR_RESERVED
from bittwist.service import BitTorrentService
from bittwist.sources import ManualSource
from bittwist.torrent import TorrentState
from bittwist.torrent.magnet import MagnetTorrent
from tests.fakes import FakeEndpoints, MemoryStorageFactory
from tests.ltpeer import LibtorrentPeer, createTorrentWithLibtorrent, digestTree, makePayload

OUR_ID = b"-BW0100-ourpeerid000"
THEIR_ID = b"-LT2110-theirpeerid0"
SEEDER = ("10.0.0.1", 6881)


def makeTorrentData(testCase: SynchronousTestCase) -> bytes:
    path = os.path.abspath(testCase.mktemp())
    with open(path, "wb") as f:
        f.write(os.urandom(100_000))
    return createTorrent(path, pieceLength=16384, trackers=["http://t.example/announce"])


class FakeSeeder:
    """
    The far end of the magnet's connection: a peer that speaks the
    extension protocol and serves C{ut_metadata}.
    """

    def __init__(self, proto, infoBytes: bytes) -> None:
        self.proto = proto
        self.infoBytes = infoBytes
        self.decoder = wire.Decoder(expectHandshake=True, reserved=OUR_RESERVED)
        self.seen = 0

    def received(self) -> list:
        data = self.proto.transport.value()[self.seen :]
        self.seen += len(data)
        return self.decoder.receiveData(data)

    def handshake(self, metadataSize) -> None:
        infoHash = hashlib.sha1(self.infoBytes).digest()
        self.proto.dataReceived(wire.encode(wire.Handshake(infoHash, THEIR_ID, OUR_RESERVED)))
        ours = ExtendedHandshake(extensions={"ut_metadata": 7}, metadataSize=metadataSize)
        self.proto.dataReceived(wire.encode(wire.Extended(0, ours.encode())))

    def answer(self) -> int:
        """
        Answer every metadata request the magnet sent.

        @return: how many were answered.
        """
        theirIds = {}
        count = 0
        for message in self.received():
            if isinstance(message, wire.Extended) and message.extendedId == 0:
                theirIds = ExtendedHandshake.decode(message.payload).extensions
            elif isinstance(message, wire.Extended):
                request = decodeMetadataMessage(message.payload)
                assert isinstance(request, MetadataRequest)
                start = request.piece * 16384
                answer = MetadataData(
                    request.piece, len(self.infoBytes), self.infoBytes[start : start + 16384]
                )
                self.proto.dataReceived(
                    wire.encode(wire.Extended(theirIds["ut_metadata"], answer.encode()))
                )
                count += 1
        return count


class MagnetTorrentTests(SynchronousTestCase):
    """
    Tests for L{MagnetTorrent} on a L{MemoryReactorClock}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.endpoints = FakeEndpoints()
        self.data = makeTorrentData(self)
        self.metainfo = parse(self.data)
        self.link = MagnetLink(self.metainfo.infoHash, "payload", ("http://t.example/announce",))
        self.magnet = MagnetTorrent(
            self.link,
            OUR_ID,
            self.clock,
            sources=[ManualSource([SEEDER])],
            dialer=PeerDialer(self.clock, OUR_ID, endpointFactory=self.endpoints),
        )

    def connectSeeder(self, metadataSize=None) -> FakeSeeder:
        proto = self.endpoints.pending(SEEDER)[0].succeed()
        seeder = FakeSeeder(proto, self.metainfo.infoBytes)
        seeder.handshake(len(self.metainfo.infoBytes) if metadataSize is None else metadataSize)
        return seeder

    def test_fetchesMetadata(self) -> None:
        """
        Started, the magnet fetches the metadata from a peer that offers it
        and makes the C{.torrent}: same info hash, the link's trackers.
        """
        d = self.magnet.whenMetadata()
        self.successResultOf(self.magnet.start())
        self.assertEqual(self.magnet.state, TorrentState.FETCHING_METADATA)
        seeder = self.connectSeeder()
        self.assertEqual(self.magnet.peers, {seeder.proto})
        self.assertGreater(seeder.answer(), 0)
        data = self.successResultOf(d)
        fetched = parse(data)
        self.assertEqual(fetched.infoHash, self.metainfo.infoHash)
        self.assertEqual([list(t) for t in fetched.announceTiers], [["http://t.example/announce"]])
        status = self.magnet.status()
        self.assertEqual((status.state, status.metadataProgress), (TorrentState.FETCHING_METADATA, 1.0))

    def test_bitfieldIgnored(self) -> None:
        """
        Whatever bitfield and haves a peer sends while the piece count is
        unknown are ignored, not taken for protocol errors.
        """
        self.magnet.start()
        seeder = self.connectSeeder()
        seeder.proto.dataReceived(wire.encode(wire.Bitfield(b"\xff" * 7)) + wire.encode(wire.Have(99)))
        self.assertFalse(seeder.proto.transport.disconnecting)

    def test_requestsNotServed(self) -> None:
        """
        We have no piece: we say so (have none, with the fast extension),
        and a request gets a reject, never data.
        """
        self.magnet.start()
        seeder = self.connectSeeder()
        seeder.proto.dataReceived(wire.encode(wire.Interested()))
        seeder.proto.dataReceived(wire.encode(wire.Request(0, 0, 16384)))
        self.assertFalse(seeder.proto.transport.disconnecting)
        sent = seeder.received()
        self.assertEqual(
            [m for m in sent if not isinstance(m, (wire.Handshake, wire.Extended))],
            [wire.HaveNone(), wire.RejectRequest(0, 0, 16384)],
        )

    def test_stopFailsWaiters(self) -> None:
        """
        Stopped before the metadata is in, C{whenMetadata}, C{whenTorrent}
        and C{whenComplete} fail with L{TorrentStopped}; the peers are
        dropped.
        """
        self.magnet.start()
        seeder = self.connectSeeder()
        waiting = [self.magnet.whenMetadata(), self.magnet.whenTorrent(), self.magnet.whenComplete()]
        self.successResultOf(self.magnet.stop())
        self.assertEqual(self.magnet.state, TorrentState.STOPPED)
        self.assertTrue(seeder.proto.transport.disconnecting)
        for d in waiting:
            self.failureResultOf(d, TorrentStopped)

    def test_knownAddresses(self) -> None:
        """
        The addresses found are handed on grouped by source.
        """
        self.magnet.start()
        self.magnet.addPeers([("10.0.0.2", 1)], "tracker")
        self.assertEqual(
            sorted(self.magnet.knownAddresses()),
            [("manual", [SEEDER]), ("tracker", [("10.0.0.2", 1)])],
        )


class AddMagnetTests(SynchronousTestCase):
    """
    Tests for L{BitTorrentService.addMagnet} on a L{MemoryReactorClock}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.endpoints = FakeEndpoints()
        self.stateDir = os.path.abspath(self.mktemp())
        self.storages = MemoryStorageFactory()
        self.service = BitTorrentService(
            "tcp:6881",
            reactor=self.clock,
            httpClient=object(),
            progressInterval=None,
            stateDir=self.stateDir,
            storageFactory=self.storages,
            endpointFactory=self.endpoints,
            # The fake seeder reads the plaintext protocol.
            config=SessionConfig(encryption=Policy.OFF),
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.data = makeTorrentData(self)
        self.metainfo = parse(self.data)

    def test_replacedByTorrent(self) -> None:
        """
        Once the metadata is in, the magnet gives way to a torrent of the
        same info hash, remembered in the state folder, that knows the
        magnet's peers and downloads into the folder given.
        """
        link = f"magnet:?xt=urn:btih:{self.metainfo.infoHash.hex()}&dn=payload&x.pe=10.0.0.1:6881"
        magnet = self.service.addMagnet(link, "downloads", announce=False)
        self.assertIs(self.service.session.torrents[self.metainfo.infoHash], magnet)
        self.assertEqual(magnet.state, TorrentState.FETCHING_METADATA)
        proto = self.endpoints.pending(SEEDER)[0].succeed()
        seeder = FakeSeeder(proto, self.metainfo.infoBytes)
        seeder.handshake(len(self.metainfo.infoBytes))
        seeder.answer()
        torrent = self.successResultOf(magnet.whenTorrent())
        self.assertIs(self.service.session.torrents[self.metainfo.infoHash], torrent)
        self.assertEqual(torrent.metainfo.infoHash, self.metainfo.infoHash)
        self.assertEqual(self.storages.made, [(torrent.storage, os.path.abspath("downloads"))])
        self.assertEqual(magnet.state, TorrentState.STOPPED)
        self.successResultOf(self.service.state.whenIdle())
        record = self.service.state.read(self.metainfo.infoHash)
        self.assertEqual(record.metainfo.infoBytes, self.metainfo.infoBytes)
        self.assertEqual(torrent.swarm.knownCount, 1)

    def test_badLink(self) -> None:
        """
        A link that cannot be used is a L{MagnetError}; one already added a
        L{UsageError}.
        """
        self.assertRaises(MagnetError, self.service.addMagnet, "magnet:?dn=x", "d")
        self.service.addTorrent(self.data, "d", announce=False)
        link = f"magnet:?xt=urn:btih:{self.metainfo.infoHash.hex()}"
        self.assertRaises(UsageError, self.service.addMagnet, link, "d")


class MagnetInteropTests(TestCase):
    """
    bittwist, given only a magnet link naming a libtorrent seeder (x.pe),
    gets the metadata and the files from it.
    """

    timeout = 120

    @inlineCallbacks
    def test_downloadFromMagnet(self):
        seedDir = os.path.abspath(self.mktemp())
        makePayload(os.path.join(seedDir, "payload"), {"a.bin": 700_000, "sub/b.bin": 300_001}, seed=11)
        data = createTorrentWithLibtorrent(seedDir, "payload", pieceLength=65536, v1Only=True)
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor)
        yield seeder.start()
        self.addCleanup(seeder.stop)
        infoHash = parse(data).infoHash
        downloadDir = os.path.abspath(self.mktemp())
        service = BitTorrentService(
            "tcp:0:interface=127.0.0.1",
            reactor=reactor,
            progressInterval=None,
            stateDir=os.path.abspath(self.mktemp()),
        )
        service.startService()
        self.addCleanup(service.stopService)
        magnet = service.addMagnet(
            f"magnet:?xt=urn:btih:{infoHash.hex()}&dn=payload&x.pe=127.0.0.1:{seeder.port}",
            downloadDir,
        )
        try:
            torrent = yield magnet.whenTorrent().addTimeout(45, reactor)
        except TimeoutError:
            self.fail(f"no metadata in 45 s: {magnet.status()}, {magnet.peerStatuses()}")
        self.assertEqual(torrent.metainfo.infoBytes, parse(data).infoBytes)
        try:
            yield torrent.whenComplete().addTimeout(45, reactor)
        except TimeoutError:
            self.fail(f"not complete in 45 s: {torrent.status()}, {torrent.peerStatuses()}")
        self.assertEqual(digestTree(downloadDir), digestTree(seedDir))
        self.assertEqual(torrent.status().hashFailures, 0)
