# -*- test-case-name: tests.test_tap -*-
"""
Tests for L{bittwist.tap} and the C{twistd bittorrent} plugin.
"""

import io
import os
import shutil
import sys
import tempfile

import twisted.plugins
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.logger import LogLevel
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from bittwist import tap
from bittwist.demo import DemoSwarm
from bittwist.dht.node import DEFAULT_BOOTSTRAP
from bittwist.dht.service import DHTService
from bittwist.metainfo import createTorrent, parse
from bittwist.mse import Policy
from bittwist.torrent.magnet import MagnetTorrent
from bittwist.progress import ProgressLine, ProgressLogger
from bittwist.service import BitTorrentService
from bittwist.terminal import TwistdRoot
from bittwist.watchdir import WatchFolder
from tests.test_terminal import FakeTerminal, twistdOptions


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{tap.Options}.
    """

    def setUp(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        payload = os.path.join(folder, "payload.bin")
        with open(payload, "wb") as f:
            f.write(b"x" * 40000)
        self.data = createTorrent(payload, pieceLength=16384)
        self.torrentPath = os.path.join(folder, "payload.torrent")
        with open(self.torrentPath, "wb") as f:
            f.write(self.data)

    def parse(self, *args: str) -> tap.Options:
        options = tap.Options()
        options.parseOptions(list(args))
        return options

    def assertUsageError(self, args: list[str], *fragments: str) -> None:
        """
        Parsing C{args} raises L{usage.UsageError} whose message holds each
        of C{fragments}.
        """
        error = self.assertRaises(usage.UsageError, self.parse, *args)
        for fragment in fragments:
            self.assertIn(fragment, str(error))

    def test_defaults(self) -> None:
        """
        With only C{--torrent}, the torrent is parsed and the defaults hold.
        """
        options = self.parse("--torrent", self.torrentPath)
        self.assertEqual(options["metainfo"].infoHash, parse(self.data).infoHash)
        self.assertEqual(options["metainfo"].source, self.torrentPath)
        self.assertEqual(options["download-dir"], ".")
        self.assertEqual(options["port"], "tcp:6881")
        self.assertEqual(options["max-peers"], 50)
        self.assertEqual(options["peers"], [])

    def test_allOptions(self) -> None:
        """
        Every option parses; C{--peer} is repeatable, IPv6 in brackets.
        """
        options = self.parse(
            "-t", self.torrentPath,
            "-d", "downloads",
            "-p", "tcp:7000:interface=127.0.0.1",
            "--max-peers", "7",
            "--peer", "10.0.0.1:6881",
            "--peer", "[::1]:51413",
        )
        self.assertEqual(options["download-dir"], "downloads")
        self.assertEqual(options["port"], "tcp:7000:interface=127.0.0.1")
        self.assertEqual(options["max-peers"], 7)
        self.assertEqual(options["peers"], [("10.0.0.1", 6881), ("::1", 51413)])

    def test_noTorrentMeansDemo(self) -> None:
        """
        Without C{--torrent} the options parse with no metainfo (the demo
        swarm is used).
        """
        options = self.parse("--peer", "10.0.0.1:6881")
        self.assertIsNone(options["metainfo"])
        self.assertEqual(options["peers"], [("10.0.0.1", 6881)])

    def test_unreadableTorrent(self) -> None:
        """
        A torrent that cannot be read fails with its path and the reason.
        """
        missing = self.torrentPath + ".missing"
        self.assertUsageError(["--torrent", missing], missing, "cannot be read")

    def test_invalidTorrent(self) -> None:
        """
        A file that is not a torrent fails with its path.
        """
        with open(self.torrentPath, "wb") as f:
            f.write(b"not a torrent")
        self.assertUsageError(["--torrent", self.torrentPath], self.torrentPath)

    def test_badPort(self) -> None:
        """
        A C{--port} that is not an endpoint description fails naming it.
        """
        for port in ("bogus:6881", "tcp:notanumber"):
            self.assertUsageError(
                ["--torrent", self.torrentPath, "--port", port], "--port", repr(port)
            )

    def test_badPeer(self) -> None:
        """
        A C{--peer} that is not HOST:PORT fails naming it and the form.
        """
        for peer in ("10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", ":6881", "host:port"):
            self.assertUsageError(
                ["--torrent", self.torrentPath, "--peer", peer], repr(peer), "HOST:PORT"
            )

    def test_maxPeersZero(self) -> None:
        """
        C{--max-peers 0} fails: at least one peer is needed.
        """
        self.assertUsageError(["--torrent", self.torrentPath, "--max-peers", "0"], "--max-peers")

    def test_maxPeersNotANumber(self) -> None:
        """
        A C{--max-peers} that is not a number fails.
        """
        self.assertUsageError(["--torrent", self.torrentPath, "--max-peers", "many"], "'many'")

    def test_encryption(self) -> None:
        """
        C{--encryption} takes prefer, require or off (in any case), prefer
        by default, and reaches the session's dialer and listener.
        """
        self.assertIs(self.parse("--torrent", self.torrentPath)["encryption"], Policy.PREFER)
        options = self.parse(
            "--torrent", self.torrentPath, "--encryption", "Require", "--port", "tcp:0",
            "--state-dir", os.path.abspath(self.mktemp()), "-d", os.path.abspath(self.mktemp()),
        )
        self.assertIs(options["encryption"], Policy.REQUIRE)
        service = tap.makeService(options)
        self.assertIs(service.session.dialer.encryption, Policy.REQUIRE)
        self.assertIs(service.session.config.encryption, Policy.REQUIRE)
        for torrent in service.session.torrents.values():
            self.successResultOf(torrent.storage.close())

    def test_allowPrivateURLs(self) -> None:
        """
        Adding by URL fetches from public addresses only, unless
        C{--allow-private-urls} is given.
        """
        for extra, allowed in (((), False), (("--allow-private-urls",), True)):
            options = self.parse(
                "--torrent", self.torrentPath, "--port", "tcp:0", "--no-dht", *extra,
                "--state-dir", os.path.abspath(self.mktemp()), "-d", os.path.abspath(self.mktemp()),
            )
            service = tap.makeService(options)
            self.assertIs(service.allowPrivateURLs, allowed)
            for torrent in service.session.torrents.values():
                self.successResultOf(torrent.storage.close())

    def test_magnet(self) -> None:
        """
        C{--magnet} reads the link and C{makeService} adds it as a magnet
        (no demo); a bad link or both C{--torrent} and C{--magnet} fail.
        """
        link = "magnet:?xt=urn:btih:" + "cd" * 20 + "&dn=files&x.pe=10.0.0.1:6881"
        options = self.parse(
            "--magnet", link, "--port", "tcp:0", "--no-dht",
            "--state-dir", os.path.abspath(self.mktemp()), "-d", os.path.abspath(self.mktemp()),
        )
        self.assertEqual(options["magnet-link"].name, "files")
        service = tap.makeService(options)
        if not isinstance(service, BitTorrentService):
            [service] = [s for s in service if isinstance(s, BitTorrentService)]
        [magnet] = service.session.torrents.values()
        self.assertIsInstance(magnet, MagnetTorrent)
        self.assertEqual(magnet.infoHash, bytes.fromhex("cd" * 20))
        self.assertUsageError(["--magnet", "magnet:?dn=nothing"], "magnet link", "xt")
        self.assertUsageError(
            ["--magnet", link, "--torrent", self.torrentPath], "--torrent or --magnet"
        )

    def test_badEncryption(self) -> None:
        """
        An unknown C{--encryption} fails naming the choices.
        """
        self.assertUsageError(
            ["--torrent", self.torrentPath, "--encryption", "always"], "--encryption", "'always'"
        )

    def test_downloadDirIsAFile(self) -> None:
        """
        A C{--download-dir} that is a file fails.
        """
        self.assertUsageError(
            ["--torrent", self.torrentPath, "--download-dir", self.torrentPath], "--download-dir"
        )

    def test_makeService(self) -> None:
        """
        C{makeService} returns a stopped L{BitTorrentService} with the
        torrent added, its peers known, in the folder given, remembered in
        the state folder given.
        """
        downloads = os.path.abspath(self.mktemp())
        stateDir = os.path.abspath(self.mktemp())
        options = self.parse(
            "--torrent", self.torrentPath, "-d", downloads, "--port", "tcp:0",
            "--max-peers", "9", "--peer", "10.0.0.1:6881", "--state-dir", stateDir,
        )
        service = tap.makeService(options)
        self.assertIsInstance(service, BitTorrentService)
        self.assertFalse(service.running)
        self.assertEqual(service.state.path, stateDir)
        [torrent] = service.session.torrents.values()
        self.assertEqual(torrent.metainfo.infoHash, options["metainfo"].infoHash)
        self.assertEqual(torrent.config.maxPeers, 9)
        [manual] = [source for source in torrent.sources if source.name == "manual"]
        self.assertEqual(manual.addresses, (("10.0.0.1", 6881),))
        self.assertEqual(torrent.storage.downloadDir, downloads)
        self.successResultOf(torrent.storage.close())

    def test_makeServiceDemo(self) -> None:
        """
        Without a torrent, C{makeService} returns a stopped service holding
        a L{DemoSwarm} and a L{BitTorrentService} that has no torrent yet
        (it is added when the swarm is ready), and no DHT node: the demo's
        swarm is on 127.0.0.1.
        """
        options = self.parse("--port", "tcp:0")
        top = tap.makeService(options)
        children = list(top)
        self.assertEqual([type(c) for c in children], [DemoSwarm, BitTorrentService])
        self.addCleanup(shutil.rmtree, children[0].folder, True)
        # A temporary state folder, not the user's.
        stateDir = children[1].state.path
        self.addCleanup(shutil.rmtree, stateDir, True)
        self.assertEqual(os.path.dirname(stateDir), os.path.abspath(tempfile.gettempdir()))
        self.assertFalse(top.running)
        self.assertEqual(children[1].session.torrents, {})
        self.assertIsNone(children[1].dht)


class WatchDirTests(SynchronousTestCase):
    """
    C{--watch-dir}.
    """

    def test_watchDir(self) -> None:
        """
        C{--watch-dir} adds a L{WatchFolder} on that folder to the service,
        adding into the download folder; without C{--torrent}, no demo is
        run.
        """
        watch = os.path.abspath(self.mktemp())
        os.makedirs(watch)
        downloads = os.path.abspath(self.mktemp())
        options = tap.Options()
        options.parseOptions(
            ["--watch-dir", watch, "-d", downloads, "--port", "tcp:0",
             "--state-dir", os.path.abspath(self.mktemp())]
        )
        service = tap.makeService(options)
        self.addCleanup(service.state.close)
        self.assertIsInstance(service, BitTorrentService)
        [watcher] = [c for c in service if isinstance(c, WatchFolder)]
        self.assertEqual(watcher.folder, watch)
        self.assertEqual(watcher.downloadDir, downloads)

    def test_watchDirMissing(self) -> None:
        """
        A C{--watch-dir} that is not a folder fails, naming it.
        """
        options = tap.Options()
        missing = os.path.abspath(self.mktemp())
        error = self.assertRaises(usage.UsageError, options.parseOptions, ["--watch-dir", missing])
        self.assertIn(repr(missing), str(error))
        self.assertIn("--watch-dir", str(error))


class ConsoleTests(SynchronousTestCase):
    """
    How C{makeService} sets up logging and progress when twistd runs it.
    """

    def setUp(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        payload = os.path.join(folder, "payload.bin")
        with open(payload, "wb") as f:
            f.write(b"x" * 40000)
        self.torrentPath = os.path.join(folder, "payload.torrent")
        with open(self.torrentPath, "wb") as f:
            f.write(createTorrent(payload, pieceLength=16384))
        self.folder = folder

    def make(self, stdout: io.StringIO, *twistdArgs: str, verbose: bool = False) -> object:
        """
        @return: what C{makeService} makes, run by twistd given
            C{twistdArgs}, with C{stdout} as standard output.
        """
        options = tap.Options()
        options.parent = twistdOptions(*twistdArgs)
        options.parseOptions(
            [
                "--torrent", self.torrentPath, "--port", "tcp:0", "--web", "none",
                "--state-dir", os.path.abspath(self.mktemp()),
                "-d", os.path.join(self.folder, "downloads"),
                *(["--verbose"] if verbose else []),
            ]
        )
        self.patch(sys, "stdout", stdout)
        made = tap.makeService(options)
        services = [made, *made] if isinstance(made, TwistdRoot) else [made]
        for service in services:
            if isinstance(service, BitTorrentService):
                self.addCleanup(service.state.close)
                for torrent in service.session.torrents.values():
                    self.addCleanup(torrent.storage.close)
        return made

    def test_verboseFlag(self) -> None:
        """
        C{--verbose} (or C{-v}) is off by default.
        """
        options = tap.Options()
        options.parseOptions(["--torrent", self.torrentPath])
        self.assertFalse(options["verbose"])
        options = tap.Options()
        options.parseOptions(["--torrent", self.torrentPath, "-v"])
        self.assertTrue(options["verbose"])

    def test_terminal(self) -> None:
        """
        Logging to standard output on a terminal: a L{TwistdRoot} holding
        the service and a L{ProgressLine}; no periodic progress log lines.
        """
        root = self.make(FakeTerminal(), "-n")
        self.assertIsInstance(root, TwistdRoot)
        service, line = list(root)
        self.assertIsInstance(service, BitTorrentService)
        self.assertIsInstance(line, ProgressLine)
        self.assertNotIn(ProgressLogger, [type(c) for c in service])

    def test_notTerminal(self) -> None:
        """
        Logging to standard output that is no terminal: a L{TwistdRoot}
        holding the service, which logs its progress every few seconds;
        no progress line.
        """
        root = self.make(io.StringIO(), "-n")
        self.assertIsInstance(root, TwistdRoot)
        [service] = list(root)
        self.assertIn(ProgressLogger, [type(c) for c in service])

    def test_observerFiltersDebug(self) -> None:
        """
        The observer twistd is given writes to standard output, without
        debug lines unless C{--verbose}.
        """
        for verbose in (False, True):
            stdout = io.StringIO()
            root = self.make(stdout, "-n", verbose=verbose)
            root.observer({"log_format": "a detail", "log_level": LogLevel.debug, "log_time": 0, "log_namespace": "t"})
            root.observer({"log_format": "news", "log_level": LogLevel.info, "log_time": 0, "log_namespace": "t"})
            self.assertIn("news", stdout.getvalue())
            self.assertEqual("a detail" in stdout.getvalue(), verbose)

    def test_logFile(self) -> None:
        """
        When twistd logs to a file, its own observer is kept: the service
        is returned alone.
        """
        made = self.make(FakeTerminal(), "-n", "--logfile", os.path.join(self.folder, "x.log"))
        self.assertIsInstance(made, BitTorrentService)


class PluginTests(SynchronousTestCase):
    """
    The twistd plugin.
    """

    def test_found(self) -> None:
        """
        With the tree on the path, L{getPlugins} finds the C{bittorrent}
        service maker, made of L{tap}.
        """
        root = os.path.dirname(os.path.dirname(os.path.abspath(tap.__file__)))
        pluginDir = os.path.join(root, "twisted", "plugins")
        if pluginDir not in twisted.plugins.__path__:
            self.patch(twisted.plugins, "__path__", [*twisted.plugins.__path__, pluginDir])
        makers = {p.tapname: p for p in getPlugins(IServiceMaker, twisted.plugins)}
        self.assertIn("bittorrent", makers)
        maker = makers["bittorrent"]
        self.assertIs(maker.options, tap.Options)
        self.assertIs(maker.makeService, tap.makeService)
        self.assertTrue(maker.description)


class DHTOptionsTests(SynchronousTestCase):
    """
    C{--dht-port}, C{--dht-bootstrap} and C{--no-dht}.
    """

    def setUp(self) -> None:
        folder = self.mktemp()
        os.makedirs(folder)
        self.torrentPath = os.path.join(folder, "payload.torrent")
        with open(self.torrentPath, "wb") as f:
            f.write(createTorrent(__file__, pieceLength=16384))
        self.stateDir = os.path.abspath(self.mktemp())

    def make(self, *args: str) -> BitTorrentService:
        options = tap.Options()
        options.parseOptions(
            ["--torrent", self.torrentPath, "--port", "tcp:0", "--state-dir", self.stateDir,
             "-d", os.path.abspath(self.mktemp()), *args]
        )
        service = tap.makeService(options)
        for torrent in service.session.torrents.values():
            self.successResultOf(torrent.storage.close())
        self.addCleanup(service.state.close)
        return service

    def test_defaults(self) -> None:
        """
        By default a DHT node on UDP 6881 joins through the well-known
        routers, keeps its table in the state folder, and the torrent uses
        it.
        """
        service = self.make()
        self.assertIsInstance(service.dht, DHTService)
        self.assertIs(service.dht.parent, service)
        self.assertIs(service.session.dht, service.dht.node)
        [torrent] = service.session.torrents.values()
        self.assertIn("dht", [source.name for source in torrent.sources])

    def test_bootstrapAndPort(self) -> None:
        service = self.make(
            "--dht-port", "7000", "--dht-bootstrap", "127.0.0.1:7001", "--dht-bootstrap", "node.example:7002"
        )
        self.assertEqual(service.dht.bootstrap, (("127.0.0.1", 7001), ("node.example", 7002)))
        self.assertEqual(service.dht.portNumber, 7000)
        self.assertEqual(service.dht.tablePath, os.path.join(self.stateDir, tap.DHT_TABLE_FILE))

    def test_defaultBootstrap(self) -> None:
        self.assertEqual(self.make().dht.bootstrap, DEFAULT_BOOTSTRAP)

    def test_noDHT(self) -> None:
        service = self.make("--no-dht")
        self.assertIsNone(service.dht)
        self.assertIsNone(service.session.dht)
        [torrent] = service.session.torrents.values()
        self.assertNotIn("dht", [source.name for source in torrent.sources])

    def test_badValues(self) -> None:
        for args, fragment in [
            (["--dht-bootstrap", "nowhere"], "--dht-bootstrap 'nowhere'"),
            (["--dht-port", "70000"], "--dht-port"),
        ]:
            options = tap.Options()
            e = self.assertRaises(usage.UsageError, options.parseOptions, ["--torrent", self.torrentPath, *args])
            self.assertIn(fragment, str(e))
