"""
A libtorrent DHT node for tests, in-process, on 127.0.0.1.

libtorrent's DHT refuses loopback nodes by default: this session turns off
C{dht_restrict_routing_ips}, C{dht_restrict_search_ips} and
C{dht_ignore_dark_internet}, and bootstraps only from the nodes it is given
(never the public routers).  Alerts are polled from the reactor, as in
L{tests.ltpeer}.
"""

from __future__ import annotations

from typing import Iterable, Optional

import libtorrent as lt

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool

from tests.ltpeer import POLL_INTERVAL

__all__ = ["LibtorrentDHT", "dhtSettings"]


def dhtSettings(bootstrap: Iterable[tuple[str, int]]) -> dict[str, object]:
    """
    @param bootstrap: C{(host, port)} of the nodes to join through.
    @return: session settings for a loopback libtorrent with its DHT on.
    """
    return {
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "dht_bootstrap_nodes": ",".join(f"{host}:{port}" for host, port in bootstrap),
        "allow_multiple_connections_per_ip": True,
        "alert_mask": (
            lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.dht_notification
            | lt.alert.category_t.tracker_notification
            | lt.alert_category.dht_operation
        ),
    }


class LibtorrentDHT:
    """
    A libtorrent session whose only job is its DHT node.

    @ivar session: the C{lt.session}, until stopped.
    @ivar found: peers seen in get_peers replies, by info hash.
    @ivar torrentPeersFromDHT: peers libtorrent's DHT found for its
        torrents (C{dht_reply_alert}), in all.
    @ivar alerts: the alert messages seen, for failure messages.
    """

    def __init__(self, reactor, bootstrap: Iterable[tuple[str, int]]) -> None:
        self._reactor = reactor
        self.session: Optional[lt.session] = lt.session(dhtSettings(bootstrap))
        self.found: dict[bytes, set[tuple[str, int]]] = {}
        self.alerts: list[str] = []
        self.torrentPeersFromDHT = 0
        self._poller = LoopingCall(self._poll)
        self._poller.clock = reactor
        self._poller.start(POLL_INTERVAL, now=True)

    @property
    def port(self) -> int:
        """
        The session's port: its DHT listens on it over UDP.
        """
        assert self.session is not None
        return self.session.listen_port()

    def nodeCount(self) -> int:
        """
        @return: the nodes in libtorrent's routing table.
        """
        assert self.session is not None
        return self.session.status().dht_nodes

    def getPeers(self, infoHash: bytes) -> None:
        """
        Start a get_peers lookup; replies land in L{found}.
        """
        assert self.session is not None
        self.session.dht_get_peers(lt.sha1_hash(infoHash))

    def announce(self, infoHash: bytes, port: int) -> None:
        """
        Announce C{port} for C{infoHash} in the DHT.
        """
        assert self.session is not None
        self.session.dht_announce(lt.sha1_hash(infoHash), port, 0)

    def addTorrent(self, torrentData: bytes, savePath: str, seed: bool = False) -> lt.torrent_handle:
        """
        Download or seed a torrent, finding its peers through the DHT only.

        @param torrentData: a bencoded .torrent (no tracker needed).
        @param savePath: the folder it goes in.
        @param seed: the data is in C{savePath}: seed it without checking.
        """
        assert self.session is not None
        params = lt.load_torrent_buffer(torrentData)
        params.save_path = savePath
        params.flags &= ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        params.flags |= lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
        if seed:
            params.flags |= lt.torrent_flags.seed_mode
        return self.session.add_torrent(params)

    def _poll(self) -> None:
        if self.session is None:
            return
        for alert in self.session.pop_alerts():
            self.alerts.append(f"{alert.what()}: {alert.message()}")
            if isinstance(alert, lt.dht_get_peers_reply_alert):
                peers = self.found.setdefault(alert.info_hash.to_bytes(), set())
                peers.update((host, port) for host, port in alert.peers())
            elif isinstance(alert, lt.dht_reply_alert):
                self.torrentPeersFromDHT += alert.num_peers
        del self.alerts[:-50]

    def stop(self) -> Deferred[None]:
        """
        Stop polling and free the session off the reactor thread.
        """
        if self._poller.running:
            self._poller.stop()
        dying = [self.session]
        self.session = None
        dying[0].pause()
        return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), dying.clear)
