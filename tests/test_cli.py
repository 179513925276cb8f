"""
Tests for L{bittwist.cli}.
"""

import os
import threading
from io import StringIO

import bencodepy
from twisted.trial.unittest import SynchronousTestCase

from bittwist import cli
from bittwist.cli import HashingProgress, main
from bittwist.progress import formatSize
from bittwist import metainfo
from bittwist.metainfo import createParsedTorrent, createTorrent, load


class FormatSizeTests(SynchronousTestCase):
    """
    L{formatSize} writes sizes for humans.
    """

    def test_sizes(self):
        """
        Bytes below 1 KiB, then binary units with one decimal.
        """
        self.assertEqual(formatSize(0), "0 B")
        self.assertEqual(formatSize(1023), "1023 B")
        self.assertEqual(formatSize(1536), "1.5 KiB")
        self.assertEqual(formatSize(3 * 2**30), "3.0 GiB")
        self.assertEqual(formatSize(2**60), "1024.0 PiB")


class HashingProgressTests(SynchronousTestCase):
    """
    L{HashingProgress} writes a line per step reached.
    """

    def test_steps(self):
        """
        A line for each multiple of the step first reached (jumps show only
        the step reached), none for repeats, and always one at 100%.
        """
        stream = StringIO()
        progress = HashingProgress(stream, step=10)
        for done in (0, 5, 10, 31, 32, 99, 100):
            progress(done * 1024, 100 * 1024)
        self.assertEqual(stream.getvalue().splitlines(), [
            "hashing: 0% (0 B of 100.0 KiB)",
            "hashing: 10% (10.0 KiB of 100.0 KiB)",
            "hashing: 30% (31.0 KiB of 100.0 KiB)",
            "hashing: 90% (99.0 KiB of 100.0 KiB)",
            "hashing: 100% (100.0 KiB of 100.0 KiB)",
        ])


