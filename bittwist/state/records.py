# -*- test-case-name: tests.test_state -*-
"""
L{TorrentRecord}: what a state folder holds about one torrent, and its
two files: C{<infohash>.torrent}, the metainfo exactly as added, and
C{<infohash>.json}, the record, read back under bounds (L{readRecord}).
"""

import base64
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import bencodepy

from bittwist import metainfo as _metainfo
from bittwist.bitfield import Bitfield
from bittwist.config import FILE_PRIORITIES
from bittwist.errors import MetainfoError
from bittwist.metainfo import Metainfo
from bittwist.state.files import DamagedFile, readBounded
from bittwist.state.resume import FileStamp, ResumeData

__all__ = [
    "TorrentRecord",
    "TORRENT_OPTIONS",
    "metainfoBytes",
    "describeRecords",
    "encodeRecord",
    "decodeRecord",
    "readRecord",
    "stateSizeLimit",
]

STATE_VERSION = 1
"""
The version of the C{.json} format written; others are refused as damaged.
"""

MAX_STATE_SIZE = 64 * 2**20
"""
A C{.json} state file larger than this is damaged (the biggest real one, a
torrent of many thousands of files, is a few MiB).  A smaller bound, from
the size of its C{.torrent}, applies first: see L{STATE_SIZE_RATIO}.
"""

STATE_SIZE_SLACK = 2**20
STATE_SIZE_RATIO = 16
"""
A C{.json} state file larger than C{STATE_SIZE_SLACK + STATE_SIZE_RATIO}
times its C{.torrent} is damaged.  Its size follows the torrent's (a stamp
per file, a bit per piece): the JSON of a file's stamp is at most a few
times the bencoded entry of that file, escaped non-ASCII names included;
the slack holds the download folder and the peers.  A hostile file so
costs a bounded parse, not up to L{MAX_STATE_SIZE} of JSON objects.
"""
MAX_LOGGED_NAME = 60
"""
How many characters of a torrent's name L{describeRecords} shows.
"""


def metainfoBytes(metainfo: Metainfo) -> bytes:
    """
    Rebuild a C{.torrent} for a L{Metainfo} whose file bytes are gone: the
    C{info} dictionary exactly as parsed (so the info hash is unchanged),
    with the trackers and display fields.

    @return: the bencoded torrent.
    """
    top: dict[bytes, Any] = {}
    if metainfo.announce is not None:
        top[b"announce"] = metainfo.announce.encode("utf-8")
    if metainfo.announceTiers:
        top[b"announce-list"] = [
            [url.encode("utf-8") for url in tier] for tier in metainfo.announceTiers
        ]
    if metainfo.comment is not None:
        top[b"comment"] = metainfo.comment.encode("utf-8")
    if metainfo.createdBy is not None:
        top[b"created by"] = metainfo.createdBy.encode("utf-8")
    if metainfo.creationDate is not None:
        top[b"creation date"] = metainfo.creationDate
    # Every other key sorts before "info"; splice its bytes in last, as
    # re-encoding it could change the info hash.
    encoded = bencodepy.encode(top)
    return encoded[:-1] + b"4:info" + metainfo.infoBytes + b"e"


@dataclass
class TorrentRecord:
    """
    What the state folder holds about one torrent.

    @ivar metainfo: the torrent.
    @ivar torrentData: its C{.torrent} bytes.
    @ivar downloadDir: the absolute folder its files go in.
    @ivar paused: whether it stays paused when started.
    @ivar addedAt: when it was first added, in POSIX seconds.
    @ivar peers: the peer addresses it was added with.
    @ivar announce: whether it uses its trackers.
    @ivar resume: the last fast resume data saved, if any.
    @ivar options: the torrent's own settings, changed while it ran (see
        L{TORRENT_OPTIONS}): C{sequential}, C{maxPeers}, C{seedRatio},
        C{seedTime}, C{filePriorities}.
    """

    metainfo: Metainfo
    torrentData: bytes
    downloadDir: str
    paused: bool = False
    addedAt: float = 0.0
    peers: tuple[tuple[str, int], ...] = ()
    announce: bool = True
    resume: Optional[ResumeData] = field(default=None)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def infoHash(self) -> bytes:
        """
        The torrent's info hash.
        """
        return self.metainfo.infoHash


TORRENT_OPTIONS: dict[str, tuple[type, ...]] = {
    "sequential": (bool,),
    "maxPeers": (int,),
    "seedRatio": (int, float, type(None)),
    "seedTime": (int, float, type(None)),
    "maxUploadRate": (int,),
    "maxDownloadRate": (int,),
    "filePriorities": (list,),
}
"""
The settings of a torrent a record keeps, with the JSON types each may
have.
"""


def _options(value: object) -> dict[str, Any]:
    """
    @return: a record's C{options}, checked.
    @raise DamagedFile: if they are not an object of known options of the
        right types.
    """
    options = _expect(value, dict, "options")
    for name, option in options.items():
        types = TORRENT_OPTIONS.get(name)
        if types is None or type(option) not in types:
            raise DamagedFile(f"option {name!r} is unknown, or {option!r} is not valid for it")
        if name == "filePriorities" and any(
            type(p) is not int or p not in FILE_PRIORITIES for p in option
        ):
            raise DamagedFile(f"file priorities are 0, 1 or 2, not {option!r:.100}")
    return dict(options)


def stateSizeLimit(torrentData: bytes) -> int:
    """
    @return: the largest C{.json} accepted beside this C{.torrent}.
    """
    return min(MAX_STATE_SIZE, STATE_SIZE_SLACK + STATE_SIZE_RATIO * len(torrentData))


