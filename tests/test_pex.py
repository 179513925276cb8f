# -*- test-case-name: tests.test_pex -*-
"""
Tests for L{bittwist.sources.pex}: peer exchange (BEP 11) in the engine,
through a torrent and fake peers on a clock.
"""

import ipaddress
import os
import socket
import struct
from typing import Any

import bencodepy

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bittwist import wire
from bittwist.extensions.handshake import ExtendedHandshake
from bittwist.extensions.table import IExtensionHandler
from bittwist.extensions.ut_pex import PexFlags, PexMessage
from bittwist.metainfo import createTorrent, parse
from bittwist.sources import IPeerSource
from bittwist.peerstate import PeerState
from bittwist.sweep import sweepFor
from bittwist.sources.pex import (
    MAX_LEARNED_PER_MINUTE,
    MIN_RECEIVE_INTERVAL,
    PEX_INTERVAL,
    PeerExchange,
)
from tests.test_torrent import PIECE_LENGTH, TorrentTestCase, address

EXTENDED = wire.makeReserved(wire.ReservedBit.EXTENSION_PROTOCOL)
THEIR_PEX_ID = 9


def theirHandshake(**fields: Any) -> wire.Extended:
    return wire.Extended(0, ExtendedHandshake(**fields).encode())


class PexTestCase(TorrentTestCase):
    def pexPeer(self, n: int) -> Any:
        """
        Connect to peer C{n}, which speaks C{ut_pex}.

        @return: the remote, with what our side sent so far read.
        """
        remote = self.connect(n, reserved=EXTENDED)
        remote.send(theirHandshake(extensions={"ut_pex": THEIR_PEX_ID}))
        return remote

    def ourPexId(self, remote: Any) -> int:
        return self.torrent.extensions.names.index("ut_pex") + 1

    def pexMessages(self, remote: Any) -> list[PexMessage]:
        """
        @return: the C{ut_pex} messages our side sent C{remote} since the
            last call.
        """
        return [
            PexMessage.decode(m.payload)
            for m in remote.received()
            if isinstance(m, wire.Extended) and m.extendedId == THEIR_PEX_ID
        ]

    def tell(self, remote: Any, *addresses: tuple[str, int]) -> None:
        """
        C{remote} sends us a C{ut_pex} message adding the IPv4 C{addresses}
        (as many as it likes: other clients send up to 100).
        """
        compact = b"".join(
            socket.inet_aton(host) + struct.pack(">H", port) for host, port in addresses
        )
        payload = bencodepy.encode({b"added": compact, b"added.f": bytes(len(addresses))})
        remote.send(wire.Extended(self.ourPexId(remote), payload))


