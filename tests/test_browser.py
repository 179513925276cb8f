# -*- test-case-name: tests.test_browser -*-
"""
The web status page in a real browser: Debian's headless C{chromium},
driven over the DevTools protocol on a pipe (C{--remote-debugging-pipe}),
while bittwist downloads from a libtorrent seeder on 127.0.0.1.

Screenshots are written to the test's temporary folder; their paths are
logged (see C{_trial_temp/test.log}).
"""

import base64
import hashlib
import json
import os
import shutil
from typing import Any, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from bittwist.metainfo import createTorrent, parse
from bittwist.service import BitTorrentService
from bittwist.trackerserver import makeTrackerSite
from bittwist.web.site import WebService
from tests.httpserver import TorrentFileServer
from tests.ltpeer import LibtorrentPeer, createTorrentWithLibtorrent, digestTree, makePayload

CHROMIUM = shutil.which("chromium")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]

PAYLOAD_SIZE = 6 * 2**20
DOWNLOAD_RATE = 2 * 2**20
"""
Slow enough that the page shows the download under way for a few seconds.
"""

WAITING_RATE = 64 * 1024
"""
The rate until the page is open: on a loaded machine Chromium takes seconds
to start, and the download must still be under way when it shows.
"""


class DevToolsError(Exception):
    """
    Chromium answered a DevTools command with an error.
    """


class Chromium(ProcessProtocol):
    """
    A headless Chromium driven over the DevTools protocol: commands go to
    its fd 3, answers come from its fd 4, as JSON texts ended by NUL.
    """

    log = Logger()

    def __init__(self) -> None:
        self._buffer = b""
        self._nextId = 0
        self._pending: dict[int, Deferred[dict[str, Any]]] = {}
        self._stderr = b""
        self.ended: Deferred[None] = Deferred()
        self.running = False

    @classmethod
    def launch(cls, profile: str) -> "Chromium":
        browser = cls()
        reactor.spawnProcess(
            browser,
            CHROMIUM,
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            env={**os.environ, "HOME": profile},
            childFDs={0: "w", 1: "r", 2: "r", 3: "w", 4: "r"},
        )
        browser.running = True
        return browser

    def send(self, method: str, params: Optional[dict[str, Any]] = None, sessionId: Optional[str] = None) -> Deferred[dict[str, Any]]:
        """
        Send a DevTools command.

        @return: fires with its result, or fails with L{DevToolsError}.
        """
        self._nextId += 1
        message: dict[str, Any] = {"id": self._nextId, "method": method, "params": params or {}}
        if sessionId is not None:
            message["sessionId"] = sessionId
        d: Deferred[dict[str, Any]] = Deferred()
        self._pending[self._nextId] = d
        self.transport.writeToChild(3, json.dumps(message).encode("utf-8") + b"\0")
        return d

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD != 4:
            # Kept for the failure message if Chromium dies.
            self._stderr = (self._stderr + data)[-4000:]
            return
        self._buffer += data
        *messages, self._buffer = self._buffer.split(b"\0")
        for raw in messages:
            message = json.loads(raw)
            d = self._pending.pop(message.get("id"), None)
            if d is None:
                continue
            if "error" in message:
                d.errback(DevToolsError(message["error"]))
            else:
                d.callback(message.get("result", {}))

    def processEnded(self, reason: Failure) -> None:
        self.running = False
        pending, self._pending = self._pending, {}
        for d in pending.values():
            d.errback(DevToolsError(f"chromium exited: {self._stderr[-2000:]!r}"))
        self.ended.callback(None)

    @inlineCallbacks
    def close(self) -> Any:
        """
        Ask Chromium to quit; kill it if it has not within 5 seconds.
        """
        if not self.running:
            return
        self.send("Browser.close").addErrback(lambda _: None)
        killer = reactor.callLater(5, self._kill)
        yield self.ended
        if killer.active():
            killer.cancel()

    def _kill(self) -> None:
        if self.running:
            self.transport.signalProcess("KILL")


