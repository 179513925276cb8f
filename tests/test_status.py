"""
Tests for L{bittwist.torrent.status}: snapshots for display.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from bittwist.bitfield import Bitfield
from bittwist.metainfo import Metainfo, createTorrent, parse
from bittwist.torrent.status import FileStatus, describeFiles


def makeMetainfo(testCase: SynchronousTestCase) -> Metainfo:
    """
    @return: a torrent of four 16 KiB pieces over two files, C{pay/a.bin}
        (20,000 bytes) and C{pay/sub/b.bin} (30,000 bytes), written in a
        temporary folder.
    """
    folder = os.path.abspath(testCase.mktemp())
    os.makedirs(os.path.join(folder, "pay", "sub"))
    for name, size in (("a.bin", 20_000), ("sub/b.bin", 30_000)):
        with open(os.path.join(folder, "pay", name), "wb") as f:
            f.write(b"x" * size)
    return parse(createTorrent(os.path.join(folder, "pay"), pieceLength=16384))


class DescribeFilesTests(SynchronousTestCase):
    """
    Tests for L{describeFiles}.
    """

    def setUp(self) -> None:
        self.metainfo = makeMetainfo(self)

    def test_verifiedBytes(self) -> None:
        """
        Each file counts the bytes of it that lie in verified pieces: piece
        1 spans both files, piece 3 is the end of the second.
        """
        files = describeFiles(self.metainfo, Bitfield(4, [1, 3]))
        self.assertEqual(
            files,
            [FileStatus("pay/a.bin", 20_000, 20_000 - 16_384), FileStatus("pay/sub/b.bin", 30_000, 12_768 + 848)],
        )
        self.assertAlmostEqual(files[0].progress, 3_616 / 20_000)

    def test_beforeCheck(self) -> None:
        """
        Before the check (no verified pieces known) every file is at 0; all
        verified, every file is whole.
        """
        self.assertEqual([f.verified for f in describeFiles(self.metainfo, None)], [0, 0])
        whole = describeFiles(self.metainfo, Bitfield(4, range(4)))
        self.assertEqual([f.progress for f in whole], [1.0, 1.0])
