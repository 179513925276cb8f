# -*- test-case-name: tests.test_bitfield -*-
"""
Tests for L{bittwist.bitfield}.
"""

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist.bitfield import Bitfield


@st.composite
def _lengthAndPieces(draw: st.DrawFn) -> tuple[int, set[int]]:
    length = draw(st.integers(min_value=0, max_value=200))
    if length == 0:
        return length, set()
    pieces = draw(st.sets(st.integers(min_value=0, max_value=length - 1)))
    return length, pieces


class BitfieldTests(SynchronousTestCase):
    """
    Tests for L{Bitfield}.
    """

    def test_pieceZeroIsHighBitOfFirstByte(self) -> None:
        """
        Piece 0 is the most significant bit of byte 0, piece 7 the least, and
        piece 8 the most significant bit of byte 1, as BEP 3 lays it out.
        """
        self.assertEqual(Bitfield(16, [0]).toBytes(), b"\x80\x00")
        self.assertEqual(Bitfield(16, [7]).toBytes(), b"\x01\x00")
        self.assertEqual(Bitfield(16, [8]).toBytes(), b"\x00\x80")
        self.assertEqual(Bitfield(10, [0, 2, 9]).toBytes(), b"\xa0\x40")

    def test_toBytesLengthRoundsUp(self) -> None:
        """
        The payload has C{ceil(length / 8)} bytes, all zero when empty.
        """
        self.assertEqual(Bitfield(0).toBytes(), b"")
        self.assertEqual(Bitfield(1).toBytes(), b"\x00")
        self.assertEqual(Bitfield(8).toBytes(), b"\x00")
        self.assertEqual(Bitfield(9).toBytes(), b"\x00\x00")

    def test_fromBytesReadsLayout(self) -> None:
        """
        L{Bitfield.fromBytes} finds the pieces where BEP 3 puts them and counts
        them.
        """
        bitfield = Bitfield.fromBytes(10, b"\xa0\x40")
        self.assertEqual(list(bitfield), [0, 2, 9])
        self.assertEqual(len(bitfield), 3)
        self.assertEqual(bitfield, Bitfield(10, [0, 2, 9]))

    def test_fromBytesRejectsWrongLength(self) -> None:
        """
        A payload shorter or longer than C{ceil(length / 8)} is a
        L{ValueError}.
        """
        self.assertRaises(ValueError, Bitfield.fromBytes, 10, b"\x00")
        self.assertRaises(ValueError, Bitfield.fromBytes, 10, b"\x00\x00\x00")
        self.assertRaises(ValueError, Bitfield.fromBytes, 8, b"")

    def test_fromBytesRejectsSpareBits(self) -> None:
        """
        Any of the spare bits after the last piece set is a L{ValueError}.
        """
        for last in (0x20, 0x01, 0x3F):
            self.assertRaises(ValueError, Bitfield.fromBytes, 10, bytes([0xFF, last]))
        # The last real piece's bit is not spare.
        self.assertIn(9, Bitfield.fromBytes(10, b"\x00\x40"))

    def test_fromBytesNoSpareBits(self) -> None:
        """
        When the length is a multiple of 8 every bit is a piece.
        """
        bitfield = Bitfield.fromBytes(16, b"\xff\xff")
        self.assertTrue(bitfield.complete())
        self.assertEqual(len(bitfield), 16)

    def test_addReturnsWhetherNew(self) -> None:
        """
        L{Bitfield.add} returns C{True} the first time and C{False} after,
        counting the piece once.
        """
        bitfield = Bitfield(10)
        self.assertTrue(bitfield.add(3))
        self.assertFalse(bitfield.add(3))
        self.assertEqual(len(bitfield), 1)
        self.assertIn(3, bitfield)

    def test_discardReturnsWhetherPresent(self) -> None:
        """
        L{Bitfield.discard} returns C{True} if the piece was present and
        C{False} if not, uncounting it once.
        """
        bitfield = Bitfield(10, [3, 4])
        self.assertTrue(bitfield.discard(3))
        self.assertFalse(bitfield.discard(3))
        self.assertFalse(bitfield.discard(5))
        self.assertEqual(len(bitfield), 1)
        self.assertNotIn(3, bitfield)
        self.assertEqual(bitfield.toBytes(), b"\x08\x00")

    def test_lenCountsPresentPieces(self) -> None:
        """
        C{len()} is the number of pieces present, not the capacity.
        """
        self.assertEqual(len(Bitfield(100)), 0)
        self.assertEqual(len(Bitfield(100, [1, 50, 99])), 3)
        self.assertEqual(Bitfield(100).length, 100)

    def test_iterationAscending(self) -> None:
        """
        Iterating yields the present pieces in ascending order, whatever the
        order they were added in.
        """
        self.assertEqual(list(Bitfield(30, [29, 0, 17, 8, 7])), [0, 7, 8, 17, 29])

    def test_complete(self) -> None:
        """
        L{Bitfield.complete} is true once every piece is present, and again
        false when one goes.
        """
        bitfield = Bitfield(3, [0, 1])
        self.assertFalse(bitfield.complete())
        bitfield.add(2)
        self.assertTrue(bitfield.complete())
        bitfield.discard(1)
        self.assertFalse(bitfield.complete())
        self.assertTrue(Bitfield(0).complete())

    def test_outOfRangeIndexError(self) -> None:
        """
        Adding or discarding a piece outside C{0..length-1} is an
        L{IndexError}, also from the constructor.
        """
        bitfield = Bitfield(10)
        self.assertRaises(IndexError, bitfield.add, 10)
        self.assertRaises(IndexError, bitfield.add, -1)
        self.assertRaises(IndexError, bitfield.discard, 10)
        self.assertRaises(IndexError, bitfield.discard, -1)
        self.assertRaises(IndexError, Bitfield, 10, [10])
        self.assertEqual(len(bitfield), 0)

    def test_containsOutOfRange(self) -> None:
        """
        C{in} answers C{False} for out-of-range and non-integer values instead
        of raising.
        """
        bitfield = Bitfield(8, range(8))
        self.assertNotIn(8, bitfield)
        self.assertNotIn(-1, bitfield)
        self.assertNotIn("0", bitfield)

    @given(_lengthAndPieces())
    def test_roundTrip(self, lengthAndPieces: tuple[int, set[int]]) -> None:
        """
        C{fromBytes(toBytes())} gives back an equal bitfield.
        """
        length, pieces = lengthAndPieces
        bitfield = Bitfield(length, pieces)
        copy = Bitfield.fromBytes(length, bitfield.toBytes())
        self.assertEqual(copy, bitfield)
        self.assertEqual(len(copy), len(pieces))
        self.assertEqual(set(copy), pieces)

    @given(
        st.integers(min_value=0, max_value=40),
        st.binary(max_size=8),
    )
    def test_fromBytesOnlyValueError(self, length: int, data: bytes) -> None:
        """
        Any bytes either parse into a bitfield that re-encodes to the same
        bytes, or raise L{ValueError}.
        """
        try:
            bitfield = Bitfield.fromBytes(length, data)
        except ValueError:
            return
        self.assertEqual(bitfield.toBytes(), data)
        self.assertEqual(len(bitfield), len(list(bitfield)))

    @given(
        st.integers(min_value=1, max_value=100).flatmap(
            lambda length: st.tuples(
                st.just(length),
                st.lists(
                    st.tuples(st.booleans(), st.integers(min_value=0, max_value=length - 1))
                ),
            )
        )
    )
    def test_behavesLikeSet(self, lengthAndOperations: tuple[int, list[tuple[bool, int]]]) -> None:
        """
        Any sequence of L{Bitfield.add} and L{Bitfield.discard} gives the same
        return values, membership, size, order and completeness as a Python
        set.
        """
        length, operations = lengthAndOperations
        bitfield = Bitfield(length)
        model: set[int] = set()
        for isAdd, index in operations:
            if isAdd:
                self.assertEqual(bitfield.add(index), index not in model)
                model.add(index)
            else:
                self.assertEqual(bitfield.discard(index), index in model)
                model.discard(index)
        self.assertEqual(list(bitfield), sorted(model))
        self.assertEqual(len(bitfield), len(model))
        self.assertEqual(bitfield.complete(), len(model) == length)
        for index in range(length):
            self.assertEqual(index in bitfield, index in model)
