"""
Test doubles shared by the suite. Each implements the real interface it
stands in for, and tests/test_fakes.py checks it with C{verifyObject}.
"""

from types import SimpleNamespace
from typing import Any, Callable, Iterable, Optional

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamClientEndpoint,
    IUDPTransport,
)
from twisted.internet.task import Clock
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from bittwist.bitfield import Bitfield
from bittwist.diskpool import DiskPool
from bittwist.errors import StorageError
from bittwist.metainfo import Metainfo
from bittwist.storage import IPieceStorage, MemoryStorage

__all__ = [
    "RecordingTransport",
    "FakeEndpoint",
    "FakeEndpoints",
    "ManualStorage",
    "MemoryStorageFactory",
    "FakeDatagramTransport",
    "FakeDatagramPort",
    "ResolvingClock",
    "UDPClock",
    "FakeTrackerStore",
    "HeldPool",
    "ThreadlessReactor",
]


class RecordingTransport(StringTransport):
    """
    A L{StringTransport} that also keeps each write apart, in L{writes}.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    """
    A client endpoint to one address whose connection attempts succeed or
    fail when the test says.

    @ivar address: the C{(host, port)} it dials.
    @ivar factory: the factory of the attempt in progress.
    @ivar attempt: the L{Deferred} of the attempt in progress.
    @ivar cancelled: whether the attempt was cancelled.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.factory: Optional[IProtocolFactory] = None
        self.attempt: Optional[Deferred[Protocol]] = None
        self.cancelled = False

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Protocol]:
        def cancel(d: Deferred[Protocol]) -> None:
            self.cancelled = True

        self.factory = protocolFactory
        self.attempt = Deferred(cancel)
        return self.attempt

    def succeed(self, transport: Optional[StringTransport] = None) -> Protocol:
        """
        The connection is up: build the protocol on C{transport} (a new
        L{RecordingTransport} by default).

        @return: the protocol.
        """
        assert self.factory is not None and self.attempt is not None
        peerAddress = IPv4Address("TCP", *self.address)
        proto = self.factory.buildProtocol(peerAddress)
        if transport is None:
            transport = RecordingTransport(peerAddress=peerAddress)
        proto.makeConnection(transport)
        attempt, self.attempt = self.attempt, None
        attempt.callback(proto)
        return proto

    def refuse(self) -> None:
        """
        The connection attempt fails.
        """
        assert self.attempt is not None
        attempt, self.attempt = self.attempt, None
        attempt.errback(Failure(ConnectionRefusedError()))


class FakeEndpoints:
    """
    An endpoint factory (C{(host, port) -> IStreamClientEndpoint}) that
    remembers every endpoint it made, in order.

    @ivar made: the endpoints made.
    """

    def __init__(self) -> None:
        self.made: list[FakeEndpoint] = []

    def __call__(self, host: str, port: int) -> FakeEndpoint:
        endpoint = FakeEndpoint((host, port))
        self.made.append(endpoint)
        return endpoint

    def pending(self, address: Optional[tuple[str, int]] = None) -> list[FakeEndpoint]:
        """
        @return: the endpoints with an attempt in progress (to C{address},
            if given).
        """
        return [
            e for e in self.made
            if e.attempt is not None and not e.cancelled and address in (None, e.address)
        ]


