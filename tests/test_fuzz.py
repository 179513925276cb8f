"""
The fuzz suite: every parser that reads outside input, given random,
mutated and oversized input, either parses it or raises our own error, never
another exception, and takes bounded time and memory per input (see
L{tests.fuzzing}).

Few inputs per test by default; C{tox -e fuzz} tries many more and reports
how many per parser.
"""

import json
import os

import bencodepy
from hypothesis import given, strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from bittwist.bitfield import Bitfield as PieceBitfield
from bittwist.dht.node import DHTNode
from bittwist.errors import ExtensionError, MetainfoError, ProtocolError, TrackerError
from bittwist.extensions.handshake import ExtendedHandshake
from bittwist.extensions.ut_metadata import decodeMetadataMessage
from bittwist.extensions.ut_pex import PexMessage
from bittwist.metainfo import Metainfo, createTorrent, parse
from bittwist.service import BitTorrentService
from bittwist.state import ResumeData, StateFolder, TorrentRecord, stampFiles
from bittwist.tracker import AnnounceResponse, parseAnnounceBody
from bittwist.web.site import makeWebSite
from bittwist.wire import Decoder, ReservedBit, encode, makeReserved
from tests.fakes import FakeDatagramTransport, UncheckedStorage
from tests.fuzzing import InputMeter, Limits, MiB, ResourceLimitExceeded, fuzzSettings
from tests.test_wire import chunked, extensionMessages, handshakes, messages

PIECE = 16384


def bencodable(maxLeaves: int = 8) -> st.SearchStrategy:
    """
    @return: a strategy for any bencodable value, small.
    """
    return st.recursive(
        st.integers(min_value=-(2**70), max_value=2**70) | st.binary(max_size=40),
        lambda children: st.lists(children, max_size=5)
        | st.dictionaries(st.binary(max_size=12), children, max_size=5),
        max_leaves=maxLeaves,
    )


def mutated(draw: st.DataObject, data: bytes, most: int = 4) -> bytes:
    """
    @return: C{data} with up to C{most} runs of bytes replaced, deleted or
        inserted.
    """
    data = bytearray(data)
    for _ in range(draw.draw(st.integers(0, most))):
        position = draw.draw(st.integers(0, len(data)))
        action = draw.draw(st.sampled_from(["replace", "delete", "insert"]))
        chunk = draw.draw(st.binary(min_size=1, max_size=6))
        if action == "replace":
            data[position : position + len(chunk)] = chunk
        elif action == "delete":
            del data[position : position + len(chunk)]
        else:
            data[position:position] = chunk
    return bytes(data)


# Sizes for inputs built to be large: anywhere up to past the limits, and
# the values on either side of each limit.
bigCount = st.integers(0, 50_000) | st.sampled_from(
    [99, 100, 101, 255, 256, 257, 4095, 4096, 4097, 40_000]
)


def _string(value: bytes) -> bytes:
    return b"%d:%s" % (len(value), value)


def _torrentOf(infoBody: bytes, topBody: bytes = b"") -> bytes:
    return b"d" + topBody + b"4:infod" + infoBody + b"ee"


