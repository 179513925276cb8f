# -*- test-case-name: tests.test_state -*-
"""
The state folder: what a L{bittwist.service.BitTorrentService} remembers
between runs.

Each torrent has two files named by its info hash in hex:
C{<infohash>.torrent}, the metainfo exactly as added, and
C{<infohash>.json}, a L{TorrentRecord}: the download folder, whether it is
paused, when it was added, the peers and tracker choice it was added with,
and fast resume data (L{ResumeData}): the verified pieces and each file's
size and modification time when they were saved.

On restart, a torrent whose files still have the saved sizes and times is
not hashed again: its saved pieces are trusted.  Pieces touching a file
that changed are hashed.  Files are replaced atomically (a temporary file,
then C{os.replace}), so a crash leaves the old or the new version, never a
mix.  A damaged state file is logged, naming it, and its torrent skipped;
nothing in a download folder is ever touched here.

One process at a time uses a state folder: L{StateFolder.open} locks it
(C{flock} on its C{lock} file, which holds the owner's pid; the kernel
releases it when the process ends, however it ends) and removes the
temporary files an interrupted write left behind.  L{missingData} tells a
torrent whose verified data is gone (a deleted folder, an unmounted disk)
from one that has not downloaded anything yet.
"""

import base64
import errno
import fcntl
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence

import bencodepy
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist import metainfo as _metainfo
from bittwist.atomicfile import temporaryFile as _temporaryFile
from bittwist.atomicfile import writeAtomically as _writeAtomically
from bittwist.bitfield import Bitfield
from bittwist.config import FILE_PRIORITIES
from bittwist.errors import MetainfoError, StateFolderError, StateFolderLocked
from bittwist.metainfo import Metainfo

__all__ = [
    "FileStamp",
    "ResumeData",
    "TorrentRecord",
    "StateFolder",
    "defaultStateDir",
    "metainfoBytes",
    "stampFiles",
    "resumePlan",
    "missingData",
    "describeRecords",
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

LOCK_NAME = "lock"
"""
The lock file in a state folder: L{StateFolder.open} locks it and writes
its pid in it.
"""

MAX_PID_SIZE = 32
"""
How much of a lock file is read for the pid of its owner.
"""

_TEMPORARY = re.compile(r"\.(?:[0-9a-f]{40}\.(?:json|torrent)|settings\.json)[a-z0-9_]{8}\.tmp")
"""
The names L{_temporaryFile} gives (C{tempfile.mkstemp} adds 8 characters of
C{[a-z0-9_]}); nothing else in a state folder is removed as stale.
"""

_CLEANUP = b"cleanup"
"""
The write queue's key for removing stale temporary files (no info hash has
7 bytes).
"""

MAX_LOGGED_NAME = 60
"""
How many characters of a torrent's name L{describeRecords} shows.
"""


def defaultStateDir() -> str:
    """
    @return: C{$XDG_STATE_HOME/bittwist}, or C{~/.local/state/bittwist}
        when C{XDG_STATE_HOME} is unset or not absolute (as the XDG base
        directory specification says).
    """
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "bittwist")


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


@dataclass(frozen=True)
class FileStamp:
    """
    One file of a torrent as it stood on disk.

    @ivar path: its path components under the download folder.
    @ivar size: its size, or C{None} if it did not exist.
    @ivar mtimeNs: its modification time in nanoseconds, or C{None}.
    """

    path: tuple[str, ...]
    size: Optional[int]
    mtimeNs: Optional[int]


@dataclass(frozen=True)
class ResumeData:
    """
    Fast resume data: the pieces verified, and the torrent's files as they
    stood when that was saved.

    @ivar pieces: the verified pieces.
    @ivar files: a stamp of every file holding data (not pad files, not
        empty files), in the torrent's order.
    """

    pieces: Bitfield
    files: tuple[FileStamp, ...]


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


def _dataFiles(metainfo: Metainfo) -> list[Any]:
    """
    @return: the file entries that hold data: neither pad nor empty.
    """
    return [entry for entry in metainfo.files if not entry.pad and entry.length]