@implementer(IPieceStorage)
class ManualStorage:
    """
    A L{MemoryStorage} whose check, and optionally writes and verifications,
    complete when the test says; writes can also be made to fail.

    @ivar inner: the L{MemoryStorage} holding the data.
    @ivar holdWrites: whether L{writeBlock} stores at once but returns a
        L{Deferred} kept in L{writes}, for the test to fire.
    @ivar failWrites: whether L{writeBlock} fails with L{StorageError}.
    @ivar holdVerify: whether L{verifyPiece} answers only when the test fires
        the L{Deferred} kept in L{verifications}.
    @ivar checkArgs: the arguments of the last L{check}.
    @ivar skipped: the files last skipped.
    """

    def __init__(self, metainfo: Metainfo, data: Optional[bytes] = None) -> None:
        self.inner = MemoryStorage(metainfo, data)
        self.metainfo = metainfo
        self.holdWrites = False
        self.failWrites = False
        self.holdVerify = False
        self.writes: list[Deferred[None]] = []
        self.verifications: list[tuple[int, Deferred[bool]]] = []
        self._check: Optional[Deferred[Bitfield]] = None
        self.checkArgs: tuple[Any, Any] = (None, ())
        self.skipped: list[int] = []

    @property
    def have(self) -> Bitfield:
        return self.inner.have

    def check(self, trusted: Optional[Bitfield] = None, rehash: Iterable[int] = ()) -> Deferred[Bitfield]:
        self._check = Deferred()
        self.checkArgs = (trusted, rehash)
        return self._check

    def finishCheck(self) -> None:
        """
        Complete the pending L{check}.
        """
        assert self._check is not None
        check, self._check = self._check, None
        self.inner.check(*self.checkArgs).chainDeferred(check)

    def failCheck(self, error: BaseException) -> None:
        """
        Fail the pending L{check} with C{error}.
        """
        assert self._check is not None
        check, self._check = self._check, None
        check.errback(error)

    def writeBlock(self, index: int, begin: int, data: bytes) -> Deferred[None]:
        if self.failWrites:
            return fail(StorageError("disk full", "/downloads/payload.bin"))
        d = self.inner.writeBlock(index, begin, data)
        if not self.holdWrites:
            return d
        held: Deferred[None] = Deferred()
        self.writes.append(held)
        return held

    def queueWrite(
        self,
        index: int,
        begin: int,
        data: bytes,
        written: Callable[[int], None],
        failed: Callable[[Failure, int], None],
    ) -> None:
        self.writeBlock(index, begin, data).addCallbacks(
            lambda _: written(len(data)), lambda failure: failed(failure, len(data))
        )

    def readBlock(self, index: int, begin: int, length: int) -> Deferred[bytes]:
        return self.inner.readBlock(index, begin, length)

    def verifyPiece(self, index: int) -> Deferred[bool]:
        if not self.holdVerify:
            return self.inner.verifyPiece(index)
        held: Deferred[bool] = Deferred()
        self.verifications.append((index, held))
        return held

    def queueVerify(
        self,
        index: int,
        verified: Callable[[int, bool], None],
        failed: Callable[[Failure], None],
    ) -> None:
        self.verifyPiece(index).addCallbacks(lambda ok: verified(index, ok), failed)

    def finishVerifications(self) -> None:
        """
        Answer every held verification.
        """
        verifications, self.verifications = self.verifications, []
        for index, d in verifications:
            self.inner.verifyPiece(index).chainDeferred(d)

    def skipFiles(self, skipped: Iterable[int]) -> Deferred[None]:
        self.skipped = sorted(skipped)
        return self.inner.skipFiles(self.skipped)

    def close(self) -> Deferred[None]:
        return self.inner.close()

    def removeData(self) -> Deferred[None]:
        return self.inner.removeData()


@implementer(IPieceStorage)
class UncheckedStorage:
    """
    A storage whose check never ends: a torrent on it stays checking, and
    nothing is allocated for its data (a L{MemoryStorage} holds the whole
    payload), so a test can add torrents of any size.
    """

    def __init__(self, metainfo: Metainfo, folder: str = "") -> None:
        self.metainfo = metainfo
        self.have = Bitfield(metainfo.numPieces)

    def check(self, trusted: Optional[Bitfield] = None, rehash: Iterable[int] = ()) -> Deferred[Bitfield]:
        return Deferred()

    def writeBlock(self, index: int, begin: int, data: bytes) -> Deferred[None]:
        return fail(StorageError("never checked"))

    def queueWrite(
        self,
        index: int,
        begin: int,
        data: bytes,
        written: Callable[[int], None],
        failed: Callable[[Failure, int], None],
    ) -> None:
        failed(Failure(StorageError("never checked")), len(data))

    def readBlock(self, index: int, begin: int, length: int) -> Deferred[bytes]:
        return fail(StorageError("never checked"))

    def verifyPiece(self, index: int) -> Deferred[bool]:
        return succeed(False)

    def queueVerify(
        self,
        index: int,
        verified: Callable[[int, bool], None],
        failed: Callable[[Failure], None],
    ) -> None:
        verified(index, False)

    def skipFiles(self, skipped: Iterable[int]) -> Deferred[None]:
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)

    def removeData(self) -> Deferred[None]:
        return succeed(None)


class MemoryStorageFactory:
    """
    A storage factory for L{bittwist.session.Session} and
    L{bittwist.service.BitTorrentService} that keeps every torrent in
    memory.

    @ivar made: the storages made, with the folder each was for.
    """

    def __init__(self) -> None:
        self.made: list[tuple[MemoryStorage, str]] = []

    def __call__(self, metainfo: Metainfo, folder: str) -> MemoryStorage:
        storage = MemoryStorage(metainfo)
        self.made.append((storage, folder))
        return storage


