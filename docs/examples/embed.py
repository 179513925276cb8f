"""
Embed bittwist in an existing Twisted application.

The application here is a L{MultiService} that already runs a tiny web
site (a plain-text status page on 127.0.0.1).  We add a
L{bittwist.service.BitTorrentService} beside it, add the torrents named on
the command line, print progress from the torrents' observers, and exit
when every torrent is complete and verified.

With C{--state-dir}, the service remembers its torrents: run the program
again after stopping it (Ctrl-C) and it carries on where it was, without
hashing again what it had verified.

Usage::

    python embed.py [--download-dir DIR] [--state-dir DIR]
                    [--peer HOST:PORT ...] [--no-trackers] TORRENT...
"""

import argparse
import sys

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet.defer import DeferredList, ensureDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import react
from twisted.web.resource import Resource
from twisted.web.server import Site

from bittwist import events
from bittwist.service import BitTorrentService


class StatusPage(Resource):
    """
    The existing application's web page: one line per torrent.
    """

    isLeaf = True

    def __init__(self, bittorrent: BitTorrentService) -> None:
        super().__init__()
        self.bittorrent = bittorrent

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        lines = []
        for torrent in self.bittorrent.session.torrents.values():
            status = torrent.status()
            lines.append(f"{status.name}: {status.state} {status.progress:.0%}\n")
        return "".join(lines).encode("utf-8")


def printProgress(event: events.TorrentEvent) -> None:
    """
    A torrent observer: print state changes, every tenth of the pieces, and
    completion.
    """
    torrent = event.torrent
    name = torrent.metainfo.name
    if isinstance(event, events.StateChanged):
        print(f"{name}: {event.state}", flush=True)
    elif isinstance(event, events.PieceVerified):
        status = torrent.status()
        step = max(1, status.numPieces // 10)
        if status.piecesVerified % step == 0:
            print(f"{name}: {status.piecesVerified}/{status.numPieces} pieces", flush=True)
    elif isinstance(event, events.Completed):
        print(f"{name}: complete and verified", flush=True)


def parseArguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Download torrents inside a Twisted app.")
    parser.add_argument("torrents", nargs="+", metavar="TORRENT")
    parser.add_argument("--download-dir", default=".")
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--port", default="tcp:0", help="endpoint for incoming peers")
    parser.add_argument("--web", default="tcp:0:interface=127.0.0.1", help="status page endpoint")
    parser.add_argument("--peer", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--no-trackers", action="store_true")
    return parser.parse_args(argv)


async def main(reactor, argv: list[str]) -> int:
    options = parseArguments(argv)
    peers = []
    for peer in options.peer:
        host, _, port = peer.rpartition(":")
        peers.append((host.strip("[]"), int(port)))

    # The application as it was: a MultiService running a web site.
    application = MultiService()
    bittorrent = BitTorrentService(
        options.port, reactor=reactor, stateDir=options.state_dir, progressInterval=None
    )
    site = Site(StatusPage(bittorrent))
    StreamServerEndpointService(serverFromString(reactor, options.web), site).setServiceParent(
        application
    )

    # bittwist joins it as one more service.
    bittorrent.setServiceParent(application)
    for path in options.torrents:
        bittorrent.addTorrent(
            path, options.download_dir, peers=peers, announce=not options.no_trackers
        )
    application.startService()
    # Torrents remembered in the state folder were added again on start.
    torrents = list(bittorrent.session.torrents.values())
    for torrent in torrents:
        torrent.addObserver(printProgress)
    # Ctrl-C: stop cleanly all the same.
    trigger = reactor.addSystemEventTrigger("before", "shutdown", application.stopService)

    results = await DeferredList([t.whenComplete() for t in torrents], consumeErrors=True)
    failed = [(t, r) for t, (ok, r) in zip(torrents, results) if not ok]
    for torrent, failure in failed:
        print(f"{torrent.metainfo.name}: failed: {failure.getErrorMessage()}", file=sys.stderr)
    if not failed:
        print("all complete", flush=True)
    # Stop cleanly: peers told, files closed, state saved.
    reactor.removeSystemEventTrigger(trigger)
    await application.stopService()
    return 1 if failed else 0


def run(reactor, *argv: str):
    """
    C{react} entry point: exit with L{main}'s status.
    """
    d = ensureDeferred(main(reactor, list(argv)))

    def exit(code: int) -> None:
        if code:
            raise SystemExit(code)

    return d.addCallback(exit)


if __name__ == "__main__":
    react(run, sys.argv[1:])
