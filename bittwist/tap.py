# -*- test-case-name: tests.test_tap -*-
"""
C{twistd bittorrent}: options and the service they make.
"""

import os

from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import serverFromString
from twisted.python import usage

from bittwist import metainfo
from bittwist.demo import DemoSwarm
from bittwist.errors import MetainfoError
from bittwist.service import BitTorrentService

__all__ = ["Options", "makeService"]


def parseHostPort(value: str) -> tuple[str, int]:
    """
    Parse C{HOST:PORT} (C{[v6]:PORT} for IPv6).

    @raise usage.UsageError: if it is not that.
    """
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise usage.UsageError(f"--peer {value!r}: expected HOST:PORT, e.g. 127.0.0.1:6881")
    return host, int(port)


class Options(usage.Options):
    """
    Options of C{twistd bittorrent}.
    """

    synopsis = "[--torrent FILE] [options]"
    longdesc = (
        "Download a torrent, verify every piece, and seed it until stopped. "
        "Progress is logged every few seconds. Without --torrent, a local demo "
        "swarm (a tracker and a seeder on 127.0.0.1 with a generated payload) "
        "is started and its torrent downloaded."
    )
    optParameters = [
        ["torrent", "t", None, "The .torrent file to download."],
        ["download-dir", "d", ".", "The folder the files go in."],
        [
            "port",
            "p",
            "tcp:6881",
            "Where to accept peer connections: an endpoint description.",
        ],
        ["max-peers", None, 50, "The most peer connections at once.", int],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["peers"] = []

    def opt_peer(self, value: str) -> None:
        """
        Connect to the peer at HOST:PORT (repeatable), with or without a
        tracker.
        """
        self["peers"].append(parseHostPort(value))

    def postOptions(self) -> None:
        self["metainfo"] = None
        if self["torrent"] is not None:
            try:
                self["metainfo"] = metainfo.load(self["torrent"])
            except MetainfoError as e:
                raise usage.UsageError(str(e)) from None
        if self["max-peers"] < 1:
            raise usage.UsageError("--max-peers must be at least 1")
        from twisted.internet import reactor

        try:
            serverFromString(reactor, self["port"])
        except (ValueError, TypeError, KeyError) as e:
            raise usage.UsageError(f"--port {self['port']!r}: not an endpoint description ({e})")
        folder = self["download-dir"]
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise usage.UsageError(f"--download-dir {folder!r} is not a folder")


def makeService(options: Options) -> IService:
    """
    @return: a L{BitTorrentService} downloading the torrent given, or, with
        no torrent, one that downloads from a local L{DemoSwarm} running
        beside it.
    """
    from twisted.internet import reactor

    service = BitTorrentService(
        endpoint=options["port"], reactor=reactor, maxPeers=options["max-peers"]
    )
    if options["metainfo"] is not None:
        service.addTorrent(options["metainfo"], options["download-dir"], peers=options["peers"])
        return service
    top = MultiService()
    demo = DemoSwarm(reactor)
    demo.setServiceParent(top)
    service.setServiceParent(top)

    def ready(_: None) -> None:
        assert demo.torrentData is not None and demo.seederAddress is not None
        service.addTorrent(
            demo.torrentData,
            options["download-dir"],
            peers=[demo.seederAddress, *options["peers"]],
        )

    demo.whenReady().addCallback(ready)
    return top
