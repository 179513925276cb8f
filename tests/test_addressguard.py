# -*- test-case-name: tests.test_addressguard -*-
"""
Tests for L{bittwist.addressguard}: fetches reach public addresses only,
checked on the address resolved, at each connection.
"""

from typing import Any, Optional, Sequence

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import URI
from twisted.web.error import SchemeNotSupported
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer
from zope.interface.verify import verifyObject

from bittwist.addressguard import PublicEndpointFactory, addressKind, checkHost
from bittwist.errors import AddressRefused

PUBLIC = "93.184.216.34"


@implementer(IHostnameResolver)
class ScriptedResolver:
    """
    Answers each lookup of a name with the next list of addresses given
    for it (the last one again once they run out), at once.

    @ivar asked: the names looked up, in order.
    """

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.asked: list[str] = []

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Optional[Sequence[type]] = None,
        transportSemantics: str = "TCP",
    ) -> IResolutionReceiver:
        self.asked.append(hostName)
        queue = self._answers.get(hostName, [[]])
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        resolutionReceiver.resolutionBegan(None)
        for address in addresses:
            resolutionReceiver.addressResolved(IPv4Address("TCP", address, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolutionReceiver


class AddressKindTests(SynchronousTestCase):
    """
    Tests for L{addressKind}.
    """

    def test_kinds(self) -> None:
        """
        Public unicast addresses are C{None}; the others say what they are,
        IPv4 inside IPv6 included.
        """
        cases = {
            PUBLIC: None,
            "2606:2800:220:1:248:1893:25c8:1946": None,
            "127.0.0.1": "loopback",
            "127.8.9.10": "loopback",
            "::1": "loopback",
            "::ffff:127.0.0.1": "loopback",
            "10.1.2.3": "private",
            "172.16.0.1": "private",
            "192.168.1.1": "private",
            "fd00::1": "private",
            "::ffff:192.168.0.1": "private",
            "169.254.169.254": "link-local",
            "fe80::1%eth0": "link-local",
            "224.0.0.1": "multicast",
            "0.0.0.0": "unspecified",
            "::": "unspecified",
            "100.64.0.1": "reserved",
            "240.0.0.1": "reserved",
        }
        for address, kind in cases.items():
            self.assertEqual(addressKind(address), kind, address)

    def test_notAnAddress(self) -> None:
        """
        A name is no address: L{ValueError}.
        """
        self.assertRaises(ValueError, addressKind, "example.com")


class CheckHostTests(SynchronousTestCase):
    """
    Tests for L{checkHost}.
    """

    def test_refused(self) -> None:
        """
        A non-public address, bracketed IPv6 included, and C{localhost}
        (with or without its final dot) are refused, naming the kind.
        """
        for host, kind in [
            ("127.0.0.1", "loopback"),
            ("[::1]", "loopback"),
            ("localhost", "loopback"),
            ("LOCALHOST.", "loopback"),
            ("app.localhost", "loopback"),
            ("10.0.0.1", "private"),
        ]:
            error = self.assertRaises(AddressRefused, checkHost, host)
            self.assertEqual(error.kind, kind, host)
            self.assertIn("--allow-private-urls", str(error))

    def test_allowed(self) -> None:
        """
        A public address, and any other name (checked when resolved), pass.
        """
        for host in (PUBLIC, "example.com", "[2606:2800:220:1:248:1893:25c8:1946]"):
            checkHost(host)


class PublicEndpointFactoryTests(SynchronousTestCase):
    """
    Tests for L{PublicEndpointFactory}, on a memory reactor whose name
    resolver is scripted.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.resolver = ScriptedResolver(
            {
                "inside.example": [["10.0.0.5"]],
                "mixed.example": [["127.0.0.1", PUBLIC, "192.168.0.9"]],
                "rebinding.example": [[PUBLIC], ["127.0.0.1"]],
            }
        )
        self.reactor.nameResolver = self.resolver  # type: ignore[attr-defined]
        self.factory = PublicEndpointFactory(self.reactor)

    def connect(self, url: bytes) -> "Deferred[Any]":
        endpoint = self.factory.endpointForURI(URI.fromBytes(url))
        return endpoint.connect(Factory.forProtocol(Protocol))

    def test_interface(self) -> None:
        """
        It is an C{IAgentEndpointFactory}.
        """
        self.assertTrue(verifyObject(IAgentEndpointFactory, self.factory))

    def test_privateNameRefused(self) -> None:
        """
        A name resolving to a private address fails with
        L{AddressRefused} naming the name and the address; nothing is
        dialled.
        """
        error = self.failureResultOf(self.connect(b"http://inside.example/x.torrent"), AddressRefused)
        self.assertEqual((error.value.host, error.value.address, error.value.kind),
                         ("inside.example", "10.0.0.5", "private"))
        self.assertIn("inside.example is at 10.0.0.5, which is a private address", str(error.value))
        self.assertEqual(self.reactor.tcpClients, [])

    def test_onlyPublicDialled(self) -> None:
        """
        Of the addresses a name resolves to, only the public ones are
        dialled.
        """
        self.connect(b"http://mixed.example:8080/x.torrent")
        self.reactor.advance(10)
        dialled = [(host, port) for host, port, *_ in self.reactor.tcpClients]
        self.assertEqual(dialled, [(PUBLIC, 8080)])

    def test_rebinding(self) -> None:
        """
        Each connection is checked on what the name resolves to then: a
        name public at first and loopback later (DNS rebinding, or a
        redirect back to the same name) is refused the second time.
        """
        self.connect(b"http://rebinding.example/a.torrent")
        self.assertEqual([client[0] for client in self.reactor.tcpClients], [PUBLIC])
        second = self.connect(b"http://rebinding.example/b.torrent")
        error = self.failureResultOf(second, AddressRefused)
        self.assertEqual(error.value.kind, "loopback")
        self.assertEqual(len(self.reactor.tcpClients), 1)
        self.assertEqual(self.resolver.asked, ["rebinding.example"] * 2)

    def test_literalRefusedUnresolved(self) -> None:
        """
        An address in the URL is refused without a lookup.
        """
        error = self.failureResultOf(self.connect(b"https://[::1]:8443/x"), AddressRefused)
        self.assertEqual(error.value.kind, "loopback")
        self.assertEqual(self.resolver.asked, [])
        self.assertEqual(self.reactor.tcpClients, [])

    def test_otherScheme(self) -> None:
        """
        Only C{http} and C{https} get endpoints (a redirect elsewhere is
        refused by the agent).
        """
        self.assertRaises(
            SchemeNotSupported, self.factory.endpointForURI, URI.fromBytes(b"ftp://example.com/x")
        )
