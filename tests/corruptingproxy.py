"""
A TCP proxy on loopback that corrupts one block on its way from a seeder to
a downloader, to test how a peer handles a piece that fails its hash check.
"""

import struct

from twisted.internet import protocol
from twisted.internet.interfaces import IReactorTCP

_PIECE = 7


class _Framer:
    """
    Passes a peer's byte stream through, whole messages at a time, flipping
    one byte of the payload of the C{corruptIndex}-th piece message it sees
    (counting from 1).
    """

    def __init__(self, corruptIndex: int) -> None:
        self._buffer = bytearray()
        self._handshakeDone = False
        self._pieces = 0
        self._corruptIndex = corruptIndex
        self.corrupted = 0

    def feed(self, data: bytes) -> bytes:
        buf = self._buffer
        buf += data
        out = bytearray()
        if not self._handshakeDone:
            if len(buf) < 68:
                return b""
            out += buf[:68]
            del buf[:68]
            self._handshakeDone = True
        while len(buf) >= 4:
            (length,) = struct.unpack_from(">I", buf)
            if len(buf) < 4 + length:
                break
            message = bytearray(buf[: 4 + length])
            del buf[: 4 + length]
            if length > 9 and message[4] == _PIECE:
                self._pieces += 1
                if self._pieces == self._corruptIndex:
                    message[13] ^= 0xFF
                    self.corrupted += 1
            out += message
        return bytes(out)


class _Upstream(protocol.Protocol):
    def connectionMade(self) -> None:
        self.factory.downstream.upstreamReady(self)

    def dataReceived(self, data: bytes) -> None:
        self.factory.downstream.fromUpstream(data)

    def connectionLost(self, reason: object = None) -> None:
        self.factory.downstream.transport.loseConnection()


class _Downstream(protocol.Protocol):
    def __init__(self, proxy: "CorruptingProxy") -> None:
        self._proxy = proxy
        self._pending: list[bytes] = []
        self._upstream: protocol.Protocol | None = None

    def connectionMade(self) -> None:
        factory = protocol.ClientFactory()
        factory.protocol = _Upstream
        factory.downstream = self
        self._proxy.reactor.connectTCP("127.0.0.1", self._proxy.targetPort, factory)

    def upstreamReady(self, upstream: protocol.Protocol) -> None:
        self._upstream = upstream
        for data in self._pending:
            upstream.transport.write(data)
        self._pending = []

    def fromUpstream(self, data: bytes) -> None:
        self.transport.write(self._proxy.framer.feed(data))

    def dataReceived(self, data: bytes) -> None:
        if self._upstream is None:
            self._pending.append(data)
        else:
            self._upstream.transport.write(data)

    def connectionLost(self, reason: object = None) -> None:
        if self._upstream is not None:
            self._upstream.transport.loseConnection()


class CorruptingProxy(protocol.ServerFactory):
    """
    Listen with C{reactor.listenTCP(0, proxy, interface="127.0.0.1")}; each
    connection is forwarded to C{127.0.0.1:targetPort}. One framer is shared
    by all connections, so exactly one block is corrupted in all.
    """

    def __init__(self, reactor: IReactorTCP, targetPort: int, corruptIndex: int = 3) -> None:
        self.reactor = reactor
        self.targetPort = targetPort
        self.framer = _Framer(corruptIndex)

    def buildProtocol(self, addr: object) -> protocol.Protocol:
        return _Downstream(self)
