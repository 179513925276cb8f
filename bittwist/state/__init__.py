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

One module per job: L{bittwist.state.lock} (the folder lock),
L{bittwist.state.writequeue} (writes one at a time, the latest per key),
L{bittwist.state.records} (a torrent's record and its files),
L{bittwist.state.resume} (fast resume), L{bittwist.state.settings} (the
session's settings), L{bittwist.state.files} (bounded reads, atomic
writes), and L{bittwist.state.folder}, which puts them together.
"""

from bittwist.state.folder import StateFolder, defaultStateDir
from bittwist.state.records import TorrentRecord, describeRecords, metainfoBytes
from bittwist.state.resume import FileStamp, ResumeData, missingData, resumePlan, stampFiles

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