def stampFiles(metainfo: Metainfo, downloadDir: str) -> tuple[FileStamp, ...]:
    """
    Read the size and modification time of each file of a torrent (symbolic
    links are not followed, as storage does not follow them either).

    @return: a L{FileStamp} for each file holding data.
    """
    stamps = []
    for entry in _dataFiles(metainfo):
        path = os.path.join(downloadDir, *entry.path)
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            stamps.append(FileStamp(entry.path, None, None))
        else:
            stamps.append(FileStamp(entry.path, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


def resumePlan(
    metainfo: Metainfo, downloadDir: str, resume: Optional[ResumeData]
) -> Optional[tuple[Bitfield, list[int]]]:
    """
    Decide how much of a torrent to hash on start, from its saved resume
    data and its files as they are now.

    @return: C{None} for a full check (no resume data, or data that does
        not fit the torrent), else C{(trusted, rehash)} for
        L{bittwist.storage.IPieceStorage.check}: the saved pieces, and every
        piece touching a file whose size or time changed.
    """
    if resume is None or resume.pieces.length != metainfo.numPieces:
        return None
    entries = _dataFiles(metainfo)
    if [stamp.path for stamp in resume.files] != [entry.path for entry in entries]:
        return None
    now = stampFiles(metainfo, downloadDir)
    rehash: set[int] = set()
    pieceLength = metainfo.pieceLength
    for entry, saved, current in zip(entries, resume.files, now):
        if saved != current:
            first = entry.offset // pieceLength
            last = (entry.offset + entry.length - 1) // pieceLength
            rehash.update(range(first, last + 1))
    return resume.pieces, sorted(rehash)


def missingData(record: TorrentRecord) -> Optional[str]:
    """
    Say whether a remembered torrent's data is gone: its download folder,
    or a file holding a piece its resume data says was verified.  A
    torrent that has not verified a piece yet is never missing data,
    whether its files exist or not; its download folder missing counts
    only if its resume data says files were there.  Only looks (C{stat}),
    never changes anything.

    @return: C{None} if the data is there or none is expected, else a
        message for the user naming the missing folder or file, e.g.
        C{"data missing at /x/y: restore it or remove the torrent"}.
    """
    metainfo = record.metainfo
    resume = record.resume
    pieces = None
    if resume is not None and resume.pieces.length == metainfo.numPieces and len(resume.pieces):
        pieces = resume.pieces
    existed = pieces is not None or (
        resume is not None and any(stamp.size is not None for stamp in resume.files)
    )
    if not existed:
        return None
    try:
        gone = not stat.S_ISDIR(os.stat(record.downloadDir).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        gone = True
    except OSError:
        # Unreadable is not gone: storage reports it when used.
        gone = False
    if gone:
        return (
            f"data missing at {record.downloadDir} (the download folder is gone; "
            f"is its disk mounted?): restore it or remove the torrent"
        )
    if pieces is None:
        return None
    missing = []
    pieceLength = metainfo.pieceLength
    for entry in _dataFiles(metainfo):
        first = entry.offset // pieceLength
        last = (entry.offset + entry.length - 1) // pieceLength
        if not any(index in pieces for index in range(first, last + 1)):
            continue
        path = os.path.join(record.downloadDir, *entry.path)
        try:
            os.lstat(path)
        except FileNotFoundError:
            missing.append(path)
        except OSError:
            # Unreadable is not gone: storage reports it when used.
            pass
    if not missing:
        return None
    others = ""
    if len(missing) > 1:
        others = f" (and {len(missing) - 1} other file{'s' if len(missing) > 2 else ''})"
    return f"data missing at {missing[0]}{others}: restore it or remove the torrent"


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


class _Damaged(Exception):
    """
    A state file cannot be used; the message says why.
    """


def _encodeRecord(record: TorrentRecord) -> bytes:
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
        raise _Damaged(f"{what} is {value!r}")
    return value


def _optionalInt(value: Any, what: str) -> Optional[int]:
    return None if value is None else _expect(value, int, what)


def _decodeRecord(data: bytes, metainfo: Metainfo, torrentData: bytes) -> TorrentRecord:
    """
    @raise _Damaged: if C{data} is not a state record of C{metainfo}.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise _Damaged(f"not JSON ({e})") from None
    except RecursionError:
        raise _Damaged("not a record (nested too deeply)") from None
    _expect(document, dict, "the document")
    if document.get("version") != STATE_VERSION:
        raise _Damaged(f"version is {document.get('version')!r}, expected {STATE_VERSION}")
    if document.get("infoHash") != metainfo.infoHash.hex():
        raise _Damaged("its info hash is not its .torrent's")
    downloadDir = _expect(document.get("downloadDir"), str, "downloadDir")
    if not os.path.isabs(downloadDir):
        raise _Damaged(f"downloadDir {downloadDir!r} is not absolute")
    peers = []
    for peer in _expect(document.get("peers", []), list, "peers"):
        if (
            not isinstance(peer, list) or len(peer) != 2
            or not isinstance(peer[0], str) or not isinstance(peer[1], int)
            or isinstance(peer[1], bool) or not 0 < peer[1] < 65536
        ):
            raise _Damaged(f"peer {peer!r} is not [host, port]")
        peers.append((peer[0], peer[1]))
    addedAt = document.get("addedAt", 0.0)
    if (
        isinstance(addedAt, bool) or not isinstance(addedAt, (int, float))
        or not math.isfinite(addedAt)
    ):
        raise _Damaged(f"addedAt is {addedAt!r}")
    resume = None
    saved = document.get("resume")
    if saved is not None:
        _expect(saved, dict, "resume")
        try:
            bits = base64.b64decode(_expect(saved.get("pieces"), str, "resume.pieces"), validate=True)
            pieces = Bitfield.fromBytes(metainfo.numPieces, bits)
        except ValueError as e:
            raise _Damaged(f"resume.pieces does not fit the torrent ({e})") from None
        stamps = []
        for stamp in _expect(saved.get("files"), list, "resume.files"):
            _expect(stamp, dict, "a file of resume.files")
            path = _expect(stamp.get("path"), list, "a path in resume.files")
            if not all(isinstance(part, str) for part in path):
                raise _Damaged(f"path {path!r} in resume.files is not a list of names")
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


SETTINGS_NAME = "settings.json"
"""
The file of the session's settings changed while it ran (the global rate
limits), beside the torrents' records.
"""

SESSION_SETTINGS = ("maxUploadRate", "maxDownloadRate")
"""
The session settings L{StateFolder.saveSettings} keeps: bytes per second, 0
for unlimited.
"""

_MAX_SETTINGS_SIZE = 4096
_SETTINGS_QUEUE = b"settings"

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
    @raise _Damaged: if they are not an object of known options of the
        right types.
    """
    options = _expect(value, dict, "options")
    for name, option in options.items():
        types = TORRENT_OPTIONS.get(name)
        if types is None or type(option) not in types:
            raise _Damaged(f"option {name!r} is unknown, or {option!r} is not valid for it")
        if name == "filePriorities" and any(
            type(p) is not int or p not in FILE_PRIORITIES for p in option
        ):
            raise _Damaged(f"file priorities are 0, 1 or 2, not {option!r:.100}")
    return dict(options)


def _stateSizeLimit(torrentData: bytes) -> int:
    """
    @return: the largest C{.json} accepted beside this C{.torrent}.
    """
    return min(MAX_STATE_SIZE, STATE_SIZE_SLACK + STATE_SIZE_RATIO * len(torrentData))


def _readBounded(path: str, limit: int, what: str) -> bytes:
    """
    Read at most C{limit + 1} bytes of a regular file (a FIFO or a device
    in its place would block or never end).

    @param what: how the file is named in messages.
    @raise _Damaged: if it cannot be read or is not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise _Damaged(f"{what} cannot be read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise _Damaged(f"{what} is not a regular file")
            # Not read(limit + 1) at once: that allocates the whole limit
            # (64 MiB for a .torrent) whatever the file's size.
            size = min(status.st_size, limit) + 1
            data = f.read(size)
            if len(data) == size and size <= limit:
                data += f.read(limit + 1 - size)  # it grew meanwhile
            return data
        except OSError as e:
            raise _Damaged(f"{what} cannot be read ({e.strerror or e})") from None


def _writePid(fd: int) -> None:
    """
    Write this process's pid in the lock file open on C{fd}; best effort,
    as it only serves the message of L{StateFolderLocked}.
    """
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    except OSError:
        pass


def _readPid(fd: int) -> Optional[int]:
    """
    @return: the pid in the lock file open on C{fd}, if it holds one.
    """
    try:
        text = os.pread(fd, MAX_PID_SIZE, 0).strip()
    except OSError:
        return None
    if not text.isdigit() or len(text) > 10:
        return None
    return int(text) or None


class StateFolder:
    """
    The state files of a service's torrents in one folder.

    A service calls L{open} before it writes (it raises if another process
    uses the folder) and L{close} when its last write is done (after
    L{whenIdle}).  Reads and writes also work without L{open}, but then
    nothing keeps two processes from undoing each other's saves.

    Reads (L{read}, L{records}) happen at once: they are small and happen at
    start.  Writes (L{save}, L{remove}) run one at a time, in order, in the
    reactor's thread pool (at once on a reactor without threads, such as a
    test's clock); a write queued for a torrent that already has one
    waiting replaces it, so a busy torrent costs one write at a time.

    @ivar path: the folder.
    """

    log = Logger()

    def __init__(self, path: str, reactor: Any) -> None:
        """
        Touches nothing on disk: see L{open}.

        @param path: the folder; created, private to this user, by L{open}
            or the first write.
        @param reactor: runs the writes in its thread pool, if it has one.
        """
        self.path = os.path.abspath(path)
        self._reactor = reactor
        self._pending: dict[bytes, tuple[Callable[[], Any], list[Deferred[Any]]]] = {}
        self._order: list[bytes] = []
        self._busy = False
        self._idle: list[Deferred[None]] = []
        self._lockFd: Optional[int] = None

    # Owning the folder.

    @property
    def isOpen(self) -> bool:
        """
        Whether L{open} has taken the folder (and L{close} not released it).
        """
        return self._lockFd is not None

    def open(self) -> Deferred[int]:
        """
        Take the folder for this process: create it (private to this user)
        if needed, lock its L{LOCK_NAME} file and write this process's pid
        in it, then remove the temporary files an interrupted write left
        (queued behind any write already waiting, so none of ours is cut
        short).  The lock lasts until L{close} or the end of the process,
        however it ends: a lock file left by a crash does not block.

        Called again while open, it only writes the pid again: a daemon
        that forked since holds the same lock under a new pid.

        @raise StateFolderLocked: if another L{StateFolder}, in this process
            or another, has the folder open.
        @raise StateFolderError: if the folder or its lock file cannot be
            created or opened.
        @return: fires with how many stale temporary files were removed (0
            if already open); never fails (errors are logged).
        """
        if self._lockFd is not None:
            _writePid(self._lockFd)
            return succeed(0)
        self._lockFd = self._lock()

        def removed(result: Optional[tuple[int, list[tuple[str, str]]]]) -> int:
            if result is None:
                return 0
            count, failures = result
            if count:
                self.log.info(
                    "Removed {count} temporary file(s) left in the state folder "
                    "{path} by an interrupted write",
                    count=count,
                    path=self.path,
                )
            for path, error in failures:
                self.log.warn(
                    "Cannot remove the stale temporary file {path}: {error}; "
                    "delete it by hand",
                    path=path,
                    error=error,
                )
            return count

        return self._queue(_CLEANUP, self._removeTemporaries).addCallback(removed)

    def close(self) -> None:
        """
        Release the folder for another process; call it once L{whenIdle}
        has fired.  The lock file stays: deleting it would let two processes
        lock two different files of the same name.  Does nothing if not
        open.
        """
        fd, self._lockFd = self._lockFd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)

    def _lock(self) -> int:
        """
        @return: the descriptor of the locked lock file, kept open (and not
            inherited by programs run) while this process owns the folder.
        @raise StateFolderLocked: if another holds the lock.
        @raise StateFolderError: if the folder or lock file is unusable.
        """
        lockPath = os.path.join(self.path, LOCK_NAME)
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            fd = os.open(
                lockPath, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                0o600,
            )
        except OSError as e:
            raise StateFolderError(
                self.path, f"cannot create {lockPath} ({e.strerror or e})"
            ) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise StateFolderError(
                    self.path, f"{lockPath} is not a regular file", "delete it"
                )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateFolderLocked(self.path, _readPid(fd)) from None
            except OSError as e:
                if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                    raise StateFolderError(
                        self.path, f"cannot lock {lockPath} ({e.strerror or e})"
                    ) from None
                self.log.warn(
                    "Cannot lock the state folder {path} ({error}): nothing stops "
                    "another bittwist from using it at the same time",
                    path=self.path,
                    error=e.strerror or str(e),
                )
            _writePid(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _removeTemporaries(self) -> tuple[int, list[tuple[str, str]]]:
        """
        Delete the stale temporary files of L{_writeAtomically}: regular
        files named as L{_temporaryFile} names them, nothing else.  Runs in
        the write queue, so no write of ours is under way.

        @return: how many were removed, and the path and error of each
            that could not be.
        """
        removed = 0
        failures: list[tuple[str, str]] = []
        try:
            with os.scandir(self.path) as entries:
                stale = [
                    entry.path for entry in entries
                    if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
                ]
        except OSError as e:
            return 0, [(self.path, e.strerror or str(e))]
        for path in stale:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as e:
                failures.append((path, e.strerror or str(e)))
            else:
                removed += 1
        return removed, failures

    def _paths(self, infoHash: bytes) -> tuple[str, str]:
        base = os.path.join(self.path, infoHash.hex())
        return base + ".torrent", base + ".json"

    # Reading.

    def read(self, infoHash: bytes) -> Optional[TorrentRecord]:
        """
        @return: the record of a torrent, or C{None} if there is none or it
            is damaged (which is logged).
        """
        torrentPath, jsonPath = self._paths(infoHash)
        if not os.path.exists(jsonPath):
            return None
        try:
            return self._read(infoHash, torrentPath, jsonPath)
        except _Damaged as e:
            self.log.error(
                "Damaged state file {path}: {reason}. Skipping that torrent; its "
                "downloaded files are untouched. Delete {path} (and its .torrent) "
                "to forget it, or add the torrent again.",
                path=jsonPath,
                reason=str(e),
            )
            return None
        except Exception:
            # A bug, not damage; still, one torrent must not keep the
            # others (and the service) from starting.
            self.log.failure(
                "Cannot read the state file {path}; skipping that torrent", path=jsonPath
            )
            return None

    def _read(self, infoHash: bytes, torrentPath: str, jsonPath: str) -> TorrentRecord:
        torrentData = _readBounded(
            torrentPath, _metainfo.MAX_METAINFO_SIZE, f"its .torrent {torrentPath}"
        )
        try:
            metainfo = _metainfo.parse(torrentData, torrentPath)
        except MetainfoError as e:
            raise _Damaged(f"its .torrent is damaged ({e})") from None
        if metainfo.infoHash != infoHash:
            raise _Damaged(f"its .torrent {torrentPath} has info hash {metainfo.infoHash.hex()}")
        limit = _stateSizeLimit(torrentData)
        data = _readBounded(jsonPath, limit, "it")
        if len(data) > limit:
            raise _Damaged(f"it is over {limit} bytes, too big for its torrent")
        return _decodeRecord(data, metainfo, torrentData)

    def readSettings(self) -> dict[str, int]:
        """
        @return: the session's settings saved by L{saveSettings}
            (C{maxUploadRate}, C{maxDownloadRate}), or none; a damaged file
            is logged and ignored.
        """
        path = os.path.join(self.path, SETTINGS_NAME)
        try:
            with open(path, "rb") as f:
                data = f.read(_MAX_SETTINGS_SIZE + 1)
            document = json.loads(data)
            settings = _expect(document, dict, "settings")
            for name, value in settings.items():
                if name not in SESSION_SETTINGS or type(value) is not int or value < 0:
                    raise _Damaged(f"setting {name!r} is unknown, or {value!r} is not valid for it")
            return dict(settings)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, _Damaged) as e:
            self.log.error(
                "Ignoring the damaged settings file {path}: {error}", path=path, error=str(e)
            )
            return {}

    def saveSettings(self, settings: dict[str, int]) -> Deferred[None]:
        """
        Remember the session's settings (see L{readSettings}).

        @return: fires when written; never fails (errors are logged).
        """
        data = json.dumps(dict(settings), sort_keys=True).encode("utf-8")

        def write() -> None:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            _writeAtomically(os.path.join(self.path, SETTINGS_NAME), data)

        return self._queue(_SETTINGS_QUEUE, write)

    def records(self) -> list[TorrentRecord]:
        """
        @return: every torrent's record that can be read, oldest first;
            damaged ones are logged and left out.
        """
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return []
        except OSError as e:
            self.log.error(
                "Cannot read the state folder {path}: {error}; starting without "
                "the torrents saved there",
                path=self.path,
                error=e.strerror or str(e),
            )
            return []
        found = []
        for name in names:
            stem, dot, ext = name.partition(".")
            if ext != "json" or len(stem) != 40:
                continue
            try:
                infoHash = bytes.fromhex(stem)
            except ValueError:
                continue
            record = self.read(infoHash)
            if record is not None:
                found.append(record)
        found.sort(key=lambda record: record.addedAt)
        return found

    # Writing.

    def save(
        self,
        record: TorrentRecord,
        pieces: Optional[Bitfield] = None,
    ) -> Deferred[Optional[ResumeData]]:
        """
        Write a torrent's C{.torrent} (unless there) and C{.json}.

        @param record: what to write; read now, so it may change after.
        @param pieces: the pieces verified now: fast resume data is made of
            them and the files' sizes and times, read when the state is
            written, after the pieces' data.  Without it, C{record.resume}
            is written as it is.
        @return: fires with the resume data written; never fails (errors
            are logged: downloads go on without saved state).
        """
        snapshot = replace(record, peers=tuple(record.peers))
        if pieces is not None:
            pieces = Bitfield.fromBytes(pieces.length, pieces.toBytes())

        def write() -> Optional[ResumeData]:
            resume = snapshot.resume
            if pieces is not None:
                resume = ResumeData(pieces, stampFiles(snapshot.metainfo, snapshot.downloadDir))
            torrentPath, jsonPath = self._paths(snapshot.infoHash)
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            if not os.path.exists(torrentPath):
                _writeAtomically(torrentPath, snapshot.torrentData)
            _writeAtomically(jsonPath, _encodeRecord(replace(snapshot, resume=resume)))
            return resume

        return self._queue(record.infoHash, write)

    def remove(self, infoHash: bytes) -> Deferred[None]:
        """
        Delete a torrent's state files (a save waiting for it is dropped).

        @return: fires when done; never fails (errors are logged).
        """
        torrentPath, jsonPath = self._paths(infoHash)

        def delete() -> None:
            # The .json first: a .torrent alone is ignored, a .json alone
            # would be reported as damaged.
            for path in (jsonPath, torrentPath):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

        return self._queue(infoHash, delete)

    def whenIdle(self) -> Deferred[None]:
        """
        @return: fires once every write queued so far is done.
        """
        if not self._busy and not self._order:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idle.append(d)
        return d

    def _queue(self, key: bytes, job: Callable[[], Any]) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        if key in self._pending:
            _, waiting = self._pending[key]
            self._pending[key] = (job, waiting)
        else:
            waiting = []
            self._pending[key] = (job, waiting)
            self._order.append(key)
        waiting.append(d)
        self._next()
        return d

    def _run(self, job: Callable[[], Any]) -> Deferred[Any]:
        if IReactorThreads.providedBy(self._reactor):
            return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), job)
        try:
            return succeed(job())
        except BaseException:
            return fail()

    def _next(self) -> None:
        if self._busy:
            return
        if not self._order:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)
            return
        key = self._order.pop(0)
        job, waiting = self._pending.pop(key)
        self._busy = True

        def done(result: Any) -> None:
            self._busy = False
            if isinstance(result, Failure):
                self.log.failure(
                    "Cannot write the state of torrent {infoHash} in {path}; "
                    "it will be checked in full when restarted",
                    result,
                    infoHash=key.hex(),
                    path=self.path,
                )
                result = None
            for d in waiting:
                d.callback(result)
            self._next()

        self._run(job).addBoth(done)
