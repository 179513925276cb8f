# -*- test-case-name: tests.test_trackertap -*-
"""
C{twistd bittorrent-tracker}: options and the service they make, an HTTP
tracker (L{bittwist.trackerserver.TrackerResource}) served on an endpoint.

Peers announce to C{http://HOST:PORT/announce} and scrape C{/scrape}.  A
v1+v2 hybrid torrent makes libtorrent announce twice, once with the v1 info
hash and once with the v2 hash truncated to 20 bytes: the tracker keeps the
two as separate swarms of the same peers, so both announces are answered.
"""

from typing import Any

from twisted.application.service import IService
from twisted.application.strports import service as strportsService
from twisted.internet.endpoints import serverFromString
from twisted.python import usage
from twisted.web.server import Site

from bittwist.commandline import OneLineUsageErrors
from bittwist.trackerserver import TrackerResource

__all__ = ["Options", "makeService"]

#: The largest C{--interval} accepted: a day.  Longer ones keep departed
#: peers in answers for days (peers expire after twice the interval).
MAX_INTERVAL = 86400


class Options(OneLineUsageErrors, usage.Options):
    """
    Options of C{twistd bittorrent-tracker}.
    """

    synopsis = "[--port ENDPOINT] [--interval SECONDS]"
    longdesc = (
        "Run an in-memory HTTP BitTorrent tracker for private and test swarms. "
        "Peers announce to http://HOST:PORT/announce and scrape /scrape."
    )
    optParameters = [
        [
            "port",
            "p",
            "tcp:6969",
            "Where to serve HTTP: an endpoint description, e.g. tcp:6969:interface=127.0.0.1.",
        ],
        ["interval", "i", "1800", "Seconds peers are asked to wait between announces."],
    ]

    def postOptions(self) -> None:
        interval = self["interval"]
        try:
            interval = int(interval)
        except (TypeError, ValueError):
            raise usage.UsageError(
                f"--interval {interval!r}: expected a whole number of seconds"
            ) from None
        if not 1 <= interval <= MAX_INTERVAL:
            raise usage.UsageError(
                f"--interval {interval}: must be between 1 and {MAX_INTERVAL} seconds"
            )
        self["interval"] = interval
        from twisted.internet import reactor

        try:
            serverFromString(reactor, self["port"])
        except (ValueError, TypeError, KeyError) as e:
            raise usage.UsageError(
                f"--port {self['port']!r}: not an endpoint description ({e})"
            ) from None


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    @param options: parsed L{Options}.
    @param reactor: the reactor; the global one if C{None}.
    @return: a stopped service that, once started, serves a
        L{TrackerResource} at the root of a web site on C{options["port"]}
        (its C{factory} is the C{twisted.web.server.Site}).
    """
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    resource = TrackerResource(reactor=reactor, interval=options["interval"])
    site = Site(resource, reactor=reactor)
    return strportsService(options["port"], site, reactor=reactor)
