# -*- test-case-name: tests.test_peer_extensions -*-
"""
The extension protocol (BEP 10) on one connection.

L{ExtendedSession} is a part of L{bittwist.peer.PeerProtocol}: it sends our
extended handshake, keeps the ids both sides announced, takes the peer's
extended handshake and routes the peer's extension messages (C{ut_metadata},
C{ut_pex}, ...) to the torrent by name. The codecs are
L{bittwist.extensions}'; it writes only through the protocol's
sender.
"""

import ipaddress
from typing import TYPE_CHECKING, Optional

from bittwist import __version__, wire
from bittwist.extensions.handshake import HANDSHAKE_ID, ExtendedHandshake, ExtensionRegistry
from bittwist.incomingrequests import MAX_QUEUED_REQUESTS

if TYPE_CHECKING:  # pragma: no cover
    from bittwist.peer import PeerProtocol

__all__ = ["ExtendedSession", "CLIENT_NAME"]

CLIENT_NAME = f"bittwist {__version__}"
"""
The C{v} of our extended handshake.
"""


class ExtendedSession:
    """
    The extension protocol's side of one connection, used only when both
    sides announced it.

    @ivar registry: the extension ids of the connection, once our extended
        handshake is sent, else C{None}.
    @ivar handshake: the peer's latest extended handshake, if any.
    """

    __slots__ = ("_peer", "registry", "handshake")

    def __init__(self, peer: "PeerProtocol") -> None:
        """
        @param peer: the connection.
        """
        self._peer = peer
        self.registry: Optional[ExtensionRegistry] = None
        self.handshake: Optional[ExtendedHandshake] = None

    def start(self) -> None:
        """
        Send our extended handshake: the torrent's extensions under ids of
        this connection, and its other fields.
        """
        peer = self._peer
        torrent = peer.torrent
        assert torrent is not None and peer.address is not None
        names, fields = torrent.extendedHandshakeFields()
        self.registry = ExtensionRegistry.withNames(*names)
        try:
            yourIp = ipaddress.ip_address(peer.address[0])
        except ValueError:
            yourIp = None
        handshake = self.registry.makeHandshake(
            client=CLIENT_NAME, requestQueue=MAX_QUEUED_REQUESTS, yourIp=yourIp, **fields
        )
        peer.sender.sendMessage(wire.Extended(HANDSHAKE_ID, handshake.encode()))

    def supports(self, name: str) -> bool:
        """
        @return: whether the peer announced extension C{name} (one of ours)
            in its extended handshake.
        """
        return self.registry is not None and self.registry.remoteId(name) is not None

    def send(self, name: str, payload: bytes) -> bool:
        """
        Send a message of extension C{name}, if the peer speaks it.

        @return: whether it was sent.
        """
        if not self.supports(name):
            return False
        assert self.registry is not None
        self._peer.sender.sendMessage(self.registry.message(name, payload))
        return True

    def receive(self, message: wire.Extended) -> None:
        """
        Take the peer's extended handshake, or hand a message of one of our
        extensions to the torrent (those we did not announce are ignored).

        @raise bittwist.errors.ExtensionError: if the handshake is bad.
        """
        peer = self._peer
        torrent = peer._handshaken()
        # libtorrent sends its extended handshake before its bitfield.
        peer.state.received(countsAsMessage=False)
        registry = self.registry
        assert registry is not None
        if message.extendedId == HANDSHAKE_ID:
            handshake = ExtendedHandshake.decode(message.payload)
            registry.receiveHandshake(handshake)
            self.handshake = handshake
            torrent.peerExtended(peer)
            return
        name = registry.localName(message.extendedId)
        if name is not None:
            torrent.extensionMessage(peer, name, message.payload)
