# -*- test-case-name: tests.test_state -*-
"""
Fast resume: the verified pieces of a torrent and its files as they stood
when saved (L{ResumeData}); on restart, pieces touching a file whose size
or modification time changed are hashed again (L{resumePlan}), and a
torrent whose verified data is gone is told apart (L{missingData}).
"""

import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from bittwist.bitfield import Bitfield
from bittwist.metainfo import Metainfo

if TYPE_CHECKING:
    from bittwist.state.records import TorrentRecord

__all__ = ["FileStamp", "ResumeData", "dataFiles", "stampFiles", "resumePlan", "missingData"]


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


def dataFiles(metainfo: Metainfo) -> list[Any]:
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
    for entry in dataFiles(metainfo):
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
    entries = dataFiles(metainfo)
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


def missingData(record: "TorrentRecord") -> Optional[str]:
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
    for entry in dataFiles(metainfo):
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