def _multiFile(fileEntries: bytes, totalLength: int, name: bytes = b"x") -> bytes:
    pieces = b"x" * (20 * -(-totalLength // PIECE))
    return _torrentOf(
        b"5:filesl" + fileEntries + b"e4:name" + _string(name)
        + b"12:piece lengthi%de6:pieces" % PIECE + _string(pieces)
    )


def oversizedTorrent(shape: str, n: int) -> bytes:
    """
    @return: a torrent that is large in one way: C{n} path components, files,
        levels of nesting, values, pieces or bytes of name, or C{n} files
        under shared folders.
    """
    if shape == "path":
        return _multiFile(b"d6:lengthi1e4:pathl" + b"1:a" * max(n, 1) + b"ee", 1)
    if shape == "files":
        n = max(1, n // 10)  # each file costs far more than a component
        entries = b"".join(b"d6:lengthi1e4:pathl" + _string(b"%d" % i) + b"ee" for i in range(n))
        return _multiFile(entries, n)
    if shape == "sharedFolders":
        depth = 1 + n % 300
        files = max(1, n // depth // 10)
        entries = b"".join(
            b"d6:lengthi1e4:pathl" + b"1:d" * depth + _string(b"%d" % i) + b"ee"
            for i in range(files)
        )
        return _multiFile(entries, files)
    single = b"6:lengthi1e4:name1:x12:piece lengthi%de6:pieces20:%s" % (PIECE, b"x" * 20)
    if shape == "nesting":
        return _torrentOf(single, b"7:comment" + b"l" * n + b"e" * n)
    if shape == "values":
        return _torrentOf(single, b"7:commentl" + b"i1e" * n + b"e")
    if shape == "pieces":
        return _torrentOf(
            b"6:lengthi%de4:name1:x12:piece lengthi%de6:pieces" % (n * PIECE, PIECE)
            + _string(b"x" * 20 * n)
        )
    assert shape == "name"
    return _torrentOf(
        b"6:lengthi1e4:name" + _string(b"n" * max(n, 1))
        + b"12:piece lengthi%de6:pieces20:%s" % (PIECE, b"x" * 20)
    )


SHAPES = ["path", "files", "sharedFolders", "nesting", "values", "pieces", "name"]

VALID_TORRENT = bencodepy.encode({
    b"announce": b"http://t.example/announce",
    b"announce-list": [[b"http://t.example/announce"], [b"udp://u.example:6969"]],
    b"comment": b"c",
    b"info": {
        b"files": [
            {b"length": 100, b"path": [b"a"]},
            {b"attr": b"p", b"length": PIECE - 100, b"path": [b".pad", b"1"]},
            {b"length": 5, b"path": [b"d", b"b:c"]},
        ],
        b"name": b"folder",
        b"piece length": PIECE,
        b"pieces": b"\x01" * 40,
    },
})

_INFO_KEYS = [b"name", b"piece length", b"pieces", b"length", b"files", b"private",
              b"name.utf-8", b"meta version", b"file tree"]
_FILE_KEYS = [b"length", b"path", b"path.utf-8", b"attr"]


class MeterTests(SynchronousTestCase):
    """
    L{InputMeter} counts inputs and fails one over its limits.
    """

    def test_counts(self) -> None:
        """
        Each measured input is counted, with the most time and memory one
        took.
        """
        meter = InputMeter(self, "test", Limits(seconds=10, memory=4 * MiB), report=False)
        for size in (1000, 100_000):
            with meter.measure():
                bytearray(size)
        self.assertEqual(meter.count, 2)
        self.assertGreaterEqual(meter.maxMemory, 100_000)
        self.assertLess(meter.maxMemory, 4 * MiB)

    def test_memoryLimit(self) -> None:
        """
        An input taking more memory than the limit fails, even if the memory
        was freed before the end.
        """
        meter = InputMeter(self, "test", Limits(seconds=10, memory=MiB), report=False)

        def greedy() -> None:
            with meter.measure():
                data = bytearray(2 * MiB)
                del data

        error = self.assertRaises(ResourceLimitExceeded, greedy)
        self.assertIn("over 1.0 MiB", str(error))

    def test_timeLimit(self) -> None:
        """
        An input taking more CPU time than the limit fails.
        """
        meter = InputMeter(self, "test", Limits(seconds=-1, memory=MiB), report=False)

        def slow() -> None:
            with meter.measure():
                pass

        error = self.assertRaises(ResourceLimitExceeded, slow)
        self.assertIn("of CPU", str(error))

    def test_exceptionPassesThrough(self) -> None:
        """
        An exception of the measured code is not hidden by the limits.
        """
        meter = InputMeter(self, "test", Limits(seconds=-1, memory=0), report=False)

        def broken() -> None:
            with meter.measure():
                raise KeyError("bug")

        self.assertRaises(KeyError, broken)
        self.assertEqual(meter.count, 1)


class MetainfoFuzzTests(SynchronousTestCase):
    """
    L{parse} (used for C{--torrent}, web uploads and the state folder)
    returns a L{Metainfo} or raises L{MetainfoError}.
    """

    def setUp(self) -> None:
        # Tracing allocations slows the decoding of a large torrent about
        # fifteen times: 40,000 path components take ~0.1 s untraced.
        self.meter = InputMeter(self, "metainfo.parse", Limits(seconds=5, memory=32 * MiB))

    def check(self, data: bytes) -> None:
        with self.meter.measure():
            try:
                metainfo = parse(data)
            except MetainfoError:
                return
        self.assertIsInstance(metainfo, Metainfo)
        self.assertEqual(metainfo.numPieces * 20, len(metainfo.hashes))
        for entry in metainfo.files:
            self.assertNotIn("..", entry.path)
            self.assertFalse(any("/" in c or "\0" in c or not c for c in entry.path))

    @fuzzSettings(50)
    @given(st.binary(max_size=400))
    def test_anyBytes(self, data: bytes) -> None:
        """
        Random bytes.
        """
        self.check(data)

    @fuzzSettings(50)
    @given(st.data())
    def test_mutated(self, draw: st.DataObject) -> None:
        """
        A valid multi-file torrent with bytes replaced, deleted or inserted.
        """
        self.check(mutated(draw, VALID_TORRENT))

    @fuzzSettings(50)
    @given(st.dictionaries(st.sampled_from(_INFO_KEYS), bencodable(), max_size=4),
           st.dictionaries(st.sampled_from(_FILE_KEYS), bencodable(), max_size=3),
           st.dictionaries(st.binary(max_size=15), bencodable(), max_size=3))
    def test_structured(self, infoFields: dict, fileFields: dict, topFields: dict) -> None:
        """
        Valid torrents whose fields are replaced by values of any type.
        """
        top = bencodepy.decode(VALID_TORRENT)
        top[b"info"][b"files"][0].update(fileFields)
        top[b"info"].update(infoFields)
        top.update(topFields)
        self.check(bencodepy.encode(top))

    @fuzzSettings(20)
    @given(st.sampled_from(SHAPES), bigCount)
    def test_oversized(self, shape: str, n: int) -> None:
        """
        Torrents large in one way: long and shared paths, many files, deep
        nesting, many values or pieces, a long name.
        """
        self.check(oversizedTorrent(shape, n))


class WireFuzzTests(SynchronousTestCase):
    """
    The peer wire L{Decoder} returns messages or raises L{ProtocolError},
    the same whether the bytes come whole or split anywhere.
    """

    def setUp(self) -> None:
        self.meter = InputMeter(self, "wire.Decoder", Limits(seconds=2, memory=8 * MiB))

    def decode(self, data: bytes, cuts: list[int], handshake: bool, reserved: bytes) -> None:
        with self.meter.measure():
            whole = Decoder(expectHandshake=handshake, reserved=reserved)
            try:
                expected = whole.receiveData(data)
            except ProtocolError:
                expected = None
            split = Decoder(expectHandshake=handshake, reserved=reserved)
            received = []
            try:
                for chunk in chunked(data, cuts):
                    received.extend(split.receiveData(chunk))
                    # At most one incomplete message is ever held.
                    self.assertLessEqual(split.bufferedBytes, split.maxMessageLength + 4)
            except ProtocolError:
                received = None
        self.assertEqual(received, expected)

    @fuzzSettings(50)
    @given(st.data())
    def test_streams(self, draw: st.DataObject) -> None:
        """
        A handshake (or not), messages of BEP 3 and the extensions, random
        bytes, with bytes mutated, split at random points.
        """
        handshake = draw.draw(st.booleans())
        reserved = draw.draw(st.sampled_from(
            [bytes(8), makeReserved(ReservedBit.FAST, ReservedBit.EXTENSION_PROTOCOL)]
        ))
        parts = [encode(draw.draw(handshakes))] if handshake else []
        parts += [
            encode(m) for m in draw.draw(st.lists(messages | extensionMessages, max_size=12))
        ]
        parts.insert(draw.draw(st.integers(0, len(parts))), draw.draw(st.binary(max_size=30)))
        data = mutated(draw, b"".join(parts), most=draw.draw(st.integers(0, 3)))
        self.decode(data, draw.draw(st.lists(st.integers(0, 2**16), max_size=10)),
                    handshake, reserved)

    @fuzzSettings(20)
    @given(st.sampled_from(["length", "bitfield", "keepalives", "piece", "unknown"]),
           st.integers(0, 2**32 - 1), bigCount, st.lists(st.integers(0, 2**20), max_size=10))
    def test_oversized(self, shape: str, length: int, n: int, cuts: list[int]) -> None:
        """
        Huge length prefixes, long bitfields, pieces and unknown messages,
        floods of keep-alives.
        """
        if shape == "length":
            data = length.to_bytes(4, "big") + b"\x07" + b"x" * (n % 70000)
        elif shape == "bitfield":
            data = (1 + n).to_bytes(4, "big") + b"\x05" + b"\xff" * n
        elif shape == "keepalives":
            data = b"\x00\x00\x00\x00" * n
        elif shape == "piece":
            data = (9 + n).to_bytes(4, "big") + b"\x07" + b"\x00" * (8 + n)
        else:
            data = (1 + n).to_bytes(4, "big") + b"\x63" + b"u" * n
        self.decode(data, cuts, False, bytes(8))


class ExtensionFuzzTests(SynchronousTestCase):
    """
    The payloads of extension messages (BEP 9, 10, 11) decode or raise
    L{ExtensionError}.
    """

    def setUp(self) -> None:
        self.meter = InputMeter(self, "extension payloads", Limits(seconds=2, memory=8 * MiB))

    @fuzzSettings(50)
    @given(st.sampled_from(["handshake", "ut_pex", "ut_metadata"]),
           st.binary(max_size=300) | bencodable().map(bencodepy.encode)
           | st.dictionaries(
               st.sampled_from([b"m", b"v", b"p", b"reqq", b"yourip", b"metadata_size",
                                b"added", b"added.f", b"added6", b"dropped", b"msg_type",
                                b"piece", b"total_size"]),
               bencodable(), max_size=5,
           ).map(bencodepy.encode))
    def test_payloads(self, extension: str, payload: bytes) -> None:
        """
        Random bytes, bencoded values, dictionaries of the extensions' keys
        holding values of any type.
        """
        decode = {
            "handshake": ExtendedHandshake.decode,
            "ut_pex": PexMessage.decode,
            "ut_metadata": decodeMetadataMessage,
        }[extension]
        with self.meter.measure():
            try:
                decode(payload)
            except ExtensionError:
                pass


_ANNOUNCE_KEYS = [b"interval", b"min interval", b"peers", b"peers6", b"failure reason",
                  b"warning message", b"tracker id", b"complete", b"incomplete"]
_PEER_KEYS = [b"ip", b"port", b"peer id"]


class TrackerFuzzTests(SynchronousTestCase):
    """
    A tracker's announce answer (L{parseAnnounceBody}) parses or raises
    L{TrackerError}.
    """

    def setUp(self) -> None:
        self.meter = InputMeter(self, "tracker.parseAnnounceBody",
                                Limits(seconds=5, memory=32 * MiB))

    def check(self, body: bytes) -> None:
        with self.meter.measure():
            try:
                answer = parseAnnounceBody("http://t.example/announce", body)
            except TrackerError:
                return
        self.assertIsInstance(answer, AnnounceResponse)
        for host, port in answer.peers:
            self.assertIsInstance(host, str)
            self.assertTrue(0 <= port < 65536)

    @fuzzSettings(50)
    @given(st.binary(max_size=300))
    def test_anyBytes(self, body: bytes) -> None:
        """
        Random bytes.
        """
        self.check(body)

    @fuzzSettings(50)
    @given(st.dictionaries(
        st.sampled_from(_ANNOUNCE_KEYS),
        bencodable()
        | st.binary(max_size=60)
        | st.lists(st.dictionaries(st.sampled_from(_PEER_KEYS), bencodable(4), max_size=3),
                   max_size=4),
        max_size=6,
    ))
    def test_structured(self, answer: dict) -> None:
        """
        Dictionaries of the answer's keys holding values of any type,
        compact peer strings of any length, peer dictionaries of any shape.
        """
        self.check(bencodepy.encode(answer))

    @fuzzSettings(50)
    @given(st.data())
    def test_mutated(self, draw: st.DataObject) -> None:
        """
        A valid answer with bytes replaced, deleted or inserted.
        """
        valid = bencodepy.encode({
            b"interval": 1800, b"complete": 3, b"peers": b"\x7f\x00\x00\x01\x1a\xe1" * 3,
            b"peers6": b"\x00" * 15 + b"\x01\x1a\xe1",
        })
        self.check(mutated(draw, valid))

    @fuzzSettings(20)
    @given(st.sampled_from(["peers", "peerList", "nesting", "warning"]), bigCount)
    def test_oversized(self, shape: str, n: int) -> None:
        """
        Answers large in one way: many compact or listed peers, deep
        nesting, a long warning.
        """
        if shape == "peers":
            body = b"d8:intervali1800e5:peers" + _string(bytes(range(6)) * n) + b"e"
        elif shape == "peerList":
            body = (b"d8:intervali1800e5:peersl"
                    + b"d2:ip9:127.0.0.14:porti6881ee" * (n // 4) + b"ee")
        elif shape == "nesting":
            body = b"d8:intervali1800e5:peers0:1:x" + b"l" * n + b"e" * n + b"e"
        else:
            body = b"d8:intervali1800e5:peers0:15:warning message" + _string(b"w" * n) + b"e"
        self.check(body)


BASE = "http://127.0.0.1:8080"
CHANGE = {"X-Bittwist": "1"}


class WebApiFuzzTests(SynchronousTestCase):
    """
    The JSON API answers any request with JSON: an answer or an error of
    status below 500, never a crash, and logs no error.
    """

    def setUp(self) -> None:
        from treq.testing import StubTreq

        self.meter = InputMeter(self, "web API request", Limits(seconds=5, memory=48 * MiB))
        clock = MemoryReactorClock()
        self.service = BitTorrentService(
            "tcp:6881", reactor=clock, httpClient=object(), progressInterval=None,
            storageFactory=UncheckedStorage,
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        site = makeWebSite(self.service, os.path.abspath("downloads"), token="sesame",
                           requireToken=False, reactor=clock)
        self.treq = StubTreq(site.resource)
        self.torrent = self.service.addTorrent(VALID_TORRENT, "here", announce=False)
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def request(self, method: str, path: str, headers: dict, body: bytes) -> None:
        with self.meter.measure():
            d = self.treq.request(method, BASE + path, headers=headers, data=body)
            self.treq.flush()
            response = self.successResultOf(d)
            d = self.treq.content(response)
            self.treq.flush()
            content = self.successResultOf(d)
        self.assertLess(response.code, 500, content)
        if response.code == 400 and content == b"" and "multipart" in str(headers):
            # twisted.web's own answer to a multipart body it cannot parse,
            # given before any resource sees the request.
            return
        if path.startswith("/api/") and method != "HEAD":
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             ["application/json; charset=utf-8"],
                             (method, path, headers, response.code, content[:200]))
            answer = json.loads(content)
            if response.code >= 400:
                self.assertIsInstance(answer["error"], str)
        self.assertEqual([e for e in self.log if "log_failure" in e], [])

    @fuzzSettings(40)
    @given(st.data())
    def test_uploads(self, draw: st.DataObject) -> None:
        """
        C{POST /api/torrents} with random, mutated, oversized and structured
        torrents, raw or as C{multipart/form-data} (well-formed or not), of
        any content type, with or without the header a change needs.
        """
        kind = draw.draw(st.sampled_from(["bytes", "mutated", "oversized", "structured"]))
        if kind == "bytes":
            torrent = draw.draw(st.binary(max_size=300))
        elif kind == "mutated":
            torrent = mutated(draw, VALID_TORRENT)
        elif kind == "oversized":
            torrent = oversizedTorrent(draw.draw(st.sampled_from(SHAPES)), draw.draw(bigCount))
        else:
            top = bencodepy.decode(VALID_TORRENT)
            top[b"info"].update(draw.draw(
                st.dictionaries(st.sampled_from(_INFO_KEYS), bencodable(), max_size=3)
            ))
            torrent = bencodepy.encode(top)
        headers = dict(CHANGE) if draw.draw(st.integers(0, 9)) else {}
        if draw.draw(st.booleans()):
            boundary = draw.draw(st.sampled_from(["b0undary", "", "x" * 80, "a b"]))
            field = draw.draw(st.sampled_from(["torrent", "file", ""]))
            body = (
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                f"filename=\"x.torrent\"\r\n\r\n"
            ).encode() + torrent + f"\r\n--{boundary}--\r\n".encode()
            body = mutated(draw, body, most=draw.draw(st.integers(0, 2)))
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        else:
            body = torrent
            headers["Content-Type"] = draw.draw(st.sampled_from(
                ["application/x-bittorrent", "application/json", "text/plain", ""]
            ))
        self.request("POST", "/api/torrents", headers, body)

    @fuzzSettings(40)
    @given(st.sampled_from(["GET", "POST", "DELETE", "PUT", "HEAD"]),
           st.sampled_from(["", "/pause", "/resume", "/peers", "/pieces", "/x", "/pause/x"]),
           st.sampled_from(["known", "unknown", "short", "junk"]),
           st.binary(max_size=200) | bencodable().map(lambda v: json.dumps(repr(v)).encode()),
           st.booleans())
    def test_requests(self, method: str, action: str, which: str, body: bytes,
                      change: bool) -> None:
        """
        Any method on a torrent's resources, known or not, with any body.
        """
        infoHash = {"known": self.torrent.infoHash.hex(), "unknown": "ab" * 20,
                    "short": "abc", "junk": "%ff%00.."}[which]
        if method == "DELETE" and which == "known":
            method = "GET"  # keep the torrent for the next inputs
        self.request(method, f"/api/torrents/{infoHash}{action}",
                     dict(CHANGE) if change else {}, body)


class StateRecordFuzzTests(SynchronousTestCase):
    """
    A state folder's record (its C{.json}, and the C{.torrent} beside it)
    loads, or is skipped with an error logged naming it: never a crash,
    never the "unexpected error" path kept for bugs.
    """

    def setUp(self) -> None:
        self.meter = InputMeter(self, "state record", Limits(seconds=5, memory=32 * MiB))
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "pay"))
        with open(os.path.join(self.root, "pay", "a.bin"), "wb") as f:
            f.write(b"a" * (2 * PIECE + 5))
        self.data = createTorrent(os.path.join(self.root, "pay"), pieceLength=PIECE,
                                  trackers=["http://t.example/announce"])
        self.metainfo = parse(self.data)
        self.folder = StateFolder(os.path.abspath(self.mktemp()), Clock())
        resume = ResumeData(PieceBitfield(self.metainfo.numPieces, [1]),
                            stampFiles(self.metainfo, self.root))
        record = TorrentRecord(self.metainfo, self.data, self.root, peers=(("127.0.0.1", 6881),))
        self.successResultOf(self.folder.save(record, resume.pieces))
        base = os.path.join(self.folder.path, self.metainfo.infoHash.hex())
        self.jsonPath, self.torrentPath = base + ".json", base + ".torrent"
        with open(self.jsonPath, "rb") as f:
            self.validJson = f.read()
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def check(self, jsonData: bytes, torrentData: bytes) -> None:
        for path, data in ((self.jsonPath, jsonData), (self.torrentPath, torrentData)):
            with open(path, "wb") as f:
                f.write(data)
        before = len(self.log)
        with self.meter.measure():
            record = self.folder.read(self.metainfo.infoHash)
        events = list(self.log)[before:]
        self.assertEqual([e for e in events if "log_failure" in e], [])
        if record is None:
            self.assertEqual([e["path"] for e in events], [self.jsonPath])
        else:
            self.assertEqual(record.infoHash, self.metainfo.infoHash)

    @fuzzSettings(50)
    @given(st.data())
    def test_records(self, draw: st.DataObject) -> None:
        """
        Random bytes, a valid record mutated, a valid record with fields
        replaced by JSON values of any type; beside the right C{.torrent},
        a mutated one, or an oversized one.
        """
        kind = draw.draw(st.sampled_from(["bytes", "mutated", "fields"]))
        if kind == "bytes":
            jsonData = draw.draw(st.binary(max_size=300))
        elif kind == "mutated":
            jsonData = mutated(draw, self.validJson)
        else:
            document = json.loads(self.validJson)
            values = st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                lambda inner: st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(
                    ["pieces", "files", "path", "size", "mtimeNs", "x"]), inner, max_size=3),
                max_leaves=8,
            )
            document.update(draw.draw(st.dictionaries(st.sampled_from(
                ["version", "infoHash", "downloadDir", "paused", "addedAt", "peers",
                 "announce", "resume", "name"]), values, max_size=3)))
            jsonData = json.dumps(document).encode()
        torrentKind = draw.draw(st.sampled_from(["valid", "valid", "mutated", "oversized"]))
        if torrentKind == "valid":
            torrentData = self.data
        elif torrentKind == "mutated":
            torrentData = mutated(draw, self.data)
        else:
            torrentData = oversizedTorrent(draw.draw(st.sampled_from(SHAPES)), draw.draw(bigCount))
        self.check(jsonData, torrentData)


_KRPC_KEYS = [b"t", b"y", b"q", b"a", b"r", b"e", b"v", b"ro"]
_KRPC_ARGUMENTS = [b"id", b"target", b"info_hash", b"port", b"implied_port", b"token", b"nodes", b"values"]


class KRPCFuzzTests(SynchronousTestCase):
    """
    Whatever datagram arrives, a DHT node neither raises nor answers with
    more than a bounded answer (BEP 5, L{bittwist.dht}).
    """

    def setUp(self) -> None:
        self.meter = InputMeter(self, "DHT datagrams", Limits(seconds=1, memory=2 * MiB))
        self.clock = Clock()
        self.node = DHTNode(self.clock, nodeId=b"\x80" * 20, bootstrap=(), answerRate=1e9, answerBurst=1e9,
                            inputRate=1e9, inputBurst=1e9)
        self.transport = FakeDatagramTransport()
        self.node.makeConnection(self.transport)
        self.addCleanup(self.node.doStop)

    @fuzzSettings(50)
    @given(st.binary(max_size=1600)
           | bencodable().map(bencodepy.encode)
           | st.fixed_dictionaries(
               {b"t": st.binary(max_size=4), b"y": st.sampled_from([b"q", b"r", b"e"])},
               optional={
                   b"q": st.sampled_from([b"ping", b"find_node", b"get_peers", b"announce_peer", b"x"]),
                   b"a": st.dictionaries(st.sampled_from(_KRPC_ARGUMENTS), bencodable(), max_size=6),
                   b"r": st.dictionaries(st.sampled_from(_KRPC_ARGUMENTS), bencodable(), max_size=6),
                   b"e": bencodable(),
                   b"ro": bencodable(),
               },
           ).map(bencodepy.encode))
    def test_datagrams(self, datagram: bytes) -> None:
        """
        Random bytes, bencoded values, and KRPC-shaped dictionaries whose
        fields hold values of any type.
        """
        self.transport.written.clear()
        with self.meter.measure():
            self.node.datagramReceived(datagram, ("192.0.2.1", 6881))
        for answer, address in self.transport.written:
            self.assertEqual(address, ("192.0.2.1", 6881))
            self.assertLess(len(answer), 600)
