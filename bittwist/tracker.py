# -*- test-case-name: tests.test_tracker -*-
"""
Announcing torrents to trackers: the names users import, from the modules
that hold them.

  - L{bittwist.trackerclient}: what every client shares (L{AnnounceQuery},
    L{AnnounceResponse}, L{ITrackerClient}).
  - L{bittwist.httptracker}: HTTP(S) trackers (L{announce},
    L{parseAnnounceBody}, L{HTTPTrackerClient}).
  - L{bittwist.udptracker}: UDP trackers (BEP 15).
  - L{bittwist.announcer}: one torrent kept announced to all its trackers,
    tier by tier (L{Announcer}, L{TrackerStatus}, L{TRACKER_CLIENTS}).
"""

from bittwist.announcer import TRACKER_CLIENTS, Announcer, TrackerStatus, trackerScheme
from bittwist.httptracker import (
    MAX_ANSWER_VALUES,
    MAX_PEERS_PER_ANSWER,
    MAX_RESPONSE_SIZE,
    HTTPTrackerClient,
    announce,
    parseAnnounceBody,
)
from bittwist.trackerclient import AnnounceQuery, AnnounceResponse, ITrackerClient

__all__ = [
    "TrackerStatus",
    "AnnounceQuery",
    "AnnounceResponse",
    "ITrackerClient",
    "announce",
    "Announcer",
    "HTTPTrackerClient",
    "TRACKER_CLIENTS",
    "trackerScheme",
    "MAX_RESPONSE_SIZE",
    "MAX_PEERS_PER_ANSWER",
    "MAX_ANSWER_VALUES",
    "parseAnnounceBody",
]
