# -*- test-case-name: tests.test_metainfo -*-
"""
Metainfo (C{.torrent} files, BEP 3): parse and validate, and create.

L{parse} reads a v1 torrent, single- or multi-file, including the v1 part of
a v1+v2 hybrid (BEP 52) and BEP 47 pad files, and checks everything a peer
or a download folder depends on: the piece layout adds up and no file path
can leave the download folder.  L{createTorrent} makes a v1 torrent from a
file or a folder; L{createTorrentInThread} does so off the reactor thread.
"""

import gc
import hashlib
import os
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import bencodepy

from bittwist import __version__
from bittwist.bdecode import decodeWithSpans
from bittwist.errors import BencodeError, InternalError, MetainfoError, StorageError, UsageError

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

__all__ = [
    "FileEntry",
    "Metainfo",
    "parse",
    "load",
    "createTorrent",
    "createParsedTorrent",
    "createTorrentInThread",
    "checkTrackerURL",
    "MAX_METAINFO_SIZE",
    "MIN_PIECE_LENGTH",
    "MAX_PIECE_LENGTH",
    "MAX_DECODE_DEPTH",
    "MAX_DECODE_ITEMS",
    "MAX_PIECES",
    "MAX_FILES",
    "MAX_PATH_DEPTH",
    "MAX_PATH_LENGTH",
]

MAX_METAINFO_SIZE = 64 * 1024 * 1024
"""
The largest C{.torrent} accepted.  A real one with 16 KiB pieces for 50 GiB
of data is about 64 MiB; anything larger is a mistake or an attack, and
decoding it would hold the whole of it in memory several times over.
"""

MIN_PIECE_LENGTH = 16 * 1024
"""The smallest piece length L{createTorrent} uses: one block."""

MAX_PIECE_LENGTH = 16 * 1024 * 1024
"""The largest piece length L{createTorrent} uses."""

MAX_DECODE_DEPTH = 100
"""
The deepest nesting of lists and dictionaries accepted (libtorrent's
default).  A torrent needs 5 levels.
"""

MAX_DECODE_ITEMS = 3_000_000
"""
The most bencoded values (strings, integers, lists, dictionaries, keys
included) accepted in one torrent (libtorrent's default token limit).  Each
becomes a Python object, so this bounds the memory a decoded torrent takes;
about 350,000 files fit.
"""

MAX_PIECES = 0x200000
"""The most pieces accepted (libtorrent's default): 2,097,152."""

MAX_FILES = 1_000_000
"""The most entries in C{info.files} accepted, pad files included."""

MAX_PATH_DEPTH = 256
"""The most components in one file's path (C{info.files[i].path})."""

MAX_PATH_LENGTH = 4096
"""
The longest file path accepted, in UTF-8 bytes with the torrent's name and
a separator between components: Linux's C{PATH_MAX}, beyond which the file
could not be opened anyway.
"""

_TARGET_MAX_PIECES = 2000
_HASH_SIZE = 20

_WINDOWS = os.name == "nt"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """
    One file of a torrent's layout.

    @ivar path: components relative to the download folder; for a multi-file
        torrent the first one is the torrent's name, for a single-file
        torrent it is C{(name,)}.
    @ivar length: its size in bytes.
    @ivar offset: where it starts in the torrent's concatenated byte stream.
    @ivar pad: C{True} for a BEP 47 pad file, which takes part in the layout
        but is never created on disk.
    """

    path: tuple[str, ...]
    length: int
    offset: int
    pad: bool


