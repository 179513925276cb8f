# -*- test-case-name: tests.test_tap -*-
"""
C{twistd bittorrent}: options and the service they make.
"""

import os
import shutil
import sys
import tempfile
from typing import Any, Optional

from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import serverFromString
from twisted.python import usage
from twisted.python.failure import Failure

from bittwist import events, metainfo
from bittwist.commandline import OneLineUsageErrors
from bittwist.config import SessionConfig, TorrentConfig
from bittwist.demo import DemoSwarm
from bittwist.dht.node import DEFAULT_BOOTSTRAP
from bittwist.dht.service import DHTService
from bittwist.errors import MagnetError, MetainfoError, StateFolderError
from bittwist.heap import FullCollections, freezeStartupObjects
from bittwist.magnet import parseMagnet
from bittwist.mse import Policy
from bittwist.progress import ProgressLine
from bittwist.ratelimit import parseRate
from bittwist.service import BitTorrentService, endpointDescription
from bittwist.state import defaultStateDir
from bittwist.terminal import (
    StatusLine,
    TwistdRoot,
    consoleObserver,
    logsToStdout,
    streamIsTerminal,
)
from bittwist.torrent import Torrent, TorrentState
from bittwist.watchdir import WatchFolder
from bittwist.web.site import DEFAULT_ENDPOINT, WebService

__all__ = ["Options", "makeService"]

#: The routing table file of the DHT node, in the state folder.
DHT_TABLE_FILE = "dht-table"


def parseHostPort(value: str, option: str = "--peer") -> tuple[str, int]:
    """
    Parse C{HOST:PORT} (C{[v6]:PORT} for IPv6).

    @param option: the option it came with, for the error message.

    @raise usage.UsageError: if it is not that.
    """
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise usage.UsageError(f"{option} {value!r}: expected HOST:PORT, e.g. 127.0.0.1:6881")
    return host, int(port)


