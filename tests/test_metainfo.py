"""
Tests for L{bittwist.metainfo}.
"""

import gc
import hashlib
import os
import threading
import tracemalloc
import warnings

import bencodepy
import libtorrent as lt
from hypothesis import given, settings, strategies as st
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bittwist import metainfo as metainfoModule
from bittwist.errors import MetainfoError, UsageError
from bittwist.metainfo import (
    MAX_DECODE_DEPTH,
    MAX_DECODE_ITEMS,
    MAX_METAINFO_SIZE,
    MAX_PATH_DEPTH,
    MAX_PATH_LENGTH,
    MAX_PIECES,
    Metainfo,
    FileEntry,
    _choosePieceLength,
    checkTrackerURL,
    createTorrent,
    createTorrentInThread,
    load,
    parse,
)


def encode(value) -> bytes:
    """
    Bencode C{value} keeping dictionary keys in insertion order, so tests can
    write torrents whose keys are not sorted (bencode.py always sorts).
    """
    if isinstance(value, int):
        return b"i%de" % (value,)
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(encode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(encode(k) + encode(v) for k, v in value.items()) + b"e"
    raise TypeError(value)


def singleInfo(length=40000, pieceLength=16384, name=b"file.bin", extra=(), **more) -> dict:
    """
    @param extra: more C{info} keys (bytes) and values.
    @param more: more C{info} keys, spelt as identifiers.
    @return: a valid single-file C{info} dict (keys in sorted order).
    """
    count = -(-length // pieceLength) if isinstance(length, int) else 1
    info = {
        b"length": length,
        b"name": name,
        b"piece length": pieceLength,
        b"pieces": bytes(range(20)) * count,
    }
    info.update(dict(extra))
    info.update({k.encode(): v for k, v in more.items()})
    return info


def multiInfo(files, pieceLength=16384, name=b"folder") -> dict:
    """
    @param files: C{(length, [component, ...])} or dicts used as they are.
    @return: a valid multi-file C{info} dict.
    """
    entries = [
        f if isinstance(f, dict) else {b"length": f[0], b"path": f[1]} for f in files
    ]
    total = sum(e[b"length"] for e in entries)
    return {
        b"files": entries,
        b"name": name,
        b"piece length": pieceLength,
        b"pieces": b"\x01" * 20 * -(-total // pieceLength),
    }


def tracedPeak(f, *args):
    """
    @return: what C{f(*args)} returns, and the most memory it had allocated
        at once, as C{tracemalloc} counts it.
    """
    tracemalloc.start()
    try:
        return f(*args), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def torrent(info, **top) -> bytes:
    """
    @return: a bencoded torrent of C{info} with extra top-level keys.
    """
    value = {b"announce": b"http://tracker.example/announce", b"info": info}
    value.update({
        k.replace("announce_list", "announce-list").replace("_", " ").encode(): v
        for k, v in top.items()
    })
    return encode(value)


class InfoHashTests(SynchronousTestCase):
    """
    The info hash is the SHA-1 of the C{info} bytes as they stand.
    """

    def test_unsortedKeys(self):
        """
        With C{info} keys out of order, C{infoHash} is the SHA-1 of the exact
        span, which re-encoding with bencode.py (sorting keys) would change.
        """
        info = {
            b"piece length": 16384,
            b"name": b"file.bin",
            b"pieces": b"\x02" * 40,
            b"length": 20000,
        }
        span = encode(info)
        data = encode({b"announce": b"http://t/a", b"info": info, b"comment": b"x"})
        metainfo = parse(data)
        self.assertEqual(metainfo.infoHash, hashlib.sha1(span).digest())
        self.assertEqual(metainfo.infoBytes, span)
        reencoded = bencodepy.encode(bencodepy.decode(span))
        self.assertNotEqual(hashlib.sha1(reencoded).digest(), metainfo.infoHash)

    def test_hashesAfterOtherKeys(self):
        """
        C{hashes} is C{info.pieces} wherever the key stands among the
        others, with values of every kind after it.
        """
        pieces = bytes(range(20)) + b"6:pieces20:" + bytes(9)
        info = {
            b"pieces": pieces,
            b"name": b"file.bin",
            b"x-after": [b"", b"\xff" * 300, -12, 0, 10**19, {b"k": [[], {}]}, {}],
            b"length": 20000,
            b"piece length": 16384,
            b"private": 1,
        }
        metainfo = parse(torrent(info))
        self.assertEqual(metainfo.hashes, pieces)
        self.assertEqual((metainfo.hashOf(0), metainfo.hashOf(1)), (pieces[:20], pieces[20:]))

    def test_hashesAreAView(self):
        """
        The piece hashes are a view of C{infoBytes}, not a copy of them: a
        torrent's parse holds little more than the torrent's size at its
        peak, whatever its number of pieces.
        """
        data = torrent(singleInfo(length=50000 * 16384))
        metainfo, peak = tracedPeak(parse, data)
        self.assertIs(metainfo.hashes.obj, metainfo.infoBytes)
        self.assertTrue(metainfo.hashes.readonly)
        self.assertEqual(metainfo.hashOf(49999), bytes(range(20)))
        self.assertLess(peak, len(data) * 1.25)

    def test_collectorLeftAsFound(self):
        """
        L{parse} runs without the cyclic garbage collector and leaves it as
        it found it, on or off, whether the torrent parses or not.
        """
        self.addCleanup(gc.enable if gc.isenabled() else gc.disable)
        seen = []

        def recordingParse(data, source):
            seen.append(gc.isenabled())
            return parseWithCollector(data, source)

        parseWithCollector = metainfoModule._parse
        self.patch(metainfoModule, "_parse", recordingParse)
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            parse(torrent(singleInfo()))
            self.assertEqual(gc.isenabled(), enabled)
            self.assertRaises(MetainfoError, parse, b"d4:infoi1ee")
            self.assertEqual(gc.isenabled(), enabled)
        self.assertEqual(seen, [False] * 4)

    def test_unknownKeysCount(self):
        """
        Unknown C{info} keys are kept: they are in the hashed span, and the
        hash differs from that of the same torrent without them.
        """
        plain = singleInfo()
        extended = dict(plain)
        extended[b"x-unknown"] = [b"kept", 7, {b"a": b"b"}]
        withKeys = parse(torrent(extended))
        without = parse(torrent(plain))
        self.assertEqual(withKeys.infoHash, hashlib.sha1(encode(extended)).digest())
        self.assertIn(b"x-unknown", withKeys.infoBytes)
        self.assertNotEqual(withKeys.infoHash, without.infoHash)

    def test_infoNotFirst(self):
        """
        The span is found wherever C{info} stands among the top-level keys,
        after nested values of every kind.
        """
        info = singleInfo()
        data = encode({
            b"a": [1, -2, {b"x": [b"", b"y"]}, []],
            b"info": info,
            b"z": {b"q": 0},
        })
        self.assertEqual(parse(data).infoHash, hashlib.sha1(encode(info)).digest())


class LayoutTests(SynchronousTestCase):
    """
    Single- and multi-file layouts, pieces and pad files.
    """

    def test_singleFile(self):
        """
        A single-file torrent has one file C{(name,)} at offset 0; piece
        sizes and hashes come from C{piece length} and C{pieces}.
        """
        info = singleInfo(length=40000, pieceLength=16384)
        info[b"pieces"] = b"".join(bytes([i]) * 20 for i in range(3))
        metainfo = parse(torrent(info), "x.torrent")
        self.assertEqual(metainfo.source, "x.torrent")
        self.assertEqual(metainfo.name, "file.bin")
        self.assertEqual(metainfo.files, (FileEntry(("file.bin",), 40000, 0, False),))
        self.assertEqual(metainfo.totalLength, 40000)
        self.assertEqual(metainfo.numPieces, 3)
        self.assertEqual(metainfo.pieceLength, 16384)
        self.assertEqual(
            [metainfo.pieceSize(i) for i in range(3)], [16384, 16384, 40000 - 32768]
        )
        self.assertEqual(metainfo.hashOf(2), b"\x02" * 20)
        self.assertEqual(metainfo.hashes, info[b"pieces"])
        self.assertFalse(metainfo.isHybrid)
        for bad in (-1, 3):
            self.assertRaises(IndexError, metainfo.pieceSize, bad)
            self.assertRaises(IndexError, metainfo.hashOf, bad)

    def test_exactPieces(self):
        """
        When the total is a multiple of the piece length, the last piece is
        whole.
        """
        metainfo = parse(torrent(singleInfo(length=32768, pieceLength=16384)))
        self.assertEqual(metainfo.pieceSize(1), 16384)

    def test_multiFile(self):
        """
        Multi-file paths start with the torrent's name; offsets run on.
        """
        info = multiInfo([(10, [b"a.txt"]), (0, [b"empty"]), (20000, [b"sub", b"b.bin"])])
        metainfo = parse(torrent(info))
        self.assertEqual(
            metainfo.files,
            (
                FileEntry(("folder", "a.txt"), 10, 0, False),
                FileEntry(("folder", "empty"), 0, 10, False),
                FileEntry(("folder", "sub", "b.bin"), 20000, 10, False),
            ),
        )
        self.assertEqual(metainfo.totalLength, 20010)
        self.assertEqual(metainfo.numPieces, 2)

    def test_utf8Variants(self):
        """
        C{name.utf-8} and C{path.utf-8} are preferred over C{name} and C{path}.
        """
        info = multiInfo([
            {b"length": 5, b"path": [b"\xff"], b"path.utf-8": ["caf\u00e9"]},
        ])
        info[b"name"] = b"\xfe"
        info[b"name.utf-8"] = "na\u00efve".encode()
        metainfo = parse(torrent(info))
        self.assertEqual(metainfo.name, "na\u00efve")
        self.assertEqual(metainfo.files[0].path, ("na\u00efve", "caf\u00e9"))

    def test_padFiles(self):
        """
        BEP 47 pad files (C{attr} containing C{p}) are kept with C{pad=True}
        and their bytes count in the offsets that follow; two pads may share
        a path since they are never written.
        """
        info = multiInfo([
            (100, [b"a"]),
            {b"attr": b"p", b"length": 16284, b"path": [b".pad", b"16284"]},
            (100, [b"b"]),
            {b"attr": b"xp", b"length": 16284, b"path": [b".pad", b"16284"]},
            {b"attr": b"x", b"length": 5, b"path": [b"c"]},
        ])
        metainfo = parse(torrent(info))
        self.assertEqual(
            [(f.path[1:], f.offset, f.pad) for f in metainfo.files],
            [
                (("a",), 0, False),
                ((".pad", "16284"), 100, True),
                (("b",), 16384, False),
                ((".pad", "16284"), 16484, True),
                (("c",), 32768, False),
            ],
        )
        self.assertEqual(metainfo.totalLength, 32773)
        self.assertEqual(metainfo.numPieces, 3)

    def test_hybridKeys(self):
        """
        Any BEP 52 key next to v1 C{pieces} makes a hybrid, hashed as v1.
        """
        plain = parse(torrent(singleInfo()))
        self.assertFalse(plain.isHybrid)
        self.assertTrue(parse(torrent(singleInfo(extra={b"meta version": 2}))).isHybrid)
        self.assertTrue(parse(torrent(singleInfo(extra={b"file tree": {}}))).isHybrid)
        self.assertTrue(parse(torrent(singleInfo(), piece_layers={})).isHybrid)


class TopLevelTests(SynchronousTestCase):
    """
    Trackers, the private flag and the optional fields.
    """

    def test_announceListTiers(self):
        """
        C{announce-list} gives the tiers, empty ones dropped, over C{announce}.
        """
        data = torrent(singleInfo(), announce_list=[
            [b"http://a/1", b"udp://a/2"], [], [b"http://b/1"],
        ])
        metainfo = parse(data)
        self.assertEqual(metainfo.announce, "http://tracker.example/announce")
        self.assertEqual(
            metainfo.announceTiers, (("http://a/1", "udp://a/2"), ("http://b/1",))
        )

    def test_announceOnly(self):
        """
        Without C{announce-list}, the tiers are C{((announce,),)}; an
        C{announce-list} with only empty tiers falls back to it too.
        """
        self.assertEqual(
            parse(torrent(singleInfo())).announceTiers,
            (("http://tracker.example/announce",),),
        )
        self.assertEqual(
            parse(torrent(singleInfo(), announce_list=[[]])).announceTiers,
            (("http://tracker.example/announce",),),
        )

    def test_noTrackers(self):
        """
        A trackerless torrent has no announce and no tiers.
        """
        metainfo = parse(encode({b"info": singleInfo()}))
        self.assertIsNone(metainfo.announce)
        self.assertEqual(metainfo.announceTiers, ())

    def test_private(self):
        """
        C{private} is true only for C{info.private} 1.
        """
        self.assertTrue(parse(torrent(singleInfo(private=1))).private)
        self.assertFalse(parse(torrent(singleInfo(private=0))).private)
        self.assertFalse(parse(torrent(singleInfo())).private)

    def test_optionalFields(self):
        """
        C{comment}, C{created by} and C{creation date} are read; of the wrong
        type they are ignored.
        """
        metainfo = parse(torrent(
            singleInfo(), comment=b"hello \xff", created_by=b"me", creation_date=1700000000
        ))
        self.assertEqual(metainfo.comment, "hello \ufffd")
        self.assertEqual(metainfo.createdBy, "me")
        self.assertEqual(metainfo.creationDate, 1700000000)
        odd = parse(torrent(singleInfo(), comment=1, created_by=[], creation_date=b"x"))
        self.assertEqual((odd.comment, odd.createdBy, odd.creationDate), (None, None, None))

    def test_immutable(self):
        """
        A L{Metainfo} cannot be changed.
        """
        metainfo = parse(torrent(singleInfo()))
        with self.assertRaises(AttributeError):
            metainfo.name = "other"

    def test_load(self):
        """
        L{load} reads a file and names it as the source.
        """
        path = self.mktemp()
        data = torrent(singleInfo())
        with open(path, "wb") as f:
            f.write(data)
        metainfo = load(path)
        self.assertEqual(metainfo.source, path)
        self.assertEqual(metainfo.infoHash, parse(data).infoHash)

    def test_loadMissing(self):
        """
        An unreadable file is a L{MetainfoError} with the path as source.
        """
        path = self.mktemp()
        error = self.assertRaises(MetainfoError, load, path)
        self.assertEqual(error.source, path)


class RejectionTests(SynchronousTestCase):
    """
    Everything malformed is a L{MetainfoError} naming the field.
    """

    def assertRejected(self, data: bytes, field: str, reason: str = "") -> None:
        error = self.assertRaises(MetainfoError, parse, data, "bad.torrent")
        self.assertEqual(error.source, "bad.torrent")
        self.assertEqual(error.field, field)
        self.assertIn(reason, error.reason)
        self.assertIn("bad.torrent", str(error))

    def test_notADictionary(self):
        """
        The top level must be one canonical bencoded dictionary.
        """
        for data in (b"", b"le", b"i1e", b"4:spam", b"de ", b"d4:info", b"xyz"):
            self.assertRejected(data, "metainfo")

    def test_notBencode(self):
        """
        Bytes that are not canonical bencode, including what bencode.py alone
        would let through, are rejected.
        """
        for bad in (b"i01e", b"i-0e", b"i+1e", b"i1_0e", b"i e", b"01:a", b"1_0:abcdefghij",
                    b"5:ab", b"l", b"x", b"d1:ai1ee"[:-1]):
            self.assertRejected(b"d4:infod4:name" + bad + b"ee", "metainfo")
        self.assertRejected(b"di1e4:infoe", "metainfo")

    def test_tooLarge(self):
        """
        Input over L{MAX_METAINFO_SIZE} (64 MiB) is refused before decoding,
        by L{parse} and by L{load}.
        """
        self.assertEqual(MAX_METAINFO_SIZE, 64 * 1024 * 1024)
        self.patch(metainfoModule, "MAX_METAINFO_SIZE", 1000)
        data = torrent(singleInfo(comment=b"x" * 1000))
        self.assertRejected(data, "metainfo", "over the limit")
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(data)
        error = self.assertRaises(MetainfoError, load, path)
        self.assertIn("over the limit", error.reason)

    def test_loadReadsOnlyTheFile(self):
        """
        L{load} allocates about the file's size, not L{MAX_METAINFO_SIZE}
        (64 MiB) for every file.
        """
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(torrent(singleInfo()))
        _, peak = tracedPeak(load, path)
        self.assertLess(peak, 1024 * 1024)

    def test_deepNesting(self):
        """
        Deep nesting is an error, not a crash.
        """
        self.assertRejected(b"d1:x" + b"l" * 5000 + b"e" * 5000 + b"4:infodee",
                            "metainfo")

    def test_decodeDepthLimit(self):
        """
        Nesting deeper than L{MAX_DECODE_DEPTH} (100) levels is refused,
        naming the limit; 100 levels are accepted.
        """
        self.assertEqual(MAX_DECODE_DEPTH, 100)

        def nested(lists: int) -> bytes:
            # the top-level dictionary is the first level
            return torrent(singleInfo())[:-1] + b"1:y" + b"l" * lists + b"e" * lists + b"e"

        self.assertIsInstance(parse(nested(99)), Metainfo)
        error = self.assertRaises(MetainfoError, parse, nested(100))
        self.assertEqual(error.field, "metainfo")
        self.assertIn("limit of 100 levels", error.reason)
        self.assertIn("limit", error.hint)

    def test_decodeItemLimit(self):
        """
        More bencoded values than L{MAX_DECODE_ITEMS} (libtorrent's 3
        million) are refused before decoding, naming the limit.
        """
        self.assertEqual(MAX_DECODE_ITEMS, 3_000_000)
        data = torrent(singleInfo(comment=[1, 2, 3]))
        # the top dictionary, its 2 keys and 2 values, the info dictionary's
        # 5 keys and 5 values, the 3 integers in the list
        count = 1 + 2 + 2 + 5 + 5 + 3
        self.patch(metainfoModule, "MAX_DECODE_ITEMS", count)
        self.assertEqual(parse(data).name, "file.bin")
        self.patch(metainfoModule, "MAX_DECODE_ITEMS", count - 1)
        self.assertRejected(data, "metainfo", f"more than the limit of {count - 1} values")

    def test_pieceLimit(self):
        """
        More pieces than L{MAX_PIECES} (libtorrent's 2,097,152) are refused,
        naming the limit.
        """
        self.assertEqual(MAX_PIECES, 0x200000)
        self.patch(metainfoModule, "MAX_PIECES", 3)
        self.assertEqual(parse(torrent(singleInfo(length=3 * 16384))).numPieces, 3)
        self.assertRejected(torrent(singleInfo(length=3 * 16384 + 1)), "info.pieces",
                            "4 pieces, over the limit of 3")

    def test_fileLimit(self):
        """
        More files than L{MAX_FILES} are refused, naming the limit.
        """
        self.patch(metainfoModule, "MAX_FILES", 2)
        self.assertEqual(len(parse(torrent(multiInfo([(1, [b"a"]), (1, [b"b"])]))).files), 2)
        self.assertRejected(torrent(multiInfo([(1, [b"a"]), (1, [b"b"]), (1, [b"c"])])),
                            "info.files", "3 files, over the limit of 2")

    def test_pathDepthLimit(self):
        """
        A path of more than L{MAX_PATH_DEPTH} (256) components is refused,
        naming the limit; 256 are accepted.
        """
        self.assertEqual(MAX_PATH_DEPTH, 256)
        parse(torrent(multiInfo([(1, [b"a"] * 256)])))
        self.assertRejected(torrent(multiInfo([(1, [b"a"] * 257)])), "info.files[0].path",
                            "257 components, over the limit of 256")

    def test_pathLengthLimit(self):
        """
        A path longer than L{MAX_PATH_LENGTH} (4096 bytes, with the torrent's
        name and separators) is refused, naming the limit.
        """
        self.assertEqual(MAX_PATH_LENGTH, 4096)
        # "folder" + "/" + 4089 bytes = 4096
        parse(torrent(multiInfo([(1, [b"x" * 200] * 19 + [b"y" * 270])])))
        self.assertRejected(torrent(multiInfo([(1, [b"x" * 200] * 19 + [b"y" * 271])])),
                            "info.files[0].path", "4097 bytes long")
        parse(torrent(singleInfo(name=b"n" * 4096)))
        self.assertRejected(torrent(singleInfo(name=b"n" * 4097)), "info.name",
                            "4097 bytes long, over the limit of 4096")

    def test_longPathIsLinear(self):
        """
        Checking a path for collisions costs one step per component, not one
        per prefix: with the limits raised, two files of 4,000 components
        parse without building each one's 4,000 prefixes (which would take
        4,000 ** 2 / 2 pointers of 8 bytes, 64 MB, per file).
        """
        self.patch(metainfoModule, "MAX_PATH_DEPTH", 10**6)
        self.patch(metainfoModule, "MAX_PATH_LENGTH", 10**7)
        components = [b"%d" % (i,) for i in range(4000)]
        data = torrent(multiInfo([(1, components), (1, components[:-1] + [b"z"])]))
        metainfo, peak = tracedPeak(parse, data)
        self.assertEqual(len(metainfo.files[0].path), 4001)
        self.assertLess(peak, 16 * 1024 * 1024)

    def test_duplicateTopLevelKey(self):
        """
        A repeated top-level key (two C{info}s) is rejected.
        """
        data = b"d4:info" + encode(singleInfo()) + b"4:info" + encode(singleInfo(length=1)) + b"e"
        self.assertRejected(data, "info", "twice")

    def test_duplicateInfoKey(self):
        """
        A key repeated inside C{info} is rejected too: peers reading the
        first and peers reading the second would share one info hash for
        two different torrents.
        """
        info = encode(singleInfo())
        data = b"d4:info" + info[:-1] + b"4:name3:twoe" + b"e"
        self.assertRejected(data, "name", "appears twice")

    def test_info(self):
        """
        C{info} must be present and a dictionary.
        """
        self.assertRejected(encode({b"announce": b"x"}), "info", "missing")
        self.assertRejected(torrent([]), "info", "not a dictionary")

    def test_name(self):
        """
        C{name} must be present, a UTF-8 string and a plain file name.
        """
        info = singleInfo()
        del info[b"name"]
        self.assertRejected(torrent(info), "info.name", "missing")
        self.assertRejected(torrent(singleInfo(name=3)), "info.name", "not a string")
        self.assertRejected(torrent(singleInfo(name=b"\xff")), "info.name", "UTF-8")
        self.assertRejected(torrent(singleInfo(extra={b"name.utf-8": b"\xc3"})),
                            "info.name.utf-8", "UTF-8")
        for bad in (b"", b".", b"..", b"/etc", b"a/b", b"a\\b", b"a\0b"):
            self.assertRejected(torrent(singleInfo(name=bad)), "info.name")

    def test_pieceLength(self):
        """
        C{piece length} must be a positive integer.
        """
        info = singleInfo()
        del info[b"piece length"]
        self.assertRejected(torrent(info), "info.piece length", "missing")
        for bad, reason in ((b"16384", "not an integer"), (0, "not positive"),
                            (-16384, "not positive")):
            info[b"piece length"] = bad
            self.assertRejected(torrent(info), "info.piece length", reason)

    def test_pieces(self):
        """
        C{pieces} must be a string of 20-byte hashes, exactly as many as the
        total length needs.
        """
        info = singleInfo(length=40000)
        for bad, reason in ((None, "missing"), (7, "not a string"),
                            (b"x" * 59, "multiple of 20"), (b"x" * 40, "need 3"),
                            (b"x" * 80, "need 3")):
            if bad is None:
                del info[b"pieces"]
            else:
                info[b"pieces"] = bad
            self.assertRejected(torrent(info), "info.pieces", reason)

    def test_v2Only(self):
        """
        A v2-only torrent is refused as not supported yet.
        """
        info = {b"file tree": {b"a": {b"": {b"length": 1}}}, b"meta version": 2,
                b"name": b"a", b"piece length": 16384}
        self.assertRejected(torrent(info), "info.pieces", "v2-only torrents are not supported")

    def test_lengthOrFiles(self):
        """
        Exactly one of C{length} and C{files}; a length is a non-negative
        integer; the torrent holds some data.
        """
        info = singleInfo()
        del info[b"length"]
        self.assertRejected(torrent(info), "info.files", "missing")
        info = singleInfo(files=[{b"length": 1, b"path": [b"a"]}])
        self.assertRejected(torrent(info), "info.files", "both")
        self.assertRejected(torrent(singleInfo(length=b"1")), "info.length", "not an integer")
        self.assertRejected(torrent(singleInfo(length=-1)), "info.length", "negative")
        self.assertRejected(torrent(singleInfo(length=0)), "info.length", "no data")

    def test_files(self):
        """
        C{files} is a non-empty list of dictionaries with a length and path.
        """
        info = multiInfo([(10, [b"a"])])
        for bad, field, reason in (
            (b"x", "info.files", "not a list"),
            ([], "info.files", "empty"),
            ([b"x"], "info.files[0]", "not a dictionary"),
            ([{b"path": [b"a"]}], "info.files[0].length", "missing"),
            ([{b"length": -5, b"path": [b"a"]}], "info.files[0].length", "negative"),
            ([{b"length": 1}], "info.files[0].path", "missing"),
            ([{b"length": 1, b"path": b"a"}], "info.files[0].path", "not a list"),
            ([{b"length": 1, b"path": []}], "info.files[0].path", "empty"),
            ([{b"length": 1, b"path": [1]}], "info.files[0].path", "not a string"),
            ([{b"length": 1, b"path": [b"\xff"]}], "info.files[0].path", "UTF-8"),
            ([{b"length": 1, b"path": [b"a"], b"path.utf-8": [b"\xff"]}],
             "info.files[0].path.utf-8", "UTF-8"),
            ([{b"length": 1, b"path": [b"a"], b"attr": 1}], "info.files[0].attr",
             "not a string"),
            ([{b"length": 0, b"path": [b"a"]}], "info.files", "no data"),
        ):
            info[b"files"] = bad
            self.assertRejected(torrent(info), field, reason)

    def test_unsafePaths(self):
        """
        No path component may be empty, C{.}, C{..}, absolute, or hold a
        separator or a NUL.
        """
        for component in (b"", b".", b"..", b"/etc", b"a/b", b"a\\b", b"a\0",
                          b"D:\\x"):
            info = multiInfo([(1, [b"ok", component])])
            self.assertRejected(torrent(info), "info.files[0].path")

    def test_colonOnPosix(self):
        """
        On POSIX a colon is an ordinary character: C{a:b} and C{c:} are file
        names like any other, in a path and as the torrent's name.
        """
        self.patch(metainfoModule, "_WINDOWS", False)
        info = multiInfo([(1, [b"a:b"]), (1, [b"c:", b"x"])], name=b"C:x")
        metainfo = parse(torrent(info))
        self.assertEqual([entry.path for entry in metainfo.files],
                         [("C:x", "a:b"), ("C:x", "c:", "x")])

    def test_colonOnWindows(self):
        """
        On Windows a component holding a colon (a drive letter, or an NTFS
        stream) is refused.
        """
        self.patch(metainfoModule, "_WINDOWS", True)
        for component in (b"c:", b"C:x", b"a:b"):
            self.assertRejected(torrent(multiInfo([(1, [b"ok", component])])),
                                "info.files[0].path", "Windows")
            self.assertRejected(torrent(singleInfo(name=component)), "info.name", "Windows")

    def test_duplicatePaths(self):
        """
        Two files with one path, or a file where another needs a folder, are
        rejected.
        """
        self.assertRejected(torrent(multiInfo([(1, [b"a"]), (1, [b"a"])])),
                            "info.files[1].path", "twice")
        self.assertRejected(torrent(multiInfo([(1, [b"a"]), (1, [b"a", b"b"])])),
                            "info.files[1].path", "under a file")
        self.assertRejected(torrent(multiInfo([(1, [b"a", b"b"]), (1, [b"a"])])),
                            "info.files[1].path", "twice")

    def test_duplicatePathsInOneFolder(self):
        """
        A file is checked against the files before it in its folder, whether
        that folder is the one of the file before or not: each may collide,
        and a bad name is named by its own index.
        """
        self.assertRejected(
            torrent(multiInfo([(1, [b"d", b"x"]), (1, [b"d", b"y"]), (1, [b"d", b"x"])])),
            "info.files[2].path", "twice",
        )
        self.assertRejected(
            torrent(multiInfo([(1, [b"d", b"x"]), (1, [b"e", b"y"]), (1, [b"d", b"x"])])),
            "info.files[2].path", "twice",
        )
        self.assertRejected(
            torrent(multiInfo([(1, [b"d", b"x"]), (1, [b"d", b"x", b"z"])])),
            "info.files[1].path", "under a file",
        )
        self.assertRejected(
            torrent(multiInfo([(1, [b"d", b"x"]), (1, [b"d", b"\xff"])])),
            "info.files[1].path", "UTF-8",
        )
        self.assertRejected(
            torrent(multiInfo([(1, [b"d", b"x"]), (1, [b"d", b".."])])),
            "info.files[1].path", "not a file name",
        )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(
        st.tuples(
            st.lists(st.sampled_from([b"a", b"b", b"", b"..", b"a/b", b"\xff", 7]),
                     min_size=1, max_size=3),
            st.integers(-1, 3),
            st.sampled_from([None, b"", b"p", 1]),
        ),
        min_size=1, max_size=6,
    ))
    def test_filesAsCheckedOneByOne(self, files):
        """
        Any file list gives the files, or the error, that checking each file
        on its own step by step gives.
        """
        entries = []
        for path, length, attr in files:
            entry = {b"length": length, b"path": path}
            if attr is not None:
                entry[b"attr"] = attr
            entries.append(entry)
        info = {b"files": entries, b"name": b"n", b"piece length": 16384,
                b"pieces": b"\x01" * 20}
        data = torrent(info)

        def outcome():
            try:
                return parse(data).files
            except MetainfoError as e:
                return str(e)

        fast = outcome()
        # Patched by hand: self.patch would be undone after the last example
        # only.
        plainName = metainfoModule._plainName
        metainfoModule._plainName = lambda component: None
        try:
            careful = outcome()
        finally:
            metainfoModule._plainName = plainName
        self.assertEqual(fast, careful)

    def test_trackers(self):
        """
        A mistyped C{announce} or C{announce-list} is rejected.
        """
        self.assertRejected(encode({b"announce": 1, b"info": singleInfo()}), "announce")
        self.assertRejected(torrent(singleInfo(), announce_list=b"x"), "announce-list")
        self.assertRejected(torrent(singleInfo(), announce_list=[b"x"]), "announce-list[0]")
        self.assertRejected(torrent(singleInfo(), announce_list=[[b"a", 1]]),
                            "announce-list[0][1]")

    def test_privateType(self):
        """
        A non-integer C{private} is rejected.
        """
        self.assertRejected(torrent(singleInfo(private=b"1")), "info.private")


def _bencodable():
    """
    A hypothesis strategy for any bencodable value.
    """
    return st.recursive(
        st.integers() | st.binary(max_size=30),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.binary(max_size=12), children, max_size=4),
        max_leaves=6,
    )


_KEYS = [b"name", b"piece length", b"pieces", b"length", b"files", b"private",
         b"path", b"attr", b"meta version", b"file tree", b"name.utf-8"]


class FuzzTests(SynchronousTestCase):
    """
    Untrusted input produces a L{Metainfo} or a L{MetainfoError}, nothing else.
    """

    def assertOnlyMetainfoError(self, data: bytes) -> None:
        try:
            metainfo = parse(data)
        except MetainfoError:
            return
        self.assertEqual(len(metainfo.infoHash), 20)
        self.assertEqual(metainfo.numPieces * 20, len(metainfo.hashes))

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=200))
    def test_arbitraryBytes(self, data):
        """
        Arbitrary bytes never raise anything but L{MetainfoError}.
        """
        self.assertOnlyMetainfoError(data)

    @settings(max_examples=300, deadline=None)
    @given(st.data())
    def test_mutatedTorrent(self, draw):
        """
        A valid multi-file torrent with bytes replaced, deleted or inserted
        never raises anything but L{MetainfoError}.
        """
        data = bytearray(torrent(
            multiInfo([(100, [b"a"]), {b"attr": b"p", b"length": 16284, b"path": [b".pad", b"1"]},
                       (5, [b"d", b"b"])]),
            announce_list=[[b"http://x"]], comment=b"c",
        ))
        for _ in range(draw.draw(st.integers(1, 4))):
            position = draw.draw(st.integers(0, len(data)))
            action = draw.draw(st.sampled_from(["replace", "delete", "insert"]))
            chunk = draw.draw(st.binary(min_size=1, max_size=4))
            if action == "replace":
                data[position : position + len(chunk)] = chunk
            elif action == "delete":
                del data[position : position + len(chunk)]
            else:
                data[position:position] = chunk
        self.assertOnlyMetainfoError(bytes(data))

    @settings(max_examples=150, deadline=None)
    @given(st.dictionaries(st.sampled_from(_KEYS), _bencodable(), max_size=4),
           st.dictionaries(st.sampled_from(_KEYS), _bencodable(), max_size=3))
    def test_structuredValues(self, replaced, fileFields):
        """
        Valid torrents whose fields are replaced by values of any type never
        raise anything but L{MetainfoError}.
        """
        info = multiInfo([(10, [b"a"]), (10, [b"b"])])
        info[b"files"][0].update(fileFields)
        info.update(replaced)
        self.assertOnlyMetainfoError(bencodepy.encode({b"info": info}))


