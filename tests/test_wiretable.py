# -*- test-case-name: tests.test_wiretable -*-
"""
Tests for L{bittwist.wiretable}; the decoder as a whole is tested in
L{tests.test_wire}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bittwist.errors import ProtocolError
from bittwist.wire import HaveAll, RejectRequest, UnknownMessage, encode
from bittwist.wiremessages import ID_BITFIELD, ID_EXTENDED, ID_HAVE_ALL, ID_REJECT_REQUEST
from bittwist.wiretable import MessageTable


def decode(table, message):
    """
    @return: what C{table} decodes C{message}'s payload to.
    """
    data = encode(message)
    return table.decoders[data[4]](memoryview(data), 5, len(data))


class MessageTableTests(SynchronousTestCase):
    """
    L{MessageTable} bounds and decodes each id as negotiated.
    """

    def test_fastOnlyOnceNegotiated(self) -> None:
        """
        Fast messages are unknown, bounded by the largest message alone,
        until negotiated; then their own; and unknown again if negotiated
        away.
        """
        table = MessageTable(1000)
        self.assertEqual(decode(table, HaveAll()), UnknownMessage(ID_HAVE_ALL, b""))
        self.assertEqual(table.maxLengths[ID_HAVE_ALL], 1000)
        table.negotiate(fast=True, extensionProtocol=False)
        self.assertEqual(decode(table, HaveAll()), HaveAll())
        self.assertEqual(table.maxLengths[ID_HAVE_ALL], 1)
        self.assertEqual(table.maxLengths[ID_EXTENDED], 1000)
        table.negotiate(fast=False, extensionProtocol=False)
        self.assertEqual(decode(table, HaveAll()), UnknownMessage(ID_HAVE_ALL, b""))
        self.assertEqual(table.maxLengths[ID_HAVE_ALL], 1000)

    def test_extendedBoundedOnceNegotiated(self) -> None:
        """
        An extended message's bound is the extension protocol's once
        negotiated, never over the largest message.
        """
        table = MessageTable(100)
        table.negotiate(fast=False, extensionProtocol=True)
        self.assertEqual((table.minLengths[ID_EXTENDED], table.maxLengths[ID_EXTENDED]), (2, 100))

    def test_rejectRequestLength(self) -> None:
        """
        A reject for 0 bytes is an error.
        """
        table = MessageTable(1000)
        table.negotiate(fast=True, extensionProtocol=False)
        self.assertRaises(ProtocolError, decode, table, RejectRequest(1, 0, 0))
        self.assertEqual(table.maxLengths[ID_REJECT_REQUEST], 13)

    def test_limitBitfield(self) -> None:
        """
        A bitfield is bounded by the pieces, and its error says so.
        """
        table = MessageTable(1000)
        table.limitBitfield(9)
        self.assertEqual(table.maxLengths[ID_BITFIELD], 3)
        self.assertIn("more than 2", str(table.lengthError(ID_BITFIELD, 4)))

    def test_tablesShared(self) -> None:
        """
        Connections that negotiated the same share one immutable table (a
        thousand connections are not three thousand lists of 256 for the
        garbage collector to walk); one that negotiated otherwise gets its
        own, and the first is unchanged.
        """
        first, second, other = MessageTable(1000), MessageTable(1000), MessageTable(1000)
        for table in (first, second, other):
            table.limitBitfield(9)
        first.negotiate(fast=True, extensionProtocol=True)
        second.negotiate(fast=True, extensionProtocol=True)
        other.negotiate(fast=False, extensionProtocol=False)
        for name in ("minLengths", "maxLengths", "decoders"):
            self.assertIs(getattr(first, name), getattr(second, name))
            self.assertIsInstance(getattr(first, name), tuple)
        self.assertEqual(first.maxLengths[ID_HAVE_ALL], 1)
        self.assertEqual(other.maxLengths[ID_HAVE_ALL], 1000)
        self.assertEqual(first.maxLengths[ID_BITFIELD], 3)
