# -*- test-case-name: tests.test_wireframes -*-
"""
Tests for L{bittwist.wireframes}; the decoder as a whole is tested in
L{tests.test_wire}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import ProtocolError
from bittwist.wire import Have, Piece, Request, Requests, encode
from bittwist.wireframes import FrameBuffer
from bittwist.wiretable import MessageTable

BLOCK = bytes(range(256)) * 4


class FrameBufferTests(SynchronousTestCase):
    """
    L{FrameBuffer} cuts bytes split anywhere into messages.
    """

    def frames(self, batchRequests=True):
        return FrameBuffer(MessageTable(2**17 + 9), batchRequests)

    def test_oneMessageHeld(self) -> None:
        """
        Part of a message is held until the rest comes; a block of C{bytes}
        received is a view of them, one completed in the buffer a copy.
        """
        frames = self.frames()
        data = encode(Piece(1, 0, BLOCK)) + encode(Piece(1, 1024, BLOCK))
        self.assertEqual(frames.receive(data[:100]), [])
        self.assertEqual(frames.bufferedBytes, 100)
        messages = frames.receive(data[100:])
        self.assertEqual(messages, [Piece(1, 0, BLOCK), Piece(1, 1024, BLOCK)])
        self.assertIsInstance(messages[0].block, bytes)
        self.assertIsInstance(messages[1].block, memoryview)
        self.assertEqual(frames.bufferedBytes, 0)

    def test_requestsBatched(self) -> None:
        """
        Consecutive requests are one L{Requests}, or each a L{Request}.
        """
        data = encode(Request(1, 0, 16384)) + encode(Request(1, 16384, 16384)) + encode(Have(3))
        self.assertEqual(
            self.frames().receive(data),
            [Requests([(1, 0, 16384), (1, 16384, 16384)]), Have(3)],
        )
        self.assertEqual(
            self.frames(batchRequests=False).receive(data),
            [Request(1, 0, 16384), Request(1, 16384, 16384), Have(3)],
        )

    def test_lengthCheckedOnArrival(self) -> None:
        """
        A length its id cannot have is an error on the id's arrival.
        """
        self.assertRaises(ProtocolError, self.frames().receive, b"\x00\x00\x00\x06\x04")