class LibtorrentTests(SynchronousTestCase):
    """
    Interoperability with libtorrent.
    """

    def setUp(self):
        self.root = self.mktemp()
        folder = os.path.join(self.root, "share")
        os.makedirs(os.path.join(folder, "sub"))
        for relative, size in (("a.bin", 70000), ("c", 40000), ("sub/b.txt", 5000),
                               ("zero", 0)):
            with open(os.path.join(folder, relative), "wb") as f:
                f.write(os.urandom(size))
        self.folder = folder

    def libtorrentCreate(self, path) -> bytes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            fs = lt.file_storage()
            lt.add_files(fs, path)
            creator = lt.create_torrent(fs, 16384)
        lt.set_piece_hashes(creator, os.path.dirname(path))
        return lt.bencode(creator.generate())

    def test_libtorrentHybrid(self):
        """
        A default libtorrent 2.x torrent (a v1+v2 hybrid with pad files)
        parses, and its info hash is libtorrent's v1 info hash.
        """
        data = self.libtorrentCreate(self.folder)
        metainfo = parse(data)
        self.assertTrue(metainfo.isHybrid)
        self.assertTrue(any(f.pad for f in metainfo.files))
        self.assertEqual(
            metainfo.infoHash, lt.torrent_info(data).info_hashes().v1.to_bytes()
        )
        for entry in metainfo.files:
            if not entry.pad and entry.length:
                self.assertEqual(entry.offset % 16384, 0)

    def test_createLoadsInLibtorrent(self):
        """
        L{createTorrent} output, of a folder and of a file, loads in
        libtorrent with the same v1 info hash, name and piece count, and its
        piece hashes are those libtorrent computes for the same files in the
        same order.
        """
        for path in (self.folder, os.path.join(self.folder, "a.bin")):
            data = createTorrent(path, ["http://t/announce"], pieceLength=16384)
            metainfo = parse(data)
            info = lt.torrent_info(data)
            self.assertEqual(metainfo.infoHash, info.info_hashes().v1.to_bytes())
            self.assertEqual(info.name(), metainfo.name)
            self.assertEqual(info.num_pieces(), metainfo.numPieces)

            fs = lt.file_storage()
            for entry in metainfo.files:
                fs.add_file("/".join(entry.path), entry.length)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                creator = lt.create_torrent(fs, 16384, lt.create_torrent.v1_only)
            lt.set_piece_hashes(creator, os.path.dirname(path))
            reference = parse(lt.bencode(creator.generate()))
            self.assertEqual(metainfo.hashes, reference.hashes)