class LearnTests(PexTestCase):
    """
    Addresses peers tell us of reach the swarm, tagged C{pex}, within
    bounds.
    """

    def setUp(self) -> None:
        super().setUp()
        self.makeTorrent()

    def test_interfaces(self) -> None:
        """
        Peer exchange is an extension handler, and its source a peer source.
        """
        verifyObject(IExtensionHandler, self.torrent.pex)
        verifyObject(IPeerSource, self.torrent.pex.source)
        self.assertIn(self.torrent.pex.source, self.torrent.sources)
        self.assertEqual(self.torrent.pex.source.name, "pex")

    def test_learntPeerDialledAsPex(self) -> None:
        """
        A peer told of in a C{ut_pex} message is dialled, and its connection
        says it came from C{pex}.
        """
        remote = self.pexPeer(1)
        self.tell(remote, address(7))
        [pending] = self.endpoints.pending(address(7))
        proto = pending.succeed()
        self.assertEqual(proto.source, "pex")

    def test_tooSoonIgnored(self) -> None:
        """
        A peer's second message sooner than L{MIN_RECEIVE_INTERVAL} after
        the first is ignored; later ones are taken.
        """
        remote = self.pexPeer(1)
        self.tell(remote, address(7))
        known = self.torrent.swarm.knownCount
        self.clock.advance(MIN_RECEIVE_INTERVAL - 1)
        self.tell(remote, address(8))
        self.assertEqual(self.torrent.swarm.knownCount, known)
        self.clock.advance(1)
        self.tell(remote, address(8))
        self.assertEqual(self.torrent.swarm.knownCount, known + 1)

    def test_boundedPerMinute(self) -> None:
        """
        The torrent takes at most L{MAX_LEARNED_PER_MINUTE} addresses a
        minute from all its peers together.
        """
        remotes = [self.pexPeer(n) for n in range(1, 6)]
        before = self.torrent.swarm.knownCount
        for n, remote in enumerate(remotes):
            self.tell(remote, *[(f"10.9.{n}.{i}", 6881) for i in range(100)])
        self.assertEqual(self.torrent.swarm.knownCount, before + MAX_LEARNED_PER_MINUTE)
        self.clock.advance(60)
        self.tell(remotes[0], ("10.8.0.1", 6881))
        self.assertEqual(self.torrent.swarm.knownCount, before + MAX_LEARNED_PER_MINUTE + 1)

    def test_ourselvesIgnored(self) -> None:
        """
        Our own listening address, as the peer says it sees us, is not
        learnt from it.
        """
        self.torrent.port = 6999
        remote = self.connect(1, reserved=EXTENDED)
        remote.send(
            theirHandshake(
                extensions={"ut_pex": THEIR_PEX_ID}, yourIp=ipaddress.ip_address("10.0.0.99")
            )
        )
        known = self.torrent.swarm.knownCount
        self.tell(remote, ("10.0.0.99", 6999), address(7))
        self.assertEqual(self.torrent.swarm.knownCount, known + 1)
        self.assertEqual(self.endpoints.pending(("10.0.0.99", 6999)), [])

    def test_notAnnouncedIgnored(self) -> None:
        """
        A peer that did not announce C{ut_pex} teaches us nothing through it.
        """
        remote = self.connect(1, reserved=EXTENDED)
        remote.send(theirHandshake(extensions={"ut_metadata": 3}))
        known = self.torrent.swarm.knownCount
        self.tell(remote, address(7))
        self.assertEqual(self.torrent.swarm.knownCount, known)
        self.assertFalse(remote.dropped)

    def test_malformedDrops(self) -> None:
        """
        A C{ut_pex} message that is not a bencoded dictionary drops the peer.
        """
        remote = self.pexPeer(1)
        remote.send(wire.Extended(self.ourPexId(remote), b"garbage"))
        self.assertTrue(remote.dropped)

    def test_pausedLearnsNothing(self) -> None:
        """
        While the torrent is paused its source hands nothing on.
        """
        source = self.torrent.pex.source
        self.torrent.pause()
        self.assertFalse(source.running)
        source.found([address(7)])
        self.assertEqual(self.endpoints.pending(address(7)), [])


class ShareTests(PexTestCase):
    """
    We tell each C{ut_pex} peer the listening addresses of our other peers:
    at once, then at most once a minute, as diffs.
    """

    def setUp(self) -> None:
        super().setUp()
        self.makeTorrent()

    def test_firstMessageAtOnce(self) -> None:
        """
        When a peer's extended handshake announces C{ut_pex}, it is told of
        every other peer we are connected to (not of itself), with flags.
        """
        self.connect(2)
        remote = self.pexPeer(1)
        [message] = self.pexMessages(remote)
        self.assertEqual(message.added, ((address(2), PexFlags.REACHABLE),))
        self.assertEqual(message.dropped, ())

    def test_atMostOnceAMinute(self) -> None:
        """
        Changes are told no sooner than L{PEX_INTERVAL} after the last
        message: peers added and dropped since.
        """
        two = self.connect(2)
        remote = self.pexPeer(1)
        self.pexMessages(remote)
        self.connect(3)
        two.close()
        self.clock.advance(PEX_INTERVAL - 5)
        self.assertEqual(self.pexMessages(remote), [])
        self.clock.advance(5)
        [message] = self.pexMessages(remote)
        self.assertEqual(message.added, ((address(3), PexFlags.REACHABLE),))
        self.assertEqual(message.dropped, (address(2),))
        self.clock.advance(PEX_INTERVAL)
        self.assertEqual(self.pexMessages(remote), [])

    def test_sweptWhilePeers(self) -> None:
        """
        The reactor's sweep looks for messages due while there is a
        C{ut_pex} peer, not after the last one leaves: no timer of its own.
        """
        sweep = sweepFor(self.clock)
        remote = self.pexPeer(1)
        self.assertIn(self.torrent.pex, sweep._due)
        remote.close()
        self.assertNotIn(self.torrent.pex, sweep._due)

    def test_incomingPeerByListenPort(self) -> None:
        """
        An incoming peer is shared under the port of its extended
        handshake's C{p}, not the port it dialled us from; without one it is
        not shared.
        """
        remote = self.pexPeer(1)
        self.pexMessages(remote)
        withPort = self.accept(4, reserved=EXTENDED)
        withPort.send(theirHandshake(listenPort=7004))
        self.accept(5, reserved=EXTENDED)
        self.clock.advance(PEX_INTERVAL)
        [message] = self.pexMessages(remote)
        self.assertEqual(message.added, ((("10.1.0.4", 7004), PexFlags.NONE),))


