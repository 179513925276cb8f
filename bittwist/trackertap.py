# -*- test-case-name: tests.test_trackertap -*-
"""
C{twistd bittorrent-tracker}: options and the service they make, an HTTP
tracker (L{bittwist.trackerserver.TrackerResource}) served on an endpoint,
and with C{--udp-port}, the same tracker on UDP
(L{bittwist.udptrackerserver.UDPTrackerServer}).

Peers announce to C{http://HOST:PORT/announce} and scrape C{/scrape}, or to
C{udp://HOST:UDPPORT}.  A
v1+v2 hybrid torrent makes libtorrent announce twice, once with the v1 info
hash and once with the v2 hash truncated to 20 bytes: the tracker keeps the
two as separate swarms of the same peers, so both announces are answered.
"""

from typing import Any

from twisted.application.internet import UDPServer
from twisted.application.service import IService, MultiService
from twisted.application.strports import service as strportsService
from twisted.internet.endpoints import serverFromString
from twisted.python import usage
from twisted.web.server import Site

from bittwist.commandline import OneLineUsageErrors
from bittwist.trackerserver import TrackerResource
from bittwist.udptrackerserver import UDPTrackerServer

__all__ = ["Options", "makeService"]

#: The largest C{--interval} accepted: a day.  Longer ones keep departed
#: peers in answers for days (peers expire after twice the interval).
MAX_INTERVAL = 86400


class Options(OneLineUsageErrors, usage.Options):
    """
    Options of C{twistd bittorrent-tracker}.
    """

    synopsis = "[--port ENDPOINT] [--udp-port PORT] [--interval SECONDS]"
    longdesc = (
        "Run an in-memory HTTP BitTorrent tracker for private and test swarms. "
        "Peers announce to http://HOST:PORT/announce and scrape /scrape; with "
        "--udp-port, also to udp://HOST:UDPPORT (BEP 15)."
    )
    optParameters = [
        [
            "port",
            "p",
            "tcp:6969",
            "Where to serve HTTP: an endpoint description, e.g. tcp:6969:interface=127.0.0.1.",
        ],
        ["interval", "i", "1800", "Seconds peers are asked to wait between announces."],
        ["udp-port", None, None, "Also answer UDP tracker requests (BEP 15) on this UDP port."],
        ["udp-interface", None, "", "The address the UDP port listens on (default: all)."],
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
        udpPort = self["udp-port"]
        if udpPort is not None:
            if not (udpPort.isdigit() and 1 <= int(udpPort) <= 65535):
                raise usage.UsageError(
                    f"--udp-port {udpPort!r}: expected a port number from 1 to 65535"
                )
            self["udp-port"] = int(udpPort)
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
        (its C{factory} is the C{twisted.web.server.Site}); with
        C{options["udp-port"]}, a C{MultiService} of that service and a
        C{UDPServer} answering UDP trackers requests from the same tracker.
    """
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    resource = TrackerResource(reactor=reactor, interval=options["interval"])
    site = Site(resource, reactor=reactor)
    web = strportsService(options["port"], site, reactor=reactor)
    if options.get("udp-port") is None:
        return web
    both = MultiService()
    web.setServiceParent(both)
    udp = UDPServer(
        options["udp-port"],
        UDPTrackerServer(resource.tracker, reactor=reactor),
        interface=options["udp-interface"],
        reactor=reactor,
    )
    udp.setServiceParent(both)
    return both