class Options(OneLineUsageErrors, usage.Options):
    """
    Options of C{twistd bittorrent}.
    """

    synopsis = "[--torrent FILE | --magnet LINK] [options]"
    longdesc = (
        "Download a torrent, verify every piece, and seed it until stopped. "
        "On a terminal, a progress line is redrawn in place below the log; "
        "otherwise progress is logged every few seconds. Without --torrent, a local demo "
        "swarm (a tracker and a seeder on 127.0.0.1 with a generated payload) "
        "is started and its torrent downloaded."
    )
    optFlags = [
        [
            "verbose",
            "v",
            "Log debug lines too (each peer connected and dropped, and why), "
            "when logging to standard output.",
        ],
        ["no-dht", None, "Do not run a DHT node: find peers through trackers and --peer only."],
        [
            "allow-private-urls",
            None,
            "Let the web page add torrents by URL from loopback and private addresses "
            "(your own network), not only public ones.",
        ],
    ]
    optParameters = [
        ["torrent", "t", None, "The .torrent file to download."],
        [
            "magnet",
            "m",
            None,
            "A magnet link to download instead (magnet:?xt=urn:btih:...): the "
            "metadata comes from peers, found through the link's trackers and "
            "peers and the DHT.",
        ],
        ["download-dir", "d", ".", "The folder the files go in."],
        [
            "port",
            "p",
            "tcp:6881",
            "Where to accept peer connections: an endpoint description "
            "(tcp:6881, tcp:6881:interface=127.0.0.1) or a port number.",
        ],
        [
            "watch-dir",
            None,
            None,
            "A folder to watch: each .torrent put there is added (its files go "
            "in --download-dir), then renamed X.torrent.added "
            "(X.torrent.invalid if it cannot be added, with the reason logged).",
        ],
        ["max-peers", None, 50, "The most peer connections at once.", int],
        [
            "encryption",
            None,
            "prefer",
            "Encrypted peer connections (MSE/PE): prefer (encrypt when the peer "
            "can, else plaintext), require (encrypted only) or off (plaintext only).",
        ],
        [
            "state-dir",
            None,
            None,
            "The folder remembering torrents, paused or not, and their verified "
            "pieces across restarts [default: $XDG_STATE_HOME/bittwist or "
            "~/.local/state/bittwist; for the demo, a temporary folder].",
        ],
        [
            "web",
            None,
            DEFAULT_ENDPOINT,
            "Where to serve the web status page: an endpoint description, or "
            "'none'. Off this machine's loopback, every request needs the "
            "token logged at start.",
        ],
        [
            "max-upload-rate",
            None,
            "0",
            "Upload at most this many bytes per second, all torrents together "
            "(500K, 2M; 0 for unlimited).",
        ],
        [
            "max-download-rate",
            None,
            "0",
            "Download at most this many bytes per second, all torrents "
            "together (500K, 2M; 0 for unlimited).",
        ],
        [
            "seed-ratio",
            None,
            None,
            "Stop seeding once we uploaded this many times the torrent's size "
            "(e.g. 2.0).",
            float,
        ],
        [
            "dht-port",
            None,
            6881,
            "The UDP port of our DHT node (BEP 5), which finds peers of public "
            "torrents without a tracker.",
            int,
        ],
        [
            "seed-time",
            None,
            None,
            "Stop seeding after this many minutes of it; 0 exits as soon as "
            "the download is verified.",
            float,
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["peers"] = []
        self["dht-bootstrap"] = []

    def opt_peer(self, value: str) -> None:
        """
        Connect to the peer at HOST:PORT (repeatable), tracker or not.
        """
        self["peers"].append(parseHostPort(value))

    def opt_dht_bootstrap(self, value: str) -> None:
        """
        Join the DHT through the node at HOST:PORT (repeatable) [default:
        router.bittorrent.com:6881, dht.transmissionbt.com:6881,
        router.utorrent.com:6881].
        """
        self["dht-bootstrap"].append(parseHostPort(value, "--dht-bootstrap"))

    def postOptions(self) -> None:
        self["metainfo"] = None
        self["magnet-link"] = None
        if self["torrent"] is not None and self["magnet"] is not None:
            raise usage.UsageError("give --torrent or --magnet, not both")
        if self["magnet"] is not None:
            try:
                self["magnet-link"] = parseMagnet(self["magnet"])
            except MagnetError as e:
                raise usage.UsageError(str(e)) from None
        if self["torrent"] is not None:
            try:
                self["metainfo"] = metainfo.load(self["torrent"])
            except MetainfoError as e:
                raise usage.UsageError(str(e)) from None
        if not 0 <= self["dht-port"] < 65536:
            raise usage.UsageError(f"--dht-port must be a port number, not {self['dht-port']}")
        if self["max-peers"] < 1:
            raise usage.UsageError("--max-peers must be at least 1")
        try:
            self["encryption"] = Policy(self["encryption"].lower())
        except ValueError:
            raise usage.UsageError(
                f"--encryption must be prefer, require or off, not {self['encryption']!r}"
            ) from None
        for name in ("max-upload-rate", "max-download-rate"):
            if isinstance(self[name], str):
                try:
                    self[name] = parseRate(self[name])
                except ValueError as e:
                    raise usage.UsageError(f"--{name}: {e}") from None
        for name in ("seed-ratio", "seed-time"):
            if self[name] is not None and not self[name] >= 0:
                raise usage.UsageError(f"--{name} must be a number, 0 or more")
        from twisted.internet import reactor

        self["port"] = endpointDescription(self["port"])
        try:
            serverFromString(reactor, self["port"])
        except (ValueError, TypeError, KeyError) as e:
            raise usage.UsageError(f"--port {self['port']!r}: not an endpoint description ({e})")
        if self["web"].lower() == "none":
            self["web"] = None
        else:
            try:
                serverFromString(reactor, self["web"])
            except (ValueError, TypeError, KeyError) as e:
                raise usage.UsageError(f"--web {self['web']!r}: not an endpoint description ({e})")
        folder = self["download-dir"]
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise usage.UsageError(f"--download-dir {folder!r} is not a folder")
        watch = self["watch-dir"]
        if watch is not None and not os.path.isdir(watch):
            raise usage.UsageError(f"--watch-dir {watch!r} is not a folder; create it first")


def _config(options: Options) -> SessionConfig:
    seedTime = options["seed-time"]
    return SessionConfig(
        torrent=TorrentConfig(
            maxPeers=options["max-peers"],
            seedRatio=options["seed-ratio"],
            seedTime=None if seedTime is None else seedTime * 60,
        ),
        maxUploadRate=options["max-upload-rate"],
        maxDownloadRate=options["max-download-rate"],
        encryption=options["encryption"],
    )


def _dht(options: Options, stateDir: str) -> Optional[DHTService]:
    """
    @return: the DHT node the options ask for, its routing table kept in the
        state folder; C{None} with C{--no-dht}.
    """
    if options["no-dht"]:
        return None
    return DHTService(
        options["dht-port"],
        bootstrap=options["dht-bootstrap"] or DEFAULT_BOOTSTRAP,
        tablePath=os.path.join(stateDir, DHT_TABLE_FILE),
    )


def _exitWhenFinished(torrent: Torrent, reactor: Any) -> None:
    """
    Stop the reactor once C{torrent} is done seeding (C{--seed-time 0}: as
    soon as it is verified).
    """

    def observe(event: events.TorrentEvent) -> None:
        if isinstance(event, events.StateChanged) and event.state is TorrentState.FINISHED:
            reactor.stop()

    torrent.addObserver(observe)


def makeService(options: Options) -> IService:
    """
    @return: a L{BitTorrentService} downloading the torrent given; with no
        torrent, one that runs the torrents its state folder remembers, or,
        when it remembers none, downloads from a local L{DemoSwarm} running
        beside it (the demo's torrent is never remembered), unless a watch
        folder is given (C{--watch-dir}: then it adds what is put there).
        Run by twistd logging to standard output, that service sits in a
        L{TwistdRoot} giving twistd its log observer: debug lines only with
        C{--verbose}, and on a terminal a progress line redrawn below the
        log.
    """
    from twisted.internet import reactor

    # twistd's own options, when twistd runs us: how it will log.
    console = logsToStdout(getattr(options, "parent", None))
    # Taken now: once logging starts, twistd sends sys.stdout to the log.
    stdout = sys.stdout
    line = StatusLine(stdout) if console and streamIsTerminal(stdout) else None
    stateDir = options["state-dir"]
    # The demo alone: its swarm is on 127.0.0.1, and a DHT node would only
    # announce a throwaway torrent to the world.
    demoOnly = (
        stateDir is None
        and options["metainfo"] is None
        and options["magnet-link"] is None
        and options["watch-dir"] is None
    )
    # Once everything is loaded and the reactor runs: full collections then
    # no longer walk the start-up objects (a stall of tens of ms each).
    reactor.addSystemEventTrigger("after", "startup", freezeStartupObjects)
    # And each full collection a reactor turn of its own, not on top of a
    # busy one's reads and writes.
    reactor.addSystemEventTrigger("after", "startup", FullCollections(reactor).install)
    if stateDir is None and options["metainfo"] is None and options["magnet-link"] is None:
        # The demo makes a new torrent each run: remembering it would only
        # pile up torrents in the user's state folder.
        stateDir = tempfile.mkdtemp(prefix="bittwist-demo-state-")
        reactor.addSystemEventTrigger("after", "shutdown", shutil.rmtree, stateDir, True)
    elif stateDir is None:
        stateDir = defaultStateDir()
    service = BitTorrentService(
        endpoint=options["port"],
        reactor=reactor,
        config=_config(options),
        stateDir=stateDir,
        # The progress line says it all on a terminal.
        progressInterval=None if line is not None else 5.0,
        dht=None if demoOnly else _dht(options, stateDir),
        allowPrivateURLs=bool(options["allow-private-urls"]),
    )
    assert service.state is not None
    try:
        # Now, before anything is saved: a second bittwist on this folder
        # would overwrite the first one's records before failing.
        service.state.open()
    except StateFolderError as e:
        # twistd prints a traceback for anything else raised here.
        raise SystemExit(f"twistd bittorrent: {e}") from None

    def cannotListen(failure: Failure) -> None:
        # The service said why; without peers nothing can be done.
        if reactor.running:
            reactor.stop()

    service.whenListening().addErrback(cannotListen)
    if options["web"] is not None:
        # A child of the service: it serves while the service runs.
        WebService(options["web"], service, options["download-dir"], reactor).setServiceParent(service)
    if options["watch-dir"] is not None:
        WatchFolder(
            options["watch-dir"], service, options["download-dir"], reactor
        ).setServiceParent(service)
    top: IService = service
    if options["metainfo"] is not None:
        # The path, not the parsed torrent: the state folder keeps its bytes.
        torrent = service.addTorrent(
            options["torrent"], options["download-dir"], peers=options["peers"]
        )
        if options["seed-time"] == 0:
            _exitWhenFinished(torrent, reactor)
    elif options["magnet-link"] is not None:
        magnet = service.addMagnet(
            options["magnet-link"], options["download-dir"], peers=options["peers"]
        )
        if options["seed-time"] == 0:
            magnet.whenTorrent().addCallback(_exitWhenFinished, reactor)
    elif not service.state.records() and options["watch-dir"] is None:
        top = _withDemo(service, options, reactor)
    if not console:
        return top
    root = TwistdRoot(consoleObserver(stdout, options["verbose"], line))
    top.setServiceParent(root)
    if line is not None:
        ProgressLine(lambda: service.session.torrents.values(), line, reactor).setServiceParent(
            root
        )
    return root


def _withDemo(service: BitTorrentService, options: Options, reactor: Any) -> IService:
    """
    @return: a service running a L{DemoSwarm} and C{service}, which
        downloads the demo's torrent once the swarm is ready.
    """
    top = MultiService()
    demo = DemoSwarm(reactor)
    demo.setServiceParent(top)
    service.setServiceParent(top)

    def ready(_: None) -> None:
        assert demo.torrentData is not None and demo.seederAddress is not None
        torrent = service.addTorrent(
            demo.torrentData,
            options["download-dir"],
            peers=[demo.seederAddress, *options["peers"]],
            remember=False,
        )
        if options["seed-time"] == 0:
            _exitWhenFinished(torrent, reactor)

    demo.whenReady().addCallback(ready)
    return top
