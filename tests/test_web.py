# -*- test-case-name: tests.test_web -*-
"""
Tests for L{bittwist.web}: the JSON API through a real L{Site} in memory
(L{StubTreq}), the access guard, the event stream, and L{WebService}.
"""

import base64
import io
import json
import os
from typing import Any, Optional

import bencodepy

from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.http import HTTPChannel
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from bittwist import tap
from bittwist.dht.node import DHTService
from bittwist.fetch import FETCH_TIMEOUT
from bittwist.errors import StorageError, TorrentFetchError, WebListenError
from bittwist.metainfo import createTorrent
from bittwist.service import BitTorrentService
from bittwist.tracker import Announcer
from bittwist.web.api import MAX_JSON_SIZE, EventsResource, TorrentsResource
from bittwist.web.site import AccessGuard, WebService, isLoopback, makeWebSite
from tests.fakes import MemoryStorageFactory
from tests.httpserver import TorrentFileServer
from tests.test_fetch import nonPersistentClient
from tests.test_httptracker import FakeTracker

BASE = "http://127.0.0.1:8080"
CHANGE = {"X-Bittwist": "1"}


def multipart(field: str, filename: str, data: bytes) -> tuple[dict[str, str], bytes]:
    """
    @return: the headers and body of a C{multipart/form-data} upload of one
        file (L{StubTreq} cannot send files).
    """
    boundary = "bittwistboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        "Content-Type: application/x-bittorrent\r\n\r\n"
    ).encode("ascii") + data + f"\r\n--{boundary}--\r\n".encode("ascii")
    return {**CHANGE, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body


def makeTorrentBytes(
    testCase: SynchronousTestCase, name: str = "payload.bin", size: int = 40000, trackers: list[str] = []
) -> bytes:
    """
    @return: the bytes of a torrent (with C{trackers}, none by default) of a
        file of C{size} bytes, in pieces of 16 KiB.
    """
    folder = os.path.abspath(testCase.mktemp())
    os.makedirs(folder)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(name.encode("ascii") * (size // len(name)))
    return createTorrent(path, pieceLength=16384, trackers=trackers)


class WebTestCase(SynchronousTestCase):
    """
    A running L{BitTorrentService} on a L{MemoryReactorClock}, torrents in
    memory, and its site behind L{StubTreq}.
    """

    requireToken = False

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.storageFactory = MemoryStorageFactory()
        self.service = BitTorrentService(
            "tcp:6881", reactor=self.clock, httpClient=self.trackerClient(), progressInterval=None,
            storageFactory=self.storageFactory,
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.downloadDir = os.path.abspath("downloads")
        self.site = makeWebSite(
            self.service, self.downloadDir, token="sesame", requireToken=self.requireToken, reactor=self.clock
        )
        self.treq = StubTreq(self.site.resource)
        self.torrent = self.service.addTorrent(makeTorrentBytes(self), "here", announce=False)
        self.hex = self.torrent.infoHash.hex()

    def trackerClient(self) -> Any:
        """
        @return: the treq-like client the service asks trackers with (none
            is used by default).
        """
        return object()

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
        """
        @return: the response and its body decoded from JSON.
        """
        d = self.treq.request(method, BASE + path, **kwargs)
        # Static files are sent by a producer: let it run.
        self.treq.flush()
        response = self.successResultOf(d)
        d = self.treq.content(response)
        self.treq.flush()
        body = self.successResultOf(d)
        try:
            return response, json.loads(body)
        except ValueError:
            return response, body

    def assertError(self, response: Any, body: Any, code: int, text: str = "") -> None:
        """
        Assert that the answer is a JSON error with C{code} whose message
        contains C{text}.
        """
        self.assertEqual(response.code, code, body)
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/json; charset=utf-8"])
        self.assertIn(text, body["error"])


class TorrentApiTests(WebTestCase):
    """
    Tests for C{/api/torrents} and its children.
    """

    def test_list(self) -> None:
        """
        C{GET /api/torrents} lists every torrent's status with its progress
        and ETA.
        """
        response, body = self.request("GET", "/api/torrents")
        self.assertEqual(response.code, 200)
        [item] = body
        self.assertEqual(item["infoHash"], self.hex)
        self.assertEqual(item["name"], "payload.bin")
        self.assertEqual(item["state"], "downloading")
        self.assertEqual(item["totalLength"], self.torrent.metainfo.totalLength)
        self.assertEqual(item["progress"], 0.0)
        self.assertIsNone(item["eta"])
        self.assertIn("downloadRate", item)
        self.assertIn("peers", item)

    def test_get(self) -> None:
        """
        C{GET /api/torrents/<hex>} is that torrent's status; upper-case hex
        works too.
        """
        for infoHash in (self.hex, self.hex.upper()):
            response, body = self.request("GET", f"/api/torrents/{infoHash}")
            self.assertEqual(response.code, 200)
            self.assertEqual(body["infoHash"], self.hex)
            self.assertEqual(body["numPieces"], 3)

    def test_unknownTorrent(self) -> None:
        """
        An info hash not in the session, or not an info hash, is a 404 with
        a JSON error, on the torrent and on its children.
        """
        for path in ("/api/torrents/" + "ab" * 20, "/api/torrents/nothex", "/api/torrents/" + "ab" * 20 + "/peers"):
            response, body = self.request("GET", path)
            self.assertError(response, body, 404, "no torrent with info hash")

    def test_unknownPath(self) -> None:
        """
        An unknown path under C{/api} is a JSON 404.
        """
        for path in ("/api/nothing", f"/api/torrents/{self.hex}/nothing", f"/api/torrents/{self.hex}/pieces/x"):
            response, body = self.request("GET", path)
            self.assertError(response, body, 404, "no such resource")

    def test_sequentialOption(self) -> None:
        """
        C{POST .../options} with C{{"sequential": true}} makes the torrent
        take its pieces in order, and its status says so; anything else is
        a 400.
        """
        path = f"/api/torrents/{self.hex}/options"
        headers = {**CHANGE, "Content-Type": "application/json"}
        response, body = self.request("POST", path, data=b'{"sequential": true}', headers=headers)
        self.assertEqual((response.code, body["sequential"]), (200, True), body)
        self.assertTrue(self.torrent.download.picker.order.sequential)
        response, body = self.request("GET", f"/api/torrents/{self.hex}")
        self.assertTrue(body["sequential"])
        response, body = self.request(
            "POST", path, data=b'{"maxPeers": 9, "seedRatio": 1.5, "seedTime": null}', headers=headers
        )
        self.assertEqual(response.code, 200, body)
        self.assertEqual((self.torrent.config.maxPeers, self.torrent.upload.seedRatio), (9, 1.5))
        for bad in (
            b'{"sequential": 1}', b'{"fast": true}', b"[]", b"nonsense", b"{}",
            b'{"maxPeers": 0}', b'{"maxPeers": true}', b'{"seedRatio": -1}',
        ):
            response, body = self.request("POST", path, data=bad, headers=headers)
            self.assertError(response, body, 400)
        response, body = self.request("POST", path, data=b'{"sequential": false}', headers=headers)
        self.assertFalse(body["sequential"])
        self.assertFalse(self.torrent.download.picker.order.sequential)

    def test_files(self) -> None:
        """
        C{GET .../files} lists the torrent's files with size, verified bytes
        and progress.
        """
        self.torrent.download.picker.pieceVerified(1)
        response, body = self.request("GET", f"/api/torrents/{self.hex}/files")
        self.assertEqual(response.code, 200)
        size = self.torrent.metainfo.totalLength
        self.assertEqual(
            body,
            [{"path": "payload.bin", "size": size, "verified": 16384, "priority": 1,
              "progress": 16384 / size}],
        )

    def test_setFilePriorities(self) -> None:
        """
        C{POST .../files} sets the priorities of every file, or of one by
        index, and answers with the files; anything else is a 400 saying
        what to send.
        """
        path = f"/api/torrents/{self.hex}/files"
        headers = {**CHANGE, "Content-Type": "application/json"}
        response, body = self.request("POST", path, data=b'{"priorities": [2]}', headers=headers)
        self.assertEqual((response.code, body[0]["priority"]), (200, 2), body)
        self.assertEqual(self.torrent.config.filePriorities, (2,))
        response, body = self.request(
            "POST", path, data=b'{"index": 0, "priority": 0}', headers=headers
        )
        self.assertEqual((response.code, body[0]["priority"]), (200, 0), body)
        self.assertEqual(self.torrent.state, "seeding")
        for bad in (
            b'{"priorities": [1, 1]}', b'{"priorities": [3]}', b'{"index": 1, "priority": 1}',
            b'{"index": 0, "priority": 7}', b'{"priorities": "1"}', b"[]", b"nonsense",
        ):
            response, body = self.request("POST", path, data=bad, headers=headers)
            self.assertError(response, body, 400)
        response, body = self.request("GET", path)
        self.assertEqual(body[0]["priority"], 0)

    def test_headWithoutGet(self) -> None:
        """
        C{HEAD} on a resource that has no C{GET} (an action) is a 405 naming
        what it takes, not a 500.
        """
        response = self.successResultOf(
            self.treq.request("HEAD", BASE + f"/api/torrents/{self.hex}/pause", headers=CHANGE)
        )
        self.assertEqual(response.code, 405)
        self.assertEqual(response.headers.getRawHeaders("allow"), ["POST"])

    def test_peers(self) -> None:
        """
        C{GET .../peers} lists the connected peers (none here).
        """
        response, body = self.request("GET", f"/api/torrents/{self.hex}/peers")
        self.assertEqual((response.code, body), (200, []))

    def test_pieces(self) -> None:
        """
        C{GET .../pieces} gives the verified pieces as a base64 bitfield in
        BEP 3 order, with counts.
        """
        self.torrent.download.picker.pieceVerified(1)
        response, body = self.request("GET", f"/api/torrents/{self.hex}/pieces")
        self.assertEqual(response.code, 200)
        self.assertEqual(body["numPieces"], 3)
        self.assertEqual(body["verified"], 1)
        self.assertEqual(base64.b64decode(body["bitfield"]), bytes([0b01000000]))

    def test_uploadRaw(self) -> None:
        """
        C{POST /api/torrents} with the C{.torrent} as the body adds it,
        downloading into the web layer's folder, and answers 201 with its
        status and address.
        """
        data = makeTorrentBytes(self, "other.bin")
        response, body = self.request(
            "POST", "/api/torrents", data=data,
            headers={**CHANGE, "Content-Type": "application/x-bittorrent"},
        )
        self.assertEqual(response.code, 201, body)
        self.assertEqual(body["name"], "other.bin")
        self.assertEqual(body["state"], "downloading")
        self.assertEqual(response.headers.getRawHeaders("location"), [f"/api/torrents/{body['infoHash']}"])
        self.assertIn(bytes.fromhex(body["infoHash"]), self.service.session.torrents)
        self.assertEqual(self.storageFactory.made[-1][1], self.downloadDir)

    def test_uploadMultipart(self) -> None:
        """
        A C{multipart/form-data} upload with the file in field C{torrent}
        adds it.
        """
        headers, data = multipart("torrent", "form.torrent", makeTorrentBytes(self, "form.bin"))
        response, body = self.request("POST", "/api/torrents", headers=headers, data=data)
        self.assertEqual(response.code, 201, body)
        self.assertEqual(body["name"], "form.bin")

    def test_uploadMultipartWithoutField(self) -> None:
        """
        A multipart upload without a C{torrent} field is a 400 naming it.
        """
        headers, data = multipart("file", "x.torrent", b"x")
        response, body = self.request("POST", "/api/torrents", headers=headers, data=data)
        self.assertError(response, body, 400, "'torrent'")

    def test_uploadBad(self) -> None:
        """
        An upload that is not a torrent is a 400 carrying the
        L{bittwist.errors.MetainfoError} text; nothing is added.
        """
        response, body = self.request("POST", "/api/torrents", data=b"d4:spam4:eggse", headers=CHANGE)
        self.assertError(response, body, 400, "upload: ")
        self.assertEqual(len(self.service.session.torrents), 1)
        response, body = self.request("POST", "/api/torrents", data=b"", headers=CHANGE)
        self.assertError(response, body, 400, "empty upload")

    def test_headOnPostOnly(self) -> None:
        """
        C{HEAD} on a resource that only takes C{POST} (found by the fuzz
        suite: it was a 500 and a logged traceback) is a 405 allowing POST;
        on one that answers C{GET} it is a 200.
        """
        response, body = self.request("HEAD", f"/api/torrents/{self.hex}/pause", headers=CHANGE)
        self.assertEqual(response.code, 405)
        self.assertEqual(response.headers.getRawHeaders("allow"), ["POST"])
        self.assertEqual(self.flushLoggedErrors(), [])
        response, body = self.request("HEAD", f"/api/torrents/{self.hex}")
        self.assertEqual(response.code, 200)

    def test_uploadDeepPath(self) -> None:
        """
        An upload whose one file has a path of 40,000 components (a 120 KB
        torrent that once held the reactor for seconds) is a 400 naming the
        path depth limit; nothing is added.
        """
        data = bencodepy.encode({b"info": {
            b"files": [{b"length": 1, b"path": [b"a"] * 40000}],
            b"name": b"deep", b"piece length": 16384, b"pieces": b"x" * 20,
        }})
        response, body = self.request("POST", "/api/torrents", data=data, headers=CHANGE)
        self.assertError(response, body, 400, "over the limit of 256")
        self.assertEqual(len(self.service.session.torrents), 1)

    def test_uploadDuplicate(self) -> None:
        """
        Uploading a torrent already added is a 409.
        """
        response, body = self.request(
            "POST", "/api/torrents", data=makeTorrentBytes(self), headers=CHANGE
        )
        self.assertError(response, body, 409, "already added")

    def test_pauseResume(self) -> None:
        """
        C{POST .../pause} pauses the torrent and C{.../resume} resumes it;
        each answers with the new status.
        """
        response, body = self.request("POST", f"/api/torrents/{self.hex}/pause", headers=CHANGE)
        self.assertEqual((response.code, body["state"]), (200, "paused"))
        self.assertEqual(self.torrent.state, "paused")
        response, body = self.request("POST", f"/api/torrents/{self.hex}/resume", headers=CHANGE)
        self.assertEqual((response.code, body["state"]), (200, "downloading"))
        self.assertEqual(self.torrent.state, "downloading")

    def test_resumeFromError(self) -> None:
        """
        A torrent in C{error} (say the disk filled) is resumed with
        C{POST .../resume} once the cause is gone: it checks its data again
        and goes on (that verified pieces are kept is
        L{tests.test_torrent.LifecycleTests.test_resumeAfterError}'s).
        """
        self.torrent.download.picker.pieceVerified(1)
        self.torrent.fail(StorageError("No space left on device", "/downloads/payload.bin"))
        self.assertEqual(self.torrent.state, "error")
        response, body = self.request("GET", f"/api/torrents/{self.hex}")
        self.assertIn("No space left", body["error"])
        response, body = self.request("POST", f"/api/torrents/{self.hex}/resume", headers=CHANGE)
        self.assertEqual(response.code, 200, body)
        self.assertIn(self.torrent.state, ("checking", "downloading"))
        self.assertIsNone(self.torrent.error)

    def test_pauseStopped(self) -> None:
        """
        Pausing a torrent that is not running is a 409.
        """
        self.successResultOf(self.torrent.stop())
        response, body = self.request("POST", f"/api/torrents/{self.hex}/pause", headers=CHANGE)
        self.assertError(response, body, 409, "stopped")

    def test_delete(self) -> None:
        """
        C{DELETE /api/torrents/<hex>} removes the torrent, keeping its data;
        it is then a 404.
        """
        removed = []
        self.torrent.storage.removeData = lambda: removed.append(True) or succeed(None)
        response, body = self.request("DELETE", f"/api/torrents/{self.hex}", headers=CHANGE)
        self.assertEqual(response.code, 200, body)
        self.assertEqual(body, {"removed": self.hex, "dataDeleted": False})
        self.assertEqual(self.service.session.torrents, {})
        self.assertEqual(removed, [])
        response, body = self.request("GET", f"/api/torrents/{self.hex}")
        self.assertError(response, body, 404)

    def test_deleteData(self) -> None:
        """
        C{?deleteData=1} deletes the torrent's files too; a bad value is a
        400.
        """
        removed = []
        self.torrent.storage.removeData = lambda: removed.append(True) or succeed(None)
        response, body = self.request("DELETE", f"/api/torrents/{self.hex}?deleteData=maybe", headers=CHANGE)
        self.assertError(response, body, 400, "deleteData")
        response, body = self.request("DELETE", f"/api/torrents/{self.hex}?deleteData=1", headers=CHANGE)
        self.assertEqual(body, {"removed": self.hex, "dataDeleted": True})
        self.assertEqual(removed, [True])

    def test_methodNotAllowed(self) -> None:
        """
        A method a resource lacks is a JSON 405 with an C{Allow} header.
        """
        cases = [
            ("PUT", "/api/torrents", "GET, POST"),
            ("POST", f"/api/torrents/{self.hex}", "DELETE, GET"),
            ("DELETE", f"/api/torrents/{self.hex}/pieces", "GET"),
            ("GET", f"/api/torrents/{self.hex}/pause", "POST"),
        ]
        for method, path, allowed in cases:
            response, body = self.request(method, path, headers=CHANGE)
            self.assertError(response, body, 405, "not allowed")
            self.assertEqual(response.headers.getRawHeaders("allow"), [allowed])


class PageTests(WebTestCase):
    """
    Tests for the page's files.
    """

    def test_index(self) -> None:
        """
        C{/} is the page, as HTML, with the security headers.
        """
        response, body = self.request("GET", "/")
        self.assertEqual(response.code, 200)
        self.assertIn(b"<title>bittwist</title>", body)
        self.assertTrue(response.headers.getRawHeaders("content-type")[0].startswith("text/html"))
        [csp] = response.headers.getRawHeaders("content-security-policy")
        self.assertIn("default-src 'self'", csp)
        self.assertEqual(response.headers.getRawHeaders("x-frame-options"), ["DENY"])

    def test_static(self) -> None:
        """
        The script and style sheet are served; the folder is not listed.
        """
        for name in ("app.js", "style.css"):
            response, body = self.request("GET", "/static/" + name)
            self.assertEqual(response.code, 200, name)
        response, body = self.request("GET", "/static/")
        self.assertEqual(response.code, 404)

    def test_pageUsesOnlyTheApi(self) -> None:
        """
        The script's requests all go to C{/api/}.
        """
        response, body = self.request("GET", "/static/app.js")
        script = body.decode("utf-8")
        self.assertIn('new EventSource("/api/events")', script)
        self.assertNotIn("XMLHttpRequest", script)
        for line in script.splitlines():
            if "fetch(" in line:
                self.assertIn("fetch(path", line)


class CrossSiteTests(WebTestCase):
    """
    Requests that change something are refused unless they come from the
    page itself.
    """

    def assertRefused(self, headers: dict[str, str], text: str) -> None:
        response, body = self.request("POST", f"/api/torrents/{self.hex}/pause", headers=headers)
        self.assertError(response, body, 403, text)
        self.assertEqual(self.torrent.state, "downloading")

    def test_noCustomHeader(self) -> None:
        """
        Without C{X-Bittwist} (which a cross-site form or simple request
        cannot send), a POST or DELETE is a 403 and changes nothing.
        """
        self.assertRefused({}, "X-Bittwist")
        response, body = self.request("DELETE", f"/api/torrents/{self.hex}")
        self.assertError(response, body, 403, "X-Bittwist")
        self.assertIn(self.torrent.infoHash, self.service.session.torrents)

    def test_foreignOrigin(self) -> None:
        """
        An C{Origin} other than this server is refused.
        """
        self.assertRefused({**CHANGE, "Origin": "http://evil.example"}, "http://evil.example")
        self.assertRefused({**CHANGE, "Origin": "http://127.0.0.1:9999"}, "is not this server")

    def test_crossSiteFetch(self) -> None:
        """
        C{Sec-Fetch-Site: cross-site} is refused.
        """
        self.assertRefused({**CHANGE, "Sec-Fetch-Site": "cross-site"}, "cross-site")

    def test_sameOrigin(self) -> None:
        """
        The page's own request, with the header and its origin, passes.
        """
        headers = {**CHANGE, "Origin": BASE, "Sec-Fetch-Site": "same-origin"}
        response, body = self.request("POST", f"/api/torrents/{self.hex}/pause", headers=headers)
        self.assertEqual(response.code, 200, body)
        self.assertEqual(self.torrent.state, "paused")

    def test_hostRebinding(self) -> None:
        """
        On loopback, a C{Host} that is not this machine (a DNS name rebound
        to 127.0.0.1) is refused, even for reading; localhost names pass.
        """
        response, body = self.request("GET", "/api/torrents", headers={"Host": "evil.example:8080"})
        self.assertError(response, body, 403, "evil.example")
        for host in ("localhost:8080", "127.0.0.1:8080", "[::1]:8080", "127.0.0.1"):
            response, body = self.request("GET", "/api/torrents", headers={"Host": host})
            self.assertEqual(response.code, 200, host)


class TokenTests(WebTestCase):
    """
    Served beyond loopback, every request needs the token.
    """

    requireToken = True

    def test_missing(self) -> None:
        """
        Without the token, the API and the page are a 401 asking for a
        bearer token.
        """
        for path in ("/api/torrents", "/", "/static/app.js"):
            response, body = self.request("GET", path)
            self.assertError(response, body, 401, "token")
            self.assertEqual(response.headers.getRawHeaders("www-authenticate"), ['Bearer realm="bittwist"'])

    def test_wrong(self) -> None:
        """
        A wrong token is a 403, however it is given.
        """
        for kwargs in (
            {"headers": {"Authorization": "Bearer nope"}},
            {"params": {"token": "nope"}},
            {"cookies": {"bittwist-token": "nope"}},
        ):
            response, body = self.request("GET", "/api/torrents", **kwargs)
            self.assertError(response, body, 403, "wrong token")

    def test_bearer(self) -> None:
        """
        C{Authorization: Bearer <token>} passes.
        """
        response, body = self.request("GET", "/api/torrents", headers={"Authorization": "Bearer sesame"})
        self.assertEqual(response.code, 200)

    def test_queryThenCookie(self) -> None:
        """
        C{?token=} passes and sets a strict, HTTP-only cookie holding the
        token, which passes on its own (the page's later requests).
        """
        response, body = self.request("GET", "/", params={"token": "sesame"})
        self.assertEqual(response.code, 200)
        [cookie] = response.headers.getRawHeaders("set-cookie")
        self.assertTrue(cookie.startswith("bittwist-token=sesame"), cookie)
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=strict", cookie)
        response, body = self.request("GET", "/api/torrents", cookies={"bittwist-token": "sesame"})
        self.assertEqual(response.code, 200)

    def test_tokenStillNeedsCustomHeader(self) -> None:
        """
        A cookie-carrying request that changes something still needs
        C{X-Bittwist}: a cross-site form cannot ride on the cookie.
        """
        response, body = self.request(
            "POST", f"/api/torrents/{self.hex}/pause", cookies={"bittwist-token": "sesame"}
        )
        self.assertError(response, body, 403, "X-Bittwist")

    def test_anyHost(self) -> None:
        """
        With the token, the C{Host} may be any name of this machine.
        """
        response, body = self.request(
            "GET", "/api/torrents", headers={"Authorization": "Bearer sesame", "Host": "box.lan:8080"}
        )
        self.assertEqual(response.code, 200)


class GuardTests(SynchronousTestCase):
    """
    Unit tests of L{AccessGuard.check} and L{isLoopback}.
    """

    def check(self, requireToken: bool, headers: dict[bytes, bytes], method: bytes = b"GET") -> Optional[int]:
        guard = AccessGuard(None, "sesame", requireToken)  # type: ignore[arg-type]
        request = DummyRequest([b"api"])
        request.getCookie = lambda name: None
        request.method = method
        for name, value in headers.items():
            request.requestHeaders.setRawHeaders(name, [value])
        denied = guard.check(request)
        return None if denied is None else denied.code

    def test_loopbackNeedsNoToken(self) -> None:
        """
        On loopback, a request for this machine passes without a token.
        """
        self.assertIsNone(self.check(False, {b"host": b"127.0.0.1:8080"}))

    def test_tokenRequired(self) -> None:
        """
        When required, no token is 401, a wrong one 403, the right one
        passes.
        """
        self.assertEqual(self.check(True, {b"host": b"10.0.0.2:8080"}), 401)
        self.assertEqual(self.check(True, {b"authorization": b"Bearer x"}), 403)
        self.assertEqual(self.check(True, {b"authorization": b"Basic c2VzYW1l"}), 401)
        self.assertIsNone(self.check(True, {b"authorization": b"Bearer sesame"}))

    def test_unsafeMethods(self) -> None:
        """
        Every method but GET and HEAD needs C{X-Bittwist}.
        """
        for method in (b"POST", b"DELETE", b"PUT", b"PATCH"):
            self.assertEqual(self.check(False, {b"host": b"localhost"}, method), 403)
            self.assertIsNone(self.check(False, {b"host": b"localhost", b"x-bittwist": b"1"}, method))
        self.assertIsNone(self.check(False, {b"host": b"localhost"}, b"HEAD"))

    def test_isLoopback(self) -> None:
        """
        Loopback addresses (IPv4-mapped ones too) and C{localhost} are
        loopback; others are not.
        """
        for host in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST",
                     "::ffff:127.0.0.1", "[::ffff:127.0.0.1]"):
            self.assertTrue(isLoopback(host), host)
        for host in ("0.0.0.0", "10.0.0.1", "::", "example.com", "localhost.evil.example", "",
                     "::ffff:10.0.0.1", "::ffff:0.0.0.0"):
            self.assertFalse(isLoopback(host), host)


class EventsTests(WebTestCase):
    """
    Tests for the C{/api/events} stream, on L{DummyRequest}s and a clock.
    """

    def connect(self) -> tuple[EventsResource, DummyRequest]:
        events: EventsResource = self.site.api.events
        request = DummyRequest([])
        request.method = b"GET"
        from twisted.web.server import NOT_DONE_YET

        self.assertEqual(events.render(request), NOT_DONE_YET)
        return events, request

    def sent(self, request: DummyRequest) -> list[list[dict[str, Any]]]:
        """
        @return: the torrent lists of the C{torrents} events written so far.
        """
        text = b"".join(request.written).decode("utf-8")
        result = []
        for block in text.split("\n\n"):
            lines = block.split("\n")
            if lines[0] == "event: torrents":
                self.assertTrue(lines[1].startswith("data: "))
                result.append(json.loads(lines[1][len("data: "):]))
        return result

    def test_firstEvent(self) -> None:
        """
        A client gets the torrents at once, as an event stream.
        """
        events, request = self.connect()
        self.assertEqual(request.responseHeaders.getRawHeaders(b"content-type"), [b"text/event-stream; charset=utf-8"])
        [first] = self.sent(request)
        self.assertEqual([t["infoHash"] for t in first], [self.hex])

    def test_periodic(self) -> None:
        """
        Then every interval, an update.
        """
        events, request = self.connect()
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(len(self.sent(request)), 3)

    def test_stateChangeAtOnce(self) -> None:
        """
        A state change is sent at once, not at the next interval.
        """
        events, request = self.connect()
        self.torrent.pause()
        self.clock.advance(0)
        updates = self.sent(request)
        self.assertEqual(len(updates), 2)
        self.assertEqual(updates[-1][0]["state"], "paused")

    def test_addedAtOnce(self) -> None:
        """
        A torrent added through the API is sent at once.
        """
        events, request = self.connect()
        self.request("POST", "/api/torrents", data=makeTorrentBytes(self, "new.bin"), headers=CHANGE)
        self.clock.advance(0)
        self.assertEqual(len(self.sent(request)[-1]), 2)

    def test_disconnectStopsEverything(self) -> None:
        """
        When the last client leaves, the timer stops and the torrents are
        no longer observed.
        """
        events, request = self.connect()
        self.assertIn(events._torrentEvent, self.torrent.observers)
        ours = lambda: [c for c in self.clock.getDelayedCalls() if "broadcast" in repr(c)]
        self.assertTrue(ours())
        request.processingFailed(Exception("gone"))  # fires notifyFinish with a failure
        self.assertEqual(ours(), [])
        self.assertNotIn(events._torrentEvent, self.torrent.observers)
        self.assertEqual(events.clients, set())


class FakePort:
    """
    A listening port at a given address.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.stopped = False

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", self.host, 8123)

    def stopListening(self) -> Deferred[None]:
        self.stopped = True
        return succeed(None)


class FakeEndpoint:
    def __init__(self, host: str) -> None:
        self.port = FakePort(host)
        self.factory = None

    def listen(self, factory: Any) -> Deferred[FakePort]:
        self.factory = factory
        return succeed(self.port)


class FailingEndpoint:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def listen(self, factory: Any) -> Deferred[FakePort]:
        return fail(self.error)


class WebServiceTests(SynchronousTestCase):
    """
    Tests for L{WebService}.
    """

    def start(self, host: str) -> tuple[WebService, FakeEndpoint, list[dict]]:
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        endpoint = FakeEndpoint(host)
        service = WebService(endpoint, object(), "downloads", reactor=MemoryReactorClock(), token="sesame")
        service.startService()
        self.assertIs(endpoint.factory, service.site)
        return service, endpoint, [e for e in logged if "Web status page" in e.get("log_format", "")]

    def test_loopback(self) -> None:
        """
        On loopback, no token is needed and the plain address is logged.
        """
        service, endpoint, logged = self.start("127.0.0.1")
        self.assertEqual(self.successResultOf(service.whenListening()), "http://127.0.0.1:8123/")
        self.assertFalse(service.site.resource.requireToken)
        [event] = logged
        self.assertEqual(event["url"], "http://127.0.0.1:8123/")

    def test_beyondLoopback(self) -> None:
        """
        Bound elsewhere, the token is needed and logged in the address.
        """
        service, endpoint, logged = self.start("10.1.2.3")
        self.assertTrue(service.site.resource.requireToken)
        self.assertEqual(service.url, "http://10.1.2.3:8123/?token=sesame")
        [event] = logged
        self.assertEqual(event["url"], service.url)

    def test_stop(self) -> None:
        """
        Stopping stops listening.
        """
        service, endpoint, logged = self.start("127.0.0.1")
        self.successResultOf(service.stopService())
        self.assertTrue(endpoint.port.stopped)

    def test_cannotListen(self) -> None:
        """
        When the endpoint cannot listen, the error is logged with what to
        do, and L{WebService.whenListening} fails with L{WebListenError},
        for those waiting already and those who ask afterwards.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        endpoint = FailingEndpoint(CannotListenError("127.0.0.1", 8080, OSError("in use")))
        service = WebService(endpoint, object(), "downloads", reactor=MemoryReactorClock())
        before = service.whenListening()
        service.startService()
        error = self.failureResultOf(before, WebListenError).value
        self.assertIn("choose another --web endpoint", str(error))
        self.assertIs(self.failureResultOf(service.whenListening(), WebListenError).value, error)
        self.assertEqual([e["error"] for e in logged if "error" in e], [str(error)])

    def test_freshToken(self) -> None:
        """
        Without a token given, each service makes a long random one.
        """
        tokens = {WebService(FakeEndpoint("10.0.0.1"), object(), ".", MemoryReactorClock()).token for _ in range(3)}
        self.assertEqual(len(tokens), 3)
        self.assertTrue(all(len(t) >= 32 for t in tokens))


class TapTests(SynchronousTestCase):
    """
    C{twistd bittorrent --web}.
    """

    def parse(self, *args: str) -> tap.Options:
        options = tap.Options()
        options.parseOptions(["--port", "tcp:0", *args])
        return options

    def test_default(self) -> None:
        """
        By default the page is served on 127.0.0.1 port 8080, by a
        L{WebService} child of the L{BitTorrentService}.
        """
        options = self.parse()
        self.assertEqual(options["web"], "tcp:8080:interface=127.0.0.1")
        data = makeTorrentBytes(self)
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(data)
        # Not the user's own state folder, which another bittwist may hold.
        options = self.parse(
            "--torrent", path, "-d", "downloads", "--state-dir", os.path.abspath(self.mktemp())
        )
        service = tap.makeService(options)
        [web] = [s for s in service if isinstance(s, WebService)]
        self.assertEqual(web.site.api.torrents._downloadDir, "downloads")
        for torrent in service.session.torrents.values():
            self.successResultOf(torrent.storage.close())

    def test_none(self) -> None:
        """
        C{--web none} turns it off.
        """
        options = self.parse("--web", "none")
        self.assertIsNone(options["web"])

    def test_bad(self) -> None:
        """
        A bad endpoint description is a usage error naming C{--web}.
        """
        error = self.assertRaises(usage.UsageError, self.parse, "--web", "carrier-pigeon:9")
        self.assertIn("--web", str(error))


class RawHTTPClient(Protocol):
    """
    Sends a request's bytes as told and collects the answer, to see whether
    it comes before the body is sent.

    @ivar answered: fires with C{(code, headers, body)} once a whole answer
        is in.
    @ivar closed: fires when the connection is closed.
    """

    def __init__(self) -> None:
        self.received = b""
        self.answered: Deferred[tuple[int, dict[bytes, bytes], bytes]] = Deferred()
        self.closed: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        head, separator, body = self.received.partition(b"\r\n\r\n")
        if not separator or self.answered.called:
            return
        statusLine, *lines = head.split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if len(body) >= int(headers.get(b"content-length", b"0")):
            self.answered.callback((int(statusLine.split(b" ")[1]), headers, body))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed.callback(None)


class GuardedRequestTests(SynchronousTestCase):
    """
    L{bittwist.web.site.GuardedSite} fed bytes through a L{StringTransport}
    on a L{MemoryReactorClock}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        service = BitTorrentService(
            "tcp:6881", reactor=self.clock, httpClient=object(), progressInterval=None,
            storageFactory=MemoryStorageFactory(),
        )
        self.site = makeWebSite(service, "downloads", token="sesame", requireToken=True, reactor=self.clock)
        self.transport = StringTransport()
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.channel.makeConnection(self.transport)
        self.addCleanup(self.channel.connectionLost, Failure(ConnectionDone()))

    def test_byteByByte(self) -> None:
        """
        Fed one byte at a time, a request without its token is answered
        (401) when the blank line ending its headers arrives, not before.
        """
        head = (
            b"POST /api/torrents HTTP/1.1\r\nHost: box\r\nX-Bittwist: 1\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        for i in range(len(head)):
            self.assertEqual(self.transport.value(), b"", i)
            self.channel.dataReceived(head[i : i + 1])
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 401 "), self.transport.value())

    def test_tokenInQueryBeforeBody(self) -> None:
        """
        The query of the request line is read before the body: a token
        there lets the request wait for its body, while a wrong one is
        refused (403) at the end of the headers.
        """
        head = (
            b"POST /api/torrents?token=%s HTTP/1.1\r\nHost: box\r\nX-Bittwist: 1\r\n"
            b"Content-Length: 5000\r\n\r\n"
        )
        self.channel.dataReceived(head % b"sesame")
        self.assertEqual(self.transport.value(), b"")
        other = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40001))
        transport = StringTransport()
        other.makeConnection(transport)
        self.addCleanup(other.connectionLost, Failure(ConnectionDone()))
        other.dataReceived(head % b"wrong")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 403 "), transport.value())

    def test_http11Only(self) -> None:
        """
        The site speaks HTTP/1.1 (not HTTP/2, whose requests have no
        request line before their body).
        """
        self.assertIsInstance(self.channel, HTTPChannel)

    def test_bodyDroppedThenClosed(self) -> None:
        """
        After an early refusal, body bytes are dropped without an answer of
        their own, and the connection is closed after the linger time.
        """
        self.channel.dataReceived(
            b"POST /api/torrents HTTP/1.1\r\nHost: box\r\nContent-Length: 50000000\r\n\r\n"
        )
        answer = self.transport.value()
        self.assertIn(b"401", answer.split(b"\r\n")[0])
        for _ in range(100):
            self.channel.dataReceived(b"GET / HTTP/1.1\r\n\r\n" * 100)
        self.assertEqual(self.transport.value(), answer)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(self.site.lingerSeconds)
        self.assertTrue(self.transport.disconnecting)


class LoopbackTests(TestCase):
    """
    The site served by a real L{GuardedSite} on 127.0.0.1: requests are
    refused by their headers before their bodies are read, and uploads
    that pass are parsed bounded.
    """

    timeout = 20

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.storageFactory = MemoryStorageFactory()
        self.service = BitTorrentService(
            "tcp:6881", reactor=self.clock, httpClient=object(), progressInterval=None,
            storageFactory=self.storageFactory,
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.listen(requireToken=False)
        # New connections each time: none is left open when the test ends.
        self.http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))

    def listen(self, requireToken: bool) -> None:
        self.site = makeWebSite(
            self.service, os.path.abspath("downloads"), token="sesame", requireToken=requireToken,
            reactor=reactor,
        )
        self.site.maxBodySize = 4000
        self.site.lingerSeconds = 0.2
        port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.base = f"http://127.0.0.1:{port.getHost().port}"
        self.hostHeader = f"127.0.0.1:{port.getHost().port}".encode("ascii")

    @inlineCallbacks
    def connect(self) -> Any:
        client = RawHTTPClient()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", int(self.base.rsplit(":", 1)[1]))
        yield connectProtocol(endpoint, client)
        self.addCleanup(lambda: client.closed)
        self.addCleanup(client.transport.loseConnection)
        return client

    def head(self, length: Optional[int] = 100 * 2**20, **headers: str) -> bytes:
        """
        @return: the head of a multipart C{POST /api/torrents} announcing a
            body of C{length} bytes (chunked if C{None}).
        """
        lines = [
            b"POST /api/torrents HTTP/1.1",
            b"Host: " + self.hostHeader,
            b"X-Bittwist: 1",
            b"Content-Type: multipart/form-data; boundary=bittwistboundary",
            b"Content-Length: %d" % length if length is not None else b"Transfer-Encoding: chunked",
        ]
        lines += [f"{name.replace('_', '-')}: {value}".encode("ascii") for name, value in headers.items()]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    @inlineCallbacks
    def assertRefusedEarly(self, head: bytes, code: int, text: str) -> Any:
        """
        Send C{head} and the start of its body only: assert the answer is
        a JSON error C{code} containing C{text}, which closes the
        connection.
        """
        client = yield self.connect()
        client.transport.write(head + b"--bittwistboundary\r\n" + b"x" * 1000)
        answered = client.answered
        answered.addTimeout(5, reactor)
        status, headers, body = yield answered
        self.assertEqual(status, code, body)
        self.assertEqual(headers[b"content-type"], b"application/json; charset=utf-8")
        self.assertEqual(headers[b"connection"], b"close")
        self.assertIn(b"x-frame-options", headers)
        self.assertIn(text, json.loads(body)["error"])
        return client

    @inlineCallbacks
    def test_foreignOriginBeforeBody(self) -> Any:
        """
        A 100 MB upload from a foreign origin is refused (403) as soon as
        its headers are in, before its body is sent.
        """
        yield self.assertRefusedEarly(self.head(Origin="http://evil.example"), 403, "cross-site")

    @inlineCallbacks
    def test_noCustomHeaderBeforeBody(self) -> Any:
        """
        An upload without C{X-Bittwist} is refused (403) before its body.
        """
        head = self.head().replace(b"X-Bittwist: 1\r\n", b"")
        yield self.assertRefusedEarly(head, 403, "X-Bittwist")

    @inlineCallbacks
    def test_noTokenBeforeBody(self) -> Any:
        """
        Where a token is needed, an upload without one is refused (401)
        before its body; with a wrong one, 403.
        """
        self.listen(requireToken=True)
        yield self.assertRefusedEarly(self.head(), 401, "needs its token")
        yield self.assertRefusedEarly(self.head(Authorization="Bearer nope"), 403, "wrong token")

    @inlineCallbacks
    def test_tooLargeBeforeBody(self) -> Any:
        """
        An upload announcing a body over the site's limit is refused (413)
        before its body.
        """
        yield self.assertRefusedEarly(self.head(4001), 413, "larger than 4000 bytes")

    @inlineCallbacks
    def test_expectContinueRefused(self) -> Any:
        """
        An upload that waits for C{100 Continue} (as curl's do) and is
        refused gets the refusal alone, never an invitation to send the
        body after it.
        """
        client = yield self.connect()
        client.transport.write(self.head(Origin="http://evil.example", Expect="100-continue"))
        status, headers, body = yield client.answered.addTimeout(5, reactor)
        self.assertEqual(status, 403)
        yield client.closed.addTimeout(10, reactor)
        self.assertNotIn(b"100 Continue", client.received)
        self.assertTrue(client.received.startswith(b"HTTP/1.1 403 "), client.received[:100])

    @inlineCallbacks
    def test_chunkedTooLarge(self) -> Any:
        """
        A chunked body is refused (413) as soon as it passes the limit,
        before it ends.
        """
        client = yield self.connect()
        client.transport.write(self.head(None))
        for _ in range(5):
            client.transport.write(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
        status, headers, body = yield client.answered.addTimeout(5, reactor)
        self.assertEqual(status, 413)
        self.assertIn("larger than 4000 bytes", json.loads(body)["error"])

    @inlineCallbacks
    def test_closedOnceBodyEnds(self) -> Any:
        """
        After an early refusal, the rest of the body is dropped and the
        connection closed once it has ended.
        """
        head = self.head(1500, Origin="http://evil.example")
        client = yield self.assertRefusedEarly(head, 403, "cross-site")
        client.transport.write(b"y" * 500)
        yield client.closed.addTimeout(5, reactor)

    @inlineCallbacks
    def test_queryTokenBeforeBody(self) -> Any:
        """
        A token in the query is enough for an upload, judged before its
        body: the torrent is added.
        """
        self.listen(requireToken=True)
        data = makeTorrentBytes(self, "query.bin")
        response = yield self.http.post(
            self.base + "/api/torrents?token=sesame", data=data, headers=CHANGE,
        )
        body = yield response.json()
        self.assertEqual(response.code, 201, body)
        self.assertEqual(body["name"], "query.bin")

    @inlineCallbacks
    def test_multipartUpload(self) -> Any:
        """
        A browser-like multipart upload (from treq) under the limit adds
        the torrent.
        """
        self.site.maxBodySize = 100000
        data = makeTorrentBytes(self, "multi.bin")
        response = yield self.http.post(
            self.base + "/api/torrents",
            files={"torrent": ("multi.torrent", "application/x-bittorrent", io.BytesIO(data))},
            data={"comment": "ignored"},
            headers=CHANGE,
        )
        body = yield response.json()
        self.assertEqual(response.code, 201, body)
        self.assertEqual(body["name"], "multi.bin")

    @inlineCallbacks
    def test_multipartMalformed(self) -> Any:
        """
        A multipart body cut short is a 400 naming the problem.
        """
        headers, data = multipart("torrent", "x.torrent", b"d4:spam4:eggse")
        response = yield self.http.post(self.base + "/api/torrents", data=data[:-10], headers=headers)
        body = yield response.json()
        self.assertEqual(response.code, 400, body)
        self.assertIn("closing boundary", body["error"])


class AddByURLTests(TestCase):
    """
    C{POST /api/torrents} with C{{"url": ...}}: the torrent is fetched from
    a real server on 127.0.0.1 and added.
    """

    timeout = 20

    def setUp(self) -> None:
        self.server = TorrentFileServer(reactor)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.clock = MemoryReactorClock()
        self.http = nonPersistentClient()
        # The server is on 127.0.0.1.
        self.service = BitTorrentService(
            "tcp:6881", reactor=self.clock, httpClient=self.http, progressInterval=None,
            storageFactory=MemoryStorageFactory(), allowPrivateURLs=True,
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        site = makeWebSite(self.service, os.path.abspath("downloads"), requireToken=False, reactor=reactor)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.api = f"http://127.0.0.1:{port.getHost().port}/api/torrents"

    @inlineCallbacks
    def post(self, value: Any, raw: Optional[bytes] = None) -> Any:
        response = yield self.http.post(
            self.api, data=json.dumps(value).encode("utf-8") if raw is None else raw,
            headers={**CHANGE, "Content-Type": "application/json"},
        )
        body = yield response.json()
        return response, body

    @inlineCallbacks
    def test_added(self) -> Any:
        """
        The torrent at the address is added: 201 with its status and
        address.
        """
        url = self.server.add("byurl.torrent", makeTorrentBytes(self, "byurl.bin"))
        response, body = yield self.post({"url": url})
        self.assertEqual(response.code, 201, body)
        self.assertEqual(body["name"], "byurl.bin")
        self.assertEqual(response.headers.getRawHeaders("location"), [f"/api/torrents/{body['infoHash']}"])
        self.assertIn(bytes.fromhex(body["infoHash"]), self.service.session.torrents)

    @inlineCallbacks
    def test_alreadyAdded(self) -> Any:
        """
        Adding the same address twice is a 409 the second time.
        """
        url = self.server.add("byurl.torrent", makeTorrentBytes(self, "byurl.bin"))
        yield self.post({"url": url})
        response, body = yield self.post({"url": url})
        self.assertEqual(response.code, 409, body)
        self.assertIn("already added", body["error"])

    @inlineCallbacks
    def test_errors(self) -> Any:
        """
        Each way a fetch fails is a JSON error saying what went wrong: a
        404 from the server or a huge file (502), a web page (400), an
        address that is not http(s) (400).
        """
        base = self.server.base
        cases = [
            ({"url": base + "/missing.torrent"}, 502, "the server answered 404"),
            ({"url": base + "/huge.torrent"}, 502, "larger than"),
            ({"url": base + "/page.html"}, 400, "not a .torrent file"),
            ({"url": "file:///etc/passwd"}, 400, "only http:// and https://"),
            ({"link": base}, 400, 'send {"url"'),
            (["not", "an", "object"], 400, 'send {"url"'),
        ]
        for value, code, text in cases:
            response, body = yield self.post(value)
            self.assertEqual(response.code, code, (value, body))
            self.assertIn(text, body["error"])
        response, body = yield self.post(None, raw=b"{not json")
        self.assertEqual(response.code, 400, body)
        self.assertIn("not JSON", body["error"])
        self.assertEqual(self.service.session.torrents, {})

    @inlineCallbacks
    def test_privateRefused(self) -> Any:
        """
        The page of a service that fetches from public addresses only
        answers 403 for one on the loopback, saying how to allow it.
        """
        service = BitTorrentService(
            "tcp:6881", reactor=self.clock, progressInterval=None, storageFactory=MemoryStorageFactory()
        )
        site = makeWebSite(service, os.path.abspath("downloads"), requireToken=False, reactor=reactor)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.api = f"http://127.0.0.1:{port.getHost().port}/api/torrents"
        url = self.server.add("byurl.torrent", makeTorrentBytes(self, "byurl.bin"))
        response, body = yield self.post({"url": url})
        self.assertEqual(response.code, 403, body)
        self.assertIn("loopback address", body["error"])
        self.assertIn("--allow-private-urls", body["error"])
        self.assertEqual(service.session.torrents, {})

    @inlineCallbacks
    def test_timeout(self) -> Any:
        """
        A server that does not answer in time is a 504 saying so.
        """
        d = self.post({"url": self.server.base + "/silent.torrent"})
        while not self.server.silent.asked:
            yield deferLater(reactor, 0.01, lambda: None)
        self.clock.advance(FETCH_TIMEOUT)
        response, body = yield d
        self.assertEqual(response.code, 504, body)
        self.assertIn(f"no complete answer within {FETCH_TIMEOUT:g} seconds", body["error"])


class TrackerApiTests(WebTestCase):
    """
    Tests for C{/api/torrents/<hex>/trackers} and C{.../announce}, with a
    torrent announcing to a fake HTTP tracker and a broken one.
    """

    def trackerClient(self) -> Any:
        self.tracker = FakeTracker()
        self.broken = FakeTracker(code=500)
        root = Resource()
        root.putChild(b"good", self.tracker)
        root.putChild(b"broken", self.broken)
        return StubTreq(root)

    def setUp(self) -> None:
        super().setUp()
        data = makeTorrentBytes(
            self, "tracked.bin",
            trackers=["http://tracker.example/broken", "http://tracker.example/good"],
        )
        self.tracked = self.service.addTorrent(data, "tracked")
        self.trackedHex = self.tracked.infoHash.hex()

    def test_trackers(self) -> None:
        """
        C{GET .../trackers} lists each tracker with its tier, state, last
        error, peers given, and times in seconds relative to now.
        """
        self.clock.advance(7)
        response, body = self.request("GET", f"/api/torrents/{self.trackedHex}/trackers")
        self.assertEqual(response.code, 200, body)
        byURL = {t["url"]: t for t in body}
        broken = byURL["http://tracker.example/broken"]
        good = byURL["http://tracker.example/good"]
        self.assertEqual((broken["tier"], broken["state"]), (0, "error"))
        self.assertIn("500", broken["error"])
        self.assertEqual((good["state"], good["peers"], good["error"]), ("working", 1, None))
        self.assertEqual(good["lastAnnounceAgo"], 7)
        # Short of peers, the torrent asks again as soon as the floor allows.
        self.assertEqual(good["nextAnnounceIn"], Announcer.ANNOUNCE_NOW_FLOOR - 7)

    def test_announce(self) -> None:
        """
        C{POST .../announce} asks the trackers again once the floor since the
        last announce has passed; a paused torrent refuses with 409.
        """
        asked = len(self.tracker.requests)
        self.clock.advance(120)
        response, body = self.request("POST", f"/api/torrents/{self.trackedHex}/announce", headers=CHANGE)
        self.assertEqual(response.code, 200, body)
        self.assertEqual(len(self.tracker.requests), asked + 1)
        self.tracked.pause()
        response, body = self.request("POST", f"/api/torrents/{self.trackedHex}/announce", headers=CHANGE)
        self.assertError(response, body, 409, "paused")

    def test_noTrackers(self) -> None:
        """
        A torrent without trackers lists none.
        """
        response, body = self.request("GET", f"/api/torrents/{self.hex}/trackers")
        self.assertEqual((response.code, body), (200, []))


class MagnetApiTests(WebTestCase):
    """
    Tests for adding a magnet link through C{POST /api/torrents}.
    """

    def test_addMagnet(self) -> None:
        """
        C{{"magnet": ...}} adds the torrent, fetching its metadata: 201 with
        its status; the list shows it.
        """
        link = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=Some%20files"
        response, body = self.request(
            "POST", "/api/torrents", data=json.dumps({"magnet": link}).encode(),
            headers={**CHANGE, "Content-Type": "application/json"},
        )
        self.assertEqual(response.code, 201, body)
        self.assertEqual(
            (body["name"], body["state"], body["infoHash"], body["progress"], body["metadataProgress"]),
            ("Some files", "fetching metadata", "ab" * 20, 0.0, 0.0),
        )
        self.assertEqual(response.headers.getRawHeaders("location"), ["/api/torrents/" + "ab" * 20])
        response, listed = self.request("GET", "/api/torrents")
        self.assertIn("fetching metadata", [t["state"] for t in listed])
        response, body = self.request("GET", "/api/torrents/" + "ab" * 20 + "/peers")
        self.assertEqual((response.code, body), (200, []))
        response, body = self.request("DELETE", "/api/torrents/" + "ab" * 20 + "?deleteData=1", headers=CHANGE)
        self.assertEqual(response.code, 200, body)
        self.assertNotIn(bytes.fromhex("ab" * 20), self.service.session.torrents)

    def test_nameLoggedEscaped(self) -> None:
        """
        A link's C{dn} reaches the log escaped: terminal escape codes and
        newlines in it are written as C{\\x1b} and C{\\x0a}.
        """
        log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        link = "magnet:?xt=urn:btih:" + "cd" * 20 + "&dn=%1B%5B2Jx%0Afake%20line"
        response, body = self.request(
            "POST", "/api/torrents", data=json.dumps({"magnet": link}).encode(),
            headers={**CHANGE, "Content-Type": "application/json"},
        )
        self.assertEqual(response.code, 201, body)
        [added] = [formatEvent(e) for e in log if "magnet link added" in formatEvent(e)]
        self.assertEqual(added, "\\x1b[2Jx\\x0afake line: magnet link added through the web page")

    def test_badMagnet(self) -> None:
        """
        A link that cannot be used is a 400 saying why; one already added a
        409.
        """
        response, body = self.request(
            "POST", "/api/torrents", data=json.dumps({"magnet": "magnet:?xt=urn:btmh:1220" + "00" * 32}).encode(),
            headers={**CHANGE, "Content-Type": "application/json"},
        )
        self.assertError(response, body, 400, "v2")
        link = "magnet:?xt=urn:btih:" + self.hex
        response, body = self.request(
            "POST", "/api/torrents", data=json.dumps({"magnet": link}).encode(),
            headers={**CHANGE, "Content-Type": "application/json"},
        )
        self.assertError(response, body, 409, "already added")


class DHTApiTests(WebTestCase):
    """
    C{GET /api/dht}: the DHT node's figures.
    """

    def test_disabled(self) -> None:
        response, body = self.request("GET", "/api/dht")
        self.assertEqual((response.code, body), (200, {"enabled": False}))

    def test_enabled(self) -> None:
        dht = DHTService(0, bootstrap=(), reactor=self.clock)
        service = BitTorrentService("tcp:0", reactor=self.clock, httpClient=object(), progressInterval=None, dht=dht)
        dht.node.table.heard(b"\x01" * 20, ("10.0.0.1", 6881), self.clock.seconds(), responded=True)
        dht.node.table.heard(b"\x02" * 20, ("10.0.0.2", 6881), self.clock.seconds(), responded=False)
        site = makeWebSite(service, self.downloadDir, token="sesame", requireToken=False, reactor=self.clock)
        self.treq = StubTreq(site.resource)
        response, body = self.request("GET", "/api/dht")
        self.assertEqual(
            body,
            {
                "enabled": True,
                "nodes": 2,
                "goodNodes": 1,
                "lookupsRunning": 0,
                "lookupsDone": 0,
                "peersStored": 0,
                "infoHashesStored": 0,
            },
        )


class SettingsApiTests(WebTestCase):
    """
    Tests for C{/api/settings}: the session's rate limits.
    """

    def test_getAndSet(self) -> None:
        """
        GET gives the limits; POST changes them at once; bad values are a
        400 that changes nothing.
        """
        response, body = self.request("GET", "/api/settings")
        self.assertEqual((response.code, body), (200, {"maxUploadRate": 0, "maxDownloadRate": 0}))
        headers = {**CHANGE, "Content-Type": "application/json"}
        response, body = self.request(
            "POST", "/api/settings", data=b'{"maxDownloadRate": 65536}', headers=headers
        )
        self.assertEqual(body, {"maxUploadRate": 0, "maxDownloadRate": 65536})
        self.assertEqual(self.service.session.downloadLimit.rate, 65536)
        for bad in (b'{"maxDownloadRate": -1}', b'{"maxDownloadRate": "1M"}', b'{"speed": 1}', b"{}", b"[]"):
            response, body = self.request("POST", "/api/settings", data=bad, headers=headers)
            self.assertError(response, body, 400, "bytes per second")
        self.assertEqual(self.service.session.downloadLimit.rate, 65536)


class LateAnswerTests(SynchronousTestCase):
    """
    An answer that comes after its client left (adding by URL, removing a
    torrent) is dropped, and the work it waited for is cancelled where it
    can be.
    """

    def setUp(self) -> None:
        self.pending: Deferred[Any] = Deferred(lambda d: self.cancelled.append(d))
        self.cancelled: list[Deferred[Any]] = []
        service = self

        class FakeService:
            session = type("FakeSession", (), {"torrents": {}})()

            def addTorrentFromURL(self, url: str, downloadDir: str) -> Deferred[Any]:
                return service.pending

        self.resource = TorrentsResource(FakeService(), "/downloads", lambda: None)

    def post(self, body: bytes) -> DummyRequest:
        request = DummyRequest([b""])
        request.method = b"POST"
        request.requestHeaders.setRawHeaders(b"content-type", [b"application/json"])
        request.content = io.BytesIO(body)
        return request

    def test_fetchCancelledWhenClientGoes(self) -> None:
        """
        A client leaving while its URL is fetched cancels the fetch, and
        nothing is written to it.
        """
        request = self.post(b'{"url": "https://example.com/x.torrent"}')
        self.assertEqual(self.resource.render(request), NOT_DONE_YET)
        request.processingFailed(Failure(ConnectionDone()))
        self.assertEqual(len(self.cancelled), 1)
        self.assertEqual(request.written, [])

    def test_answeredWhileConnected(self) -> None:
        """
        A client still there gets the answer once the fetch fails.
        """
        request = self.post(b'{"url": "https://example.com/x.torrent"}')
        self.resource.render(request)
        self.pending.errback(TorrentFetchError("https://example.com/x.torrent", "no", "network"))
        self.assertEqual(request.responseCode, 502)
        self.assertEqual(request.finished, 1)
        self.assertIn(b"no", b"".join(request.written))

    def test_badJsonNamed(self) -> None:
        """
        A body that is not JSON, not an object, or too long says which,
        then what to send.
        """
        for body, code, text in [
            (b"{nope", 400, "the body is not JSON"),
            (b"[1]", 400, "the body is not a JSON object"),
            (b" " * (MAX_JSON_SIZE + 1), 413, f"at most {MAX_JSON_SIZE} bytes"),
        ]:
            request = self.post(body)
            answer = json.loads(self.resource.render(request))
            self.assertEqual(request.responseCode, code, body[:10])
            self.assertIn(text, answer["error"])
            self.assertIn('send {"url"', answer["error"])
