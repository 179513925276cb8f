# -*- test-case-name: tests.test_readpacer -*-
"""
Tests for L{bittwist.readpacer}.
"""

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.peer import PeerProtocol
from bittwist.readpacer import MIN_RESUMED, ReadPacer


class Timer:
    """
    A clock for the budget, moved by hand.
    """

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Turns:
    """
    A reactor's turns, for the pacer's C{callLater(0)}: as in a reactor (not
    a L{Clock}), a call made while a turn ends runs as the next one ends.
    """

    def __init__(self) -> None:
        self.calls: list = []

    def callLater(self, delay: float, f, *args) -> None:
        self.calls.append((f, args))

    def end(self) -> None:
        calls, self.calls = self.calls, []
        for f, args in calls:
            f(*args)


def transports(count: int) -> list[StringTransport]:
    return [StringTransport() for _ in range(count)]


class ReadPacerTests(SynchronousTestCase):
    """
    L{ReadPacer} pauses the connections read once a turn's budget is spent,
    and resumes them in order as turns end.
    """

    def setUp(self) -> None:
        self.turns = Turns()
        self.timer = Timer()
        self.pacer = ReadPacer(self.turns, budget=1.0, timer=self.timer)

    def readAt(self, transport: StringTransport, now: float) -> None:
        self.timer.now = now
        self.pacer.read(transport)

    def test_withinBudget(self) -> None:
        """
        Reads within a turn's budget pause nothing.
        """
        ts = transports(3)
        for i, t in enumerate(ts):
            self.readAt(t, i * 0.5)
        self.assertEqual([t.producerState for t in ts], ["producing"] * 3)
        self.assertEqual(len(self.pacer), 0)

    def test_pastBudget(self) -> None:
        """
        The connections read once the turn's budget is spent pause until the
        turn ends, then resume.
        """
        ts = transports(4)
        for t, now in zip(ts, [10.0, 10.5, 11.5, 12.0]):
            self.readAt(t, now)
        self.assertEqual(
            [t.producerState for t in ts], ["producing", "producing", "paused", "paused"]
        )
        self.assertEqual(len(self.pacer), 2)
        self.turns.end()
        self.assertEqual([t.producerState for t in ts], ["producing"] * 4)
        self.assertEqual(len(self.pacer), 0)

    def test_fewNotPaused(self) -> None:
        """
        When every connection of a turn would resume as it ends (a few fast
        peers), those read within the budget are not paused at all.
        """
        ts = transports(3)
        paused = []
        for t in ts:
            t.pauseProducing = lambda t=t: paused.append(t)  # type: ignore[method-assign]
        for t, now in zip(ts, [0.0, 0.5, 2.0]):
            self.readAt(t, now)
        self.turns.end()
        self.assertEqual(paused, [ts[2]])
        self.assertEqual(len(self.pacer), 0)

    def test_newTurnNewBudget(self) -> None:
        """
        Each turn has its budget: the first read after a turn ended starts
        the next.
        """
        first, second = transports(2)
        self.readAt(first, 0.0)
        self.turns.end()
        self.readAt(second, 5.0)
        self.assertEqual(second.producerState, "producing")

    def test_aTurnsWorthResumed(self) -> None:
        """
        As a turn that spent its budget ends, those it read within the budget
        wait too, after the others; the connections waiting longest resume,
        as many as the turn read within its budget; the rest as the
        following turns end, even turns without reads.
        """
        read = transports(MIN_RESUMED + 2)
        waiting = transports(2 * MIN_RESUMED)
        for t in read:
            self.readAt(t, 0.0)
        for t in waiting:
            self.readAt(t, 2.0)
        self.assertTrue(all(t.producerState == "paused" for t in waiting))
        self.turns.end()
        self.assertEqual(
            [t.producerState for t in waiting + read],
            ["producing"] * len(read) + ["paused"] * len(waiting),
        )
        ends = 1
        while self.turns.calls:
            self.turns.end()
            ends += 1
        self.assertEqual([t.producerState for t in waiting + read], ["producing"] * 26)
        # 10, then 8 a turn for the 16 left.
        self.assertEqual(ends, 3)
        self.assertEqual(len(self.pacer), 0)

class PeerProtocolPacingTests(SynchronousTestCase):
    """
    A L{PeerProtocol} given a pacer reports each read to it.
    """

    def test_readsReported(self) -> None:
        """
        With no budget, the first connection read in a turn goes on and the
        next one pauses until the turn ends.
        """
        reactor = MemoryReactorClock()
        turns = Turns()
        timer = Timer()
        pacer = ReadPacer(turns, budget=0.0, timer=timer)
        pairs = []
        for port in (6881, 6882):
            proto = PeerProtocol(reactor, b"o" * 20, lookup=lambda infoHash: None, pacer=pacer)
            transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.2", port))
            proto.makeConnection(transport)
            pairs.append((proto, transport))
        # The first bytes of a handshake: nothing to answer yet.
        partial = wire.encode(wire.Handshake(b"i" * 20, b"t" * 20, bytes(8)))[:10]
        for proto, _ in pairs:
            timer.now += 1.0
            proto.dataReceived(partial)
        self.assertEqual([t.producerState for _, t in pairs], ["producing", "paused"])
        turns.end()
        self.assertEqual([t.producerState for _, t in pairs], ["producing", "producing"])
