# -*- test-case-name: tests.test_dht_node -*-
"""
A DHT node as a service: on a UDP port while running, its routing table kept
in a file across restarts.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from bittwist.dht.krpc import NodeInfo
from bittwist.dht.node import DEFAULT_BOOTSTRAP, DHTNode
from bittwist.dht.tablefile import loadTable, saveTable

__all__ = ["DHTService"]

Address = tuple[str, int]


class DHTService(Service):
    """
    A DHT node on a UDP port, its routing table kept in a file.

    The node is made at once (so that peer sources can be given it before
    the service starts); it listens while the service runs.

    @ivar node: the L{DHTNode}.
    @ivar port: the listening UDP port, while running.
    @ivar portNumber: the UDP port number asked for.
    @ivar bootstrap: C{(host, port)} of the nodes it joins through.
    @ivar tablePath: the routing table file, or C{None}.
    """

    log = Logger()

    def __init__(
        self,
        port: int = 6881,
        interface: str = "",
        bootstrap: Sequence[Address] = DEFAULT_BOOTSTRAP,
        tablePath: Optional[str] = None,
        reactor: Any = None,
        saveInterval: float = 600.0,
        **nodeOptions: Any,
    ) -> None:
        """
        @param port: the UDP port to listen on (0: any).
        @param interface: the address to listen on (all by default).
        @param bootstrap: C{(host, port)} of nodes to join through.
        @param tablePath: the routing table file, read now and written every
            C{saveInterval} seconds and on stop; C{None} for none.
        @param nodeOptions: more keyword arguments for L{DHTNode}.
        """
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self.portNumber = port
        self._interface = interface
        self.bootstrap = tuple(bootstrap)
        self.tablePath = tablePath
        self._saveInterval = saveInterval
        self._saver: Optional[LoopingCall] = None
        nodeId = None
        known: list[NodeInfo] = []
        if tablePath is not None:
            saved = loadTable(tablePath)
            if saved is not None:
                nodeId, known = saved
        self._known = len(known)
        self.node = DHTNode(reactor, nodeId=nodeId, bootstrap=self.bootstrap, knownNodes=known, **nodeOptions)
        self.port: Any = None

    def startService(self) -> None:
        """
        Listen, and join the DHT.  If the UDP port cannot be had, say so and
        run without the DHT (torrents still have their trackers).
        """
        super().startService()
        try:
            self.port = self._reactor.listenUDP(self.portNumber, self.node, interface=self._interface)
        except CannotListenError as e:
            self.log.error(
                "No DHT: cannot listen on UDP port {port} ({reason}); choose another "
                "with --dht-port, or turn the DHT off with --no-dht",
                port=self.portNumber,
                reason=str(e.socketError),
            )
            return
        self.log.info(
            "DHT node listening on UDP port {port}, {known} nodes remembered",
            port=self.port.getHost().port,
            known=self._known,
        )
        if self.tablePath is not None:
            self._saver = LoopingCall(self.save)
            self._saver.clock = self._reactor
            self._saver.start(self._saveInterval, now=False)

    def save(self) -> None:
        """
        Write the routing table file now.
        """
        if self.tablePath is None:
            return
        try:
            saveTable(self.tablePath, self.node.nodeId, self.node.savedNodes())
        except OSError as e:
            self.log.warn("could not save the DHT routing table to {path}: {e}", path=self.tablePath, e=e)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        if self._saver is not None and self._saver.running:
            self._saver.stop()
        self._saver = None
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        self.save()
        d = port.stopListening()
        return d if isinstance(d, Deferred) else succeed(None)
