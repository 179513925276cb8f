# -*- test-case-name: tests.test_torrent -*-
"""
One torrent: its download, its seeding, and the peers it talks to.

L{Torrent} is a small facade over parts with one job each:

  - L{lifecycle}: the states (L{TorrentState}) and the one table of moves;
  - L{statemoves}: each move carried out on the parts;
  - L{periodic}: the work of every second;
  - L{peerdispatch}: what the peers report, handed to the parts;
  - L{swarm}: candidate addresses, dialling, admission, bans;
  - L{download}: requests, writes, verification;
  - L{upload}: choking, serving, seed goals;
  - L{options}: the options changed while it runs;
  - L{peersources}: its peer sources, together;
  - L{observers}: whoever watches its events;
  - L{status}: snapshots for display.

Peers are found by L{bittwist.sources} and configured by
L{bittwist.config.TorrentConfig}.
"""

from bittwist.torrent.facade import Torrent
from bittwist.torrent.lifecycle import TorrentState
from bittwist.torrent.status import PeerStatus, TorrentStatus

__all__ = ["Torrent", "TorrentState", "TorrentStatus", "PeerStatus"]
