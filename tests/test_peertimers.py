"""
Tests for L{bittwist.peertimers}: keep-alives and timeouts, on a fake clock.
"""

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.peertimers import (
    HANDSHAKE_TIMEOUT,
    IDLE_TIMEOUT,
    KEEPALIVE_INTERVAL,
    TIMER_PERIOD,
    ConnectionTimers,
)
from bittwist.sweep import sweepFor
from tests.test_peer import (
    FeedMixin,
    RecordingTorrent,
    advance,
    connectPeer,
    encodeAll,
    sentMessages,
    theirHandshake,
)


class StubTransport:
    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


class StubPeer:
    """
    What L{ConnectionTimers} uses of its L{bittwist.peer.PeerProtocol}.

    @ivar dropped: why it was dropped, if it was.
    @ivar sent: the messages sent through its sender.
    """

    def __init__(self, handshaked: bool = True) -> None:
        self.handshaked = handshaked
        self._disconnecting = False
        self.transport = StubTransport()
        self.dropped: list[str] = []
        self.sent: list[object] = []
        # It stands in for the connection's sender too.
        self.sender = self

    def drop(self, why: str) -> None:
        self._disconnecting = True
        self.dropped.append(why)

    def sendMessage(self, message: object) -> None:
        self.sent.append(message)


class ConnectionTimersTests(SynchronousTestCase):
    """
    L{ConnectionTimers} on a stand-in for its connection; the whole
    connection is tested in L{TimerTests}.
    """

    def started(self, handshaked: bool = True) -> tuple[ConnectionTimers, StubPeer, Clock]:
        clock = Clock()
        clock.advance(1000)
        peer = StubPeer(handshaked)
        timers = ConnectionTimers(clock, peer)  # type: ignore[arg-type]
        timers.start()
        return timers, peer, clock

    def test_startStamps(self) -> None:
        """
        C{start} counts every time from now and has the reactor's sweep
        check it L{TIMER_PERIOD} later; C{stop} leaves nothing scheduled.
        """
        timers, peer, clock = self.started()
        self.assertEqual((timers.connectedAt, timers.lastReceived, timers.lastSent), (1000,) * 3)
        self.assertEqual(sweepFor(clock)._due, {timers: 1000 + TIMER_PERIOD})
        timers.stop()
        self.assertEqual(clock.getDelayedCalls(), [])
        timers.stop()

    def test_oneTimedCallForAll(self) -> None:
        """
        The timers of many connections on one reactor share one timed call,
        and each is checked every L{TIMER_PERIOD}, counted from its start.
        """
        clock = Clock()
        peers = [StubPeer(handshaked=False) for _ in range(3)]
        timers = [ConnectionTimers(clock, peer) for peer in peers]  # type: ignore[arg-type]
        timers[0].start()
        clock.advance(2)
        for each in timers[1:]:
            each.start()
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.pump([1] * int(HANDSHAKE_TIMEOUT - 1))
        self.assertEqual([peer.dropped for peer in peers], [["no handshake in time"], [], []])
        clock.pump([1, 1])
        self.assertEqual([len(peer.dropped) for peer in peers], [1, 1, 1])
        for each in timers:
            each.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_keepAliveAfterSilence(self) -> None:
        """
        We keep a handshaken connection alive once we have written nothing
        for L{KEEPALIVE_INTERVAL}; a write stamped in C{lastSent} postpones
        it.
        """
        timers, peer, clock = self.started()
        clock.advance(KEEPALIVE_INTERVAL - TIMER_PERIOD)
        timers.lastReceived = timers.lastSent = clock.seconds()
        clock.pump([TIMER_PERIOD] * int(KEEPALIVE_INTERVAL / TIMER_PERIOD - 1))
        self.assertEqual(peer.sent, [])
        clock.advance(TIMER_PERIOD)
        self.assertEqual(peer.sent, [wire.KeepAlive()])
        self.assertEqual(peer.dropped, [])

    def test_idle(self) -> None:
        """
        A peer that sent nothing for L{IDLE_TIMEOUT} is dropped.
        """
        timers, peer, clock = self.started()
        clock.pump([TIMER_PERIOD] * int(IDLE_TIMEOUT / TIMER_PERIOD))
        self.assertEqual(peer.dropped, ["silent for 240 seconds"])

    def test_noHandshake(self) -> None:
        """
        A connection not handshaken within L{HANDSHAKE_TIMEOUT} is dropped,
        and sent no keep-alive.
        """
        timers, peer, clock = self.started(handshaked=False)
        clock.pump([TIMER_PERIOD] * int(HANDSHAKE_TIMEOUT / TIMER_PERIOD - 1))
        self.assertEqual(peer.dropped, [])
        clock.advance(TIMER_PERIOD)
        self.assertEqual(peer.dropped, ["no handshake in time"])
        self.assertEqual(peer.sent, [])

    def test_abortsDropped(self) -> None:
        """
        A connection dropped and still open at the next check is aborted,
        and checked no more.
        """
        timers, peer, clock = self.started()
        peer.drop("test")
        clock.advance(TIMER_PERIOD)
        self.assertTrue(peer.transport.aborted)
        self.assertEqual(clock.getDelayedCalls(), [])


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
        advance(reactor, 1 + TIMER_PERIOD)
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
        proto.sender.setInterested(True)
        advance(reactor, KEEPALIVE_INTERVAL - 1)
        self.assertEqual(sentMessages(transport), [wire.Interested()])
        advance(reactor, 1 + TIMER_PERIOD)
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
        advance(reactor, 1 + TIMER_PERIOD)
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
        advance(reactor, 1 + TIMER_PERIOD)
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
            advance(reactor, 1 + TIMER_PERIOD)
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
        advance(reactor, TIMER_PERIOD * 4)
        self.assertFalse(transport.disconnecting)

    def test_abortWhenNotClosed(self) -> None:
        """
        A dropped connection still open a timer period later (the peer is
        not reading) is aborted.
        """
        proto, transport, torrent, reactor = self.handshaken()
        proto.drop("test")
        self.assertFalse(transport.disconnected)
        advance(reactor, TIMER_PERIOD)
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
