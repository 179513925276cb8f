# -*- test-case-name: tests.test_extendedsession -*-
"""
Tests for L{bittwist.extendedsession}, on a stand-in for its connection;
the whole connection is tested in L{tests.test_peer_extensions}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.errors import ExtensionError
from bittwist.extendedsession import CLIENT_NAME, ExtendedSession
from bittwist.extensions.handshake import HANDSHAKE_ID, ExtendedHandshake
from bittwist.incomingrequests import MAX_QUEUED_REQUESTS
from bittwist.peerstate import PeerState


class StubTorrent:
    def __init__(self):
        self.calls = []

    def extendedHandshakeFields(self):
        return ["ut_pex", "ut_metadata"], {"listenPort": 6881}

    def peerExtended(self, peer):
        self.calls.append(("extended",))

    def extensionMessage(self, peer, name, payload):
        self.calls.append(("message", name, payload))


class StubPeer:
    """
    What an L{ExtendedSession} uses of its L{bittwist.peer.PeerProtocol}.
    """

    def __init__(self):
        self.address = ("10.1.2.3", 6881)
        self.torrent = StubTorrent()
        self.state = PeerState(10)
        self.sent = []
        # It stands in for the connection's sender too.
        self.sender = self

    def sendMessage(self, message):
        self.sent.append(message)

    def _handshaken(self):
        return self.torrent


class ExtendedSessionTests(SynchronousTestCase):
    """
    L{ExtendedSession} sends our extended handshake, learns the peer's and
    routes its messages by our ids.
    """

    def started(self):
        peer = StubPeer()
        session = ExtendedSession(peer)
        session.start()
        return peer, session

    def test_start(self) -> None:
        """
        Our handshake names the torrent's extensions under ids 1, 2, ...,
        our client, request queue and the torrent's other fields.
        """
        peer, _ = self.started()
        [message] = peer.sent
        self.assertEqual(message.extendedId, HANDSHAKE_ID)
        ours = ExtendedHandshake.decode(message.payload)
        self.assertEqual(ours.extensions, {"ut_pex": 1, "ut_metadata": 2})
        self.assertEqual(ours.client, CLIENT_NAME)
        self.assertEqual(ours.requestQueue, MAX_QUEUED_REQUESTS)
        self.assertEqual(ours.listenPort, 6881)

    def test_sendOnlyWhatThePeerSpeaks(self) -> None:
        """
        Nothing is sent of an extension the peer did not announce; one it
        did goes under the peer's id.
        """
        peer, session = self.started()
        del peer.sent[:]
        self.assertFalse(session.supports("ut_pex"))
        self.assertFalse(session.send("ut_pex", b"d1:ai1ee"))
        theirs = ExtendedHandshake(extensions={"ut_pex": 7})
        session.receive(wire.Extended(HANDSHAKE_ID, theirs.encode()))
        self.assertEqual(peer.torrent.calls, [("extended",)])
        self.assertTrue(session.supports("ut_pex"))
        self.assertTrue(session.send("ut_pex", b"d1:ai1ee"))
        self.assertEqual(peer.sent, [wire.Extended(7, b"d1:ai1ee")])

    def test_receiveRoutedByOurIds(self) -> None:
        """
        A message under one of our ids reaches the torrent by name; one
        under an id we did not give is ignored.
        """
        peer, session = self.started()
        session.receive(wire.Extended(2, b"d8:msg_typei0e5:piecei0ee"))
        session.receive(wire.Extended(9, b"x"))
        self.assertEqual(
            peer.torrent.calls, [("message", "ut_metadata", b"d8:msg_typei0e5:piecei0ee")]
        )

    def test_badHandshake(self) -> None:
        """
        An extended handshake that is not a dictionary is an error.
        """
        _, session = self.started()
        self.assertRaises(ExtensionError, session.receive, wire.Extended(HANDSHAKE_ID, b"i1e"))
