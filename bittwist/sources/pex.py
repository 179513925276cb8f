# -*- test-case-name: tests.test_pex -*-
"""
Peer exchange (BEP 11, C{ut_pex}) in the engine: a peer source fed by what
peers tell us, and the messages we send them.

L{PeerExchange} is the handler of the C{ut_pex} extension for one torrent
(see L{bittwist.extensions.table}); its L{PeerExchange.source} is the
L{IPeerSource} tagged C{pex} that hands what peers tell us to the swarm.
To each peer that speaks C{ut_pex} it sends the listening addresses of the
other peers we are connected to: all of them (up to the message bound)
when the peer's extended handshake arrives, then at most once every
L{PEX_INTERVAL} seconds what changed (added and dropped), as
L{bittwist.extensions.ut_pex.nextPexMessage} computes it.

What a peer tells us is bounded three ways: the codec reads at most
L{bittwist.extensions.ut_pex.MAX_PEX_PEERS_RECEIVED} added peers a message;
a peer's messages closer together than L{MIN_RECEIVE_INTERVAL} are ignored;
and the whole torrent learns at most L{MAX_LEARNED_PER_MINUTE} addresses a
minute this way.

A private torrent (BEP 27) has no L{PeerExchange}: it neither announces
C{ut_pex} nor learns peers from it.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from bittwist.extensions import ut_pex
from bittwist.extensions.ut_pex import PeerAddress, PexFlags, PexMessage, nextPexMessage
from bittwist.peer import PeerProtocol
from bittwist.sources import IPeerSource, ISourceOwner
from bittwist.sweep import ISwept, sweepFor
from bittwist.extensions.table import IExtensionHandler
from bittwist.ipaddr import ipAddress

__all__ = [
    "PeerExchange",
    "PexSource",
    "PEX_INTERVAL",
    "MIN_RECEIVE_INTERVAL",
    "MAX_LEARNED_PER_MINUTE",
]

PEX_INTERVAL = 60.0
"""
Seconds between two C{ut_pex} messages to one peer (BEP 11: at most one a
minute).
"""

MIN_RECEIVE_INTERVAL = 30.0
"""
A peer's C{ut_pex} message that comes sooner than this after the last one
we took from it is ignored: well-behaved peers send one a minute.
"""

MAX_LEARNED_PER_MINUTE = 300
"""
The most addresses the torrent takes from C{ut_pex} messages in a minute,
all peers together.
"""

_CHECK_PERIOD = 5.0


@implementer(IPeerSource)
class PexSource:
    """
    The peer source of addresses learnt through peer exchange.

    @ivar owner: the torrent, while started.
    """

    name = "pex"

    def __init__(self) -> None:
        self.owner: Optional[ISourceOwner] = None
        self.running = False

    def start(self, owner: ISourceOwner) -> None:
        self.owner = owner
        self.running = True

    def stop(self) -> Deferred[None]:
        self.running = False
        return succeed(None)

    def completed(self) -> None:
        pass

    def wantPeers(self) -> None:
        # Peers tell us on their own schedule; there is no one to ask.
        pass

    def found(self, addresses: list[PeerAddress]) -> None:
        """
        Hand addresses a peer told us of to the torrent, if started.
        """
        if self.running and self.owner is not None and addresses:
            self.owner.addPeers(addresses, self.name)


@dataclass
class _PexPeer:
    """
    What peer exchange knows of one peer speaking C{ut_pex}.
    """

    told: dict[PeerAddress, PexFlags] = field(default_factory=dict)
    lastSent: Optional[float] = None
    lastReceived: Optional[float] = None


def _canonical(address: Optional[tuple[str, int]]) -> Optional[PeerAddress]:
    """
    @return: C{address} with its host as C{ipaddress} writes it, or C{None}
        if it has no IP address (a host name) or port.
    """
    if address is None or not 0 < address[1] <= 65535:
        return None
    try:
        return (str(ipAddress(address[0])), address[1])
    except ValueError:
        return None


@implementer(IExtensionHandler, ISwept)
class PeerExchange:
    """
    The C{ut_pex} extension of one torrent.

    @ivar source: the peer source its learnt addresses go out through.
    """

    name = ut_pex.EXTENSION_NAME

    def __init__(self, reactor: Any, peers: Callable[[], Iterable[PeerProtocol]]) -> None:
        """
        @param reactor: for time.
        @param peers: gives the torrent's connected (handshaken) peers.
        """
        self._reactor = reactor
        self._peers = peers
        self.source = PexSource()
        self._pexPeers: dict[PeerProtocol, _PexPeer] = {}
        self._windowStart = 0.0
        self._learnedInWindow = 0
        # The reactor's sweep, not a LoopingCall per torrent: see
        # bittwist.sweep.
        self._sweep = sweepFor(reactor)

    # IExtensionHandler.

    def handshakeFields(self) -> dict[str, Any]:
        return {}

    def peerReady(self, peer: PeerProtocol) -> None:
        if peer in self._pexPeers:
            return
        first = not self._pexPeers
        self._pexPeers[peer] = _PexPeer()
        now = self._reactor.seconds()
        if first:
            self._sweep.schedule(self, now + _CHECK_PERIOD)
        self._send(peer, now)

    def received(self, peer: PeerProtocol, payload: bytes) -> None:
        message = PexMessage.decode(payload)
        record = self._pexPeers.get(peer)
        if record is None:
            # It never announced ut_pex, yet uses our id for it: take
            # nothing from it, as from a peer flooding us.
            return
        now = self._reactor.seconds()
        if record.lastReceived is not None and now - record.lastReceived < MIN_RECEIVE_INTERVAL:
            return
        record.lastReceived = now
        if now - self._windowStart >= 60.0:
            self._windowStart = now
            self._learnedInWindow = 0
        room = MAX_LEARNED_PER_MINUTE - self._learnedInWindow
        ourselves = self._ourAddress(peer)
        addresses = []
        for address, _ in message.added:
            if len(addresses) >= room:
                break
            canonical = _canonical(address)
            if canonical is not None and canonical != ourselves:
                addresses.append(canonical)
        self._learnedInWindow += len(addresses)
        self.source.found(addresses)

    def _ourAddress(self, peer: PeerProtocol) -> Optional[PeerAddress]:
        """
        @return: our own listening address as C{peer} sees it (it may tell
            us of ourselves), if known.
        """
        handshake = peer.extendedHandshake
        owner = self.source.owner
        if handshake is None or handshake.yourIp is None or owner is None:
            return None
        return _canonical((str(handshake.yourIp), owner.port))

    def peerGone(self, peer: PeerProtocol) -> None:
        self._pexPeers.pop(peer, None)
        if not self._pexPeers:
            self._sweep.cancel(self)

    # Sending.

    def _current(self) -> dict[PeerAddress, PexFlags]:
        """
        @return: the listening addresses of the connected peers, with their
            flags.
        """
        current = {}
        for peer in self._peers():
            address = _canonical(peer.listenAddress)
            if address is None:
                continue
            flags = PexFlags.NONE
            if peer.outgoing:
                flags |= PexFlags.REACHABLE
            # Without a piece count (metadata still coming) the empty
            # bitfield is "complete": that is no seed.
            state = peer.state
            if peer.handshaked and state.piecesKnown and state.pieces.complete():
                flags |= PexFlags.SEED
            current[address] = flags
        return current

    def _send(
        self, peer: PeerProtocol, now: float, current: Optional[dict[PeerAddress, PexFlags]] = None
    ) -> None:
        """
        @param current: L{_current}, if the caller has it already (one tick
            sends to many peers from one list).
        """
        record = self._pexPeers[peer]
        if current is None:
            current = self._current()
        message, told = nextPexMessage(record.told, current, exclude=_canonical(peer.listenAddress))
        record.lastSent = now
        if message is not None and peer.sender.sendExtended(self.name, message.encode()):
            record.told = told

    def swept(self, now: float) -> Optional[float]:
        """
        Send to the peers due a message (see L{ISwept}).

        @return: when to look again, while there are peers.
        """
        self._sendDue(now)
        return now + _CHECK_PERIOD if self._pexPeers else None

    def _sendDue(self, now: float) -> None:
        due = [
            peer
            for peer, record in self._pexPeers.items()
            if record.lastSent is None or now - record.lastSent >= PEX_INTERVAL
        ]
        if not due:
            return
        # The connected peers' addresses are listed once a tick, not once
        # per peer sent to.
        current = self._current()
        for peer in due:
            self._send(peer, now, current)
