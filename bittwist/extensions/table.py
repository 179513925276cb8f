# -*- test-case-name: tests.test_torrent_extensions -*-
"""
The extensions a torrent speaks over the extension protocol (BEP 10), and
the table that hands each peer's extension messages to their handler.

Each extension is a small handler of its own providing
L{IExtensionHandler} (C{ut_pex}: L{bittwist.sources.pex.PeerExchange};
C{ut_metadata}: L{bittwist.torrent.metadataserver.MetadataServer}); the
torrent holds an L{ExtensionTable} of them and forwards the peer events of
L{bittwist.peerevents.IPeerEvents} to it. Nothing here decodes a payload:
each handler does, with the sans-IO codecs of L{bittwist.extensions}.
"""

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from bittwist.peer import PeerProtocol

__all__ = ["IExtensionHandler", "ExtensionTable"]


class IExtensionHandler(Interface):
    """
    One extension of the extension protocol, for one torrent.
    """

    name = Attribute("The extension's name in the extended handshake's 'm', e.g. 'ut_pex'.")

    def handshakeFields() -> dict[str, Any]:
        """
        @return: fields of our extended handshake this extension sets (see
            L{bittwist.extensions.handshake.ExtendedHandshake}), e.g.
            C{metadataSize}; usually none.
        """

    def peerReady(peer: "PeerProtocol") -> None:
        """
        C{peer} announced this extension in its extended handshake: messages
        may be sent to it with its sender's
        L{bittwist.peersender.PeerSender.sendExtended}. Called again if the
        peer sends its handshake again.
        """

    def received(peer: "PeerProtocol", payload: bytes) -> None:
        """
        C{peer} sent a message of this extension.

        @raise bittwist.errors.ExtensionError: if it is malformed or breaks
            a bound; the peer is dropped.
        """

    def peerGone(peer: "PeerProtocol") -> None:
        """
        C{peer} disconnected: forget it.
        """


class ExtensionTable:
    """
    A torrent's extension handlers, by name.
    """

    def __init__(self, handlers: Iterable[IExtensionHandler] = ()) -> None:
        self._handlers = {handler.name: handler for handler in handlers}

    @property
    def names(self) -> Sequence[str]:
        """
        The names of the extensions, in the order given: the C{m} of our
        extended handshake.
        """
        return tuple(self._handlers)

    def handshakeFields(self) -> dict[str, Any]:
        """
        @return: the fields every handler adds to our extended handshake.
        """
        fields: dict[str, Any] = {}
        for handler in self._handlers.values():
            fields.update(handler.handshakeFields())
        return fields

    def peerExtended(self, peer: "PeerProtocol") -> None:
        """
        C{peer} sent its extended handshake: tell the handlers of the
        extensions it speaks.
        """
        for name, handler in self._handlers.items():
            if peer.supports(name):
                handler.peerReady(peer)

    def received(self, peer: "PeerProtocol", name: str, payload: bytes) -> None:
        """
        Hand a message of extension C{name} to its handler (a name we do not
        speak is ignored: the peer cannot know it, so it is a stale id).
        """
        handler = self._handlers.get(name)
        if handler is not None:
            handler.received(peer, payload)

    def peerGone(self, peer: "PeerProtocol") -> None:
        """
        C{peer} disconnected: tell every handler.
        """
        for handler in self._handlers.values():
            handler.peerGone(peer)