class PrivateTests(PexTestCase):
    """
    A private torrent (BEP 27) does no peer exchange at all.
    """

    def setUp(self) -> None:
        super().setUp()
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = os.path.join(folder, "payload.bin")
        with open(path, "wb") as f:
            f.write(self.payload)
        self.metainfo = parse(createTorrent(path, pieceLength=PIECE_LENGTH, private=True))
        self.assertTrue(self.metainfo.private)
        self.makeTorrent()

    def test_noPex(self) -> None:
        """
        No handler, no source, no C{ut_pex} in our extended handshake; a
        peer that sends us peers anyway (under any id) teaches us nothing,
        and is told nothing.
        """
        self.assertIsNone(self.torrent.pex)
        self.assertEqual([s.name for s in self.torrent.sources if s.name == "pex"], [])
        self.connect(2)
        remote = self.connect(1, reserved=EXTENDED)
        [ours] = [m for m in remote.received() if isinstance(m, wire.Extended)]
        self.assertNotIn("ut_pex", ExtendedHandshake.decode(ours.payload).extensions)
        remote.send(theirHandshake(extensions={"ut_pex": THEIR_PEX_ID}))
        known = self.torrent.swarm.knownCount
        for extendedId in range(1, 4):
            message = PexMessage(((address(7), PexFlags.NONE),))
            remote.send(wire.Extended(extendedId, message.encode()))
        self.clock.advance(PEX_INTERVAL * 2)
        self.assertEqual(self.torrent.swarm.knownCount, known)
        self.assertEqual(self.pexMessages(remote), [])


class _Peer:
    """
    The part of a L{bittwist.peer.PeerProtocol} peer exchange reads, with
    the messages sent to it kept.
    """

    def __init__(self, n: int, state: PeerState) -> None:
        self.listenAddress = address(n)
        self.outgoing = False
        self.handshaked = True
        self.state = state
        self.extendedHandshake = None
        self.sent: list[PexMessage] = []
        # It stands in for the connection's sender too.
        self.sender = self

    def sendExtended(self, name: str, payload: bytes) -> bool:
        self.sent.append(PexMessage.decode(payload))
        return True


class SeedFlagTests(SynchronousTestCase):
    """
    A peer is told of another as a seed only if that one has every piece
    of a torrent whose pieces are known.
    """

    def flagsOf(self, state: PeerState) -> PexFlags:
        other = _Peer(2, state)
        told = _Peer(1, PeerState(4))
        exchange = PeerExchange(Clock(), lambda: [told, other])
        exchange.peerReady(told)
        [message] = told.sent
        [(_, flags)] = message.added
        return flags

    def test_seed(self) -> None:
        state = PeerState(4)
        state.received()
        state.peerHaveAll()
        self.assertEqual(self.flagsOf(state), PexFlags.SEED)

    def test_notSeed(self) -> None:
        state = PeerState(4)
        state.received()
        state.peerHas(0)
        self.assertEqual(self.flagsOf(state), PexFlags.NONE)

    def test_piecesUnknown(self) -> None:
        """
        While the torrent's metadata is fetched (a magnet link) no piece
        count is known and the peer's empty bitfield is "complete": it is
        no seed for that.
        """
        state = PeerState(None)
        state.received()
        state.peerHaveAll()
        self.assertEqual(self.flagsOf(state), PexFlags.NONE)
