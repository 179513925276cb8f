# -*- test-case-name: tests.test_service -*-
"""
A torrent as L{bittwist.service.BitTorrentService.addTorrent} takes it:
read from a file or bytes, and the record the state folder keeps of it.
"""

import os
from typing import Optional, Union

from bittwist import metainfo as _metainfo
from bittwist.metainfo import Metainfo
from bittwist.state import TorrentRecord, metainfoBytes

__all__ = ["readTorrent", "torrentRecord"]


def readTorrent(torrent: Union[Metainfo, str, os.PathLike[str], bytes]) -> tuple[Metainfo, bytes]:
    """
    @param torrent: a parsed L{Metainfo}, the path of a C{.torrent} file
        (a C{str} or a C{pathlib.Path}), or its bytes.
    @raise bittwist.errors.MetainfoError: if the torrent cannot be read.
    @return: the torrent parsed, and its bytes as read (C{b""} for a
        L{Metainfo} given).
    """
    data = b""
    if isinstance(torrent, os.PathLike):
        torrent = os.fspath(torrent)
    if isinstance(torrent, str):
        path = torrent
        try:
            with open(path, "rb") as f:
                data = f.read(_metainfo.MAX_METAINFO_SIZE + 1)
        except OSError:
            # Let load() raise its error, which says what to do.
            _metainfo.load(path)
            raise
        torrent = _metainfo.parse(data, path)
    elif isinstance(torrent, bytes):
        data = torrent
        torrent = _metainfo.parse(data)
    return torrent, data


def torrentRecord(
    metainfo: Metainfo,
    data: bytes,
    downloadDir: str,
    peers: tuple[tuple[str, int], ...],
    announce: bool,
    addedAt: float,
    remembered: bool,
    saved: Optional[TorrentRecord],
) -> TorrentRecord:
    """
    @param remembered: whether the state folder keeps the record: then it
        has the C{.torrent} bytes (made of C{metainfo} if C{data} is empty).
    @param saved: the record saved before, if any: in the same download
        folder, its pause, time added and fast resume data are kept.
    @return: the record of a torrent just added.
    """
    record = TorrentRecord(
        metainfo=metainfo,
        torrentData=data,
        downloadDir=downloadDir,
        addedAt=addedAt,
        peers=peers,
        announce=announce,
    )
    if remembered:
        if not data:
            record.torrentData = metainfoBytes(metainfo)
        if saved is not None and saved.downloadDir == downloadDir:
            record.paused = saved.paused
            record.addedAt = saved.addedAt
            record.resume = saved.resume
    return record
