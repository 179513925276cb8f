# -*- test-case-name: tests.test_session -*-
"""
Tests for L{bittwist.session}.
"""

import os
import re

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bittwist import wire
from bittwist.errors import UsageError
from bittwist.magnet import MagnetLink
from bittwist.metainfo import Metainfo, createTorrent, parse
from bittwist.peer import OUR_RESERVED
from bittwist.config import SessionConfig, TorrentConfig
from bittwist.session import Session, makePeerId
from bittwist.storage import FileStorage, MemoryStorage

REMOTE_ID = b"-XX0001-remote000001"


def makeMetainfo(testCase: SynchronousTestCase, name: str = "payload.bin") -> Metainfo:
    """
    @return: a two-piece torrent of a file written in a temporary folder.
    """
    folder = os.path.abspath(testCase.mktemp())
    os.makedirs(folder)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(name.encode("ascii") * 2000)
    return parse(createTorrent(path, pieceLength=16384))


class MakePeerIdTests(SynchronousTestCase):
    """
    Tests for L{makePeerId}.
    """

    def test_format(self) -> None:
        """
        A peer id is 20 bytes: C{-BW}, four digits, C{-}, then 12 letters or
        digits.
        """
        peerId = makePeerId()
        self.assertEqual(len(peerId), 20)
        self.assertTrue(peerId.startswith(b"-BW"))
        self.assertRegex(peerId, re.compile(rb"^-BW[0-9]{4}-[A-Za-z0-9]{12}$"))

    def test_fresh(self) -> None:
        """
        Each call makes a different peer id with the same client prefix.
        """
        ids = {makePeerId() for _ in range(20)}
        self.assertEqual(len(ids), 20)
        self.assertEqual({i[:8] for i in ids}, {makePeerId()[:8]})


