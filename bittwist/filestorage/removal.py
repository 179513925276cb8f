# -*- test-case-name: tests.test_storage -*-
"""
L{removeFiles}: a torrent's data deleted, and nothing else.
"""

import os
from typing import Any

from bittwist.errors import StorageError
from bittwist.filestorage.partfile import PartFile
from bittwist.filestorage.shared import Span, unlink

__all__ = ["removeFiles"]


def removeFiles(downloadDir: str, metainfo: Any, spans: list[Span], part: PartFile) -> None:
    """
    Delete the torrent's files, its part file and the folders left empty,
    refusing any path that resolves outside the download folder (a symbolic
    link is removed itself, never followed).

    @param downloadDir: the download folder, absolute.
    @param metainfo: the torrent.
    @param spans: the layout's spans.
    @param part: the torrent's part file.
    @raise StorageError: if a file is outside the download folder or cannot
        be deleted.
    """
    root = os.path.realpath(downloadDir)
    part.drop()
    folders: set[str] = set()
    for span in spans:
        if span.path is None:
            continue
        parent = os.path.realpath(os.path.dirname(span.path))
        if os.path.commonpath([root, parent]) != root:
            raise StorageError(
                f"not deleting {span.path}: it is outside {downloadDir}", span.path
            )
        unlink(span.path)
        folders.add(os.path.dirname(span.path))
    for entry in metainfo.files:
        if not entry.pad and entry.length == 0:
            path = os.path.join(downloadDir, *entry.path)
            if os.path.lexists(path) and not os.path.isdir(path):
                os.unlink(path)
            folders.add(os.path.dirname(path))
    # Deepest first, stopping at the download folder itself.
    for folder in sorted(folders, key=len, reverse=True):
        while os.path.realpath(folder) != root and folder.startswith(downloadDir):
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)
