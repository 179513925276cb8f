# -*- test-case-name: tests.test_wirehandshake -*-
"""
Tests for L{bittwist.wirehandshake}; the decoder as a whole is tested in
L{tests.test_wire}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import ProtocolError
from bittwist.wire import Handshake, encode
from bittwist.wirehandshake import HandshakeReader

HANDSHAKE = Handshake(bytes(range(20)), b"-BT0001-" + bytes(12), bytes(8))


class HandshakeReaderTests(SynchronousTestCase):
    """
    L{HandshakeReader} reads the handshake in any pieces and hands back the
    bytes after it.
    """

    def test_whole(self) -> None:
        """
        A handshake and more in one piece: the handshake, and the rest.
        """
        handshake, rest = HandshakeReader().receive(encode(HANDSHAKE) + b"rest")
        self.assertEqual((handshake, rest), (HANDSHAKE, b"rest"))

    def test_byteByByte(self) -> None:
        """
        Byte by byte: nothing until the 68th byte; the info hash from the
        48th; the bytes held counted.
        """
        reader = HandshakeReader()
        data = encode(HANDSHAKE)
        for i, byte in enumerate(data[:-1]):
            self.assertEqual(reader.receive(bytes([byte])), (None, b""))
            self.assertEqual(reader.infoHash, HANDSHAKE.infoHash if i >= 47 else None)
            self.assertEqual(reader.bufferedBytes, i + 1)
        self.assertEqual(reader.receive(data[-1:] + b"x"), (HANDSHAKE, b"x"))
        self.assertEqual(reader.bufferedBytes, 0)

    def test_wrongNameAtOnce(self) -> None:
        """
        The first wrong byte of the protocol name is an error, before the
        rest arrives.
        """
        reader = HandshakeReader()
        reader.receive(b"\x13Bit")
        self.assertRaises(ProtocolError, reader.receive, b"X")
        self.assertRaises(ProtocolError, HandshakeReader().receive, b"\x14")