@dataclass(frozen=True, repr=False, eq=False)
class Metainfo:
    """
    A parsed, validated torrent.  Made by L{parse} or L{load}; immutable.

    @ivar source: where it came from: a path, or C{"<bytes>"}.
    @ivar infoHash: the 20-byte SHA-1 of the C{info} dictionary's bytes
        exactly as they stand in the file (the v1 info hash, also for a
        hybrid).
    @ivar name: the suggested name of the file or top folder.
    @ivar pieceLength: the size of every piece but maybe the last.
    @ivar hashes: C{info.pieces}: the SHA-1s of the pieces end to end, 20
        bytes each, as a read-only view of C{infoBytes} rather than a copy
        (or a tuple of a million small C{bytes}); L{hashOf} gives one.
    @ivar numPieces: C{len(hashes) // 20}.
    @ivar totalLength: the sum of all file lengths, pad files included.
    @ivar files: every file in C{info} order, pad files included.
    @ivar announce: the C{announce} URL, if any.
    @ivar announceTiers: the BEP 12 tiers (empty tiers dropped) if there is
        an C{announce-list}, else C{((announce,),)}, else C{()}.
    @ivar private: C{True} if BEP 27 C{private} is 1: use only the trackers.
    @ivar comment: the C{comment}, if any.
    @ivar createdBy: the C{created by}, if any.
    @ivar creationDate: the C{creation date} (POSIX seconds), if any.
    @ivar isHybrid: C{True} if this is a v1+v2 hybrid (BEP 52 keys present).
    @ivar infoBytes: the bytes hashed into C{infoHash}, as served to peers
        asking for metadata (BEP 9).
    """

    source: str
    infoHash: bytes
    name: str
    pieceLength: int
    hashes: memoryview
    numPieces: int
    totalLength: int
    files: tuple[FileEntry, ...]
    announce: str | None = None
    announceTiers: tuple[tuple[str, ...], ...] = ()
    private: bool = False
    comment: str | None = None
    createdBy: str | None = None
    creationDate: int | None = None
    isHybrid: bool = False
    infoBytes: bytes = b""

    def __repr__(self) -> str:
        return (
            f"<Metainfo {self.name!r} {self.infoHash.hex()} "
            f"{self.numPieces}x{self.pieceLength}>"
        )

    def pieceSize(self, index: int) -> int:
        """
        @return: the size of piece C{index}; the last one may be shorter.
        @raise IndexError: if there is no such piece.
        """
        if not 0 <= index < self.numPieces:
            raise IndexError(f"piece {index} out of range 0..{self.numPieces - 1}")
        if index == self.numPieces - 1:
            return self.totalLength - index * self.pieceLength
        return self.pieceLength

    def hashOf(self, index: int) -> bytes:
        """
        @return: the expected SHA-1 of piece C{index}.
        @raise IndexError: if there is no such piece.
        """
        if not 0 <= index < self.numPieces:
            raise IndexError(f"piece {index} out of range 0..{self.numPieces - 1}")
        start = index * _HASH_SIZE
        return self.hashes[start : start + _HASH_SIZE].tobytes()


_LIMIT_HINT = "bittwist refuses torrents beyond this limit, as libtorrent does"


def _limitError(source: str, field: str, reason: str) -> MetainfoError:
    return MetainfoError(source, field, reason, hint=_LIMIT_HINT)


def _decodeTop(data: bytes, source: str) -> tuple[dict, dict[bytes, tuple[int, int]]]:
    """
    Decode a torrent within L{MAX_DECODE_DEPTH} and L{MAX_DECODE_ITEMS}.

    @return: the top-level dictionary and where each of its values stands
        in C{data} (see L{bittwist.bdecode.decodeWithSpans}).
    @raise MetainfoError: if C{data} is not one bencoded dictionary or
        breaks a bound.
    """
    if data[:1] != b"d":
        raise MetainfoError(source, "metainfo", "is not a bencoded dictionary")
    try:
        return decodeWithSpans(data, maxValues=MAX_DECODE_ITEMS, maxDepth=MAX_DECODE_DEPTH)
    except BencodeError as e:
        if e.key is not None:
            raise MetainfoError(
                source, e.key.decode("utf-8", "replace"), "appears twice in one dictionary"
            ) from None
        if e.limit:
            raise _limitError(source, "metainfo", f"holds {e.reason}") from None
        raise MetainfoError(source, "metainfo", f"is not valid bencode: {e.reason}") from None


def parse(data: bytes, source: str = "<bytes>") -> Metainfo:
    """
    Parse and validate a C{.torrent}.

    Optional display fields (C{comment}, C{created by}, C{creation date})
    of the wrong type are ignored; everything else of the wrong type is an
    error.  Unknown keys are allowed and count in the info hash.

    @param data: the whole file.
    @param source: what to call it in errors.
    @raise MetainfoError: naming the offending field, for anything wrong.
    """
    # A big torrent decodes to millions of lists and dictionaries, in no
    # cycle, which the cyclic garbage collector would walk over and over as
    # they pile up: a third of the time of a torrent of 300,000 files.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(data, source)
    finally:
        if collecting:
            gc.enable()


