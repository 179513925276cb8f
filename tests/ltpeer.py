# -*- test-case-name: tests.test_ltpeer -*-
"""
A real third-party BitTorrent peer for tests: libtorrent (from PyPI), in-process, on loopback.

libtorrent runs its own threads; L{LibtorrentPeer} polls its alerts and status from the reactor
with a L{LoopingCall}, so tests talk to it through Deferreds.  Every session listens on
127.0.0.1 only, over TCP only, with DHT, local service discovery, UPnP and NAT-PMP off, and an IP
filter that blocks every peer address outside the loopback range.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections import deque
from typing import Iterable

import libtorrent as lt

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import TimeoutError
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

__all__ = [
    "LibtorrentPeer",
    "digestTree",
    "addTorrentBlocking",
    "blockingSession",
    "createTorrentWithLibtorrent",
    "makePayload",
    "makeV1Seed",
]

_CHUNK = 1 << 20

#: How often, in seconds, the reactor polls libtorrent for alerts and status.
POLL_INTERVAL = 0.05

#: How many alert messages each peer keeps for debugging.
ALERT_LOG_SIZE = 200


def makePayload(root: str, files: dict[str, int], seed: int = 0) -> None:
    """
    Write files of deterministic pseudo-random bytes.

    @param root: the directory to write under; created if missing.
    @param files: relative paths (C{/}-separated) mapped to sizes in bytes.  They are written in
        sorted order from one generator, so the same arguments always give the same bytes.
    @param seed: the seed of the generator.
    """
    rng = random.Random(seed)
    for relative in sorted(files):
        size = files[relative]
        path = os.path.join(root, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            remaining = size
            while remaining > 0:
                n = min(remaining, _CHUNK)
                f.write(rng.randbytes(n))
                remaining -= n


def createTorrentWithLibtorrent(
    root: str,
    name: str,
    trackers: Iterable[str] = (),
    pieceLength: int = 0,
    v1Only: bool = False,
) -> bytes:
    """
    Make a .torrent for C{root/name} (a file or a directory) with libtorrent.

    By default the torrent is a v1+v2 hybrid, as libtorrent 2 makes them: in a multi-file
    torrent every file but the last is followed by a pad file (C{attr} C{p}, path C{.pad/N}) up
    to the next piece boundary, in the v1 file list.

    @param root: the directory holding C{name}.
    @param name: the file or directory to share; the torrent's name.
    @param trackers: announce URLs, one tier each, in order.
    @param pieceLength: the piece length in bytes, a power of two of at least 16 KiB; 0 lets
        libtorrent pick.
    @param v1Only: make a v1 torrent, without pad files.
    @return: the bencoded torrent.
    """
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(root, name))
    flags = lt.create_torrent.v1_only if v1Only else 0
    ct = lt.create_torrent(fs, pieceLength, flags=flags)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    ct.set_creator("bittwist tests")
    lt.set_piece_hashes(ct, root)
    entry = ct.generate()
    # Deterministic output: no creation date.
    entry.pop(b"creation date", None)
    return lt.bencode(entry)


def makeV1Seed(folder: str, files: dict[str, int], seed: int, pieceLength: int) -> tuple[bytes, str]:
    """
    Write a payload of C{files} under C{folder/payload} (see L{makePayload})
    and make a v1 torrent of it with libtorrent.

    @param folder: a fresh directory, typically C{TestCase.mktemp()}.
    @return: C{(torrent bytes, the absolute folder holding the payload)}.
    """
    seedDir = os.path.abspath(folder)
    makePayload(os.path.join(seedDir, "payload"), files, seed=seed)
    return createTorrentWithLibtorrent(seedDir, "payload", pieceLength=pieceLength, v1Only=True), seedDir


def _settings() -> dict[str, object]:
    """
    @return: session settings for a loopback-only, TCP-only swarm.
    """
    return {
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "dht_bootstrap_nodes": "",
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        # Every peer in a test comes from 127.0.0.1.
        "allow_multiple_connections_per_ip": True,
        # Test trackers live on 127.0.0.1; SSRF mitigation would only allow /announce there.
        "ssrf_mitigation": False,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "anonymous_mode": False,
        "stop_tracker_timeout": 1,
        "user_agent": "libtorrent-test/" + lt.__version__,
        "alert_mask": (
            lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.peer_notification
            | lt.alert.category_t.connect_notification
            | lt.alert.category_t.tracker_notification
            | lt.alert.category_t.storage_notification
            | lt.alert.category_t.ip_block_notification
        ),
    }


def _loopbackOnlyFilter() -> lt.ip_filter:
    """
    @return: an IP filter that blocks every address except 127.0.0.0/8 and ::1.
    """
    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", 1)
    f.add_rule("127.0.0.0", "127.255.255.255", 0)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1)
    f.add_rule("::1", "::1", 0)
    return f


def digestTree(root: str) -> dict[str, tuple[int, str]]:
    """
    Describe every file under C{root} by size and SHA-1, so that two trees
    compare cheaply and a difference prints short.

    @return: relative path to C{(size, hex digest)}.
    """
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            digest = hashlib.sha1()
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
            found[os.path.relpath(path, root)] = (os.path.getsize(path), digest.hexdigest())
    return found


def blockingSession(**overrides: object) -> lt.session:
    """
    A libtorrent session for loopback use outside the reactor (benchmarks).

    @param overrides: session settings that replace the defaults.
    """
    settings = _settings()
    settings.update(overrides)
    session = lt.session(settings)
    session.set_ip_filter(_loopbackOnlyFilter())
    return session


def addTorrentBlocking(
    session: lt.session, torrentPath: str, savePath: str, seed: bool
) -> lt.torrent_handle:
    """
    Add a torrent to C{session} and wait, blocking, until it runs: seeding
    the data in C{savePath} without checking it (C{seed}), or ready to
    download into it.
    """
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrentPath)
    params.save_path = savePath
    if seed:
        params.flags |= lt.torrent_flags.seed_mode
    params.flags &= ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
    handle = session.add_torrent(params)
    while True:
        status = handle.status()
        if not status.paused and status.state != lt.torrent_status.checking_files:
            if status.is_seeding or not seed:
                return handle
        time.sleep(0.005)


class LibtorrentPeer:
    """
    A libtorrent session on 127.0.0.1 with one torrent, seeding or downloading.

    @ivar port: the TCP port the session listens on, known once L{start} has fired.
    @ivar alerts: the last L{ALERT_LOG_SIZE} alert messages, oldest first, for debugging.
    @ivar alertListeners: callables given every alert as it is read, in order.
    @ivar handle: the C{lt.torrent_handle}, once started.
    @ivar session: the C{lt.session}, until stopped.
    """

    log = Logger()

    def __init__(
        self,
        torrentData: bytes,
        savePath: str,
        seed: bool,
        reactor=None,
        verify: bool = False,
    ) -> None:
        """
        @param torrentData: a bencoded .torrent.
        @param savePath: the directory the torrent's content is (or will be) in.
        @param seed: whether the data is already in C{savePath} and the peer starts as a seed.
        @param reactor: the reactor to poll libtorrent from; the global one if L{None}.
        @param verify: for a seed, hash the data before seeding; by default the data is trusted
            (libtorrent's C{seed_mode}), which skips the check.
        """
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self._torrentData = torrentData
        self._savePath = savePath
        self._seed = seed
        self._verify = verify
        self.port = 0
        self.alerts: deque[str] = deque(maxlen=ALERT_LOG_SIZE)
        self.alertListeners: list = []
        self.session: lt.session | None = None
        self.handle: lt.torrent_handle | None = None
        self._poller: LoopingCall | None = None
        self._pollDone: Deferred | None = None
        self._started: Deferred[None] | None = None
        self._finished: list[tuple[Deferred[None], object]] = []
        self._flushAsked = False
        self._flushed = False
        self._removed: Deferred[None] | None = None
        self._lastStatus: lt.torrent_status | None = None
        self._dying: list[lt.session] = []

    def start(self) -> Deferred[None]:
        """
        Start the session and add the torrent.

        @return: a Deferred that fires once the session listens and the torrent is seeding
            (for a seed) or has started.
        """
        self.session = lt.session(_settings())
        self.session.set_ip_filter(_loopbackOnlyFilter())
        params = lt.load_torrent_buffer(self._torrentData)
        params.save_path = self._savePath
        flags = params.flags
        flags &= ~lt.torrent_flags.auto_managed
        flags &= ~lt.torrent_flags.paused
        flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
        flags |= lt.torrent_flags.apply_ip_filter
        if self._seed and not self._verify:
            flags |= lt.torrent_flags.seed_mode
        params.flags = flags
        self.handle = self.session.add_torrent(params)
        started: Deferred[None] = Deferred()
        self._started = started
        self._poller = LoopingCall(self._poll)
        self._poller.clock = self._reactor
        self._pollDone = self._poller.start(POLL_INTERVAL, now=True)
        self._pollDone.addErrback(self._pollFailed)
        return started

    def connectTo(self, host: str, port: int) -> None:
        """
        Have libtorrent connect to a peer.

        @param host: the peer's IP address.
        @param port: the peer's TCP port.
        """
        assert self.handle is not None, "start() first"
        self.handle.connect_peer((host, port))

    def status(self) -> lt.torrent_status:
        """
        @return: the torrent's current status; after L{stop}, the last one seen.
        """
        if self.handle is None:
            assert self._lastStatus is not None, "start() first"
            return self._lastStatus
        return self.handle.status()

    @property
    def infoHash(self) -> bytes:
        """
        The torrent's v1 info hash (SHA-1 of the bencoded C{info}), 20 bytes.
        """
        assert self.handle is not None, "start() first"
        return self.handle.info_hashes().v1.to_bytes()

    @property
    def uploaded(self) -> int:
        """
        Payload bytes sent since the torrent was added.
        """
        return self.status().total_payload_upload

    @property
    def downloaded(self) -> int:
        """
        Payload bytes received since the torrent was added.
        """
        return self.status().total_payload_download

    def whenFinished(self, timeout: float) -> Deferred[None]:
        """
        Wait for a downloading peer to hold every wanted piece, written out.

        libtorrent says a torrent is finished once its pieces pass their hash checks, which
        may be before its disk threads have written them: the wait also asks it to flush its
        cache and waits for C{cache_flushed_alert}, so that the files can be compared.

        @param timeout: seconds to wait.
        @return: a Deferred that fires with L{None} when the download is complete, or fails
            with L{TimeoutError} (whose message shows the status and the recent alerts).
        """
        d: Deferred[None] = Deferred()
        if self._isFinished() and self._flushed:
            d.callback(None)
            return d
        call = self._reactor.callLater(timeout, self._finishTimedOut, d, timeout)
        self._finished.append((d, call))
        return d

    def stop(self) -> Deferred[None]:
        """
        Remove the torrent, pause the session and free it.

        @return: a Deferred that fires when the session is gone.
        """
        if self.session is None:
            return succeed(None)
        # Only this list refers to the session from now on, so that dropping it in a thread
        # really frees it there.
        self._dying = [self.session]
        self.session = None
        for d, call in self._finished:
            call.cancel()
            d.errback(TimeoutError(f"{self!r} stopped before it finished"))
            # Nobody may be waiting any more (a test that timed out, say).
            d.addErrback(lambda f: None)
        self._finished = []
        self._removed = Deferred()
        if self.handle is not None and self.handle.is_valid():
            self._lastStatus = self.handle.status()
            self._dying[0].remove_torrent(self.handle)
        else:
            self._removed.callback(None)
        self.handle = None
        timeout = self._reactor.callLater(5, self._removedTimedOut)

        def removed(_: object) -> Deferred[None]:
            if timeout.active():
                timeout.cancel()
            if self._poller is not None and self._poller.running:
                self._poller.stop()
            self._poller = None
            dying, self._dying = self._dying, []
            dying[0].pause()
            # The session's destructor joins libtorrent's threads, which may wait for a tracker
            # to hear "stopped": run it off the reactor thread, so the tracker can answer.
            return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), _free, dying)

        return self._removed.addCallback(removed)

    def _removedTimedOut(self) -> None:
        """
        Give up waiting for libtorrent to confirm the torrent's removal.
        """
        if self._removed is not None and not self._removed.called:
            self._removed.callback(None)

    def _isFinished(self) -> bool:
        """
        @return: whether the last polled status shows a complete download.
        """
        s = self._lastStatus
        return s is not None and (s.is_finished or s.is_seeding)

    def _finishTimedOut(self, d: Deferred[None], timeout: float) -> None:
        """
        Fail a L{whenFinished} Deferred that waited too long.
        """
        self._finished = [(e, c) for (e, c) in self._finished if e is not d]
        d.errback(TimeoutError(f"{self!r} not finished after {timeout} s: {self.describe()}"))

    def describe(self) -> str:
        """
        @return: the torrent's state, progress and peers, and the recent alerts, for a failure
            message.
        """
        lines = []
        s = self._lastStatus
        if s is not None:
            lines.append(
                f"state={s.state} progress={s.progress:.3f} peers={s.num_peers} "
                f"seeds={s.num_seeds} down={s.total_payload_download} "
                f"up={s.total_payload_upload} error={s.errc.message() if s.errc.value() else ''}"
            )
        lines.extend(list(self.alerts)[-30:])
        return "\n".join(lines)

    def __repr__(self) -> str:
        role = "seed" if self._seed else "leecher"
        return f"<LibtorrentPeer {role} 127.0.0.1:{self.port}>"

    def _poll(self) -> None:
        """
        Read libtorrent's alerts and the torrent's status; fire what is due.
        """
        session = self.session if self.session is not None else next(iter(self._dying), None)
        if session is None:
            return
        for alert in session.pop_alerts():
            self.alerts.append(f"{alert.what()}: {alert.message()}")
            for listener in self.alertListeners:
                listener(alert)
            if isinstance(alert, lt.listen_succeeded_alert):
                if alert.socket_type == lt.socket_type_t.tcp:
                    self.port = alert.port
            elif isinstance(alert, lt.torrent_removed_alert):
                if self._removed is not None and not self._removed.called:
                    self._removed.callback(None)
            elif isinstance(alert, lt.cache_flushed_alert):
                self._flushed = self._flushAsked
            elif isinstance(alert, lt.torrent_error_alert):
                self.log.warn("{peer}: {message}", peer=self, message=alert.message())
        if self.session is None:
            return
        if not self.port and self.session.is_listening():
            self.port = self.session.listen_port()
        if self.handle is None or not self.handle.is_valid():
            return
        self._lastStatus = self.handle.status()
        s = self._lastStatus
        if self._started is not None and s.errc.value():
            started, self._started = self._started, None
            started.errback(RuntimeError(f"{self!r} failed to start: {self.describe()}"))
        if self._started is not None and self.port:
            # A torrent still checking closes the connections it gets; one
            # in seed mode says is_seeding while it checks its resume data.
            checked = s.state not in (
                lt.torrent_status.states.checking_resume_data,
                lt.torrent_status.states.checking_files,
            )
            ready = checked and (s.is_seeding or not self._seed)
            if ready:
                started, self._started = self._started, None
                started.callback(None)
        if self._finished and self._isFinished() and not self._flushAsked:
            self._flushAsked = True
            self.handle.flush_cache()
        if self._finished and self._isFinished() and self._flushed:
            waiting, self._finished = self._finished, []
            for d, call in waiting:
                call.cancel()
                d.callback(None)

    def _pollFailed(self, failure):
        """
        Report a failure of the poller and fail whoever waits on it.
        """
        self.log.failure("{peer}: polling libtorrent failed", failure, peer=self)
        if self._started is not None:
            started, self._started = self._started, None
            started.errback(failure)
        waiting, self._finished = self._finished, []
        for d, call in waiting:
            call.cancel()
            d.errback(failure)


def _free(sessions: list) -> None:
    """
    Drop the last reference to a session, which stops libtorrent's threads.

    @param sessions: a list holding only the session; emptied.
    """
    sessions.clear()
