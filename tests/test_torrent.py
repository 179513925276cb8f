# -*- test-case-name: tests.test_torrent -*-
"""
Tests for L{bittwist.torrent}: the engine joining metainfo, storage, picker,
announcer and peers, driven through real L{PeerProtocol}s on
L{StringTransport}s and a L{MemoryReactorClock}.
"""

import dataclasses
import os
import random
import struct
from typing import Any, Iterable, Optional

import bencodepy
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from zope.interface.verify import verifyObject

from bittwist import events, wire
from bittwist.bitfield import Bitfield
from bittwist.config import TorrentConfig
from bittwist.errors import InternalError, StorageError, TorrentStopped, UsageError
from bittwist.factory import PeerDialer, PeerServerFactory
from bittwist.metainfo import Metainfo, createTorrent, parse
from bittwist.peer import OUR_RESERVED, PeerProtocol
from bittwist.picker import ENDGAME_BATCH
from bittwist.ratelimit import TokenBucket
from bittwist.sources import TrackerSource
from bittwist.storage import IPieceStorage, MemoryStorage
from bittwist.torrent import Torrent, TorrentState
from bittwist.torrent import download as downloadModule
from bittwist.torrent.download import ENDGAME_DELAY, SNUB_TIMEOUT
from bittwist.torrent.backlog import WriteBacklog
from bittwist.torrent.upload import MAX_SERVING
from tests.fakes import FakeEndpoints, ManualStorage, RecordingTransport

BLOCK = wire.BLOCK_SIZE
PIECE_LENGTH = 2 * BLOCK
NUM_PIECES = 5
LAST_PIECE = 20000
"""
The last piece is two blocks, the second one short (3616 bytes).
"""
TOTAL = (NUM_PIECES - 1) * PIECE_LENGTH + LAST_PIECE
OUR_ID = b"-BW0100-ourpeerid000"
TRACKER = "http://tracker.example/announce"


def peerId(n: int) -> bytes:
    """
    @return: the 20-byte peer id of remote peer C{n}.
    """
    return b"-XX0001-remote%06d" % (n,)


def address(n: int) -> tuple[str, int]:
    """
    @return: the address of remote peer C{n}.
    """
    return (f"10.0.0.{n}", 6881)


def makeTorrent(
    testCase: SynchronousTestCase, trackers: Iterable[str] = ()
) -> tuple[Metainfo, bytes]:
    """
    Write a payload of L{NUM_PIECES} pieces of L{PIECE_LENGTH} bytes (the
    last L{LAST_PIECE}) in a temporary folder and make its torrent.

    @return: the parsed torrent and the payload.
    """
    folder = os.path.abspath(testCase.mktemp())
    os.makedirs(folder)
    payload = random.Random(5).randbytes(TOTAL)
    path = os.path.join(folder, "payload.bin")
    with open(path, "wb") as f:
        f.write(payload)
    return parse(createTorrent(path, trackers=list(trackers), pieceLength=PIECE_LENGTH)), payload


def blockOf(payload: bytes, index: int, begin: int, length: int) -> bytes:
    """
    @return: the bytes of a block of C{payload}.
    """
    start = index * PIECE_LENGTH + begin
    return payload[start:start + length]


class FakeRemote:
    """
    The far end of one of our peer connections: sends wire messages to our
    L{PeerProtocol} and decodes what it writes.

    @ivar proto: our side of the connection.
    @ivar transport: the transport our side writes to.
    """

    def __init__(
        self, proto: PeerProtocol, transport: RecordingTransport, reserved: bytes = bytes(8)
    ):
        """
        @param reserved: the reserved bytes of the remote's handshake: the
            extensions it speaks.
        """
        self.proto = proto
        self.transport = transport
        self.reserved = reserved
        self._decoder = wire.Decoder(expectHandshake=True, reserved=reserved)
        self._seen = 0

    def send(self, *messages: Any) -> None:
        """
        Send C{messages} to our side, in one chunk.
        """
        self.proto.dataReceived(b"".join(wire.encode(m) for m in messages))

    def receivedWrites(self) -> list[list[Any]]:
        """
        @return: the messages of each write our side made since the last
            call, one list per write.
        """
        writes = self.transport.writes[self._seen:]
        self._seen = len(self.transport.writes)
        return [self._decoder.receiveData(data) for data in writes]

    def received(self) -> list[Any]:
        """
        @return: the messages our side sent since the last call.
        """
        return [m for messages in self.receivedWrites() for m in messages]

    def requests(self) -> list[tuple[int, int, int]]:
        """
        @return: the requests our side sent since the last call (other
            messages are discarded).
        """
        return [
            (m.index, m.begin, m.length) for m in self.received() if isinstance(m, wire.Request)
        ]

    def answer(
        self, payload: bytes, requests: Iterable[tuple[int, int, int]], corrupt: Iterable[int] = ()
    ) -> None:
        """
        Answer C{requests} with blocks of C{payload}; blocks of the pieces in
        C{corrupt} have their first byte flipped.
        """
        corrupt = set(corrupt)
        messages = []
        for index, begin, length in requests:
            block = blockOf(payload, index, begin, length)
            if index in corrupt:
                block = bytes([block[0] ^ 0xFF]) + block[1:]
            messages.append(wire.Piece(index, begin, block))
        self.send(*messages)

    @property
    def dropped(self) -> bool:
        """
        Whether our side closed the connection.
        """
        return self.transport.disconnecting

    def close(self) -> None:
        """
        The connection ends.
        """
        self.proto.connectionLost(Failure(ConnectionDone()))


