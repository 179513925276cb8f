# -*- test-case-name: tests.test_magnettorrent,tests.test_torrent_extensions -*-
"""
The peer events of the extension protocol (BEP 10) and of the DHT's C{port}
message (BEP 5), the same for a torrent and for a magnet fetching its
metadata: both hold an L{ExtensionTable} and peer sources, and announce a
listening port.
"""

from typing import Any, Optional, Sequence

from bittwist.extensions.table import ExtensionTable
from bittwist.peer import PeerProtocol
from bittwist.torrent.peersources import PeerSources

__all__ = ["ExtensionEvents"]


class ExtensionEvents:
    """
    A mixin implementing those events of L{bittwist.peerevents.IPeerEvents}
    for a class that has C{extensions} (an L{ExtensionTable}), C{sources}
    (its L{PeerSources}) and C{port}.
    """

    extensions: ExtensionTable
    sources: PeerSources
    port: int

    def extendedHandshakeFields(self) -> tuple[Sequence[str], dict[str, Any]]:
        fields = self.extensions.handshakeFields()
        if self.port:
            fields["listenPort"] = self.port
        return self.extensions.names, fields

    def peerExtended(self, peer: PeerProtocol) -> None:
        self.extensions.peerExtended(peer)

    def extensionMessage(self, peer: PeerProtocol, name: str, payload: bytes) -> None:
        self.extensions.received(peer, name, payload)

    def dhtPort(self) -> Optional[int]:
        """
        @return: the UDP port of our DHT node, if one of the sources is the
            DHT and it listens.
        """
        return self.sources.dhtPort()

    def peerPort(self, peer: PeerProtocol, port: int) -> None:
        """
        The peer's DHT node listens on UDP C{port} (BEP 5): tell our DHT
        source, if any, so that our node can add it.
        """
        if peer.address is not None:
            self.sources.peerDHTPort(peer.address[0], port)