class CommandTests(SynchronousTestCase):
    """
    L{main} runs C{bittwist info} and C{bittwist create}.
    """

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.folder = os.path.join(self.root, "share")
        os.makedirs(os.path.join(self.folder, "sub"))
        for relative, size in (("a.bin", 70000), ("sub/b.txt", 5000)):
            with open(os.path.join(self.folder, relative), "wb") as f:
                f.write(b"x" * size)

    def runMain(self, *argv):
        """
        @return: C{(status, stdout, stderr)} of C{main(argv)}.
        """
        stdout, stderr = StringIO(), StringIO()
        status = main(list(argv), stdout=stdout, stderr=stderr)
        return status, stdout.getvalue(), stderr.getvalue()

    def writeTorrent(self, data: bytes) -> str:
        path = os.path.join(self.root, "x.torrent")
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_info(self):
        """
        C{info} prints name, size, files, pieces, info hash, tiers and the
        private flag, and exits 0.
        """
        data = createTorrent(self.folder, [["http://a", "http://b"], ["udp://c"]],
                             pieceLength=16384, private=True, comment="hello")
        path = self.writeTorrent(data)
        status, out, err = self.runMain("info", path)
        self.assertEqual((status, err), (0, ""))
        metainfo = load(path)
        for expected in (
            "name:        share",
            "size:        73.2 KiB (75000 bytes)",
            "pieces:      5 x 16.0 KiB (16384 bytes)",
            f"info hash:   {metainfo.infoHash.hex()}\n",
            "private:     yes",
            "comment:     hello",
            "  tier 1: http://a http://b\n  tier 2: udp://c\n",
            "files:       2\n",
            "  share/a.bin  68.4 KiB (70000 bytes)",
            "  share/sub/b.txt  4.9 KiB (5000 bytes)",
        ):
            self.assertIn(expected, out)

    def test_infoHidesPadFiles(self):
        """
        Pad files are counted but not listed; a hybrid is said to be one.
        """
        data = bencodepy.encode({b"info": {
            b"files": [
                {b"length": 10, b"path": [b"a"]},
                {b"attr": b"p", b"length": 16374, b"path": [b".pad", b"16374"]},
                {b"length": 5, b"path": [b"b"]},
            ],
            b"meta version": 2,
            b"name": b"n",
            b"piece length": 16384,
            b"pieces": b"h" * 40,
        }})
        status, out, err = self.runMain("info", self.writeTorrent(data))
        self.assertEqual(status, 0)
        self.assertIn("files:       2 (and 1 pad file, not shown)\n", out)
        self.assertNotIn(".pad", out)
        self.assertIn("(v1 of a v1+v2 hybrid)", out)
        self.assertIn("trackers:    none", out)
        self.assertIn("private:     no", out)

    def test_infoBadTorrent(self):
        """
        A broken torrent gives one line C{bittwist: <message>} on stderr and
        status 1.
        """
        path = self.writeTorrent(b"d4:infod4:name1:a12:piece lengthi0eee")
        status, out, err = self.runMain("info", path)
        self.assertEqual((status, out), (1, ""))
        self.assertTrue(err.startswith(f"bittwist: {path}: 'info.piece length'"))
        self.assertEqual(err.count("\n"), 1)

    def test_infoMissingFile(self):
        """
        A missing file is reported the same way.
        """
        status, out, err = self.runMain("info", os.path.join(self.root, "nope.torrent"))
        self.assertEqual(status, 1)
        self.assertIn("cannot be read", err)

    def test_create(self):
        """
        C{create} writes a torrent with the options given, and prints it.
        """
        output = os.path.join(self.root, "out.torrent")
        status, out, err = self.runMain(
            "create", self.folder, "-o", output, "--tracker", "http://a",
            "--tracker", "udp://b", "--piece-length", "32K", "--private",
            "--comment", "hi",
        )
        self.assertEqual(status, 0)
        self.assertEqual(err.splitlines()[-1], "hashing: 100% (73.2 KiB of 73.2 KiB)")
        self.assertTrue(all(line.startswith("hashing: ") for line in err.splitlines()))
        metainfo = load(output)
        self.assertEqual(metainfo.name, "share")
        self.assertEqual(metainfo.announceTiers, (("http://a",), ("udp://b",)))
        self.assertEqual(metainfo.pieceLength, 32768)
        self.assertTrue(metainfo.private)
        self.assertEqual(metainfo.comment, "hi")
        self.assertIn(f"wrote {output}\n", out)
        self.assertIn(metainfo.infoHash.hex(), out)

    def test_createProgress(self):
        """
        C{create} shows hashing progress on stderr, one line per 5% step
        reached, from 0% to 100%; C{--quiet} hides it.
        """
        with open(os.path.join(self.folder, "a.bin"), "wb") as f:
            f.write(b"x" * (16384 * 100))
        output = os.path.join(self.root, "out.torrent")
        status, out, err = self.runMain("create", self.folder, "-o", output,
                                        "--piece-length", "16K")
        self.assertEqual(status, 0)
        self.assertEqual(
            [line.split()[1] for line in err.splitlines()],
            [f"{percent}%" for percent in range(0, 101, 5)],
        )
        self.assertNotIn("hashing", out)
        status, out, err = self.runMain("create", self.folder, "-o", output, "--force", "-q")
        self.assertEqual((status, err), (0, ""))

    def test_createHashesOffTheMainThread(self):
        """
        C{create} hashes in another thread, and reports the progress it makes
        there on the main thread.
        """
        with open(os.path.join(self.folder, "a.bin"), "wb") as f:
            f.write(b"y" * (16384 * 8))
        threads = []

        def recordingCreate(*args, **kwargs):
            threads.append(threading.current_thread())
            return createParsedTorrent(*args, **kwargs)

        self.patch(cli, "createParsedTorrent", recordingCreate)
        progressThreads = []
        original = HashingProgress.__call__

        def recordingProgress(progress, done, total):
            progressThreads.append(threading.current_thread())
            return original(progress, done, total)

        self.patch(HashingProgress, "__call__", recordingProgress)
        output = os.path.join(self.root, "threaded.torrent")
        status, out, err = self.runMain("create", self.folder, "-o", output, "--piece-length", "16K")
        self.assertEqual(status, 0)
        self.assertEqual(len(threads), 1)
        self.assertIsNot(threads[0], threading.main_thread())
        self.assertTrue(progressThreads)
        self.assertEqual(set(progressThreads), {threading.main_thread()})
        self.assertIn("100%", err)

    def test_createParsesOnce(self):
        """
        C{create} parses the torrent it made once: the check that it parses
        gives the L{metainfo.Metainfo} it prints.
        """
        parsed = []
        original = metainfo.parse

        def countingParse(*args, **kwargs):
            parsed.append(args[1:])
            return original(*args, **kwargs)

        self.patch(metainfo, "parse", countingParse)
        if hasattr(cli, "parse"):
            self.patch(cli, "parse", countingParse)
        output = os.path.join(self.root, "once.torrent")
        status, out, err = self.runMain("create", self.folder, "-o", output)
        self.assertEqual(status, 0)
        self.assertEqual(parsed, [("<created>",)])
        self.assertIn(load(output).infoHash.hex(), out)

    def test_createDefaultOutput(self):
        """
        Without C{-o}, C{create} writes C{NAME.torrent} in the current folder.
        """
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        os.chdir(self.root)
        status, out, err = self.runMain("create", self.folder, "--piece-length", "16384")
        self.assertEqual(status, 0)
        self.assertEqual(load(os.path.join(self.root, "share.torrent")).pieceLength, 16384)

    def test_createRefusesOverwrite(self):
        """
        An existing output file is kept unless C{--force} is given.
        """
        output = self.writeTorrent(b"old")
        status, out, err = self.runMain("create", self.folder, "-o", output)
        self.assertEqual(status, 1)
        self.assertIn("--force", err)
        with open(output, "rb") as f:
            self.assertEqual(f.read(), b"old")
        status, out, err = self.runMain("create", self.folder, "-o", output, "--force")
        self.assertEqual(status, 0)
        self.assertEqual(load(output).name, "share")

    def test_createErrors(self):
        """
        A bad piece length or a missing path is one line on stderr, status 1.
        """
        output = os.path.join(self.root, "out.torrent")
        for argv in (
            ("create", self.folder, "-o", output, "--piece-length", "1000"),
            ("create", os.path.join(self.root, "nope"), "-o", output),
        ):
            status, out, err = self.runMain(*argv)
            self.assertEqual(status, 1)
            self.assertTrue(err.startswith("bittwist: "))
            self.assertEqual(err.count("\n"), 1)
        self.assertFalse(os.path.exists(output))

    def test_usageErrorIsOneLine(self):
        """
        A usage error is one line on stderr saying what is wrong and
        pointing to C{--help}, with no usage text before it; status 2.
        """
        for argv, fragment in (
            (("create",), "required: path"),
            (("create", self.folder, "--bogus"), "unrecognized arguments: --bogus"),
            (("info",), "required: torrent"),
            (("nothing",), "invalid choice"),
        ):
            status, out, err = self.runMain(*argv)
            self.assertEqual((status, out), (2, ""))
            self.assertEqual(err.count("\n"), 1, err)
            self.assertIn(fragment, err)
            self.assertNotIn("usage:", err)
            self.assertTrue(err.startswith("bittwist"), err)
            self.assertTrue(err.endswith("--help')\n"), err)

    def test_createRefusesTrackerNotURL(self):
        """
        C{bittwist create --tracker notaurl} refuses in one line, status 2,
        and writes nothing.
        """
        output = os.path.join(self.root, "out.torrent")
        for tracker in ("notaurl", "ftp://t.example/", "http://"):
            status, out, err = self.runMain("create", self.folder, "-o", output,
                                            "--tracker", tracker)
            self.assertEqual((status, out), (2, ""))
            self.assertEqual(err.count("\n"), 1, err)
            self.assertIn(f"tracker {tracker!r} is not a tracker URL", err)
        self.assertFalse(os.path.exists(output))
        status, out, err = self.runMain("create", self.folder, "-o", output, "-q",
                                        "--tracker", "udp://t.example:6969")
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(load(output).announce, "udp://t.example:6969")

    def test_usage(self):
        """
        Bad usage prints argparse's message to the given stderr and returns
        2; C{--help} prints to the given stdout and returns 0.
        """
        status, out, err = self.runMain()
        self.assertEqual(status, 2)
        self.assertEqual(err, "bittwist: the following arguments are required: COMMAND "
                              "(see 'bittwist --help')\n")
        status, out, err = self.runMain("create", self.folder, "--piece-length", "lots")
        self.assertEqual(status, 2)
        self.assertIn("is not a size", err)
        status, out, err = self.runMain("info", "--help")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("usage: bittwist info", out)