class TorrentTestCase(SynchronousTestCase):
    """
    Builds a torrent on a L{MemoryReactorClock} and connects fake peers to
    it.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.endpoints = FakeEndpoints()
        self.metainfo, self.payload = makeTorrent(self)

    def makeTorrent(
        self,
        have: Iterable[int] = (),
        full: bool = False,
        storage: Any = None,
        start: bool = True,
        **kwargs: Any,
    ) -> Torrent:
        """
        @param have: pieces stored before the start.
        @param full: whether storage starts with the whole payload.
        @param storage: the storage (a L{MemoryStorage} by default).
        @param start: whether to start the torrent.
        @return: a torrent of C{self.metainfo}, announcing nowhere unless
            C{kwargs} says otherwise.
        """
        if storage is None:
            storage = MemoryStorage(self.metainfo, self.payload if full else None)
            for index in have:
                begin = index * PIECE_LENGTH
                size = self.metainfo.pieceSize(index)
                storage.writeBlock(index, 0, self.payload[begin:begin + size])
        kwargs.setdefault("announce", False)
        limits = {
            k: kwargs.pop(k)
            for k in ("uploadLimit", "downloadLimit", "ticks", "writeBacklog")
            if k in kwargs
        }
        httpClient = kwargs.pop("httpClient", None)
        sources = []
        if kwargs["announce"] and self.metainfo.announceTiers:
            sources.append(TrackerSource(self.metainfo.announceTiers, self.clock, httpClient))
        dialer = PeerDialer(self.clock, OUR_ID, endpointFactory=self.endpoints)
        torrent = Torrent(
            self.metainfo,
            storage,
            OUR_ID,
            self.clock,
            TorrentConfig(**kwargs),
            sources=sources,
            dialer=dialer,
            **limits,
        )
        self.torrent = torrent
        self.storage = storage
        if start:
            self.successResultOf(torrent.start())
        return torrent

    def dial(
        self, n: int, remoteId: Optional[bytes] = None, reserved: bytes = bytes(8)
    ) -> FakeRemote:
        """
        Give the torrent the address of remote peer C{n}, let it dial, and
        answer with a handshake from C{remoteId} (C{peerId(n)} by default)
        with C{reserved}.
        """
        self.torrent.addPeers([address(n)])
        pending = self.endpoints.pending(address(n))
        if not pending:
            self.fail(f"no connection attempt to {address(n)}")
        proto = pending[0].succeed()
        remote = FakeRemote(proto, proto.transport, reserved)
        self.assertEqual(
            remote.received(), [wire.Handshake(self.metainfo.infoHash, OUR_ID, OUR_RESERVED)]
        )
        remote.send(wire.Handshake(self.metainfo.infoHash, remoteId or peerId(n), reserved))
        return remote

    def connect(
        self, n: int, pieces: Optional[Iterable[int]] = None, reserved: bytes = bytes(8)
    ) -> FakeRemote:
        """
        Connect to remote peer C{n} through the torrent's own connection
        attempt; the remote sends the bitfield C{pieces}, if not C{None}.
        """
        remote = self.dial(n, reserved=reserved)
        self.assertIn(remote.proto, self.torrent.peers)
        if pieces is not None:
            remote.send(wire.Bitfield(Bitfield(NUM_PIECES, pieces).toBytes()))
        return remote

    def accept(
        self, n: int, pieces: Optional[Iterable[int]] = None, reserved: bytes = bytes(8)
    ) -> FakeRemote:
        """
        Accept an incoming connection from remote peer C{n} and complete the
        handshake.
        """
        factory = PeerServerFactory(self.clock, OUR_ID, {self.metainfo.infoHash: self.torrent.peerEvents}.get)
        peerAddress = IPv4Address("TCP", f"10.1.0.{n}", 40000 + n)
        proto = factory.buildProtocol(peerAddress)
        transport = RecordingTransport(peerAddress=peerAddress)
        proto.makeConnection(transport)
        remote = FakeRemote(proto, transport, reserved)
        remote.send(wire.Handshake(self.metainfo.infoHash, peerId(n), reserved))
        if pieces is not None:
            remote.send(wire.Bitfield(Bitfield(NUM_PIECES, pieces).toBytes()))
        received = remote.received()
        self.assertEqual(
            received[:1], [wire.Handshake(self.metainfo.infoHash, OUR_ID, OUR_RESERVED)]
        )
        remote.afterHandshake = received[1:]  # type: ignore[attr-defined]
        return remote

    def downloadAll(self, remote: FakeRemote, requests: list[tuple[int, int, int]]) -> None:
        """
        Answer C{requests} and every request that follows until none comes.
        """
        while requests:
            remote.answer(self.payload, requests)
            requests = remote.requests()

    def allBlocks(self, pieces: Iterable[int] = range(NUM_PIECES)) -> set[tuple[int, int, int]]:
        """
        @return: every block of C{pieces}, as requested.
        """
        blocks = set()
        for index in pieces:
            size = self.metainfo.pieceSize(index)
            for begin in range(0, size, BLOCK):
                blocks.add((index, begin, min(BLOCK, size - begin)))
        return blocks


class StartTests(TorrentTestCase):
    """
    L{Torrent.start}: checking, then downloading or seeding.
    """

    def test_checkingThenDownloading(self) -> None:
        """
        The torrent is C{checking} until storage has checked, then
        C{downloading} when pieces are missing; C{start}'s Deferred fires
        then, C{whenComplete}'s does not.
        """
        storage = ManualStorage(self.metainfo)
        verifyObject(IPieceStorage, storage)
        torrent = self.makeTorrent(storage=storage, start=False)
        self.assertEqual(torrent.state, "stopped")
        d = torrent.start()
        self.assertEqual(torrent.state, "checking")
        self.assertNoResult(d)
        storage.finishCheck()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(torrent.state, "downloading")
        self.assertNoResult(torrent.whenComplete())
        self.assertEqual(torrent.status().piecesVerified, 0)

    def test_seedingWhenStorageHoldsEverything(self) -> None:
        """
        With every piece already stored, the torrent seeds and
        C{whenComplete} fires at once, also for a caller who asked before the
        start.
        """
        torrent = self.makeTorrent(full=True, start=False)
        early = torrent.whenComplete()
        self.assertNoResult(early)
        # Whoever waits sees the torrent already seeding.
        seen = []
        early.addCallback(lambda _: seen.append(torrent.state))
        self.successResultOf(torrent.start())
        self.assertEqual(torrent.state, "seeding")
        self.assertEqual(seen, [TorrentState.SEEDING])
        self.assertIsNone(self.successResultOf(early))
        self.assertIsNone(self.successResultOf(torrent.whenComplete()))
        status = torrent.status()
        self.assertEqual((status.piecesVerified, status.progress), (NUM_PIECES, 1.0))

    def test_resumeCountsStoredPieces(self) -> None:
        """
        Pieces found by the check count as verified; the others do not.
        """
        torrent = self.makeTorrent(have=[1, 4])
        status = torrent.status()
        self.assertEqual(status.state, "downloading")
        self.assertEqual(status.piecesVerified, 2)
        self.assertEqual(status.verifiedLength, PIECE_LENGTH + LAST_PIECE)

    def test_checkFailure(self) -> None:
        """
        A failing check moves the torrent to C{error}.
        """
        storage = ManualStorage(self.metainfo)
        torrent = self.makeTorrent(storage=storage, start=False)
        d = torrent.start()
        waiting = torrent.whenComplete()
        error = StorageError("cannot read /downloads")
        storage.failCheck(error)
        self.successResultOf(d)
        self.assertEqual(torrent.state, "error")
        self.assertIs(self.failureResultOf(waiting, StorageError).value, error)

    def test_bitfieldSentWhenWeHavePieces(self) -> None:
        """
        After the handshake we send our bitfield, when we have pieces.
        """
        self.makeTorrent(have=[1, 3])
        remote = self.connect(1)
        self.assertEqual(remote.received(), [wire.Bitfield(Bitfield(NUM_PIECES, [1, 3]).toBytes())])

    def test_noBitfieldWhenEmpty(self) -> None:
        """
        With no piece, no bitfield is sent after the handshake.
        """
        self.makeTorrent()
        remote = self.connect(1)
        self.assertEqual(remote.received(), [])
        self.assertIn(remote.proto, self.torrent.peers)


class DownloadTests(TorrentTestCase):
    """
    Downloading: interest, pipelined requests, completion.
    """

    def test_bitfieldMakesUsInterested(self) -> None:
        """
        A peer with pieces we lack hears that we are interested.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=[2])
        self.assertEqual(remote.received(), [wire.Interested()])
        self.assertTrue(remote.proto.state.amInterested)

    def test_notInterestedInPiecesWeHave(self) -> None:
        """
        A peer with only pieces we have does not make us interested.
        """
        self.makeTorrent(have=[2])
        remote = self.connect(1, pieces=[2])
        self.assertEqual(remote.received(), [wire.Bitfield(Bitfield(NUM_PIECES, [2]).toBytes())])
        self.assertFalse(remote.proto.state.amInterested)

    def test_haveMakesUsInterested(self) -> None:
        """
        A C{have} for a piece we lack makes us interested.
        """
        self.makeTorrent()
        remote = self.connect(1)
        remote.send(wire.Have(3))
        self.assertEqual(remote.received(), [wire.Interested()])

    def test_unchokePipelinesRequests(self) -> None:
        """
        An unchoke makes us request, in one write, every block of the
        pieces the peer has, and of no other piece.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=[0, 2, 4])
        remote.received()
        remote.send(wire.Unchoke())
        writes = remote.receivedWrites()
        self.assertEqual(len(writes), 1)
        requests = {(m.index, m.begin, m.length) for m in writes[0]}
        self.assertEqual(requests, self.allBlocks([0, 2, 4]))
        self.assertEqual(len(writes[0]), 6)

    def test_requestsLimitedToRequestDepth(self) -> None:
        """
        No more requests than the peer's C{requestDepth} are in flight.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=range(NUM_PIECES))
        remote.received()
        self.torrent.download.record(remote.proto).requestDepth = 3
        remote.send(wire.Unchoke())
        writes = remote.receivedWrites()
        self.assertEqual([len(w) for w in writes], [3])
        self.assertEqual(len(remote.proto.state.requested), 3)

    def test_downloadCompletes(self) -> None:
        """
        Answering every request completes the torrent: C{whenComplete} fires,
        the state is C{seeding}, every peer hears C{have} for each piece, the
        storage holds the payload, and the seeder is dropped.
        """
        self.makeTorrent()
        done = self.torrent.whenComplete()
        seeder = self.connect(1, pieces=range(NUM_PIECES))
        leecher = self.connect(2)
        seeder.received()
        seeder.send(wire.Unchoke())
        self.downloadAll(seeder, seeder.requests())
        self.assertIsNone(self.successResultOf(done))
        self.assertEqual(self.torrent.state, "seeding")
        haves = [m for m in leecher.received() if isinstance(m, wire.Have)]
        self.assertEqual(sorted(m.index for m in haves), list(range(NUM_PIECES)))
        self.assertEqual(bytes(self.storage.data), self.payload)
        self.assertEqual(set(self.storage.have), set(range(NUM_PIECES)))
        self.assertTrue(seeder.dropped)
        self.assertFalse(leecher.dropped)
        status = self.torrent.status()
        self.assertEqual((status.piecesVerified, status.downloaded), (NUM_PIECES, TOTAL))
        self.assertEqual(status.hashFailures, 0)

    def test_observersHearEvents(self) -> None:
        """
        Observers hear, in order: the peer connecting, each verified piece,
        completion with the move to seeding, and the peer leaving.
        """
        self.makeTorrent()
        heard: list[events.TorrentEvent] = []
        self.torrent.addObserver(heard.append)
        seeder = self.connect(1, pieces=range(NUM_PIECES))
        seeder.send(wire.Unchoke())
        self.downloadAll(seeder, seeder.requests())
        seeder.close()
        kinds = [type(e).__name__ for e in heard]
        self.assertEqual(kinds[0], "PeerConnected")
        self.assertEqual(
            sorted(e.index for e in heard if isinstance(e, events.PieceVerified)),
            list(range(NUM_PIECES)),
        )
        self.assertIn(events.StateChanged(self.torrent, "seeding"), heard)
        self.assertIn(events.Completed(self.torrent), heard)
        self.assertEqual(kinds[-1], "PeerDisconnected")
        self.assertTrue(all(e.torrent is self.torrent for e in heard))

    def test_failingObserverIsLogged(self) -> None:
        """
        An observer that raises is logged; the torrent and other observers
        carry on.
        """
        self.makeTorrent()
        heard: list[events.TorrentEvent] = []

        def broken(event: events.TorrentEvent) -> None:
            raise RuntimeError("observer bug")

        self.torrent.addObserver(broken)
        self.torrent.addObserver(heard.append)
        seeder = self.connect(1, pieces=[1])
        seeder.send(wire.Unchoke())
        self.downloadAll(seeder, seeder.requests())
        self.assertIn(events.PieceVerified(self.torrent, 1), heard)
        self.assertTrue(self.flushLoggedErrors(RuntimeError))
        self.torrent.removeObserver(broken)

    def test_pauseAndResume(self) -> None:
        """
        Pausing drops peers and stops dialling, keeping verified pieces;
        resuming dials again and the download carries on to completion.
        """
        self.makeTorrent()
        seeder = self.connect(1, pieces=range(NUM_PIECES))
        seeder.send(wire.Unchoke())
        requests = [r for r in seeder.requests() if r[0] == 0]
        self.downloadAll(seeder, requests)
        self.assertIn(0, self.torrent.pieces())
        dials = len(self.endpoints.made)
        self.successResultOf(self.torrent.pause())
        self.assertEqual(self.torrent.state, "paused")
        self.assertTrue(seeder.dropped)
        seeder.close()
        self.clock.advance(120)
        self.assertEqual(len(self.endpoints.made), dials)
        self.torrent.resume()
        self.assertEqual(self.torrent.state, "downloading")
        self.assertIn(0, self.torrent.pieces())
        self.assertEqual(len(self.endpoints.made), dials + 1)

    def test_unrequestedBlockDrops(self) -> None:
        """
        A block we never asked for drops its sender and is not stored.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=[0])
        remote.answer(self.payload, [(0, 0, BLOCK)])
        self.assertEqual(bytes(self.storage.data[:BLOCK]), bytes(BLOCK))
        self.assertTrue(remote.dropped)


class HashFailureTests(TorrentTestCase):
    """
    Corrupt data: hash failures, strikes and bans.
    """

    def test_corruptPieceRequestedAgain(self) -> None:
        """
        A piece with a corrupt block fails its hash check and is requested
        again; a single failure does not drop its sender.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=range(NUM_PIECES))
        remote.send(wire.Unchoke())
        requests = remote.requests()
        remote.answer(self.payload, requests, corrupt=[2])
        self.assertEqual(self.torrent.status().hashFailures, 1)
        self.assertNotIn(2, self.storage.have)
        again = remote.requests()
        self.assertEqual(set(again), self.allBlocks([2]))
        self.assertFalse(remote.dropped)
        self.assertNoResult(self.torrent.whenComplete())
        remote.answer(self.payload, again)
        self.successResultOf(self.torrent.whenComplete())
        self.assertEqual(bytes(self.storage.data), self.payload)

    def test_soleCorrupterBannedOnSecondFailure(self) -> None:
        """
        A peer that alone sent two corrupt pieces is banned: dropped, its
        address never dialled again, and its peer id refused.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=range(NUM_PIECES))
        remote.send(wire.Unchoke())
        remote.answer(self.payload, remote.requests(), corrupt=[2])
        self.assertFalse(remote.dropped)
        remote.answer(self.payload, remote.requests(), corrupt=[2])
        self.assertEqual(self.torrent.status().hashFailures, 2)
        self.assertTrue(remote.dropped)
        remote.close()
        self.assertNotIn(remote.proto, self.torrent.peers)
        attempts = len(self.endpoints.made)
        self.clock.advance(3600)
        self.assertEqual(len(self.endpoints.made), attempts)
        # The same peer id from another address is refused at the handshake.
        refused = self.dial(2, remoteId=peerId(1))
        self.assertTrue(refused.dropped)
        self.assertNotIn(refused.proto, self.torrent.peers)

    def test_bannedPeersPiecesGoToOthers(self) -> None:
        """
        The blocks of a banned peer go to other peers at once, not only in
        endgame.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=[2, 3])
        remote.send(wire.Unchoke())
        remote.answer(self.payload, remote.requests(), corrupt=[2])
        remote.answer(self.payload, remote.requests(), corrupt=[2])
        self.assertTrue(remote.dropped)
        remote.close()
        other = self.connect(2, pieces=[2])
        other.send(wire.Unchoke())
        self.assertEqual(set(other.requests()), self.allBlocks([2]))
        self.assertFalse(self.torrent.download.picker.endgame)

    def test_closedPeerRedialled(self) -> None:
        """
        A peer whose connection ended is dialled again a minute later,
        unlike a banned one.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=[0])
        remote.close()
        self.assertNotIn(remote.proto, self.torrent.peers)
        self.clock.advance(59)
        self.assertEqual(len(self.endpoints.made), 1)
        self.clock.advance(2)
        self.assertEqual(len(self.endpoints.made), 2)
        self.assertEqual(self.endpoints.made[-1].address, address(1))


class RequestMovesTests(TorrentTestCase):
    """
    Requests moving between peers: endgame, choke, snub.
    """

    def test_endgameCancelsDuplicates(self) -> None:
        """
        In endgame an idle peer is asked for a few blocks another peer has
        kept us waiting for since L{torrent.ENDGAME_DELAY}, not before; the
        first answer makes the torrent cancel the request to the other.
        """
        self.makeTorrent()
        first = self.connect(1, pieces=range(NUM_PIECES))
        second = self.connect(2, pieces=range(NUM_PIECES))
        first.send(wire.Unchoke())
        requests = first.requests()
        self.assertEqual(set(requests), self.allBlocks())
        second.received()
        second.send(wire.Unchoke())
        self.assertTrue(self.torrent.download.picker.endgame)
        self.assertEqual(second.requests(), [])
        self.clock.advance(ENDGAME_DELAY)
        duplicates = second.requests()
        self.assertEqual(len(duplicates), ENDGAME_BATCH)
        self.assertTrue(set(duplicates) <= set(requests))
        first.answer(self.payload, duplicates[:1])
        index, begin, length = duplicates[0]
        self.assertEqual(second.received(), [wire.Cancel(index, begin, length)])
        first.answer(self.payload, [r for r in requests if r != duplicates[0]])
        cancels = {(m.index, m.begin, m.length) for m in second.received() if isinstance(m, wire.Cancel)}
        self.assertEqual(cancels, set(duplicates) - {duplicates[0]})
        self.successResultOf(self.torrent.whenComplete())

    def test_lateDuplicateIsWasted(self) -> None:
        """
        A block that arrives after another peer delivered it is counted as
        wasted and changes nothing.
        """
        self.makeTorrent()
        first = self.connect(1, pieces=range(NUM_PIECES))
        second = self.connect(2, pieces=range(NUM_PIECES))
        first.send(wire.Unchoke())
        first.requests()
        # Endgame: blocks kept waiting are asked of the second peer too.
        self.clock.advance(ENDGAME_DELAY + 1)
        second.send(wire.Unchoke())
        duplicates = second.requests()
        self.assertTrue(duplicates)
        first.answer(self.payload, duplicates[:1])
        second.answer(self.payload, duplicates[:1])
        self.assertEqual(self.torrent.download.wasted, duplicates[0][2])
        self.assertFalse(second.dropped)

    def test_chokeReturnsRequests(self) -> None:
        """
        When a peer chokes us, its requests go back to the picker and are
        sent to another peer that has the piece.
        """
        self.makeTorrent()
        first = self.connect(1, pieces=[0])
        second = self.connect(2, pieces=[0])
        first.send(wire.Unchoke())
        self.assertEqual(set(first.requests()), self.allBlocks([0]))
        second.send(wire.Unchoke())
        self.assertEqual(second.requests(), [])
        first.send(wire.Choke())
        self.assertEqual(set(second.requests()), self.allBlocks([0]))
        self.assertEqual(first.proto.state.requested, {})

    def test_disconnectReturnsRequests(self) -> None:
        """
        When a peer leaves, its requests go to another peer.
        """
        self.makeTorrent()
        first = self.connect(1, pieces=[0])
        second = self.connect(2, pieces=[0])
        first.send(wire.Unchoke())
        first.requests()
        second.send(wire.Unchoke())
        self.assertEqual(second.requests(), [])
        first.close()
        self.assertEqual(set(second.requests()), self.allBlocks([0]))
        self.assertEqual(self.torrent.download.picker.order.availability[0], 1)

    def test_snubbedPeerLosesRequests(self) -> None:
        """
        A peer that sends nothing for L{SNUB_TIMEOUT} seconds while we wait
        is snubbing us: its requests are cancelled and sent to another peer.
        """
        self.makeTorrent()
        slow = self.connect(1, pieces=[0])
        other = self.connect(2, pieces=[0])
        slow.send(wire.Unchoke())
        self.assertEqual(set(slow.requests()), self.allBlocks([0]))
        other.send(wire.Unchoke())
        for _ in range(int(SNUB_TIMEOUT) - 1):
            self.clock.advance(1)
        self.assertEqual(other.requests(), [])
        self.assertFalse(self.torrent.download.record(slow.proto).snubbed)
        self.clock.advance(1)
        self.assertTrue(self.torrent.download.record(slow.proto).snubbed)
        cancels = {(m.index, m.begin, m.length) for m in slow.received() if isinstance(m, wire.Cancel)}
        self.assertEqual(cancels, self.allBlocks([0]))
        self.assertEqual(set(other.requests()), self.allBlocks([0]))

    def test_snubbedPeerGetsOneRequest(self) -> None:
        """
        A snubbed peer is asked for one block at a time, after the other
        peers had their pick.
        """
        self.makeTorrent()
        slow = self.connect(1, pieces=[0, 1])
        other = self.connect(2, pieces=[0])
        slow.send(wire.Unchoke())
        self.assertEqual(set(slow.requests()), self.allBlocks([0, 1]))
        other.send(wire.Unchoke())
        self.clock.advance(SNUB_TIMEOUT)
        self.assertEqual(set(other.requests()), self.allBlocks([0]))
        again = slow.requests()
        self.assertEqual(len(again), 1)
        self.assertIn(again[0], self.allBlocks([1]))
        slow.answer(self.payload, again)
        self.assertFalse(self.torrent.download.record(slow.proto).snubbed)
        self.assertEqual(set(slow.requests()), self.allBlocks([1]) - set(again))


class ConnectionTests(TorrentTestCase):
    """
    Dialling peers: limits, retries, duplicates.
    """

    def test_halfOpenLimit(self) -> None:
        """
        At most L{TorrentConfig().maxHalfOpen} connection attempts are in progress at once;
        a completed one makes room at the next tick.
        """
        self.makeTorrent()
        self.torrent.addPeers([address(n) for n in range(1, 13)])
        self.assertEqual(len(self.endpoints.made), TorrentConfig().maxHalfOpen)
        self.assertEqual(
            [e.address for e in self.endpoints.made], [address(n) for n in range(1, TorrentConfig().maxHalfOpen + 1)]
        )
        self.dial(1)
        self.clock.advance(1)
        self.assertEqual(len(self.endpoints.made), TorrentConfig().maxHalfOpen + 1)
        self.assertEqual(self.endpoints.made[-1].address, address(TorrentConfig().maxHalfOpen + 1))
        self.assertEqual(self.torrent.status().knownPeers, 12)

    def test_maxPeers(self) -> None:
        """
        Connections and attempts together never exceed C{maxPeers}.
        """
        self.makeTorrent(maxPeers=3)
        self.torrent.addPeers([address(n) for n in range(1, 6)])
        self.assertEqual(len(self.endpoints.made), 3)
        self.dial(1)
        self.clock.advance(5)
        self.assertEqual(len(self.endpoints.made), 3)

    def test_incomingRefusedAtMaxPeers(self) -> None:
        """
        An incoming connection beyond C{maxPeers} is refused.
        """
        self.makeTorrent(full=True, maxPeers=1)
        first = self.accept(1)
        second = self.accept(2)
        self.assertFalse(first.dropped)
        self.assertTrue(second.dropped)
        self.assertEqual(self.torrent.peers, {first.proto})

    def test_failedConnectionRetriedWithBackoff(self) -> None:
        """
        A failed connection attempt is retried 10 seconds later, then 20
        seconds after a second failure.
        """
        self.makeTorrent()
        self.torrent.addPeers([address(1)])
        for delay in (10, 20):
            attempts = len(self.endpoints.made)
            self.endpoints.made[-1].refuse()
            for _ in range(delay - 1):
                self.clock.advance(1)
            self.assertEqual(len(self.endpoints.made), attempts)
            self.clock.advance(1)
            self.assertEqual(len(self.endpoints.made), attempts + 1)
            self.assertEqual(self.endpoints.made[-1].address, address(1))

    def test_failedConnectionFreesSlot(self) -> None:
        """
        A failed attempt frees its half-open slot for another address.
        """
        self.makeTorrent()
        self.torrent.addPeers([address(n) for n in range(1, 10)])
        self.endpoints.made[0].refuse()
        self.clock.advance(1)
        self.assertEqual(self.endpoints.made[-1].address, address(9))

    def test_closedBeforeHandshakeIsFailure(self) -> None:
        """
        A connection closed before the handshake counts as a failed attempt.
        """
        self.makeTorrent()
        self.torrent.addPeers([address(1)])
        proto = self.endpoints.made[0].succeed()
        FakeRemote(proto, proto.transport).close()
        self.clock.advance(9)
        self.assertEqual(len(self.endpoints.made), 1)
        self.clock.advance(2)
        self.assertEqual(len(self.endpoints.made), 2)

    def test_duplicatePeerIdRefused(self) -> None:
        """
        A second connection from a peer id already connected is dropped.
        """
        self.makeTorrent()
        first = self.dial(1, remoteId=peerId(7))
        second = self.dial(2, remoteId=peerId(7))
        self.assertFalse(first.dropped)
        self.assertTrue(second.dropped)
        self.assertEqual(self.torrent.peers, {first.proto})

    def test_addPeersBeforeStart(self) -> None:
        """
        Addresses given before the start are dialled once downloading.
        """
        self.makeTorrent(start=False)
        self.torrent.addPeers([address(1)])
        self.assertEqual(self.endpoints.made, [])
        self.successResultOf(self.torrent.start())
        self.assertEqual([e.address for e in self.endpoints.made], [address(1)])

    def test_seedingDoesNotDial(self) -> None:
        """
        A seeding torrent waits for leechers instead of dialling.
        """
        self.makeTorrent(full=True)
        self.torrent.addPeers([address(1)])
        self.clock.advance(10)
        self.assertEqual(self.endpoints.made, [])


class WriteBacklogTests(TorrentTestCase):
    """
    Backpressure from a slow disk.
    """

    def test_backlogStopsRequests(self) -> None:
        """
        Past the write backlog's limit of bytes not yet written, no block
        is requested until the writes complete.
        """
        self.patch(downloadModule, "MAX_REQUEST_DEPTH", 4)
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False, writeBacklog=WriteBacklog(BLOCK))
        self.torrent.start()
        storage.finishCheck()
        storage.holdWrites = True
        remote = self.connect(1, pieces=range(NUM_PIECES))
        self.torrent.download.record(remote.proto).requestDepth = 4
        remote.send(wire.Unchoke())
        requests = remote.requests()
        self.assertEqual(len(requests), 4)
        remote.answer(self.payload, [r for r in requests if r[2] == BLOCK][:2])
        self.assertEqual(len(storage.writes), 2)
        self.assertEqual(remote.requests(), [])
        storage.writes[0].callback(None)
        self.assertEqual(remote.requests(), [])
        storage.writes[1].callback(None)
        self.assertEqual(len(remote.requests()), 2)

    def test_sharedBacklogStopsRequests(self) -> None:
        """
        A write backlog shared with other torrents (a session's) and full
        of their bytes stops this torrent's requests too, until their
        writes make room.
        """
        backlog = WriteBacklog(BLOCK)
        self.makeTorrent(writeBacklog=backlog)
        # Another torrent's block, on its way to disk.
        backlog.size += BLOCK
        remote = self.connect(1, pieces=range(NUM_PIECES))
        remote.send(wire.Unchoke())
        self.assertEqual(remote.requests(), [])
        backlog.written(BLOCK)
        self.assertNotEqual(remote.requests(), [])

    def test_failedWriteGivesBackItsBytes(self) -> None:
        """
        A block whose write fails (a full disk) leaves the session's count
        of bytes on their way to disk: other torrents, and this one once
        resumed, are not kept waiting for room that never comes.
        """
        backlog = WriteBacklog()
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False, writeBacklog=backlog)
        self.torrent.start()
        storage.finishCheck()
        storage.failWrites = True
        remote = self.connect(1, pieces=range(NUM_PIECES))
        remote.send(wire.Unchoke())
        requests = remote.requests()
        remote.answer(self.payload, [r for r in requests if r[0] == 0][:2])
        self.assertEqual(self.torrent.state, TorrentState.ERROR)
        self.assertEqual(backlog.size, 0)

    def test_budgetBoundsRequestsInFlight(self) -> None:
        """
        Requests in flight count against the session's budget
        (C{inFlightLimit}) until their blocks are written: past it no more
        are sent, whatever the peer's pipeline depth; writes make room
        again, and a peer leaving gives back what it held.
        """
        self.patch(downloadModule, "MAX_REQUEST_DEPTH", 4)
        storage = ManualStorage(self.metainfo)
        backlog = WriteBacklog(inFlightLimit=2 * BLOCK)
        self.makeTorrent(storage=storage, start=False, writeBacklog=backlog)
        self.torrent.start()
        storage.finishCheck()
        storage.holdWrites = True
        # Not the last piece: its short last block would leave less than a
        # block of room once the full ones are written, and which blocks
        # the picker asks for first is random.
        remote = self.connect(1, pieces=range(NUM_PIECES - 1))
        self.torrent.download.record(remote.proto).requestDepth = 4
        remote.send(wire.Unchoke())
        requests = remote.requests()
        self.assertEqual(len(requests), 2)
        self.assertEqual(backlog.requested, 2 * BLOCK)
        full = [r for r in requests if r[2] == BLOCK]
        remote.answer(self.payload, full)
        self.assertEqual(remote.requests(), [])
        for write in list(storage.writes):
            write.callback(None)
        self.assertEqual(len(remote.requests()), 2)
        remote.close()
        self.assertEqual(backlog.requested, 0)

    def test_noBacklogKeepsRequesting(self) -> None:
        """
        Below the backlog limit, each answered block makes room for another
        request.
        """
        self.patch(downloadModule, "MAX_REQUEST_DEPTH", 4)
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False)
        self.torrent.start()
        storage.finishCheck()
        storage.holdWrites = True
        remote = self.connect(1, pieces=range(NUM_PIECES))
        self.torrent.download.record(remote.proto).requestDepth = 4
        remote.send(wire.Unchoke())
        requests = remote.requests()
        remote.answer(self.payload, requests[:2])
        self.assertEqual(len(remote.requests()), 2)

    def test_slowStartGrowsPipeline(self) -> None:
        """
        Below L{torrent.MAX_REQUEST_DEPTH}, each answered block makes room for
        two more requests: the pipeline grows as the peer proves fast.
        """
        self.makeTorrent()
        remote = self.connect(1, pieces=range(NUM_PIECES))
        self.torrent.download.record(remote.proto).requestDepth = 4
        remote.send(wire.Unchoke())
        requests = remote.requests()
        self.assertEqual(len(requests), 4)
        remote.answer(self.payload, requests[:2])
        self.assertEqual(self.torrent.download.record(remote.proto).requestDepth, 6)
        self.assertEqual(len(remote.requests()), 4)


class LifecycleTests(TorrentTestCase):
    """
    The facade's promises across pause, resume, stop, finish and errors.
    """

    def test_verifiedWhilePaused(self) -> None:
        """
        A hash check that finishes while the torrent is paused still counts:
        the last piece is verified, and once resumed the torrent seeds
        instead of stalling one piece short.
        """
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False)
        self.torrent.start()
        storage.finishCheck()
        done = self.torrent.whenComplete()
        seeder = self.connect(1, pieces=range(NUM_PIECES))
        seeder.send(wire.Unchoke())
        storage.holdVerify = True
        self.downloadAll(seeder, seeder.requests())
        self.assertEqual(len(storage.verifications), NUM_PIECES)
        self.successResultOf(self.torrent.pause())
        storage.finishVerifications()
        self.assertEqual(self.torrent.status().piecesVerified, NUM_PIECES)
        self.assertIsNone(self.successResultOf(done))
        self.assertEqual(self.torrent.state, TorrentState.PAUSED)
        self.torrent.resume()
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)

    def test_whenCompleteFailsOnStop(self) -> None:
        """
        A torrent stopped before completing fails L{Torrent.whenComplete}
        with L{TorrentStopped}.
        """
        self.makeTorrent()
        done = self.torrent.whenComplete()
        self.successResultOf(self.torrent.stop())
        self.failureResultOf(done, TorrentStopped)

    def test_resumeAfterError(self) -> None:
        """
        After a storage error, C{resume} checks the data again keeping every
        verified piece, and the download carries on.
        """
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False)
        self.torrent.start()
        storage.finishCheck()
        remote = self.connect(1, pieces=range(NUM_PIECES))
        remote.send(wire.Unchoke())
        requests = remote.requests()
        remote.answer(self.payload, [r for r in requests if r[0] == 0])
        storage.failWrites = True
        remote.answer(self.payload, [r for r in requests if r[0] == 1][:1])
        self.assertEqual(self.torrent.state, TorrentState.ERROR)
        storage.failWrites = False
        self.torrent.resume()
        self.assertEqual(self.torrent.state, TorrentState.CHECKING)
        self.assertEqual(storage.checkArgs[0], Bitfield(NUM_PIECES, [0]))
        storage.finishCheck()
        self.assertEqual(self.torrent.state, TorrentState.DOWNLOADING)
        self.assertIsNone(self.torrent.status().error)
        self.assertIn(0, self.torrent.pieces())
        done = self.torrent.whenComplete()
        again = self.connect(2, pieces=range(NUM_PIECES))
        again.send(wire.Unchoke())
        self.downloadAll(again, again.requests())
        self.successResultOf(done)

    def test_internalErrorIsNotStorageError(self) -> None:
        """
        A bug in our own code met on a storage path is logged with its
        traceback and reported as an internal error, not a storage error.
        """
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False)
        d = self.torrent.start()
        storage.failCheck(ZeroDivisionError("oops"))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.torrent.state, TorrentState.ERROR)
        self.assertIsInstance(self.torrent.error, InternalError)
        self.assertIn("internal error", str(self.torrent.error))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_finishedResumesSeeding(self) -> None:
        """
        A torrent done seeding (C{finished}) seeds again when resumed, the
        goal it reached no longer applying.
        """
        self.makeTorrent(full=True, seedTime=0)
        self.clock.advance(1)
        self.assertEqual(self.torrent.state, TorrentState.FINISHED)
        self.torrent.resume()
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)
        self.clock.advance(10)
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)

    def test_ratesZeroWhenNotActive(self) -> None:
        """
        A paused torrent shows no transfer rate, whatever it last measured.
        """
        self.makeTorrent()
        seeder = self.connect(1, pieces=range(NUM_PIECES))
        seeder.send(wire.Unchoke())
        seeder.answer(self.payload, seeder.requests()[:2])
        self.assertGreater(self.torrent.status().downloadRate, 0)
        self.torrent.pause()
        self.assertEqual(self.torrent.status().downloadRate, 0)

    def test_downloadRateZeroOnceComplete(self) -> None:
        """
        Once every piece is in, the download rate is 0 at once, not what the
        last seconds of the download measured.
        """
        self.makeTorrent()
        seeder = self.connect(1, pieces=range(NUM_PIECES))
        seeder.send(wire.Unchoke())
        self.downloadAll(seeder, seeder.requests())
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)
        self.assertEqual(self.torrent.status().downloadRate, 0)

    def test_peerSources(self) -> None:
        """
        Each peer says where its address came from.
        """
        self.makeTorrent(full=True)
        self.accept(1)
        self.makeTorrent(start=True)
        self.torrent.addPeers([address(2)], source="pex")
        proto = self.endpoints.pending(address(2))[0].succeed()
        proto.dataReceived(wire.encode(wire.Handshake(self.metainfo.infoHash, peerId(2))))
        self.accept(3)
        sources = sorted((p.address, p.source) for p in self.torrent.peerStatuses())
        self.assertEqual(sources, [("10.0.0.2:6881", "pex"), ("10.1.0.3:40003", "incoming")])


class StorageFailureTests(TorrentTestCase):
    """
    A storage failure stops the torrent and keeps what is verified.
    """

    def test_writeFailure(self) -> None:
        """
        A failed write moves the torrent to C{error}: C{whenComplete} fails
        with the L{StorageError}, peers are dropped, storage is closed, and
        pieces verified before stay verified.
        """
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False)
        self.torrent.start()
        storage.finishCheck()
        done = self.torrent.whenComplete()
        remote = self.connect(1, pieces=range(NUM_PIECES))
        bystander = self.connect(2)
        remote.send(wire.Unchoke())
        requests = remote.requests()
        first = requests[0][0]
        remote.answer(self.payload, [r for r in requests if r[0] == first])
        self.assertIn(first, storage.have)
        storage.failWrites = True
        remote.answer(self.payload, [r for r in requests if r[0] != first][:1])
        self.assertEqual(self.torrent.state, "error")
        error = self.failureResultOf(done, StorageError).value
        self.assertEqual(str(error), "disk full")
        self.assertIs(self.torrent.error, error)
        self.failureResultOf(self.torrent.whenComplete(), StorageError)
        self.assertTrue(remote.dropped)
        self.assertTrue(bystander.dropped)
        self.assertEqual(set(storage.have), {first})
        status = self.torrent.status()
        self.assertEqual((status.state, status.error, status.piecesVerified), ("error", "disk full", 1))

    def test_stopAfterFailure(self) -> None:
        """
        Stopping a failed torrent succeeds and leaves it stopped.
        """
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False)
        self.torrent.start()
        storage.failCheck(StorageError("no such folder"))
        self.assertEqual(self.torrent.state, "error")
        self.assertIsNone(self.successResultOf(self.torrent.stop()))
        self.assertEqual(self.torrent.state, "stopped")


class UploadTests(TorrentTestCase):
    """
    Serving blocks to peers.
    """

    def test_interestedPeerUnchoked(self) -> None:
        """
        An interested peer is unchoked.
        """
        self.makeTorrent(full=True)
        remote = self.accept(1)
        self.assertEqual(remote.afterHandshake, [wire.Bitfield(Bitfield(NUM_PIECES, range(NUM_PIECES)).toBytes())])
        remote.send(wire.Interested())
        self.assertEqual(remote.received(), [wire.Unchoke()])

    def test_requestAnswered(self) -> None:
        """
        A request from a peer we unchoked is answered from storage with the
        right bytes.
        """
        self.makeTorrent(full=True)
        remote = self.accept(1)
        remote.send(wire.Interested())
        remote.received()
        remote.send(wire.Request(1, BLOCK, BLOCK), wire.Request(4, BLOCK, LAST_PIECE - BLOCK))
        self.assertEqual(
            remote.received(),
            [
                wire.Piece(1, BLOCK, blockOf(self.payload, 1, BLOCK, BLOCK)),
                wire.Piece(4, BLOCK, blockOf(self.payload, 4, BLOCK, LAST_PIECE - BLOCK)),
            ],
        )
        self.assertEqual(self.torrent.status().uploaded, LAST_PIECE)

    def test_requestWhileChokedIgnored(self) -> None:
        """
        A request from a peer we choke is not answered.
        """
        self.makeTorrent(full=True)
        remote = self.accept(1)
        remote.send(wire.Request(1, 0, BLOCK))
        self.assertEqual(remote.received(), [])
        self.assertFalse(remote.dropped)

    def test_requestForMissingPieceDrops(self) -> None:
        """
        While downloading, a request for a piece we have is answered; one for
        a piece we lack drops the peer.
        """
        self.makeTorrent(have=[0])
        remote = self.connect(1)
        remote.send(wire.Interested())
        remote.received()
        remote.send(wire.Request(0, 0, BLOCK))
        self.assertEqual(remote.received(), [wire.Piece(0, 0, self.payload[:BLOCK])])
        self.assertFalse(remote.dropped)
        remote.send(wire.Request(2, 0, BLOCK))
        self.assertTrue(remote.dropped)

    def test_requestPastPieceEndDrops(self) -> None:
        """
        A request reaching past the end of a piece drops the peer.
        """
        self.makeTorrent(full=True)
        remote = self.accept(1)
        remote.send(wire.Interested())
        remote.send(wire.Request(4, BLOCK, BLOCK))
        self.assertTrue(remote.dropped)

    def test_seedsDropEachOther(self) -> None:
        """
        A seeding torrent drops a peer that is a seed too.
        """
        self.makeTorrent(full=True)
        remote = self.accept(1, pieces=range(NUM_PIECES))
        self.assertTrue(remote.dropped)


class FakeTracker(Resource):
    """
    A tracker answering every announce with peer 1, recording the events.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Optional[bytes]] = []

    def render_GET(self, request: Any) -> bytes:
        self.events.append(request.args.get(b"event", [None])[0])
        host, port = address(1)
        peers = bytes(map(int, host.split("."))) + struct.pack(">H", port)
        return bencodepy.encode({b"interval": 1800, b"peers": peers})