class CreateTorrentTests(SynchronousTestCase):
    """
    L{createTorrent} makes v1 torrents.
    """

    def setUp(self):
        self.root = self.mktemp()
        os.makedirs(os.path.join(self.root, "share", "b"))
        self.contents = {("a",): b"A" * 30000, ("b", "c"): b"", ("b", "d"): b"D" * 5000}
        for components, content in self.contents.items():
            with open(os.path.join(self.root, "share", *components), "wb") as f:
                f.write(content)
        self.folder = os.path.join(self.root, "share")

    def test_folder(self):
        """
        A folder gives a multi-file torrent, files sorted, whose piece hashes
        are those of the files laid end to end.
        """
        metainfo = parse(createTorrent(self.folder, pieceLength=16384))
        self.assertEqual(metainfo.name, "share")
        self.assertEqual(
            [(f.path, f.length, f.offset) for f in metainfo.files],
            [(("share", "a"), 30000, 0), (("share", "b", "c"), 0, 30000),
             (("share", "b", "d"), 5000, 30000)],
        )
        stream = b"A" * 30000 + b"D" * 5000
        self.assertEqual(
            metainfo.hashes,
            b"".join(hashlib.sha1(stream[i : i + 16384]).digest() for i in range(0, 35000, 16384)),
        )
        self.assertIsNone(metainfo.announce)
        self.assertFalse(metainfo.private)

    def test_file(self):
        """
        A file gives a single-file torrent; C{name} overrides its name.
        """
        path = os.path.join(self.folder, "a")
        metainfo = parse(createTorrent(path, name="renamed", pieceLength=16384))
        self.assertEqual(metainfo.files, (FileEntry(("renamed",), 30000, 0, False),))
        self.assertEqual(metainfo.hashOf(1), hashlib.sha1(b"A" * (30000 - 16384)).digest())

    def test_options(self):
        """
        Trackers (flat: a tier each; nested: the tiers given), C{private} and
        C{comment} are written.
        """
        flat = parse(createTorrent(self.folder, ["http://a", "udp://b"], private=True,
                                   comment="hi"))
        self.assertEqual(flat.announce, "http://a")
        self.assertEqual(flat.announceTiers, (("http://a",), ("udp://b",)))
        self.assertTrue(flat.private)
        self.assertEqual(flat.comment, "hi")
        self.assertTrue(flat.createdBy.startswith("bittwist/"))
        nested = parse(createTorrent(self.folder, [["http://a", "http://c"], ["udp://b"]]))
        self.assertEqual(nested.announceTiers, (("http://a", "http://c"), ("udp://b",)))
        single = parse(createTorrent(self.folder, ["http://a"]))
        self.assertEqual(single.announceTiers, (("http://a",),))
        self.assertNotIn(b"announce-list", createTorrent(self.folder, ["http://a"]))

    def test_choosePieceLength(self):
        """
        The chosen piece length is the smallest power of two from 16 KiB to
        16 MiB keeping the count at or under 2000 pieces.
        """
        self.assertEqual(_choosePieceLength(1), 16384)
        self.assertEqual(_choosePieceLength(2000 * 16384), 16384)
        self.assertEqual(_choosePieceLength(2000 * 16384 + 1), 32768)
        self.assertEqual(_choosePieceLength(2**30), 2**20)
        self.assertEqual(_choosePieceLength(2**50), 16 * 2**20)
        self.assertEqual(parse(createTorrent(self.folder)).pieceLength, 16384)

    def test_badArguments(self):
        """
        A bad piece length, a missing path, an empty folder or an unusable
        name is a L{UsageError}.
        """
        for bad in (0, 1000, 16385, 3 * 16384, -16384):
            self.assertRaises(UsageError, createTorrent, self.folder, pieceLength=bad)
        self.assertRaises(UsageError, createTorrent, os.path.join(self.root, "nope"))
        empty = os.path.join(self.root, "empty")
        os.makedirs(os.path.join(empty, "inner"))
        self.assertRaises(UsageError, createTorrent, empty)
        for name in ("", "..", "a/b"):
            self.assertRaises(UsageError, createTorrent, self.folder, name=name)
        self.assertRaises(UsageError, createTorrent, self.folder, [""])

    def test_trackerURLs(self):
        """
        A tracker must be an C{http://}, C{https://} or C{udp://} URL with a
        host; anything else is a L{UsageError} quoting it, before hashing.
        """
        for good in ("http://t.example/announce", "HTTPS://t.example:443/a?k=1",
                     "udp://[::1]:6969", "udp://10.0.0.1:6969/announce"):
            checkTrackerURL(good)
        for bad in ("notaurl", "", "t.example:6969", "ftp://t.example/",
                    "http://", "http:///announce", "udp://:6969", "http://h:99999/",
                    "http://h:0/", "http://h/a b"):
            error = self.assertRaises(UsageError, checkTrackerURL, bad)
            self.assertIn(repr(bad), str(error))
        hashed = []
        error = self.assertRaises(UsageError, createTorrent, self.folder, ["notaurl"],
                                  progress=lambda done, total: hashed.append(done))
        self.assertIn("'notaurl' is not a tracker URL", str(error))
        self.assertEqual(hashed, [])

    def test_progress(self):
        """
        C{progress} hears 0 first, then the bytes hashed after each piece,
        rising, and last the total.
        """
        calls = []
        createTorrent(self.folder, pieceLength=16384,
                      progress=lambda done, total: calls.append((done, total)))
        self.assertEqual(calls, [(0, 35000), (16384, 35000), (32768, 35000), (35000, 35000)])
        calls.clear()
        createTorrent(os.path.join(self.folder, "a"), pieceLength=16384,
                      progress=lambda done, total: calls.append((done, total)))
        self.assertEqual(calls, [(0, 30000), (16384, 30000), (30000, 30000)])

    def test_progressWholePieces(self):
        """
        When the data ends on a piece boundary, the last piece's call is the
        total, and it is not repeated.
        """
        path = os.path.join(self.root, "exact")
        with open(path, "wb") as f:
            f.write(b"x" * 32768)
        calls = []
        createTorrent(path, pieceLength=16384,
                      progress=lambda done, total: calls.append((done, total)))
        self.assertEqual(calls, [(0, 32768), (16384, 32768), (32768, 32768)])