@implementer(IUDPTransport)
class FakeDatagramTransport:
    """
    A UDP transport that records each datagram written, with its address.

    @ivar written: C{(datagram, (host, port))} in the order written.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 6881) -> None:
        self.written: list[tuple[bytes, tuple[str, int]]] = []
        self._host = IPv4Address("UDP", host, port)
        self._broadcast = False
        self.listening = True

    def write(self, packet: bytes, addr: Optional[tuple[str, int]] = None) -> None:
        self.written.append((packet, addr))

    def connect(self, host: str, port: int) -> None:
        raise NotImplementedError("connected UDP is not used")

    def getHost(self) -> IPv4Address:
        return self._host

    def stopListening(self) -> Deferred:
        self.listening = False
        return succeed(None)

    def setBroadcastAllowed(self, enabled: bool) -> None:
        self._broadcast = enabled

    def getBroadcastAllowed(self) -> bool:
        return self._broadcast


class ResolvingClock(Clock):
    """
    A L{Clock} that also resolves host names from a table, the way
    C{IReactorCore.resolve} does.

    @ivar names: host name to IPv4 address; others fail to resolve.
    """

    def __init__(self, names: Optional[dict[str, str]] = None) -> None:
        super().__init__()
        self.names = dict(names or {})

    def resolve(self, name: str, timeout: Any = (1, 3, 11, 45)) -> Deferred:
        if name in self.names:
            return succeed(self.names[name])
        return fail(DNSLookupError(name))


@implementer(IListeningPort)
class FakeDatagramPort(FakeDatagramTransport):
    """
    A L{FakeDatagramTransport} that a L{UDPClock} opened for C{protocol}:
    stopping it stops the protocol too.

    @ivar protocol: the protocol listening on this port.
    @ivar port: the port number asked for (0: any).
    @ivar interface: the interface asked for (C{""}: all).
    """

    def __init__(self, protocol: Any, port: int, interface: str) -> None:
        super().__init__(interface or "0.0.0.0", port or 40000)
        self.protocol = protocol
        self.port = port
        self.interface = interface

    def stopListening(self) -> Deferred:
        self.protocol.doStop()
        return super().stopListening()

    def startListening(self) -> None:
        pass


class UDPClock(ResolvingClock):
    """
    A L{ResolvingClock} that can also listen on UDP (L{FakeDatagramPort}s).

    @ivar ports: every port opened, oldest first.
    """

    def __init__(self, hosts: Optional[dict[str, str]] = None) -> None:
        super().__init__(hosts)
        self.ports: list[FakeDatagramPort] = []

    def listenUDP(self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192) -> FakeDatagramPort:
        listening = FakeDatagramPort(protocol, port, interface)
        self.ports.append(listening)
        protocol.makeConnection(listening)
        return listening


class FakeTrackerStore:
    """
    A tracker store with the interface of C{bittwist.trackerstore.Tracker}
    (announce and scrape by value) that records its calls and answers what
    it is told.

    @ivar announces: the arguments of every announce, as tuples.
    @ivar peers: C{(peerId, ip, port)} tuples every announce returns.
    @ivar refuse: if set, the error every call raises.
    """

    interval = 900
    minInterval = None

    def __init__(self) -> None:
        self.announces: list[tuple] = []
        self.peers: list[tuple[bytes, str, int]] = []
        self.refuse: Optional[Exception] = None

    def announce(self, infoHash: bytes, peerId: bytes, ip: str, port: int,
                 event: Optional[str], left: int, numwant: Optional[int] = None) -> Any:
        self.announces.append((infoHash, peerId, ip, port, event, left, numwant))
        if self.refuse is not None:
            raise self.refuse
        peers = [SimpleNamespace(peerId=p, ip=i, port=n) for p, i, n in self.peers]
        return SimpleNamespace(peers=peers, complete=2, incomplete=len(peers), interval=self.interval)

    def scrape(self, infoHashes: Any) -> dict:
        if self.refuse is not None:
            raise self.refuse
        return {h: SimpleNamespace(complete=1, incomplete=2, downloaded=3) for h in infoHashes}


class HeldPool(DiskPool):
    """
    A L{DiskPool} without threads: the jobs of its queues run when the test
    says, on the test's thread.
    """

    def __init__(self) -> None:
        super().__init__(1)
        self.waiting: list = []

    def _schedule(self, serial: Any) -> None:
        self.waiting.append(serial)

    def runJobs(self) -> None:
        """
        Run every queued job, and those queued by their results.
        """
        while self.waiting:
            self.waiting.pop(0)._runBatch()


class ThreadlessReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} whose C{callFromThread} calls at once (there is
    one thread).
    """

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)