def _parse(data: bytes, source: str) -> Metainfo:
    """
    L{parse}, without the cyclic garbage collector's help.
    """
    if not isinstance(data, bytes):
        raise MetainfoError(source, "metainfo", "is not bytes")
    if len(data) > MAX_METAINFO_SIZE:
        raise MetainfoError(
            source, "metainfo", f"is {len(data)} bytes, over the limit of {MAX_METAINFO_SIZE}"
        )
    top, spans = _decodeTop(data, source)
    if b"info" not in spans:
        raise MetainfoError(source, "info", "is missing")
    infoStart, infoEnd = spans[b"info"]
    info = top[b"info"]
    if not isinstance(info, dict):
        raise MetainfoError(source, "info", "is not a dictionary")

    isHybrid = (
        b"meta version" in info or b"file tree" in info or b"piece layers" in top
    )
    if b"pieces" not in info and isHybrid:
        raise MetainfoError(
            source, "info.pieces",
            "is missing: v2-only torrents are not supported yet (need v1 or hybrid)",
        )

    name = _text(info, b"name", "info.name", source)
    _checkComponent(name, "info.name", source)
    if len(name.encode("utf-8")) > MAX_PATH_LENGTH:
        raise _limitError(
            source, "info.name",
            f"is {len(name.encode('utf-8'))} bytes long, over the limit of {MAX_PATH_LENGTH}",
        )
    pieceLength = _integer(info, b"piece length", "info.piece length", source)
    if pieceLength <= 0:
        raise MetainfoError(source, "info.piece length", f"is {pieceLength}, not positive")
    pieces = info.get(b"pieces")
    if not isinstance(pieces, bytes):
        raise MetainfoError(source, "info.pieces", "is missing or not a string")
    if len(pieces) % _HASH_SIZE:
        raise MetainfoError(
            source, "info.pieces", f"is {len(pieces)} bytes, not a multiple of 20"
        )
    if len(pieces) // _HASH_SIZE > MAX_PIECES:
        raise _limitError(
            source, "info.pieces",
            f"lists {len(pieces) // _HASH_SIZE} pieces, over the limit of {MAX_PIECES}",
        )

    # The hashes are kept as a view of infoBytes: the decoded copy goes
    # before infoBytes is made, so that both are never held at once.
    hashesEnd = infoEnd - 1 - _encodedSizeAfter(info, b"pieces")
    hashesStart = hashesEnd - len(pieces)
    if not data.startswith(b"6:pieces%d:" % len(pieces), hashesStart - 9 - len(str(len(pieces)))):
        raise InternalError(f"{source}: info.pieces is not where its decoded size puts it")
    del info[b"pieces"], pieces

    files = _files(info, name, source)
    totalLength = sum(entry.length for entry in files)
    if totalLength == 0:
        where = "info.length" if b"length" in info else "info.files"
        raise MetainfoError(source, where, "come to 0 bytes in all: the torrent holds no data")
    numPieces = (hashesEnd - hashesStart) // _HASH_SIZE
    expected = -(-totalLength // pieceLength)
    if numPieces != expected:
        raise MetainfoError(
            source, "info.pieces",
            f"has {numPieces} hashes but {totalLength} bytes in pieces of "
            f"{pieceLength} need {expected}",
        )

    announce, tiers = _trackers(top, source)
    private = info.get(b"private", 0)
    if not isinstance(private, int):
        raise MetainfoError(source, "info.private", "is not an integer")
    creationDate = top.get(b"creation date")
    infoBytes = data[infoStart:infoEnd]

    return Metainfo(
        source=source,
        infoHash=hashlib.sha1(infoBytes).digest(),
        infoBytes=infoBytes,
        name=name,
        pieceLength=pieceLength,
        hashes=memoryview(infoBytes)[hashesStart - infoStart : hashesEnd - infoStart],
        numPieces=numPieces,
        totalLength=totalLength,
        files=files,
        announce=announce,
        announceTiers=tiers,
        private=private == 1,
        comment=_displayText(top, b"comment"),
        createdBy=_displayText(top, b"created by"),
        creationDate=creationDate if isinstance(creationDate, int) else None,
        isHybrid=isHybrid,
    )


def load(path: str) -> Metainfo:
    """
    Read and L{parse} a C{.torrent} file.

    @raise MetainfoError: if it cannot be read, is too large, or is invalid.
    """
    try:
        with open(path, "rb") as f:
            # Not read(MAX_METAINFO_SIZE + 1) at once: that allocates the
            # whole 64 MiB whatever the file's size.
            size = min(os.fstat(f.fileno()).st_size, MAX_METAINFO_SIZE) + 1
            data = f.read(size)
            if len(data) == size and size <= MAX_METAINFO_SIZE:
                data += f.read(MAX_METAINFO_SIZE + 1 - size)  # it grew meanwhile
    except OSError as e:
        raise MetainfoError(
            path,
            "metainfo",
            f"cannot be read ({e.strerror or e})",
            hint="check the path and that the file is readable",
        ) from None
    return parse(data, path)


def _encodedSize(value: Any) -> int:
    """
    @return: the size of C{value} bencoded, which is its size in the data
        it was decoded from: L{bittwist.bdecode} accepts canonical integers
        and lengths only, and keeps a dictionary's keys in their order.
    """
    if isinstance(value, bytes):
        return len(value) + len(str(len(value))) + 1
    if isinstance(value, int):
        return len(str(value)) + 2
    if isinstance(value, list):
        return 2 + sum(map(_encodedSize, value))
    return 2 + sum(_encodedSize(k) + _encodedSize(v) for k, v in value.items())


def _encodedSizeAfter(d: dict, key: bytes) -> int:
    """
    @return: the size of the entries of C{d} after C{key}'s, bencoded: where
        C{key}'s value ends, counted back from the end of C{d}.
    """
    keys = list(d)
    return sum(_encodedSize(k) + _encodedSize(d[k]) for k in keys[keys.index(key) + 1 :])


def _integer(d: dict, key: bytes, fieldName: str, source: str) -> int:
    value = d.get(key)
    if value is None:
        raise MetainfoError(source, fieldName, "is missing")
    if not isinstance(value, int):
        raise MetainfoError(source, fieldName, "is not an integer")
    return value


def _decode(value: Any, fieldName: str, source: str) -> str:
    if not isinstance(value, bytes):
        raise MetainfoError(source, fieldName, "is not a string")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MetainfoError(source, fieldName, "is not valid UTF-8") from None


def _text(d: dict, key: bytes, fieldName: str, source: str) -> str:
    """
    Read a text field, preferring its C{.utf-8} variant when present.
    """
    utf8 = key + b".utf-8"
    if utf8 in d:
        return _decode(d[utf8], fieldName + ".utf-8", source)
    if key not in d:
        raise MetainfoError(source, fieldName, "is missing")
    return _decode(d[key], fieldName, source)


def _displayText(d: dict, key: bytes) -> str | None:
    value = d.get(key)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None


def _checkComponent(component: str, fieldName: str, source: str) -> None:
    """
    Refuse a path component that could name anything but a plain entry
    inside its folder.
    """
    if component in ("", ".", ".."):
        raise MetainfoError(source, fieldName, f"is {component!r}, not a file name")
    if "/" in component or "\\" in component:
        raise MetainfoError(source, fieldName, f"{component!r} contains a path separator")
    if "\0" in component:
        raise MetainfoError(source, fieldName, f"{component!r} contains a NUL")
    if _WINDOWS and ":" in component:
        # A drive ("C:x" is relative to C:'s current folder) or an NTFS
        # alternate data stream ("file:stream"); on POSIX ':' is an ordinary
        # character.
        raise MetainfoError(
            source, fieldName, f"{component!r} contains ':', which Windows does not allow"
        )


_FILE = object()
"""Marks a file (not a folder) in the tree L{_files} builds."""


def _files(info: dict, name: str, source: str) -> tuple[FileEntry, ...]:
    """
    Build the file layout of a single- or multi-file C{info}.

    Linear in the number of path components: the files seen so far are kept
    as a tree of dictionaries, one per folder, so a path is checked against
    them in one walk; a file in the same folder as the one before costs a
    look at its own name only.
    """
    hasLength = b"length" in info
    hasFiles = b"files" in info
    if hasLength == hasFiles:
        raise MetainfoError(
            source, "info.files",
            "and 'info.length' are both present" if hasLength
            else "is missing (and so is 'info.length')",
        )
    if hasLength:
        length = _integer(info, b"length", "info.length", source)
        if length < 0:
            raise MetainfoError(source, "info.length", f"is {length}, negative")
        return (FileEntry((name,), length, 0, False),)

    fileList = info[b"files"]
    if not isinstance(fileList, list):
        raise MetainfoError(source, "info.files", "is not a list")
    if not fileList:
        raise MetainfoError(source, "info.files", "is empty")
    if len(fileList) > MAX_FILES:
        raise _limitError(
            source, "info.files", f"lists {len(fileList)} files, over the limit of {MAX_FILES}"
        )
    nameLength = len(name.encode("utf-8"))
    entries = []
    offset = 0
    tree: dict[str, Any] = {}
    folderNames: dict[bytes, str] = {}
    # The last file's folder, as decoded (None: none yet, or not usable),
    # as text, its path length, and its tree node (None: not looked up yet).
    # Most files share their folder with the one before: checking a file is
    # then a matter of its own name.
    lastRawFolder: list | None = None
    folderPath: tuple[str, ...] = ()
    folderLength = 0
    folder: dict | None = None
    for i, item in enumerate(fileList):
        # Dropped as soon as read: the decoded dictionaries of a million
        # files take more memory than the entries made of them.
        fileList[i] = None
        entry = None
        if type(item) is dict:
            length = item.get(b"length")
            rawPath = item.get(b"path.utf-8")
            if rawPath is None:
                rawPath = item.get(b"path")
            attr = item.get(b"attr", b"")
            if (
                type(length) is int and length >= 0 and type(attr) is bytes
                and type(rawPath) is list and 0 < len(rawPath) <= MAX_PATH_DEPTH
            ):
                rawFolder = rawPath[:-1]
                if rawFolder != lastRawFolder:
                    lastRawFolder = None
                    known = _folderPath(rawFolder, folderNames, name, nameLength)
                    if known is not None:
                        folderPath, folderLength = known
                        lastRawFolder = rawFolder
                        folder = None
                leaf = rawPath[-1]
                leafName = None if lastRawFolder is None else _plainName(leaf)
                if leafName is not None and folderLength + 1 + len(leaf) <= MAX_PATH_LENGTH:
                    pad = b"p" in attr
                    if not pad and folder is None:
                        folder = _folder(tree, folderPath)
                    if pad:
                        # Pad files are never written, and libtorrent gives
                        # pads of one size the same path; only real files
                        # can collide on disk.
                        entry = FileEntry(folderPath + (leafName,), length, offset, True)
                    elif folder is not None and leafName not in folder:
                        folder[leafName] = _FILE
                        entry = FileEntry(folderPath + (leafName,), length, offset, False)
        if entry is None:
            # Something is unusual or wrong: the careful path says what.
            entry = _checkedFile(item, i, name, nameLength, tree, offset, source)
            lastRawFolder = None
        entries.append(entry)
        offset += entry.length
    return tuple(entries)


_UNSAFE = re.compile(rb"[/\\\0]")
"""
Bytes a path component must not hold (see L{_checkComponent}); in UTF-8
they stand for themselves only.
"""


def _plainName(component: Any) -> str | None:
    """
    @return: C{component} as text if it is a usable file or folder name
        (see L{_checkComponent}), else C{None}.
    """
    if (
        type(component) is not bytes
        or component in (b"", b".", b"..")
        or _UNSAFE.search(component)
        or (_WINDOWS and b":" in component)
    ):
        return None
    try:
        return component.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _folderPath(
    rawFolder: list, names: dict[bytes, str], name: str, nameLength: int
) -> tuple[tuple[str, ...], int] | None:
    """
    @param rawFolder: a file's decoded path without its last component.
    @param names: the folder names already checked, by their bytes: filled.
    @return: the folder's path (the torrent's name first) and its length in
        bytes with separators, or C{None} if a component is not usable.
    """
    path = [name]
    length = nameLength
    for raw in rawFolder:
        if type(raw) is not bytes:
            return None
        text = names.get(raw)
        if text is None:
            text = _plainName(raw)
            if text is None:
                return None
            names[raw] = text
        path.append(text)
        length += 1 + len(raw)
    return tuple(path), length


def _folder(tree: dict[str, Any], path: tuple[str, ...]) -> dict | None:
    """
    @return: the node of folder C{path} in C{tree} (see L{_addFile}), made
        if need be, or C{None} if the path lies under a file.
    """
    for component in path:
        tree = tree.setdefault(component, {})
        if tree is _FILE:
            return None
    return tree


def _checkedFile(
    item: Any, i: int, name: str, nameLength: int, tree: dict[str, Any], offset: int,
    source: str,
) -> FileEntry:
    """
    Check C{info.files[i]} step by step, saying what is wrong first, and add
    it to C{tree} (see L{_addFile}).

    @return: its entry, if it is usable after all.
    @raise MetainfoError: if not.
    """
    where = f"info.files[{i}]"
    if not isinstance(item, dict):
        raise MetainfoError(source, where, "is not a dictionary")
    length = _integer(item, b"length", where + ".length", source)
    if length < 0:
        raise MetainfoError(source, where + ".length", f"is {length}, negative")
    pathKey = b"path.utf-8" if b"path.utf-8" in item else b"path"
    pathField = f"{where}.{pathKey.decode()}"
    rawPath = item.get(pathKey)
    if not isinstance(rawPath, list):
        raise MetainfoError(source, pathField, "is missing or not a list")
    if not rawPath:
        raise MetainfoError(source, pathField, "is empty")
    if len(rawPath) > MAX_PATH_DEPTH:
        raise _limitError(
            source, pathField,
            f"has {len(rawPath)} components, over the limit of {MAX_PATH_DEPTH}",
        )
    pathLength = nameLength + sum(
        1 + len(c) if isinstance(c, bytes) else 0 for c in rawPath
    )
    if pathLength > MAX_PATH_LENGTH:
        raise _limitError(
            source, pathField,
            f"is {pathLength} bytes long with the name, over the limit of "
            f"{MAX_PATH_LENGTH}",
        )
    path = tuple(_decode(c, pathField, source) for c in rawPath)
    for component in path:
        _checkComponent(component, pathField, source)
    attr = item.get(b"attr", b"")
    if not isinstance(attr, bytes):
        raise MetainfoError(source, where + ".attr", "is not a string")
    pad = b"p" in attr
    full = (name,) + path
    if not pad:
        _addFile(tree, full, source, pathField)
    return FileEntry(full, length, offset, pad)


def _addFile(tree: dict[str, Any], full: tuple[str, ...], source: str, pathField: str) -> None:
    """
    Add the file C{full} to C{tree}, a dictionary per folder holding its
    entries, with L{_FILE} for a file.

    @raise MetainfoError: if C{full} is already a file or a folder, or lies
        under a file.
    """
    folder = tree
    for component in full[:-1]:
        entry = folder.setdefault(component, {})
        if entry is _FILE:
            raise MetainfoError(
                source, pathField,
                f"{'/'.join(full[1:])!r} lies under a file of the same name",
            )
        folder = entry
    if full[-1] in folder:
        raise MetainfoError(source, pathField, f"{'/'.join(full[1:])!r} appears twice")
    folder[full[-1]] = _FILE


def _trackers(top: dict, source: str) -> tuple[str | None, tuple[tuple[str, ...], ...]]:
    announce = None
    if b"announce" in top:
        announce = _decode(top[b"announce"], "announce", source)
    tiers: list[tuple[str, ...]] = []
    if b"announce-list" in top:
        announceList = top[b"announce-list"]
        if not isinstance(announceList, list):
            raise MetainfoError(source, "announce-list", "is not a list")
        for i, tier in enumerate(announceList):
            if not isinstance(tier, list):
                raise MetainfoError(source, f"announce-list[{i}]", "is not a list")
            urls = tuple(
                _decode(url, f"announce-list[{i}][{j}]", source)
                for j, url in enumerate(tier)
            )
            urls = tuple(url for url in urls if url)
            if urls:
                tiers.append(urls)
    if not tiers and announce:
        tiers.append((announce,))
    return announce or None, tuple(tiers)


_TRACKER_SCHEMES = ("http", "https", "udp")


def checkTrackerURL(url: str) -> None:
    """
    Check that C{url} can be announced to: C{http://}, C{https://} or
    C{udp://} with a host.  (Parsing a torrent does not check this: a
    torrent may list trackers we cannot use, and still have others.)

    @raise UsageError: saying what is wrong with it.
    """
    if not isinstance(url, str) or not url:
        raise UsageError(f"tracker {url!r} is not a URL")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UsageError(f"tracker {url!r} is not a URL ({e})") from None
    if parts.scheme.lower() not in _TRACKER_SCHEMES or not parts.hostname:
        raise UsageError(
            f"tracker {url!r} is not a tracker URL: expected http://, https:// or "
            f"udp:// and a host, e.g. http://tracker.example:6969/announce"
        )
    if port == 0 or any(c.isspace() for c in url):
        raise UsageError(f"tracker {url!r} is not a usable URL")


def _choosePieceLength(totalLength: int) -> int:
    """
    The smallest power of two from 16 KiB to 16 MiB that keeps the piece
    count at or under 2000.
    """
    pieceLength = MIN_PIECE_LENGTH
    while (
        pieceLength < MAX_PIECE_LENGTH
        and -(-totalLength // pieceLength) > _TARGET_MAX_PIECES
    ):
        pieceLength *= 2
    return pieceLength


def _listFiles(path: str) -> list[tuple[tuple[str, ...], str, int]]:
    """
    @return: C{(components, filesystem path, size)} for every regular file
        under the folder C{path}, sorted by components.
    """
    found = []
    for folder, dirnames, filenames in os.walk(path, onerror=_raiseWalkError):
        dirnames.sort()
        relative = os.path.relpath(folder, path)
        prefix = () if relative == "." else tuple(relative.split(os.sep))
        for filename in filenames:
            full = os.path.join(folder, filename)
            if os.path.isfile(full):
                found.append((prefix + (filename,), full, os.path.getsize(full)))
    found.sort(key=lambda entry: entry[0])
    return found


def _raiseWalkError(error: OSError) -> None:
    raise error


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {text!r} is not valid UTF-8; rename it") from None


def createTorrent(
    path: str,
    trackers: Sequence[str] | Sequence[Sequence[str]] = (),
    pieceLength: int | None = None,
    private: bool = False,
    comment: str | None = None,
    name: str | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> bytes:
    """
    Make a v1 C{.torrent} of a file, or of a folder (multi-file; files sorted
    by path, no pad files).  Hashes synchronously: from Twisted, use
    L{createTorrentInThread}.

    @param path: the file or folder to share.
    @param trackers: announce URLs: a flat sequence puts each URL in a tier
        of its own (tried in order); a sequence of sequences gives the BEP 12
        tiers.  The first URL becomes C{announce}; C{announce-list} is
        written when there is more than one URL.
    @param pieceLength: a power of two of at least 16 KiB, or C{None} to pick
        one giving at most about 2000 pieces (16 KiB to 16 MiB).
    @param private: set BEP 27 C{private}.
    @param comment: a C{comment}.
    @param name: the torrent's name; by default the base name of C{path}.
    @param progress: called as C{progress(doneBytes, totalBytes)} while
        hashing: once with 0 before the first byte, after each piece, and
        last with C{doneBytes == totalBytes}; on the calling thread.
    @return: the bencoded torrent.
    @raise UsageError: for a bad argument, a missing or empty path, or a file
        name that is not UTF-8.
    @raise StorageError: if reading the files fails.
    """
    return createParsedTorrent(
        path, trackers, pieceLength, private, comment, name, progress
    )[0]


def createParsedTorrent(
    path: str,
    trackers: Sequence[str] | Sequence[Sequence[str]] = (),
    pieceLength: int | None = None,
    private: bool = False,
    comment: str | None = None,
    name: str | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[bytes, Metainfo]:
    """
    L{createTorrent}, also giving the torrent as parsed: the check that it
    parses makes it anyway, and a big torrent is costly to parse twice.

    @return: the bencoded torrent and its L{Metainfo} (whose C{source} is
        C{"<created>"}).
    @raise UsageError: as L{createTorrent} does.
    @raise StorageError: as L{createTorrent} does.
    """
    if isinstance(trackers, str):
        trackers = [trackers]
    tiers = [
        [tier] if isinstance(tier, str) else list(tier) for tier in trackers
    ]
    tiers = [tier for tier in tiers if tier]
    for tier in tiers:
        for url in tier:
            checkTrackerURL(url)

    path = os.path.abspath(path)
    if name is None:
        name = os.path.basename(path)
    try:
        _checkComponent(name, "name", "<create>")
    except MetainfoError as e:
        raise UsageError(f"torrent name {name!r} is unusable: {e.reason}") from None
    nameBytes = _utf8(name, "torrent name")

    try:
        if os.path.isdir(path):
            listed = _listFiles(path)
            single = False
        elif os.path.isfile(path):
            listed = [((name,), path, os.path.getsize(path))]
            single = True
        else:
            raise UsageError(f"{path} is not a file or a folder")
    except OSError as e:
        raise StorageError(f"cannot list {path}: {e.strerror or e}", path) from None
    totalLength = sum(size for _, _, size in listed)
    if totalLength == 0:
        raise UsageError(f"{path} holds no data to share")

    if pieceLength is None:
        pieceLength = _choosePieceLength(totalLength)
    elif (
        not isinstance(pieceLength, int)
        or pieceLength < MIN_PIECE_LENGTH
        or pieceLength & (pieceLength - 1)
    ):
        raise UsageError(
            f"piece length {pieceLength!r} is not a power of two of at least "
            f"{MIN_PIECE_LENGTH}"
        )

    pieces = _hashFiles([(full, size) for _, full, size in listed], pieceLength, progress)

    info: dict[bytes, Any] = {b"name": nameBytes, b"piece length": pieceLength,
                              b"pieces": pieces}
    if single:
        info[b"length"] = totalLength
    else:
        info[b"files"] = [
            {
                b"length": size,
                b"path": [_utf8(c, "file name") for c in components],
            }
            for components, _, size in listed
        ]
    if private:
        info[b"private"] = 1

    top: dict[bytes, Any] = {
        b"info": info,
        b"created by": f"bittwist/{__version__}".encode(),
        b"creation date": int(time.time()),
    }
    urls = [url for tier in tiers for url in tier]
    if urls:
        top[b"announce"] = urls[0].encode("utf-8")
    if len(urls) > 1:
        top[b"announce-list"] = [[url.encode("utf-8") for url in tier] for tier in tiers]
    if comment:
        top[b"comment"] = comment.encode("utf-8")
    data = bencodepy.encode(top)
    # Never hand out a torrent we would refuse.
    return data, parse(data, "<created>")


def _hashFiles(
    files: Sequence[tuple[str, int]],
    pieceLength: int,
    progress: Callable[[int, int], object] | None = None,
) -> bytes:
    """
    @param files: C{(path, size)} of each file, in torrent order.
    @param progress: told C{(doneBytes, totalBytes)} at 0, after each piece
        and at the end.
    @return: the concatenated SHA-1s of the pieces of the files' bytes laid
        end to end.
    @raise StorageError: if a file cannot be read or has shrunk since it was
        listed.
    """
    totalLength = sum(size for _, size in files)
    if progress is None:
        progress = _ignoreProgress
    progress(0, totalLength)
    hashes = []
    piece = hashlib.sha1()
    filled = 0
    for filePath, size in files:
        try:
            with open(filePath, "rb") as f:
                left = size
                while left:
                    chunk = f.read(min(pieceLength - filled, left))
                    if not chunk:
                        raise StorageError(
                            f"{filePath} shrank while being hashed; try again", filePath
                        )
                    left -= len(chunk)
                    piece.update(chunk)
                    filled += len(chunk)
                    if filled == pieceLength:
                        hashes.append(piece.digest())
                        piece = hashlib.sha1()
                        filled = 0
                        progress(len(hashes) * pieceLength, totalLength)
        except OSError as e:
            raise StorageError(f"cannot read {filePath}: {e.strerror or e}", filePath) from None
    if filled:
        hashes.append(piece.digest())
        progress(totalLength, totalLength)
    return b"".join(hashes)


def _ignoreProgress(doneBytes: int, totalBytes: int) -> None:
    pass


def createTorrentInThread(
    reactor: Any,
    path: str,
    trackers: Sequence[str] | Sequence[Sequence[str]] = (),
    pieceLength: int | None = None,
    private: bool = False,
    comment: str | None = None,
    name: str | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> "Deferred[bytes]":
    """
    L{createTorrent} in the reactor's thread pool, so that reading and
    hashing the files does not block the reactor.

    @param reactor: the reactor; its thread pool does the work.
    @param progress: called on the reactor thread as C{progress(doneBytes,
        totalBytes)}: first with 0, then each time another percent is hashed,
        last with C{doneBytes == totalBytes}; every call comes before the
        result fires.
    @return: a Deferred firing with the bencoded torrent, or failing as
        L{createTorrent} raises.
    """
    from twisted.internet.threads import deferToThreadPool

    return deferToThreadPool(
        reactor, reactor.getThreadPool(), createTorrent, path, trackers,
        pieceLength=pieceLength, private=private, comment=comment, name=name,
        progress=None if progress is None else _percentsFromThread(reactor, progress),
    )


def _percentsFromThread(
    reactor: Any, progress: Callable[[int, int], object]
) -> Callable[[int, int], None]:
    """
    @return: a progress callback, for a worker thread, that hands
        C{progress} to the reactor thread each time another percent is done.
    """
    lastPercent = -1

    def report(doneBytes: int, totalBytes: int) -> None:
        # One reactor wake-up per percent, not per piece: a big torrent with
        # small pieces has hundreds of thousands of them.
        nonlocal lastPercent
        percent = doneBytes * 100 // totalBytes if totalBytes else 100
        if percent != lastPercent:
            lastPercent = percent
            reactor.callFromThread(progress, doneBytes, totalBytes)

    return report