class StopTests(TorrentTestCase):
    """
    L{Torrent.stop} and announcing.
    """

    def setUp(self) -> None:
        super().setUp()
        self.metainfo, self.payload = makeTorrent(self, trackers=[TRACKER])
        self.tracker = FakeTracker()

    def test_announceFindsPeers(self) -> None:
        """
        On start the torrent announces C{started} and dials the peers the
        tracker gives.
        """
        self.makeTorrent(announce=True, httpClient=StubTreq(self.tracker))
        self.assertEqual(self.tracker.events, [b"started"])
        self.assertEqual([e.address for e in self.endpoints.made], [address(1)])

    def test_completionAnnounced(self) -> None:
        """
        A completed download is announced to the tracker.
        """
        self.makeTorrent(announce=True, httpClient=StubTreq(self.tracker))
        remote = self.dial(1)
        remote.send(wire.Bitfield(Bitfield(NUM_PIECES, range(NUM_PIECES)).toBytes()), wire.Unchoke())
        self.downloadAll(remote, remote.requests())
        self.assertEqual(self.torrent.state, "seeding")
        self.assertEqual(self.tracker.events, [b"started", b"completed"])

    def test_stop(self) -> None:
        """
        C{stop} drops every peer, stops connection attempts, announces
        C{stopped} and closes storage.
        """
        self.makeTorrent(have=[0], announce=True, httpClient=StubTreq(self.tracker))
        remote = self.dial(1)
        self.torrent.addPeers([address(2)])
        self.assertEqual(len(self.endpoints.made), 2)
        self.assertIsNone(self.successResultOf(self.torrent.stop()))
        self.assertEqual(self.torrent.state, "stopped")
        self.assertTrue(remote.dropped)
        self.assertTrue(self.endpoints.made[1].cancelled)
        self.assertEqual(self.tracker.events, [b"started", b"stopped"])
        self.failureResultOf(self.storage.readBlock(0, 0, 1), StorageError)
        self.clock.advance(120)
        self.assertEqual(len(self.endpoints.made), 2)
        self.successResultOf(self.torrent.stop())

    def test_stopWithoutTracker(self) -> None:
        """
        Without trackers, C{stop} still drops peers and closes storage.
        """
        self.metainfo, self.payload = makeTorrent(self)
        self.makeTorrent(full=True)
        remote = self.accept(1)
        self.successResultOf(self.torrent.stop())
        self.assertTrue(remote.dropped)
        self.assertTrue(self.storage.closed)