class CreateTorrentInThreadTests(TestCase):
    """
    L{createTorrentInThread} hashes in the reactor's thread pool.
    """

    def setUp(self):
        self.root = self.mktemp()
        os.makedirs(os.path.join(self.root, "share"))
        with open(os.path.join(self.root, "share", "big"), "wb") as f:
            f.write(b"B" * (16384 * 300 + 5))
        self.folder = os.path.join(self.root, "share")

    @inlineCallbacks
    def test_sameTorrent(self):
        """
        The result is what L{createTorrent} makes from the same arguments,
        made on a thread other than the reactor's.
        """
        threads = []
        hashFiles = metainfoModule._hashFiles

        def recordingHashFiles(*args, **kwargs):
            threads.append(threading.current_thread())
            return hashFiles(*args, **kwargs)

        self.patch(metainfoModule, "_hashFiles", recordingHashFiles)
        data = yield createTorrentInThread(
            reactor, self.folder, ["http://t/announce"], pieceLength=16384, private=True,
            comment="c", name="n",
        )
        expected = parse(createTorrent(self.folder, ["http://t/announce"], pieceLength=16384,
                                       private=True, comment="c", name="n"))
        metainfo = parse(data)
        self.assertEqual(metainfo.infoHash, expected.infoHash)
        self.assertEqual((metainfo.announce, metainfo.comment), ("http://t/announce", "c"))
        [inThread, here] = threads
        self.assertIsNot(inThread, threading.current_thread())
        self.assertIs(here, threading.current_thread())

    @inlineCallbacks
    def test_progressOnReactorThread(self):
        """
        Progress is delivered on the reactor thread, at most once a percent,
        rising from 0 to the total, all before the result.
        """
        calls = []
        total = 16384 * 300 + 5

        def progress(done, total):
            calls.append((done, total, threading.current_thread()))

        d = createTorrentInThread(reactor, self.folder, pieceLength=16384, progress=progress)
        d.addCallback(lambda data: calls.append("result"))
        yield d
        self.assertEqual(calls[-1], "result")
        updates = calls[:-1]
        self.assertEqual(updates[0][:2], (0, total))
        self.assertEqual(updates[-1][:2], (total, total))
        done = [u[0] for u in updates]
        self.assertEqual(done, sorted(set(done)))
        percents = [d * 100 // total for d in done]
        self.assertEqual(len(percents), len(set(percents)))
        self.assertEqual({u[2] for u in updates}, {threading.current_thread()})
        # 300 pieces, but one update per percent at most.
        self.assertLessEqual(len(updates), 101)
        self.assertGreater(len(updates), 50)

    @inlineCallbacks
    def test_failure(self):
        """
        A bad argument fails the Deferred with L{UsageError}.
        """
        d = createTorrentInThread(reactor, os.path.join(self.root, "nope"))
        yield self.assertFailure(d, UsageError)
