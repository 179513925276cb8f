# -*- test-case-name: tests.test_web -*-
"""
A torrent's status and its trackers' as JSON objects: what C{GET
/api/torrents}, the event stream and the trackers' resource answer.
"""

import dataclasses
from typing import Any

from bittwist.torrent import Torrent

__all__ = ["torrentToJson", "trackersToJson"]


def torrentToJson(torrent: Torrent) -> dict[str, Any]:
    """
    @return: the L{bittwist.torrent.TorrentStatus} of C{torrent} as a JSON
        object, with its C{progress} (0 to 1) and C{eta} (seconds or
        C{null}).
    """
    status = torrent.status()
    result = dataclasses.asdict(status)
    result["progress"] = status.progress
    result["eta"] = status.eta
    return result


def trackersToJson(torrent: Torrent, now: float) -> list[dict[str, Any]]:
    """
    @param now: the time on the clock the tracker times were taken on.
    @return: each tracker's L{bittwist.announcer.TrackerStatus} as a JSON
        object, its times as C{lastAnnounceAgo} and C{nextAnnounceIn}
        (seconds, or C{null}).
    """
    result = []
    for status in torrent.trackerStatuses():
        entry = dataclasses.asdict(status)
        last, following = entry.pop("lastAnnounce"), entry.pop("nextAnnounce")
        entry["lastAnnounceAgo"] = None if last is None else max(0.0, now - last)
        entry["nextAnnounceIn"] = None if following is None else max(0.0, following - now)
        result.append(entry)
    return result
