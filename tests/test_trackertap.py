"""
Tests for L{bittwist.trackertap} and the C{twistd bittorrent-tracker} plugin.
"""

import os

import treq
import twisted.plugins
from twisted.application.service import IServiceMaker
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.server import Site

from bittwist import trackertap
from bittwist.tracker import AnnounceQuery, announce
from bittwist.trackerserver import TrackerResource


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{trackertap.Options}.
    """

    def parse(self, *args: str) -> trackertap.Options:
        options = trackertap.Options()
        options.parseOptions(list(args))
        return options

    def assertUsageError(self, args: list[str], *fragments: str) -> None:
        """
        Parsing C{args} raises a one-line L{usage.UsageError} holding each
        of C{fragments}.
        """
        error = self.assertRaises(usage.UsageError, self.parse, *args)
        self.assertNotIn("\n", str(error))
        for fragment in fragments:
            self.assertIn(fragment, str(error))

    def test_defaults(self) -> None:
        """
        Without options the tracker listens on C{tcp:6969} and asks for
        announces every 1800 seconds.
        """
        options = self.parse()
        self.assertEqual(options["port"], "tcp:6969")
        self.assertEqual(options["interval"], 1800)

    def test_allOptions(self) -> None:
        """
        C{--port} and C{--interval} (and their short forms) parse; the
        interval becomes an L{int}.
        """
        options = self.parse("--port", "tcp:0:interface=127.0.0.1", "--interval", "60")
        self.assertEqual(options["port"], "tcp:0:interface=127.0.0.1")
        self.assertEqual(options["interval"], 60)
        options = self.parse("-p", "tcp:7000", "-i", "5")
        self.assertEqual((options["port"], options["interval"]), ("tcp:7000", 5))

    def test_badPort(self) -> None:
        """
        A C{--port} that is not an endpoint description fails naming it.
        """
        for port in ("bogus:6969", "tcp:notanumber"):
            self.assertUsageError(["--port", port], "--port", repr(port))

    def test_badInterval(self) -> None:
        """
        A C{--interval} that is not a whole number, or is out of range,
        fails naming it.
        """
        self.assertUsageError(["--interval", "soon"], "--interval", "'soon'", "whole number")
        for interval in ("0", "-5", str(trackertap.MAX_INTERVAL + 1)):
            self.assertUsageError(["--interval", interval], "--interval", "between")
        self.assertEqual(
            self.parse("--interval", str(trackertap.MAX_INTERVAL))["interval"],
            trackertap.MAX_INTERVAL,
        )


class MakeServiceTests(SynchronousTestCase):
    """
    Tests for L{trackertap.makeService}.
    """

    def test_listensWhenStarted(self) -> None:
        """
        The service is stopped when made; started, it listens on the port
        given with a L{Site} whose resource is a L{TrackerResource} using
        the interval given.
        """
        options = trackertap.Options()
        options.parseOptions(["--port", "tcp:7001:interface=127.0.0.2", "--interval", "77"])
        memory = MemoryReactorClock()
        service = trackertap.makeService(options, reactor=memory)
        self.assertFalse(service.running)
        self.assertEqual(memory.tcpServers, [])
        service.startService()
        self.addCleanup(service.stopService)
        [(port, factory, backlog, interface)] = memory.tcpServers
        self.assertEqual((port, interface), (7001, "127.0.0.2"))
        self.assertIsInstance(factory, Site)
        self.assertIsInstance(factory.resource, TrackerResource)
        self.assertEqual(factory.resource.interval, 77)


class ServeTests(TestCase):
    """
    The service made from options serves real announces on loopback.
    """

    @inlineCallbacks
    def test_announceOverTCP(self) -> None:
        """
        Two peers announce to the running service over HTTP; the second
        learns of the first.  A hybrid torrent's second announce (another
        info hash, same peer) is answered too, as a swarm of its own.
        """
        options = trackertap.Options()
        options.parseOptions(["--port", "tcp:0:interface=127.0.0.1", "--interval", "45"])
        service = trackertap.makeService(options)
        service.startService()
        self.addCleanup(service.stopService)
        # StreamServerEndpointService tells its port only through this
        # Deferred, whose result stopService needs: copy it, don't consume it.
        ports = []
        service._waitingForPort.addCallback(lambda port: ports.append(port) or port)
        [listening] = ports
        url = f"http://127.0.0.1:{listening.getHost().port}/announce"
        pool = HTTPConnectionPool(reactor, persistent=False)
        client = treq.client.HTTPClient(Agent(reactor, pool=pool))
        v1, v2 = b"\x01" * 20, b"\x02" * 20

        def ask(infoHash: bytes, peerId: bytes, port: int):
            query = AnnounceQuery(infoHash, peerId, port, uploaded=0, downloaded=0, left=10, event="started")
            return announce(url, query, httpClient=client)

        first = yield ask(v1, b"A" * 20, 6001)
        self.assertEqual((first.interval, list(first.peers)), (45, []))
        second = yield ask(v1, b"B" * 20, 6002)
        self.assertEqual(list(second.peers), [("127.0.0.1", 6001)])
        hybrid = yield ask(v2, b"B" * 20, 6002)
        self.assertEqual(list(hybrid.peers), [])
        again = yield ask(v2, b"A" * 20, 6001)
        self.assertEqual(list(again.peers), [("127.0.0.1", 6002)])


class PluginTests(SynchronousTestCase):
    """
    The twistd plugin.
    """

    def test_found(self) -> None:
        """
        With the tree on the path, L{getPlugins} finds the
        C{bittorrent-tracker} service maker, made of L{trackertap}.
        """
        root = os.path.dirname(os.path.dirname(os.path.abspath(trackertap.__file__)))
        pluginDir = os.path.join(root, "twisted", "plugins")
        if pluginDir not in twisted.plugins.__path__:
            self.patch(twisted.plugins, "__path__", [*twisted.plugins.__path__, pluginDir])
        makers = {p.tapname: p for p in getPlugins(IServiceMaker, twisted.plugins)}
        maker = makers["bittorrent-tracker"]
        self.assertIs(maker.options, trackertap.Options)
        self.assertIs(maker.makeService, trackertap.makeService)
        self.assertTrue(maker.description)