class Page:
    """
    One tab of L{Chromium}.
    """

    def __init__(self, browser: Chromium, sessionId: str) -> None:
        self.browser = browser
        self.sessionId = sessionId

    @classmethod
    @inlineCallbacks
    def open(cls, browser: Chromium, url: str, width: int = 1280, height: int = 860, mobile: bool = False) -> Any:
        target = yield browser.send("Target.createTarget", {"url": "about:blank"})
        attached = yield browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = cls(browser, attached["sessionId"])
        yield page.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        yield page.send("Page.navigate", {"url": url})
        return page

    def send(self, method: str, params: Optional[dict[str, Any]] = None) -> Deferred[dict[str, Any]]:
        return self.browser.send(method, params, self.sessionId)

    @inlineCallbacks
    def evaluate(self, expression: str) -> Any:
        """
        @return: the value of C{expression} in the page (awaited if a
            promise).
        """
        result = yield self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    @inlineCallbacks
    def waitFor(self, expression: str, timeout: float = 10.0, what: str = "") -> Any:
        """
        Evaluate C{expression} every 50 ms until it is truthy.

        @return: its value.
        """
        deadline = reactor.seconds() + timeout
        while True:
            value = yield self.evaluate(expression)
            if value:
                return value
            if reactor.seconds() > deadline:
                raise AssertionError(f"timed out waiting for {what or expression}")
            yield deferLater(reactor, 0.05, lambda: None)

    @inlineCallbacks
    def screenshot(self, path: str) -> Any:
        shot = yield self.send("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        Logger().info("Screenshot of the web status page: {path}", path=path)

    @inlineCallbacks
    def setFile(self, selector: str, path: str) -> Any:
        document = yield self.send("DOM.getDocument")
        node = yield self.send("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector})
        yield self.send("DOM.setFileInputFiles", {"nodeId": node["nodeId"], "files": [path]})


def rowExpression(infoHash: str, selector: str, prop: str = "textContent") -> str:
    """
    @return: JavaScript giving C{prop} of C{selector} in the row of the
        torrent C{infoHash}, or C{null}.
    """
    return (
        f"(() => {{ const e = document.querySelector('tr[data-info-hash=\"{infoHash}\"] {selector}');"
        f" return e ? e.{prop} : null; }})()"
    )



def rowNamedExpression(name: str) -> str:
    """
    @return: JavaScript giving the info hash of the torrent row named
        C{name}, or C{undefined}.
    """
    return (
        "(() => { const r = [...document.querySelectorAll('#torrent-rows tr')]"
        f".find(r => r.querySelector('.name').textContent === '{name}'); return r && r.dataset.infoHash; }})()"
    )


def messageExpression(text: str) -> str:
    """
    @return: JavaScript true once the page's message line reads C{text}.
    """
    return f"document.getElementById('message').textContent === '{text}'"


def writeSmallTorrent(payload: str, pattern: bytes) -> bytes:
    """
    Write C{pattern} 20000 times to C{payload}, making its folder.

    @return: a torrent of it, in pieces of 16 KiB.
    """
    os.makedirs(os.path.dirname(payload))
    with open(payload, "wb") as f:
        f.write(pattern * 20000)
    return createTorrent(payload, pieceLength=16384)

class BrowserTests(TestCase):
    """
    The page in Chromium during a real download.
    """

    if CHROMIUM is None:
        skip = "chromium is not installed (apt-get install chromium)"

    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        self.folder = os.path.abspath(self.mktemp())
        seedDir = os.path.join(self.folder, "seed")
        makePayload(os.path.join(seedDir, "payload"), {"big.bin": PAYLOAD_SIZE}, seed=3)
        self.torrentData = createTorrentWithLibtorrent(seedDir, "payload", trackers=[], pieceLength=65536, v1Only=True)
        seeder = LibtorrentPeer(self.torrentData, seedDir, seed=True, reactor=reactor)
        yield seeder.start()
        self.addCleanup(seeder.stop)

        self.downloadDir = os.path.join(self.folder, "downloads")
        # The page adds a torrent by URL from a server on 127.0.0.1.
        self.service = BitTorrentService(
            "tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None, allowPrivateURLs=True
        )
        self.service.session.downloadLimit.setRate(WAITING_RATE)
        self.web = WebService("tcp:0:interface=127.0.0.1", self.service, self.downloadDir, reactor, interval=0.25)
        self.web.setServiceParent(self.service)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.url = yield self.web.whenListening()
        self.torrent = self.service.addTorrent(
            self.torrentData, self.downloadDir, peers=[("127.0.0.1", seeder.port)], announce=False
        )

        profile = os.path.join(self.folder, "chromium-profile")
        os.makedirs(profile)
        self.browser = Chromium.launch(profile)
        self.addCleanup(self.browser.close)

    @inlineCallbacks
    def test_watchAddPauseResume(self) -> Any:
        """
        The page shows the download's progress increasing without a reload,
        with a piece map; a torrent added through the form appears; its
        Pause and Resume buttons pause and resume it.
        """
        page = yield Page.open(self.browser, self.url)
        infoHash = self.torrent.infoHash.hex()
        progressText = rowExpression(infoHash, ".progress-text")
        yield page.waitFor("document.readyState === 'complete'", what="the page to load")
        # Gone if the page reloads: the updates must come without reloading.
        yield page.evaluate("window.sameDocument = true")
        self.service.session.downloadLimit.setRate(DOWNLOAD_RATE)
        readings = []

        def parsePercent(text: str) -> float:
            return float(text.rstrip("%"))

        # Progress as the page shows it, until it has grown while not done.
        while True:
            text = yield page.waitFor(progressText, what="the torrent's row")
            value = parsePercent(text)
            if not readings or value != readings[-1]:
                readings.append(value)
            if len(readings) >= 3 and 0 < readings[-2] < 100 or value == 100:
                break
            yield deferLater(reactor, 0.1, lambda: None)
        self.assertGreaterEqual(len([r for r in readings if 0 < r < 100]), 1, readings)
        self.assertEqual(readings, sorted(readings))
        state = yield page.evaluate(rowExpression(infoHash, ".state"))
        self.assertIn(state, ("downloading", "seeding"))
        verified = yield page.waitFor(
            "Number(document.getElementById('piece-map').dataset.verified || 0)", what="the piece map"
        )
        self.assertGreater(verified, 0)
        yield page.screenshot(os.path.join(self.folder, "downloading.png"))

        # Add a torrent through the form.
        payload = os.path.join(self.folder, "added", "added.bin")
        torrentPath = os.path.join(self.folder, "added.torrent")
        data = writeSmallTorrent(payload, b"added")
        with open(torrentPath, "wb") as f:
            f.write(data)
        yield page.setFile("#torrent-file", torrentPath)
        yield page.evaluate("document.getElementById('add-button').click()")
        addedHash = yield page.waitFor(
            rowNamedExpression("added.bin"),
            what="the added torrent's row",
        )
        added = self.service.session.torrents[bytes.fromhex(addedHash)]
        self.assertEqual(added.storage.downloadDir, os.path.abspath(self.downloadDir))
        # The row may show before the answer that sets the message.
        yield page.waitFor(
            messageExpression("Added added.bin"),
            what="the message 'Added added.bin'",
        )
        yield page.waitFor(rowExpression(addedHash, ".state") + " === 'downloading'", what="downloading")

        # Pause, then resume it with its button.
        pauseButton = rowExpression(addedHash, "button.pause", "click()")
        yield page.evaluate(pauseButton)
        yield page.waitFor(rowExpression(addedHash, ".state") + " === 'paused'", what="paused on the page")
        self.assertEqual(added.state, "paused")
        label = yield page.evaluate(rowExpression(addedHash, "button.pause"))
        self.assertEqual(label, "Resume")
        yield page.screenshot(os.path.join(self.folder, "paused.png"))
        yield page.evaluate(pauseButton)
        yield page.waitFor(rowExpression(addedHash, ".state") + " === 'downloading'", what="resumed on the page")
        self.assertEqual(added.state, "downloading")
        sameDocument = yield page.evaluate("window.sameDocument === true")
        self.assertTrue(sameDocument)

    @inlineCallbacks
    def test_addMagnet(self) -> Any:
        """
        A magnet link pasted in the link field is added: its row shows the
        metadata being fetched, then the torrent made of it downloads and
        seeds, from a libtorrent seeder named in the link.
        """
        seedDir = os.path.join(self.folder, "magnet-seed")
        makePayload(os.path.join(seedDir, "linked"), {"linked.bin": 300_000}, seed=5)
        data = createTorrentWithLibtorrent(seedDir, "linked", trackers=[], pieceLength=16384, v1Only=True)
        seeder = LibtorrentPeer(data, seedDir, seed=True, reactor=reactor)
        yield seeder.start()
        self.addCleanup(seeder.stop)
        infoHash = hashlib.sha1(parse(data).infoBytes).hexdigest()
        link = f"magnet:?xt=urn:btih:{infoHash}&dn=linked&x.pe=127.0.0.1:{seeder.port}"

        page = yield Page.open(self.browser, self.url)
        yield page.waitFor("document.readyState === 'complete'", what="the page to load")
        yield page.evaluate(f"document.getElementById('torrent-url').value = {json.dumps(link)}")
        yield page.evaluate("document.getElementById('url-button').click()")
        first = yield page.waitFor(rowExpression(infoHash, ".state"), what="the magnet's row")
        self.assertIn(first, ("fetching metadata", "checking", "downloading", "seeding"))
        # The row may show before the answer that sets the message.
        yield page.waitFor(
            messageExpression("Added linked"),
            what="the message 'Added linked'",
        )
        yield page.waitFor(
            rowExpression(infoHash, ".state") + " === 'seeding'", timeout=60, what="the magnet's torrent seeding"
        )
        name = yield page.evaluate(rowExpression(infoHash, ".name"))
        self.assertEqual(name, "linked")
        self.assertEqual(digestTree(os.path.join(self.downloadDir, "linked")), digestTree(os.path.join(seedDir, "linked")))

    @inlineCallbacks
    def test_addByURL(self) -> Any:
        """
        An address typed in the URL field is fetched by the server and the
        torrent appears in the list, downloading into the web folder; an
        address that gives no torrent shows the server's error.
        """
        server = TorrentFileServer(reactor)
        server.start()
        self.addCleanup(server.stop)
        payload = os.path.join(self.folder, "byurl", "byurl.bin")
        url = server.add("byurl.torrent", writeSmallTorrent(payload, b"by url"))

        page = yield Page.open(self.browser, self.url)
        yield page.waitFor("document.readyState === 'complete'", what="the page to load")
        yield page.waitFor("document.querySelectorAll('#torrent-rows tr').length === 1", what="the first row")
        yield page.evaluate(f"document.getElementById('torrent-url').value = {json.dumps(url)}")
        yield page.evaluate("document.getElementById('url-button').click()")
        addedHash = yield page.waitFor(
            rowNamedExpression("byurl.bin"),
            what="the row of the torrent added by URL",
        )
        added = self.service.session.torrents[bytes.fromhex(addedHash)]
        self.assertEqual(added.storage.downloadDir, os.path.abspath(self.downloadDir))
        # The row may show before the answer that sets the message.
        yield page.waitFor(
            messageExpression("Added byurl.bin"),
            what="the message 'Added byurl.bin'",
        )
        field = yield page.evaluate("document.getElementById('torrent-url').value")
        self.assertEqual(field, "")
        yield page.screenshot(os.path.join(self.folder, "added-by-url.png"))

        yield page.evaluate(
            f"document.getElementById('torrent-url').value = {json.dumps(server.base + '/missing.torrent')}"
        )
        yield page.evaluate("document.getElementById('url-button').click()")
        error = yield page.waitFor(
            "(() => { const m = document.getElementById('message');"
            " return m.classList.contains('error') ? m.textContent : null; })()",
            what="the error message",
        )
        self.assertIn("the server answered 404", error)
        self.assertEqual(len(self.service.session.torrents), 2)

    def test_peersAndTrackers(self) -> Any:
        """
        The detail of a torrent shows its peers with their client and
        source, its files, and its trackers with their status (the files
        and trackers, folded at first, are asked for only once unfolded);
        "Announce now" asks the tracker again; its options and limits, and
        the session's limits, are set from their controls.
        """
        return self.detailAndControls(width=1280, height=860, mobile=False)

    def test_peersAndTrackersPhone(self) -> Any:
        """
        The same tabs and controls work on a phone-sized screen (420 px).
        """
        return self.detailAndControls(width=420, height=860, mobile=True)

    @inlineCallbacks
    def detailAndControls(self, **pageSize: Any) -> Any:
        trackerPort = reactor.listenTCP(0, makeTrackerSite(reactor), interface="127.0.0.1")
        self.addCleanup(trackerPort.stopListening)
        announceURL = f"http://127.0.0.1:{trackerPort.getHost().port}/announce"
        payload = os.path.join(self.folder, "tracked", "tracked.bin")
        os.makedirs(os.path.dirname(payload))
        with open(payload, "wb") as f:
            f.write(b"tracked" * 10000)
        tracked = self.service.addTorrent(
            createTorrent(payload, pieceLength=16384, trackers=[announceURL]),
            os.path.dirname(payload),
        )
        page = yield Page.open(self.browser, self.url, **pageSize)
        yield page.waitFor("document.readyState === 'complete'", what="the page to load")

        # The downloading torrent: its libtorrent seeder, given by hand.
        infoHash = self.torrent.infoHash.hex()
        yield page.evaluate(rowExpression(infoHash, ".name", "click()"))
        peer = yield page.waitFor(
            "(() => { const r = document.querySelector('#peer-rows tr');"
            " return r && [...r.cells].map(c => c.textContent); })()",
            what="a peer row",
        )
        self.assertTrue(peer[1].startswith("libtorrent"), peer)
        self.assertEqual(peer[2], "manual")

        # Folded, the files and trackers are not asked for, while the
        # peers (open) are, every update; opened, they are.
        yield page.evaluate(
            "window.asked = []; const fetchBefore = window.fetch;"
            " window.fetch = (url, options) => { window.asked.push(String(url)); return fetchBefore(url, options); }"
        )
        asked = yield page.waitFor(
            "window.asked.filter(u => u.endsWith('/peers')).length >= 3 && window.asked",
            what="three updates of the peers",
        )
        self.assertEqual([u for u in asked if u.endswith(("/files", "/trackers"))], [], asked)
        yield page.evaluate("document.getElementById('files-panel').open = true")
        yield page.waitFor("window.asked.some(u => u.endsWith('/files'))", what="the files asked for")

        # Its files, with their progress.
        fileRow = yield page.waitFor(
            "(() => { const r = document.querySelector('#file-rows tr');"
            " return r && [...r.cells].map(c => c.textContent); })()",
            what="a file row",
        )
        self.assertEqual(fileRow[:2], ["payload/big.bin", "6.00 MiB"])
        self.assertTrue(fileRow[2].endswith("%"), fileRow)

        # Sequential download, from its checkbox.
        yield page.evaluate("document.getElementById('sequential').click()")
        yield page.waitFor(
            "document.getElementById('message').textContent.endsWith('pieces in order')",
            what="the page to confirm sequential download",
        )
        self.assertTrue(self.torrent.status().sequential)
        self.assertTrue(self.torrent.download.picker.order.sequential)

        # Its limits, from the form.
        maxPeers = yield page.evaluate("document.getElementById('max-peers').value")
        self.assertEqual(maxPeers, str(self.torrent.config.maxPeers))
        yield page.evaluate(
            "document.getElementById('max-peers').value = '12';"
            "document.getElementById('seed-ratio').value = '1.5';"
            "document.getElementById('seed-time').value = '30';"
            "document.getElementById('torrent-down').value = '100';"
            "document.getElementById('limits-button').click()"
        )
        yield page.waitFor(
            "document.getElementById('message').textContent.endsWith('limits saved')",
            what="the page to confirm the limits",
        )
        config = self.torrent.config
        self.assertEqual(
            (config.maxPeers, config.seedRatio, config.seedTime, config.maxDownloadRate),
            (12, 1.5, 1800, 100 * 1024),
        )
        self.assertEqual(self.torrent.ownDownloadLimit.rate, 100 * 1024)

        # The session's rate limits, from the header's form.
        down = yield page.evaluate("document.getElementById('max-down').value")
        self.assertEqual(down, str(WAITING_RATE // 1024))
        yield page.evaluate(
            "document.getElementById('max-down').value = '256';"
            "document.getElementById('rates-button').click()"
        )
        yield page.waitFor(
            "document.getElementById('message').textContent.startsWith('Limits set')",
            what="the page to confirm the rate limits",
        )
        self.assertEqual(self.service.session.downloadLimit.rate, 256 * 1024)

        # The tracked torrent: one tracker, working.
        trackedHash = tracked.infoHash.hex()
        yield page.evaluate(rowExpression(trackedHash, ".name", "click()"))
        yield page.evaluate("document.getElementById('trackers-panel').open = true")
        cells = yield page.waitFor(
            "(() => { const r = document.querySelector('#tracker-rows tr');"
            " return r && r.cells[2].textContent === 'working' && [...r.cells].map(c => c.textContent); })()",
            what="the tracker row to say working",
        )
        self.assertEqual(cells[0], announceURL)
        yield page.screenshot(os.path.join(self.folder, f"trackers-{pageSize['width']}.png"))
        nextCell = "document.querySelector('#tracker-rows tr').cells[4].textContent"
        before = yield page.evaluate(nextCell)
        self.assertIn("min", before)
        # Announced a moment ago: the tracker is asked again after the
        # one-minute floor, and the page says so at once.
        yield page.evaluate("document.getElementById('announce').click()")
        yield page.waitFor(
            f"/^([0-9]+ s|1 min 0 s)$/.test({nextCell})", what="the next announce within a minute"
        )


PHONE_WIDTH = 420

LAYOUT = """(() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const selectors = [%s];
  const controls = {};
  for (const selector of selectors) {
    const found = [...document.querySelectorAll(selector)];
    controls[selector] = found.length ? found.map((e) => {
      const r = e.getBoundingClientRect();
      const style = getComputedStyle(e);
      return {
        left: r.left, right: r.right, width: r.width, height: r.height,
        shown: style.visibility !== "hidden" && style.display !== "none",
      };
    }) : null;
  }
  return {
    scrollWidth: root.scrollWidth, clientWidth: width,
    bodyScrollWidth: document.body.scrollWidth, controls: controls,
  };
})()"""

CONTROLS = [
    "#add-button",
    "#torrent-file",
    "#torrent-rows tr .name",
    "#torrent-rows tr .state",
    "#torrent-rows tr .progress-text",
    "#torrent-rows tr .down",
    "#torrent-rows tr .up",
    "#torrent-rows tr .eta",
    "#torrent-rows tr button.pause",
    "#torrent-rows tr button.remove",
    "#torrent-rows tr button.remove-data",
    "#piece-map",
    "#peer-rows tr td",
]


class SmallScreenTests(TestCase):
    """
    The page on a phone-sized screen (420 CSS pixels wide), during a
    download from a seeder in this process.
    """

    if CHROMIUM is None:
        skip = "chromium is not installed (apt-get install chromium)"

    timeout = 90

    @inlineCallbacks
    def setUp(self) -> Any:
        self.folder = os.path.abspath(self.mktemp())
        seedDir = os.path.join(self.folder, "seed")
        os.makedirs(seedDir)
        # A long name without spaces: the hardest to fit.
        payload = os.path.join(seedDir, "a-long-torrent-name-with-no-spaces-to-break-it-" + "x" * 40 + ".bin")
        with open(payload, "wb") as f:
            # At 64 KiB/s, a minute's download: still under way when a
            # loaded machine gets to look at it.
            f.write(os.urandom(4 * 2**20))
        data = createTorrent(payload, pieceLength=16384)
        seeder = BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None)
        seeder.addTorrent(data, seedDir, announce=False)
        seeder.startService()
        self.addCleanup(seeder.stopService)
        port = yield seeder.whenListening()

        downloadDir = os.path.join(self.folder, "downloads")
        self.service = BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None)
        # Slow: the torrent stays downloading, with its peer, while looked at.
        self.service.session.downloadLimit.setRate(64 * 1024)
        self.web = WebService("tcp:0:interface=127.0.0.1", self.service, downloadDir, reactor, interval=0.25)
        self.web.setServiceParent(self.service)
        # After the stop (cleanups run last first): stopping leaves the
        # limit's timer waiting for the download that was under way.
        self.addCleanup(self.service.session.downloadLimit.setRate, 0)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.url = yield self.web.whenListening()
        self.torrent = self.service.addTorrent(data, downloadDir, peers=[("127.0.0.1", port)], announce=False)

        profile = os.path.join(self.folder, "chromium-profile")
        os.makedirs(profile)
        self.browser = Chromium.launch(profile)
        self.addCleanup(self.browser.close)

    @inlineCallbacks
    def checkWidth(self, width: int) -> Any:
        """
        Open the page C{width} pixels wide, as a phone would, once the
        torrent downloads from its peer; keep a screenshot; check that the
        document does not overflow sideways and that each control is shown
        within the screen.
        """
        page = yield Page.open(self.browser, self.url, width=width, height=900, mobile=True)
        infoHash = self.torrent.infoHash.hex()
        yield page.waitFor(
            rowExpression(infoHash, ".state") + " === 'downloading'", timeout=30, what="downloading"
        )
        yield page.waitFor(
            "document.querySelectorAll('#peer-rows tr').length > 0", timeout=30, what="the peer's row"
        )
        layout = yield page.evaluate(LAYOUT % ", ".join(f"'{c}'" for c in CONTROLS))
        path = os.path.join(self.folder, f"width-{width}.png")
        yield page.screenshot(path)
        print(f"screenshot at {width} px: {path}")
        self.assertEqual(layout["clientWidth"], width)
        self.assertLessEqual(layout["scrollWidth"], layout["clientWidth"], layout)
        self.assertLessEqual(layout["bodyScrollWidth"], layout["clientWidth"], layout)
        for selector, boxes in layout["controls"].items():
            self.assertIsNotNone(boxes, f"{selector} not on the page")
            for box in boxes:
                self.assertTrue(box["shown"] and box["width"] > 0 and box["height"] > 0, (selector, box))
                self.assertGreaterEqual(box["left"], 0, (selector, box))
                self.assertLessEqual(box["right"], width, (selector, box))

    @inlineCallbacks
    def test_skipFile(self) -> Any:
        """
        Each file of a torrent has a priority menu in the Files table;
        choosing "Skip" for one skips it (the page says so and greys its
        row) and the torrent's file priorities say so; choosing "High" for
        another makes it high.  Screenshots at desktop and phone widths are
        kept in the test's folder.
        """
        content = os.path.join(self.folder, "three", "album")
        os.makedirs(content)
        for name, size in (("one.flac", 20000), ("two.flac", 30000), ("three.flac", 10000)):
            with open(os.path.join(content, name), "wb") as f:
                f.write(name.encode() * (size // len(name)))
        album = self.service.addTorrent(
            createTorrent(content, pieceLength=16384), os.path.join(self.folder, "empty"), announce=False
        )
        infoHash = album.infoHash.hex()
        paths = [f.path for f in album.fileStatuses()]
        self.assertEqual(paths, ["album/one.flac", "album/three.flac", "album/two.flac"])
        for width, mobile in ((1280, False), (PHONE_WIDTH, True)):
            page = yield Page.open(self.browser, self.url, width=width, mobile=mobile)
            yield page.waitFor("document.readyState === 'complete'", what="the page to load")
            yield page.waitFor(rowExpression(infoHash, ".name"), what="the torrent's row")
            yield page.evaluate(rowExpression(infoHash, ".name", "click()"))
            yield page.evaluate("document.getElementById('files-panel').open = true")
            menus = yield page.waitFor(
                "(() => { const m = [...document.querySelectorAll('#file-rows select')];"
                " return m.length === 3 && m.map(e => [e.value, e.getBoundingClientRect().width > 0]); })()",
                what="three priority menus",
            )
            if width == 1280:
                self.assertEqual(menus, [["1", True]] * 3)
                choose = (
                    "(() => {{ const e = document.querySelectorAll('#file-rows select')[{0}];"
                    " e.value = '{1}'; e.dispatchEvent(new Event('change')); }})()"
                )
                yield page.evaluate(choose.format(1, "0"))
                yield page.waitFor(
                    messageExpression("album/three.flac: skipped"),
                    what="the page to confirm the file is skipped",
                )
                self.assertEqual(album.config.filePriorities, (1, 0, 1))
                yield page.evaluate(choose.format(2, "2"))
                yield page.waitFor(
                    "document.getElementById('message').textContent.endsWith('high priority')",
                    what="the page to confirm the high priority",
                )
                self.assertEqual([f.priority for f in album.fileStatuses()], [1, 0, 2])
            else:
                self.assertEqual(menus, [["1", True], ["0", True], ["2", True]])
            skipped = yield page.waitFor(
                "(() => [...document.querySelectorAll('#file-rows tr')]"
                ".map(r => r.classList.contains('skipped')).join())()",
            )
            self.assertEqual(skipped, "false,true,false")
            yield page.evaluate("document.getElementById('files-card').scrollIntoView()")
            yield page.screenshot(os.path.join(self.folder, f"files-{width}.png"))
        self.assertFalse(os.path.lexists(os.path.join(self.folder, "empty", "album", "three.flac")))

    def test_phoneWidth(self) -> Any:
        """
        At 420 pixels wide, the document does not overflow sideways
        (C{scrollWidth <= clientWidth}), and every control (add form, the
        torrent's name, state, progress, rates, ETA and buttons, the piece
        map, the peer's row) is shown within the screen's width.  A
        screenshot is kept in the test's folder (its path logged and
        printed).
        """
        return self.checkWidth(PHONE_WIDTH)

    def test_tabletWidth(self) -> Any:
        """
        The same at 700 pixels wide, between a phone and a desktop.
        """
        return self.checkWidth(700)