class HeldReadStorage(MemoryStorage):
    """
    A L{MemoryStorage} whose reads complete when the test says.

    @ivar reads: C{(index, begin, length)} of every read, in order.
    @ivar pending: the L{Deferred} of each read not yet completed.
    """

    def __init__(self, metainfo: Metainfo, data: bytes) -> None:
        super().__init__(metainfo, data)
        self.reads: list[tuple[int, int, int]] = []
        self.pending: list[tuple[Deferred[bytes], bytes]] = []

    def blocksRead(self) -> int:
        """
        @return: how many blocks the reads so far covered (a run read as
            one counts each of its blocks).
        """
        return sum(-(-length // BLOCK) for _, _, length in self.reads)

    def readBlock(self, index: int, begin: int, length: int) -> Deferred[bytes]:
        self.reads.append((index, begin, length))
        data = self.successResultOf(super().readBlock(index, begin, length))
        d: Deferred[bytes] = Deferred()
        self.pending.append((d, data))
        return d

    @staticmethod
    def successResultOf(d: Deferred[bytes]) -> bytes:
        result: list[bytes] = []
        d.addCallback(result.append)
        return result[0]

    def finishReads(self) -> None:
        """
        Complete every pending read.
        """
        pending, self.pending = self.pending, []
        for d, data in pending:
            d.callback(data)


class ServingTests(TorrentTestCase):
    """
    Serving is bounded per peer, stops for a peer that does not read, and
    honours cancels.
    """

    def serve(self, requests: int) -> tuple[FakeRemote, HeldReadStorage]:
        """
        Seed to one peer with reads held, and have it send C{requests}
        requests (blocks of the torrent, round and round).
        """
        storage = HeldReadStorage(self.metainfo, self.payload)
        self.makeTorrent(storage=storage)
        remote = self.accept(1)
        remote.send(wire.Interested())
        self.assertEqual(remote.received(), [wire.Unchoke()])
        blocks = sorted(self.allBlocks())
        remote.send(*(wire.Request(*blocks[i % len(blocks)]) for i in range(requests)))
        return remote, storage

    def test_readsBoundedPerPeer(self) -> None:
        """
        However many requests a peer queues, at most L{MAX_SERVING} of its
        blocks are read at once; as they are sent, the next are read.
        """
        remote, storage = self.serve(100)
        self.assertEqual(storage.blocksRead(), MAX_SERVING)
        # The consecutive blocks of a piece are read together.
        self.assertLess(len(storage.reads), MAX_SERVING)
        storage.finishReads()
        self.assertEqual(len(remote.received()), MAX_SERVING)
        self.assertEqual(storage.blocksRead(), 2 * MAX_SERVING)

    def test_pausedPeerNotRead(self) -> None:
        """
        When the peer's transport pauses us (the peer does not read), reads
        in flight finish but no more are started until it resumes.
        """
        remote, storage = self.serve(100)
        remote.proto.pauseProducing()
        storage.finishReads()
        self.assertEqual(storage.blocksRead(), MAX_SERVING)
        self.assertEqual(storage.pending, [])
        remote.proto.resumeProducing()
        self.assertEqual(storage.blocksRead(), 2 * MAX_SERVING)
        storage.finishReads()
        sent = remote.received()
        self.assertEqual(len(sent), 2 * MAX_SERVING)
        for piece in sent:
            self.assertEqual(
                piece.block, blockOf(self.payload, piece.index, piece.begin, len(piece.block))
            )

    def test_servedAtOnceUntilPaused(self) -> None:
        """
        Blocks the storage reads at once are sent at once, a run per write,
        until the peer's transport pauses us; the rest go when it resumes.
        """
        self.makeTorrent(full=True)
        remote = self.accept(1)
        remote.send(wire.Interested())
        remote.received()
        write = remote.transport.write

        def pauseAfterWrite(data: bytes) -> None:
            write(data)
            remote.proto.pauseProducing()

        remote.transport.write = pauseAfterWrite  # type: ignore[method-assign]
        blocks = sorted(self.allBlocks())
        remote.send(*(wire.Request(*block) for block in blocks))
        # One run: the blocks of the first piece.
        first = remote.received()
        self.assertEqual(
            [(piece.index, piece.begin) for piece in first],
            [(0, begin) for begin in range(0, PIECE_LENGTH, BLOCK)],
        )
        remote.transport.write = write  # type: ignore[method-assign]
        remote.proto.resumeProducing()
        sent = first + remote.received()
        self.assertEqual([(p.index, p.begin, len(p.block)) for p in sent], blocks)

    def test_cancelledQueuedRequestNotRead(self) -> None:
        """
        A request cancelled while queued is neither read nor sent.
        """
        remote, storage = self.serve(0)
        remote.send(*(wire.Request(0, 0, BLOCK) for _ in range(MAX_SERVING)))
        remote.send(wire.Request(3, BLOCK, BLOCK), wire.Cancel(3, BLOCK, BLOCK))
        storage.finishReads()
        storage.finishReads()
        self.assertNotIn((3, BLOCK, BLOCK), storage.reads)
        self.assertNotIn(
            wire.Piece(3, BLOCK, blockOf(self.payload, 3, BLOCK, BLOCK)), remote.received()
        )

    def test_cancelledReadNotSent(self) -> None:
        """
        A request cancelled while its block is read is not sent.
        """
        remote, storage = self.serve(0)
        remote.send(wire.Request(2, 0, BLOCK), wire.Request(2, BLOCK, BLOCK))
        remote.send(wire.Cancel(2, 0, BLOCK))
        self.assertEqual(storage.reads, [(2, 0, 2 * BLOCK)])
        storage.finishReads()
        self.assertEqual(remote.received(), [wire.Piece(2, BLOCK, blockOf(self.payload, 2, BLOCK, BLOCK))])
        self.assertEqual(self.torrent.status().uploaded, BLOCK)

    def test_chokeDiscardsReads(self) -> None:
        """
        Blocks being read when we choke the peer are not sent.
        """
        remote, storage = self.serve(3)
        remote.proto.sender.setChoking(True)
        remote.received()
        storage.finishReads()
        self.assertEqual(remote.received(), [])

    def test_haveToEveryPeer(self) -> None:
        """
        A verified piece is announced with C{have} to every peer.
        """
        self.makeTorrent()
        remotes = [self.connect(n) for n in range(1, 4)]
        source = remotes[0]
        source.send(wire.Bitfield(Bitfield(NUM_PIECES, [1]).toBytes()), wire.Unchoke())
        source.answer(self.payload, source.requests())
        for remote in remotes:
            self.assertIn(wire.Have(1), remote.received())


class ChokerIntegrationTests(TorrentTestCase):
    """
    The torrent chokes as its L{bittwist.choker.Choker} says.
    """

    def test_regularAndOptimisticSlots(self) -> None:
        """
        Of six interested peers, four regular slots and one optimistic are
        unchoked.
        """
        self.makeTorrent(full=True)
        remotes = [self.accept(n) for n in range(1, 7)]
        for remote in remotes:
            remote.send(wire.Interested())
        self.clock.advance(1)
        unchoked = [r for r in remotes if not r.proto.amChoking]
        self.assertEqual(len(unchoked), 5)
        self.assertIsNotNone(self.torrent.upload.choker.optimistic)

    def test_uploadSlots(self) -> None:
        """
        The number of regular slots is a parameter of the torrent.
        """
        self.makeTorrent(full=True, uploadSlots=1)
        remotes = [self.accept(n) for n in range(1, 5)]
        for remote in remotes:
            remote.send(wire.Interested())
        self.assertEqual(len([r for r in remotes if not r.proto.amChoking]), 2)


class RateLimitTests(TorrentTestCase):
    """
    Upload and download limits, on the clock.
    """

    def test_uploadLimitHolds(self) -> None:
        """
        A peer asking for far more than the upload limit allows gets the
        limit, within 10%, over ten seconds.
        """
        rate = 64 * 1024
        self.makeTorrent(full=True, uploadLimit=TokenBucket(self.clock, rate))
        remote = self.accept(1)
        remote.send(wire.Interested())
        blocks = sorted(self.allBlocks())
        remote.send(*(wire.Request(*blocks[i % len(blocks)]) for i in range(400)))
        sent = 0
        for _ in range(100):
            self.clock.advance(0.1)
            sent += sum(len(m.block) for m in remote.received() if isinstance(m, wire.Piece))
        ratio = sent / 10.0 / rate
        self.assertTrue(0.9 <= ratio <= 1.1, f"uploaded at {ratio:.3f} times the limit")

    def test_clearedBucketIsNoError(self) -> None:
        """
        Requests waiting for upload tokens when the bucket is cleared (the
        session stops) are dropped quietly: the torrent is not put in error.
        """
        bucket = TokenBucket(self.clock, 16 * 1024)
        self.makeTorrent(full=True, uploadLimit=bucket)
        remote = self.accept(1)
        remote.send(wire.Interested())
        remote.send(*(wire.Request(*block) for block in sorted(self.allBlocks())[:8]))
        bucket.clear()
        self.clock.advance(1)
        self.assertIs(self.torrent.state, TorrentState.SEEDING)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_uploadLimitSharedByPeers(self) -> None:
        """
        Two peers share one upload limit about evenly.
        """
        rate = 128 * 1024
        self.makeTorrent(full=True, uploadLimit=TokenBucket(self.clock, rate))
        remotes = [self.accept(1), self.accept(2)]
        blocks = [(0, 0, BLOCK), (1, 0, BLOCK)]
        for remote in remotes:
            remote.send(wire.Interested())
            remote.send(*(wire.Request(*blocks[i % 2]) for i in range(400)))
        sent = [0, 0]
        for _ in range(100):
            self.clock.advance(0.1)
            for i, remote in enumerate(remotes):
                sent[i] += sum(len(m.block) for m in remote.received() if isinstance(m, wire.Piece))
        self.assertTrue(0.9 <= sum(sent) / 10.0 / rate <= 1.1, f"sent {sent}")
        self.assertTrue(0.8 <= sent[0] / sent[1] <= 1.25, f"sent {sent}")

    def test_downloadLimitHolds(self) -> None:
        """
        Downloading from a peer that answers at once, blocks are requested
        (and so arrive) at the download limit, within 10%.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.payload = random.Random(7).randbytes(64 * PIECE_LENGTH)
        path = os.path.join(folder, "big.bin")
        with open(path, "wb") as f:
            f.write(self.payload)
        self.metainfo = parse(createTorrent(path, pieceLength=PIECE_LENGTH))
        rate = 256 * 1024
        self.makeTorrent(downloadLimit=TokenBucket(self.clock, rate))
        remote = self.dial(1)
        remote.send(wire.Bitfield(Bitfield(64, range(64)).toBytes()), wire.Unchoke())
        received = 0
        for _ in range(50):
            requests = remote.requests()
            received += sum(length for _, _, length in requests)
            remote.answer(self.payload, requests)
            self.clock.advance(0.1)
        ratio = received / 5.0 / rate
        self.assertTrue(0.9 <= ratio <= 1.1, f"downloaded at {ratio:.3f} times the limit")
        self.assertEqual(self.torrent.state, "downloading")


class SeedGoalTests(TorrentTestCase):
    """
    C{seedRatio} and C{seedTime} end seeding.
    """

    def setUp(self) -> None:
        super().setUp()
        self.metainfo, self.payload = makeTorrent(self, trackers=[TRACKER])
        self.tracker = FakeTracker()

    def test_seedRatio(self) -> None:
        """
        Once we uploaded the torrent's size with a seed ratio of 1, the
        torrent finishes: peers dropped, trackers told C{stopped}.
        """
        self.makeTorrent(
            full=True, seedRatio=1.0, announce=True, httpClient=StubTreq(self.tracker)
        )
        remote = self.accept(1)
        remote.send(wire.Interested())
        remote.send(*(wire.Request(*b) for b in sorted(self.allBlocks())[:-1]))
        self.clock.advance(1)
        self.assertEqual(self.torrent.state, "seeding")
        remote.send(wire.Request(*sorted(self.allBlocks())[-1]))
        self.clock.advance(1)
        self.assertEqual(self.torrent.state, "finished")
        self.assertTrue(remote.dropped)
        self.assertEqual(self.tracker.events, [b"started", b"stopped"])
        self.successResultOf(self.torrent.stop())
        self.assertEqual(self.tracker.events, [b"started", b"stopped"])

    def test_seedTime(self) -> None:
        """
        After C{seedTime} seconds of seeding the torrent finishes, and not
        before.
        """
        self.makeTorrent(full=True, seedTime=120.0, announce=True, httpClient=StubTreq(self.tracker))
        self.clock.advance(119)
        self.assertEqual(self.torrent.state, "seeding")
        self.clock.advance(1)
        self.assertEqual(self.torrent.state, "finished")
        self.assertEqual(self.tracker.events, [b"started", b"stopped"])

    def test_seedTimeCountsFromCompletion(self) -> None:
        """
        Seed time counts from when the download completed, and C{completed}
        is announced once.
        """
        self.makeTorrent(seedTime=60.0, announce=True, httpClient=StubTreq(self.tracker))
        self.clock.advance(100)
        remote = self.dial(1)
        remote.send(wire.Bitfield(Bitfield(NUM_PIECES, range(NUM_PIECES)).toBytes()), wire.Unchoke())
        self.downloadAll(remote, remote.requests())
        self.assertEqual(self.torrent.state, "seeding")
        self.clock.advance(59)
        self.assertEqual(self.torrent.state, "seeding")
        self.clock.advance(1)
        self.assertEqual(self.torrent.state, "finished")
        # Regular announces (for more peers) may come between.
        events = [e for e in self.tracker.events if e is not None]
        self.assertEqual(events, [b"started", b"completed", b"stopped"])


class FilePriorityTests(TorrentTestCase):
    """
    L{Torrent.setFilePriorities}: skipped files are not downloaded, the
    torrent seeds once every wanted piece is verified, and downloads again
    when a missing file is wanted.
    """

    def test_skipAllSeedsAtOnce(self) -> None:
        """
        Skipping the one file of a torrent that is downloading completes
        it: it seeds what it has, C{whenComplete} fires, and storage hears
        the file is skipped.
        """
        storage = ManualStorage(self.metainfo)
        self.makeTorrent(storage=storage, start=False)
        d = self.torrent.start()
        storage.finishCheck()
        self.successResultOf(d)
        done = self.torrent.whenComplete()
        self.assertEqual(self.torrent.state, TorrentState.DOWNLOADING)
        self.torrent.setFilePriorities([0])
        self.assertEqual(storage.skipped, [0])
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)
        self.assertIsNone(self.successResultOf(done))
        self.assertEqual([f.priority for f in self.torrent.fileStatuses()], [0])

    def test_wantedAgainDownloads(self) -> None:
        """
        Wanting a skipped file again moves a seeding torrent back to
        downloading: it asks its peers for the missing pieces, and
        C{whenComplete} waits for them.
        """
        self.makeTorrent(filePriorities=(0,))
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)
        self.torrent.setFilePriorities([2])
        self.assertEqual(self.torrent.state, TorrentState.DOWNLOADING)
        done = self.torrent.whenComplete()
        self.assertNoResult(done)
        seeder = self.connect(2, pieces=range(NUM_PIECES))
        seeder.received()
        seeder.send(wire.Unchoke())
        self.downloadAll(seeder, seeder.requests())
        self.assertIsNone(self.successResultOf(done))
        self.assertEqual(self.torrent.state, TorrentState.SEEDING)
        self.assertEqual(bytes(self.storage.data), self.payload)

    def test_wantedLeft(self) -> None:
        """
        With files skipped, the status counts the bytes still wanted, and
        the ETA is the time to get them.
        """
        self.makeTorrent()
        self.assertIsNone(self.torrent.status().wantedLeft)
        self.torrent.setFilePriorities([2])
        status = self.torrent.status()
        self.assertEqual(status.wantedLeft, TOTAL)
        partial = dataclasses.replace(status, downloadRate=1000.0, wantedLeft=5000)
        self.assertEqual(partial.eta, 5.0)

    def test_wantedLeftAsPiecesVerify(self) -> None:
        """
        With files skipped, the bytes still wanted go down by each piece's
        size as it is verified.
        """
        self.makeTorrent()
        self.torrent.setFilePriorities([2])
        remote = self.connect(1, range(NUM_PIECES))
        remote.send(wire.Unchoke())
        requests = remote.requests()
        first = requests[0][0]
        remote.answer(self.payload, [r for r in requests if r[0] == first])
        self.assertEqual(
            self.torrent.status().wantedLeft, TOTAL - self.metainfo.pieceSize(first)
        )

    def test_badPriorities(self) -> None:
        """
        Priorities other than 0, 1 and 2, or not one per file, are refused
        with a message naming what is expected.
        """
        self.makeTorrent()
        for bad in ([1, 1], [], [3], [True], ["1"]):
            error = self.assertRaises(UsageError, self.torrent.setFilePriorities, bad)
            self.assertIn("priorit", str(error).lower())
        self.assertEqual(self.torrent.config.filePriorities, ())
