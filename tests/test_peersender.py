"""
Tests for L{bittwist.peersender}: what we send a peer and the blocks we
serve it, through a whole L{PeerProtocol}.
"""

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bittwist import wire
from bittwist.peer import PeerProtocol
from tests.test_peer import FeedMixin, RecordingTransport, encodeAll, sentMessages


class SendTests(FeedMixin, SynchronousTestCase):
    """
    Tests for what L{PeerProtocol} sends when its torrent asks.
    """

    def test_setInterested(self) -> None:
        """
        setInterested sends interested or not interested only on change.
        """
        proto, transport, _, _ = self.handshaken()
        proto.sender.setInterested(False)
        self.assertEqual(transport.value(), b"")
        proto.sender.setInterested(True)
        proto.sender.setInterested(True)
        self.assertTrue(proto.state.amInterested)
        self.assertEqual(sentMessages(transport), [wire.Interested()])
        transport.clear()
        proto.sender.setInterested(False)
        self.assertFalse(proto.state.amInterested)
        self.assertEqual(sentMessages(transport), [wire.NotInterested()])

    def test_setChoking(self) -> None:
        """
        setChoking sends unchoke or choke only on change; choking discards
        the peer's queued requests.
        """
        proto, transport, _, _ = self.handshaken()
        self.assertTrue(proto.requestsIn.amChoking)
        proto.sender.setChoking(True)
        self.assertEqual(transport.value(), b"")
        proto.sender.setChoking(False)
        proto.sender.setChoking(False)
        self.assertFalse(proto.requestsIn.amChoking)
        self.assertEqual(sentMessages(transport), [wire.Unchoke()])
        self.feed(proto, encodeAll(wire.Request(0, 0, 10)))
        self.assertEqual(len(proto.requestsIn.queued), 1)
        transport.clear()
        proto.sender.setChoking(True)
        self.assertTrue(proto.requestsIn.amChoking)
        self.assertEqual(sentMessages(transport), [wire.Choke()])
        self.assertEqual(list(proto.requestsIn.queued), [])

    def test_sendRequests(self) -> None:
        """
        sendRequests writes every request in one write and remembers them in
        order as in flight.
        """
        proto, transport, _, reactor = self.handshaken()
        blocks = [(0, 0, 16384), (0, 16384, 16384), (4, 0, 100)]
        self.assertEqual(proto.sender.sendRequests(iter(blocks)), blocks)
        self.assertEqual(len(transport.writes), 1)
        self.assertEqual(sentMessages(transport), [wire.Request(*b) for b in blocks])
        self.assertEqual(list(proto.state.requested.items()), [((i, b), n) for i, b, n in blocks])
        proto.sender.sendRequests([(5, 0, 1)])
        self.assertEqual(len(proto.state.requested), 4)

    def test_sendRequestsNone(self) -> None:
        """
        sendRequests with no block writes nothing.
        """
        proto, transport, _, _ = self.handshaken()
        proto.sender.sendRequests([])
        self.assertEqual(transport.writes, [])

    def test_cancelRequest(self) -> None:
        """
        cancelRequest sends a cancel for a request in flight and forgets it;
        for any other block it sends nothing.
        """
        proto, transport, _, _ = self.handshaken()
        proto.sender.sendRequests([(0, 0, 16384), (0, 16384, 200)])
        transport.clear()
        proto.sender.cancelRequest(0, 16384)
        self.assertEqual(sentMessages(transport), [wire.Cancel(0, 16384, 200)])
        self.assertEqual(proto.state.requested, {(0, 0): 16384})
        transport.clear()
        proto.sender.cancelRequest(0, 16384)
        proto.sender.cancelRequest(7, 0)
        self.assertEqual(transport.value(), b"")

    def queued(self, *requests: wire.Request) -> tuple[PeerProtocol, RecordingTransport]:
        proto, transport, _, _ = self.handshaken()
        proto.sender.setChoking(False)
        self.feed(proto, encodeAll(*requests))
        transport.clear()
        return proto, transport

    def test_sendBlock(self) -> None:
        """
        sendBlock answers a request taken by nextRequest with a piece, in one
        write, forgets it and counts it in uploadRate.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4), wire.Request(1, 4, 4))
        self.assertEqual(proto.sender.nextRequest(4), (1, 0, 4))
        self.assertEqual(proto.sender.nextRequest(4), (1, 4, 4))
        self.assertTrue(proto.sender.sendBlock(1, 4, b"efgh"))
        self.assertEqual(len(transport.writes), 1)
        self.assertEqual(sentMessages(transport), [wire.Piece(1, 4, b"efgh")])
        self.assertEqual(proto.requestsIn.serving, [(1, 0, 4)])
        self.assertEqual(proto.uploadRate.total, 4)

    def test_sendRun(self) -> None:
        """
        sendRun answers the requests still wanted among a run taken by
        nextRun, from their blocks read end to end, all in one write, and
        says how many bytes it sent.
        """
        proto, transport = self.queued(
            wire.Request(1, 0, 4), wire.Request(1, 4, 4), wire.Request(1, 8, 4)
        )
        run = proto.sender.nextRun(4)
        self.assertEqual(run, [(1, 0, 4), (1, 4, 4), (1, 8, 4)])
        self.feed(proto, encodeAll(wire.Cancel(1, 4, 4)))
        transport.clear()
        sent = proto.sender.sendRun(run, bytearray(b"abcdefghijkl"))
        self.assertEqual(sent, 8)
        self.assertEqual(len(transport.writes), 1)
        self.assertEqual(
            sentMessages(transport), [wire.Piece(1, 0, b"abcd"), wire.Piece(1, 8, b"ijkl")]
        )
        self.assertEqual(proto.requestsIn.serving, [])
        self.assertEqual(proto.uploadRate.total, 8)

    def test_nextRunWhilePaused(self) -> None:
        """
        nextRun hands out nothing while the transport pauses us.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.pauseProducing()
        self.assertEqual(proto.sender.nextRun(4), [])
        proto.resumeProducing()
        self.assertEqual(proto.sender.nextRun(4), [(1, 0, 4)])

    def test_sendBlockNotQueued(self) -> None:
        """
        sendBlock for a block not being served (cancelled, never asked, or
        of another length) sends nothing.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4), wire.Request(2, 0, 4))
        proto.sender.nextRequest(4)
        proto.sender.nextRequest(4)
        self.feed(proto, encodeAll(wire.Cancel(2, 0, 4)))
        self.assertFalse(proto.sender.wants((2, 0, 4)))
        self.assertTrue(proto.sender.wants((1, 0, 4)))
        self.assertFalse(proto.sender.sendBlock(2, 0, b"abcd"))
        self.assertFalse(proto.sender.sendBlock(3, 0, b"abcd"))
        self.assertFalse(proto.sender.sendBlock(1, 0, b"abc"))
        self.assertEqual(transport.value(), b"")
        self.assertEqual(proto.uploadRate.total, 0)

    def test_sendBlockWhileChoking(self) -> None:
        """
        sendBlock after we choked the peer sends nothing.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.sender.nextRequest(4)
        proto.sender.setChoking(True)
        transport.clear()
        self.assertFalse(proto.sender.wants((1, 0, 4)))
        self.assertFalse(proto.sender.sendBlock(1, 0, b"abcd"))
        self.assertEqual(transport.value(), b"")

    def test_nextRequestInOrder(self) -> None:
        """
        nextRequest takes queued requests oldest first, at most
        C{maxServing} at a time; sending one makes room for the next.
        """
        proto, _ = self.queued(wire.Request(1, 0, 4), wire.Request(2, 0, 4), wire.Request(3, 0, 4))
        self.assertEqual(proto.sender.nextRequest(2), (1, 0, 4))
        self.assertEqual(proto.sender.nextRequest(2), (2, 0, 4))
        self.assertIsNone(proto.sender.nextRequest(2))
        self.assertTrue(proto.sender.sendBlock(1, 0, b"abcd"))
        self.assertEqual(proto.sender.nextRequest(2), (3, 0, 4))
        self.assertIsNone(proto.sender.nextRequest(2))

    def test_nextRequestNoneWhilePaused(self) -> None:
        """
        The protocol is a streaming producer on its transport: while the
        transport has paused it, nextRequest hands out nothing; on resume
        the torrent hears that the peer is writable.
        """
        proto, transport, torrent, _ = self.handshaken()
        self.assertIs(transport.producer, proto)
        self.assertTrue(transport.streaming)
        proto.sender.setChoking(False)
        self.feed(proto, encodeAll(wire.Request(1, 0, 4)))
        proto.pauseProducing()
        self.assertIsNone(proto.sender.nextRequest(4))
        self.assertEqual(torrent.named("peerWritable"), [])
        proto.resumeProducing()
        self.assertEqual(torrent.named("peerWritable"), [(proto,)])
        self.assertEqual(proto.sender.nextRequest(4), (1, 0, 4))

    def test_nextRequestNoneWhileChoking(self) -> None:
        """
        A choke discards every queued and served request.
        """
        proto, _ = self.queued(wire.Request(1, 0, 4), wire.Request(2, 0, 4))
        proto.sender.nextRequest(4)
        proto.sender.setChoking(True)
        self.assertEqual(proto.requestsIn.serving, [])
        self.assertIsNone(proto.sender.nextRequest(4))

    def test_nothingSentAfterDrop(self) -> None:
        """
        Once dropped, nothing more is written.
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.drop("test")
        self.assertTrue(transport.disconnecting)
        proto.sender.setInterested(True)
        proto.sender.sendRequests([(0, 0, 1)])
        proto.sender.sendMessage(wire.Have(1))
        self.assertFalse(proto.sender.sendBlock(1, 0, b"abcd"))
        self.assertEqual(transport.value(), b"")

    def test_nothingSentAfterConnectionLost(self) -> None:
        """
        Once the connection is lost, nothing more is written (a block read
        from storage after the peer left is not counted as sent).
        """
        proto, transport = self.queued(wire.Request(1, 0, 4))
        proto.connectionLost(Failure(ConnectionDone()))
        proto.sender.sendMessage(wire.Have(1))
        self.assertFalse(proto.sender.sendBlock(1, 0, b"abcd"))
        self.assertEqual(transport.value(), b"")
        self.assertEqual(proto.uploadRate.total, 0)
