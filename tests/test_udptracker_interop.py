"""
libtorrent and bittwist find each other through a UDP tracker (BEP 15) on
127.0.0.1: ours (L{bittwist.udptrackerserver}) and Debian's C{opentracker}.

Neither side is given the other's address: the tracker is the only way
they meet.  C{opentracker} is required: .ci/run installs it, and its tests
fail, not skip, without it.
"""

import itertools
import os
import shutil
import socket

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.protocol import ProcessProtocol
from twisted.trial.unittest import TestCase

from bittwist.metainfo import parse
from bittwist.trackerstore import Tracker
from bittwist.udptracker import UDPTrackerClient
from bittwist.udptrackerserver import UDPTrackerServer
from tests.ltpeer import digestTree
from tests.test_seed import FINISH_TIMEOUT, FILES, SwarmMixin, trackerOf


#: A fresh loopback address for each tracker: libtorrent caches UDP
#: connection ids per tracker IP address, process-wide, for a minute, and
#: would otherwise send the last test's tracker's id to the next one.
_trackerHosts = (f"127.0.0.{n}" for n in itertools.count(2))


class _Ended(ProcessProtocol):
    """
    Collects a process's output; C{ended} fires when it exits.
    """

    def __init__(self) -> None:
        self.ended: Deferred[None] = Deferred()
        self.output = b""

    def outReceived(self, data: bytes) -> None:
        self.output = (self.output + data)[-4096:]

    errReceived = outReceived

    def processEnded(self, reason) -> None:
        self.ended.callback(None)


class _MeetThroughUDPTracker(SwarmMixin):
    """
    The two directions, for a UDP tracker given by L{startUDPTracker}.
    """

    timeout = 120

    def startUDPTracker(self, infoHash: bytes, host: str) -> Deferred[str]:
        """
        Run a UDP tracker on C{host} (a loopback address) that accepts
        C{infoHash}.

        @return: a Deferred firing with its C{udp://} URL once it answers.
        """
        raise NotImplementedError()

    @inlineCallbacks
    def makeSwarm(self, seed: int):
        """
        A payload, its torrent (made by bittwist) announcing to a UDP
        tracker that has just started.

        @return: C{(torrent bytes, metainfo, the folder holding the payload)}.
        """
        data, seedDir = yield self.makeTorrent(FILES, ["udp://127.0.0.1:1/announce"], 65536, seed)
        url = yield self.startUDPTracker(parse(data).infoHash, next(_trackerHosts))
        data, seedDir = yield self.makeTorrent(FILES, [url], 65536, seed)
        return data, parse(data), seedDir

    @inlineCallbacks
    def test_bittwistFindsLibtorrent(self):
        """
        bittwist, announcing over UDP, learns of a libtorrent seeder that
        announced over UDP, and downloads the files byte for byte.
        """
        data, metainfo, seedDir = yield self.makeSwarm(seed=21)
        seeder = yield self.startLibtorrent(data, seedDir, seed=True)
        yield self.waitUntil(
            lambda: seeder.status().current_tracker,
            what=f"libtorrent's announce: {list(seeder.alerts)[-5:]}",
        )
        leechDir = os.path.abspath(self.mktemp())
        service, leecher = self.startBittwist(data, leechDir)
        yield leecher.whenComplete()
        self.assertEqual(digestTree(leechDir), digestTree(seedDir))
        self.assertEqual(trackerOf(leecher).announcer.lastResponse.complete, 1)

    @inlineCallbacks
    def test_libtorrentFindsBittwist(self):
        """
        libtorrent, announcing over UDP, learns of a bittwist seeder that
        announced over UDP, and downloads the files byte for byte from it.
        """
        data, metainfo, seedDir = yield self.makeSwarm(seed=22)
        service, seeder = self.startBittwist(data, seedDir)
        yield self.waitUntil(lambda: seeder.state == "seeding", what="the seeder to check")
        yield self.waitUntil(
            lambda: trackerOf(seeder).announcer.lastResponse is not None,
            what="bittwist's announce",
        )
        leechDir = os.path.abspath(self.mktemp())
        os.makedirs(leechDir)
        leecher = yield self.startLibtorrent(data, leechDir)
        yield leecher.whenFinished(FINISH_TIMEOUT)
        self.assertEqual(digestTree(leechDir), digestTree(seedDir))
        self.assertGreaterEqual(seeder.status().uploaded, metainfo.totalLength)


class OurUDPTrackerTests(_MeetThroughUDPTracker, TestCase):
    """
    Through bittwist's own UDP tracker.
    """

    def startUDPTracker(self, infoHash, host):
        server = UDPTrackerServer(Tracker(reactor), reactor=reactor)
        port = reactor.listenUDP(0, server, interface=host)
        self.addCleanup(port.stopListening)
        return succeed(f"udp://{host}:{port.getHost().port}/announce")


def _freeUDPPort(host: str) -> int:
    """
    A UDP port on C{host} that was free a moment ago.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class OpentrackerTests(_MeetThroughUDPTracker, TestCase):
    """
    Through Debian's C{opentracker}, in whitelist mode as Debian builds it.
    """

    @inlineCallbacks
    def startUDPTracker(self, infoHash, host):
        binary = shutil.which("opentracker")
        if binary is None:
            self.fail("opentracker is not installed: apt-get install opentracker (.ci/run does)")
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        os.chmod(root, 0o755)
        with open(os.path.join(root, "whitelist.txt"), "w") as f:
            f.write(infoHash.hex() + "\n")
        # As root it chroots into root (and runs as nobody); the whitelist
        # path is then read inside it.
        whitelist = "whitelist.txt" if os.getuid() == 0 else os.path.join(root, "whitelist.txt")
        port = _freeUDPPort(host)
        process = _Ended()
        transport = reactor.spawnProcess(
            process, binary,
            [binary, "-i", host, "-P", str(port), "-d", root, "-w", whitelist],
            env={}, path=root,
        )

        def stop():
            if process.ended.called:
                return None
            transport.signalProcess("TERM")
            return process.ended

        self.addCleanup(stop)
        url = f"udp://{host}:{port}/announce"
        # Scrape once a second until it answers: it is up.
        client = UDPTrackerClient(reactor, tries=1)
        self.addCleanup(client.close)
        for _ in range(20):
            if process.ended.called:
                self.fail(f"opentracker exited: {process.output!r}")
            d = client.scrape(url, [infoHash])
            d.addTimeout(1, reactor)
            try:
                yield d
            except Exception:
                continue
            return url
        self.fail(f"opentracker did not answer on UDP port {port}: {process.output!r}")