class SessionTests(SynchronousTestCase):
    """
    Tests for L{Session} on a fake reactor.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.session = Session(self.clock, httpClient=object())

    def test_peerId(self) -> None:
        """
        A session makes its own peer id unless given one.
        """
        self.assertRegex(self.session.peerId, rb"^-BW")
        given = b"-BW0100-abcdefghijkl"
        self.assertEqual(Session(self.clock, peerId=given, httpClient=object()).peerId, given)

    def test_addTorrent(self) -> None:
        """
        C{addTorrent} makes a stopped torrent with the session's peer id,
        kept by info_hash, that knows the peers given.
        """
        metainfo = makeMetainfo(self)
        storage = MemoryStorage(metainfo)
        torrent = self.session.addTorrent(metainfo, "downloads", peers=[("10.0.0.1", 6881)], storage=storage)
        self.assertEqual(self.session.torrents, {metainfo.infoHash: torrent})
        self.assertIs(torrent.storage, storage)
        self.assertEqual(torrent.peerId, self.session.peerId)
        self.assertEqual(torrent.state, "stopped")
        [manual] = [source for source in torrent.sources if source.name == "manual"]
        self.assertEqual(manual.addresses, (("10.0.0.1", 6881),))

    def test_addTorrentTwice(self) -> None:
        """
        Adding a torrent already in the session raises L{UsageError} naming
        it, and keeps the first.
        """
        metainfo = makeMetainfo(self)
        first = self.session.addTorrent(metainfo, "downloads", storage=MemoryStorage(metainfo))
        error = self.assertRaises(
            UsageError, self.session.addTorrent, metainfo, "elsewhere", storage=MemoryStorage(metainfo)
        )
        self.assertIn(metainfo.name, str(error))
        self.assertIn("already", str(error))
        self.assertEqual(self.session.torrents, {metainfo.infoHash: first})

    def test_defaultStorage(self) -> None:
        """
        By default a torrent's files go in a L{FileStorage} in the folder
        given, made absolute.
        """
        metainfo = makeMetainfo(self)
        torrent = self.session.addTorrent(metainfo, "downloads")
        self.assertIsInstance(torrent.storage, FileStorage)
        self.assertEqual(torrent.storage.downloadDir, os.path.abspath("downloads"))
        self.successResultOf(torrent.storage.close())

    def connectIncoming(self, infoHash: bytes) -> tuple[object, StringTransport]:
        """
        Accept a connection through the session's server factory (which
        tells MSE from plaintext first); the remote sends a plaintext
        handshake for C{infoHash}.

        @return: the peer protocol and the connection's transport.
        """
        address = IPv4Address("TCP", "10.0.0.9", 50000)
        wrapper = self.session.serverFactory().buildProtocol(address)
        transport = StringTransport(peerAddress=address)
        wrapper.makeConnection(transport)
        wrapper.dataReceived(wire.encode(wire.Handshake(infoHash, REMOTE_ID)))
        return wrapper.wrappedProtocol, transport

    def test_serverFactoryRoutesByInfoHash(self) -> None:
        """
        An incoming connection goes to the torrent whose info_hash its
        handshake names, and gets our handshake for it.
        """
        first, second = makeMetainfo(self, "one.bin"), makeMetainfo(self, "two.bin")
        torrents = {}
        for metainfo in (first, second):
            torrents[metainfo] = self.session.addTorrent(
                metainfo, "downloads", storage=MemoryStorage(metainfo), config=TorrentConfig(announce=False)
            )
            self.successResultOf(torrents[metainfo].start())
        proto, transport = self.connectIncoming(second.infoHash)
        self.assertIs(proto.torrent, torrents[second].peerEvents)
        self.assertEqual(
            wire.Decoder().receiveData(transport.value()),
            [wire.Handshake(second.infoHash, self.session.peerId, OUR_RESERVED)],
        )
        self.assertEqual(torrents[second].peers, {proto})
        self.assertEqual(torrents[first].peers, set())

    def test_candidatesBoundedSessionWide(self) -> None:
        """
        The peer addresses all torrents remember together stay within
        L{SessionConfig.maxCandidates}, shared equally.
        """
        session = Session(self.clock, config=SessionConfig(maxCandidates=300), httpClient=object())
        torrents = [
            session.addTorrent(m, "d", storage=MemoryStorage(m), config=TorrentConfig(announce=False))
            for m in (makeMetainfo(self, "one.bin"), makeMetainfo(self, "two.bin"))
        ]
        for torrent in torrents:
            for start in range(0, 2000, 500):
                torrent.addPeers([(f"10.0.{n // 250}.{n % 250}", 6881) for n in range(start, start + 500)])
        self.assertEqual([t.swarm.knownCount for t in torrents], [150, 150])

    def test_magnetCandidatesBoundedSessionWide(self) -> None:
        """
        A torrent added by magnet link shares the same bound: it and a
        torrent remember half of L{SessionConfig.maxCandidates} each.
        """
        session = Session(self.clock, config=SessionConfig(maxCandidates=300), httpClient=object())
        metainfo = makeMetainfo(self)
        torrent = session.addTorrent(
            metainfo, "d", storage=MemoryStorage(metainfo), config=TorrentConfig(announce=False)
        )
        magnet = session.addMagnet(MagnetLink(b"\x01" * 20, "other"), config=TorrentConfig(announce=False))
        for owner in (torrent, magnet):
            for start in range(0, 2000, 500):
                owner.addPeers([(f"10.0.{n // 250}.{n % 250}", 6881) for n in range(start, start + 500)])
        self.assertEqual([torrent.swarm.knownCount, magnet.swarm.knownCount], [150, 150])

    def test_serverFactoryRoutesToMagnet(self) -> None:
        """
        An incoming connection for a torrent added by magnet link reports
        to the magnet itself.
        """
        magnet = self.session.addMagnet(
            MagnetLink(b"\x01" * 20, "other"), config=TorrentConfig(announce=False)
        )
        proto, transport = self.connectIncoming(magnet.infoHash)
        self.assertIs(proto.torrent, magnet)

    def test_serverFactoryDropsUnknownInfoHash(self) -> None:
        """
        An incoming connection for a torrent not in the session is dropped
        without an answer.
        """
        proto, transport = self.connectIncoming(b"\x01" * 20)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_listenSetsPort(self) -> None:
        """
        C{listen} listens on the endpoint and gives its port number to the
        session and its torrents, old and new.
        """
        metainfo = makeMetainfo(self, "one.bin")
        before = self.session.addTorrent(metainfo, "d", storage=MemoryStorage(metainfo))
        endpoint = serverFromString(self.clock, "tcp:6999")
        self.successResultOf(self.session.listen(endpoint))
        self.assertEqual(self.session.port, 6999)
        self.assertEqual(before.port, 6999)
        self.assertEqual(self.clock.tcpServers[0][0], 6999)
        other = makeMetainfo(self, "two.bin")
        after = self.session.addTorrent(other, "d", storage=MemoryStorage(other))
        self.assertEqual(after.port, 6999)

    def test_stop(self) -> None:
        """
        C{stop} stops every torrent and fires with C{None}.
        """
        metainfo = makeMetainfo(self)
        storage = MemoryStorage(metainfo)
        torrent = self.session.addTorrent(metainfo, "d", storage=storage, config=TorrentConfig(announce=False))
        self.successResultOf(torrent.start())
        self.assertIsNone(self.successResultOf(self.session.stop()))
        self.assertEqual(torrent.state, "stopped")
        self.assertTrue(storage.closed)

    def test_stopEmpty(self) -> None:
        """
        Stopping a session with nothing in it succeeds at once.
        """
        self.assertIsNone(self.successResultOf(self.session.stop()))


class ListenTests(TestCase):
    """
    L{Session.listen} on a real TCP endpoint.
    """

    @inlineCallbacks
    def test_listenOnRealPort(self) -> None:
        """
        Listening on port 0 of 127.0.0.1 sets the port the system chose;
        stopping the session closes it.
        """
        session = Session(reactor, httpClient=object())
        port = yield session.listen(serverFromString(reactor, "tcp:0:interface=127.0.0.1"))
        self.assertNotEqual(session.port, 0)
        self.assertEqual(session.port, port.getHost().port)
        self.assertEqual(port.getHost().host, "127.0.0.1")
        yield session.stop()
        self.assertFalse(port.connected)


class StopListeningTests(SynchronousTestCase):
    """
    L{Session.stop} with a port whose C{stopListening} returns nothing, as
    L{IListeningPort} allows.
    """

    def test_stopListeningReturnsNone(self) -> None:
        """
        C{stop} fires even when C{stopListening} returns C{None}.
        """
        clock = MemoryReactorClock()
        session = Session(clock, httpClient=object())
        self.successResultOf(session.listen(serverFromString(clock, "tcp:6881")))
        self.assertIsNone(self.successResultOf(session.stop()))