def _printableName(name: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in name[:MAX_LOGGED_NAME])
    return shown + ("..." if len(name) > MAX_LOGGED_NAME else "")


def describeRecords(records: Sequence[TorrentRecord], limit: int = 5) -> str:
    """
    Name torrents for a log line, bounded however many there are and
    however long or strange their names (they come from C{.torrent} files).

    @param limit: how many names to show.
    @return: e.g. C{"a, b, c and 7 more"}; C{"none"} for no torrent.
    """
    if not records:
        return "none"
    names = ", ".join(_printableName(record.metainfo.name) for record in records[:limit])
    if len(records) > limit:
        names += f" and {len(records) - limit} more"
    return names


def encodeRecord(record: TorrentRecord) -> bytes:
    resume = record.resume
    document = {
        "version": STATE_VERSION,
        "infoHash": record.infoHash.hex(),
        "name": record.metainfo.name,
        "downloadDir": record.downloadDir,
        "paused": record.paused,
        "addedAt": record.addedAt,
        "peers": [[host, port] for host, port in record.peers],
        "announce": record.announce,
        "options": record.options,
        "resume": None
        if resume is None
        else {
            "pieces": base64.b64encode(resume.pieces.toBytes()).decode("ascii"),
            "files": [
                {"path": list(stamp.path), "size": stamp.size, "mtimeNs": stamp.mtimeNs}
                for stamp in resume.files
            ],
        },
    }
    return json.dumps(document, indent=1).encode("utf-8")


def _expect(value: Any, kind: Any, what: str) -> Any:
    # bool is an int in Python; a JSON true is no size.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DamagedFile(f"{what} is {value!r}")
    return value


def _optionalInt(value: Any, what: str) -> Optional[int]:
    return None if value is None else _expect(value, int, what)


def decodeRecord(data: bytes, metainfo: Metainfo, torrentData: bytes) -> TorrentRecord:
    """
    @raise DamagedFile: if C{data} is not a state record of C{metainfo}.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedFile(f"not JSON ({e})") from None
    except RecursionError:
        raise DamagedFile("not a record (nested too deeply)") from None
    _expect(document, dict, "the document")
    if document.get("version") != STATE_VERSION:
        raise DamagedFile(f"version is {document.get('version')!r}, expected {STATE_VERSION}")
    if document.get("infoHash") != metainfo.infoHash.hex():
        raise DamagedFile("its info hash is not its .torrent's")
    downloadDir = _expect(document.get("downloadDir"), str, "downloadDir")
    if not os.path.isabs(downloadDir):
        raise DamagedFile(f"downloadDir {downloadDir!r} is not absolute")
    peers = []
    for peer in _expect(document.get("peers", []), list, "peers"):
        if (
            not isinstance(peer, list) or len(peer) != 2
            or not isinstance(peer[0], str) or not isinstance(peer[1], int)
            or isinstance(peer[1], bool) or not 0 < peer[1] < 65536
        ):
            raise DamagedFile(f"peer {peer!r} is not [host, port]")
        peers.append((peer[0], peer[1]))
    addedAt = document.get("addedAt", 0.0)
    if (
        isinstance(addedAt, bool) or not isinstance(addedAt, (int, float))
        or not math.isfinite(addedAt)
    ):
        raise DamagedFile(f"addedAt is {addedAt!r}")
    resume = None
    saved = document.get("resume")
    if saved is not None:
        _expect(saved, dict, "resume")
        try:
            bits = base64.b64decode(_expect(saved.get("pieces"), str, "resume.pieces"), validate=True)
            pieces = Bitfield.fromBytes(metainfo.numPieces, bits)
        except ValueError as e:
            raise DamagedFile(f"resume.pieces does not fit the torrent ({e})") from None
        stamps = []
        for stamp in _expect(saved.get("files"), list, "resume.files"):
            _expect(stamp, dict, "a file of resume.files")
            path = _expect(stamp.get("path"), list, "a path in resume.files")
            if not all(isinstance(part, str) for part in path):
                raise DamagedFile(f"path {path!r} in resume.files is not a list of names")
            stamps.append(
                FileStamp(
                    tuple(path),
                    _optionalInt(stamp.get("size"), "a size in resume.files"),
                    _optionalInt(stamp.get("mtimeNs"), "a time in resume.files"),
                )
            )
        resume = ResumeData(pieces, tuple(stamps))
    return TorrentRecord(
        metainfo=metainfo,
        torrentData=torrentData,
        downloadDir=downloadDir,
        paused=_expect(document.get("paused", False), bool, "paused"),
        addedAt=float(addedAt),
        peers=tuple(peers),
        announce=_expect(document.get("announce", True), bool, "announce"),
        resume=resume,
        options=_options(document.get("options", {})),
    )


def readRecord(infoHash: bytes, torrentPath: str, jsonPath: str) -> TorrentRecord:
    """
    Read a torrent's record from its two files, each under its bound.

    @raise DamagedFile: if either file is missing, damaged, too big, or
        not of this torrent.
    """
    torrentData = readBounded(
        torrentPath, _metainfo.MAX_METAINFO_SIZE, f"its .torrent {torrentPath}"
    )
    try:
        metainfo = _metainfo.parse(torrentData, torrentPath)
    except MetainfoError as e:
        raise DamagedFile(f"its .torrent is damaged ({e})") from None
    if metainfo.infoHash != infoHash:
        raise DamagedFile(f"its .torrent {torrentPath} has info hash {metainfo.infoHash.hex()}")
    limit = stateSizeLimit(torrentData)
    data = readBounded(jsonPath, limit, "it")
    if len(data) > limit:
        raise DamagedFile(f"it is over {limit} bytes, too big for its torrent")
    return decodeRecord(data, metainfo, torrentData)
