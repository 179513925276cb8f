# -*- test-case-name: tests.test_peertimers -*-
"""
The clock of one peer connection: handshake and idle timeouts, keep-alives.

L{ConnectionTimers} is a part of L{bittwist.peer.PeerProtocol}: it keeps
when the connection was made, when the peer last sent anything and when we
last wrote, and every few seconds drops a connection that is too slow or too
silent, or sends a keep-alive for ours. The reactor's L{bittwist.sweep.Sweep}
calls it, not a timed call of its own.
"""

from typing import TYPE_CHECKING, Optional

from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from bittwist import wire
from bittwist.sweep import ISwept, sweepFor

if TYPE_CHECKING:  # pragma: no cover
    from bittwist.peer import PeerProtocol

__all__ = ["ConnectionTimers", "KEEPALIVE_INTERVAL", "IDLE_TIMEOUT", "HANDSHAKE_TIMEOUT"]

KEEPALIVE_INTERVAL = 120.0
"""
Send a keep-alive after this many seconds of sending nothing (BEP 3 peers
drop connections silent for two minutes or more).
"""

IDLE_TIMEOUT = 240.0
"""
Drop a peer that sent nothing at all for this long.
"""

HANDSHAKE_TIMEOUT = 30.0
"""
Drop a connection whose handshake has not completed within this long.
"""

TIMER_PERIOD = 5.0
"""
How often the timeouts are checked.
"""


@implementer(ISwept)
class ConnectionTimers:
    """
    The timeouts and keep-alives of one connection.

    @ivar connectedAt: when the connection was made.
    @ivar lastReceived: when the peer last sent anything (the protocol
        stamps it on each read).
    @ivar lastSent: when we last wrote to the peer (the protocol's sender
        stamps it on each write).
    """

    __slots__ = ("_peer", "_reactor", "_sweep", "connectedAt", "lastReceived", "lastSent")

    def __init__(self, reactor: IReactorTime, peer: "PeerProtocol") -> None:
        """
        @param reactor: provides time and C{callLater} (for its
            L{bittwist.sweep.sweepFor}).
        @param peer: the connection, dropped or kept alive through its
            C{drop} and its sender.
        """
        self._peer = peer
        self._reactor = reactor
        self._sweep = sweepFor(reactor)
        self.connectedAt = self.lastReceived = self.lastSent = reactor.seconds()

    def start(self) -> None:
        """
        The connection is made: the timeouts count from now.
        """
        now = self.connectedAt = self.lastReceived = self.lastSent = self._reactor.seconds()
        self._sweep.schedule(self, now + TIMER_PERIOD)

    def stop(self) -> None:
        """
        The connection is lost: nothing more to check.
        """
        self._sweep.cancel(self)

    def swept(self, now: float) -> Optional[float]:
        """
        Check the timeouts (see L{ISwept}).
        """
        peer = self._peer
        if peer._disconnecting:
            # Dropped a timer period ago and still open: loseConnection waits
            # for our writes to drain, and a peer that does not read would
            # hold the connection forever.
            peer.transport.abortConnection()
            return None
        if not peer.handshaked and now - self.connectedAt >= HANDSHAKE_TIMEOUT:
            peer.drop("no handshake in time")
        elif now - self.lastReceived >= IDLE_TIMEOUT:
            peer.drop(f"silent for {IDLE_TIMEOUT:.0f} seconds")
        elif peer.handshaked and now - self.lastSent >= KEEPALIVE_INTERVAL:
            peer.sender.sendMessage(wire.KeepAlive())
        return now + TIMER_PERIOD
