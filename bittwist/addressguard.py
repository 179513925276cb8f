# -*- test-case-name: tests.test_addressguard -*-
"""
Connections to public addresses only, for fetches a client asks us to make
(a C{.torrent} by URL): a client that may name any address could otherwise
make bittwist reach what its host reaches and the client does not (the
loopback, the local network, a cloud metadata address).

The check is made on the addresses a host name resolves to, when
connecting, and the connection goes to an address checked: a name that
resolves to a public address when looked up first and to a private one
later (DNS rebinding) is checked the second time too, and a redirect is a
new connection, checked like the first.  The resolving and the connecting
are Twisted's (C{HostnameEndpoint}, through a resolver that drops the
addresses refused).
"""

import ipaddress
from typing import Any, Callable, Optional, Sequence

from twisted.internet.defer import Deferred, fail
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IProtocol,
    IProtocolFactory,
    IReactorPluggableNameResolver,
    IResolutionReceiver,
    IStreamClientEndpoint,
)
from twisted.python.failure import Failure
from twisted.web.client import URI, BrowserLikePolicyForHTTPS
from twisted.web.error import SchemeNotSupported
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer

from bittwist.errors import AddressRefused

__all__ = ["addressKind", "checkHost", "PublicEndpointFactory"]


def addressKind(address: str) -> Optional[str]:
    """
    @param address: an IPv4 or IPv6 address.
    @return: C{None} if it is a public (globally routed, unicast) address,
        else what it is, for a message: C{"loopback"}, C{"private"},
        C{"link-local"}, C{"multicast"}, C{"unspecified"} or C{"reserved"}
        (which covers the shared, documentation and other special ranges).
    @raise ValueError: if it is no IP address.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_global:
        return None
    if ip.is_private and not ip.is_reserved:
        return "private"
    return "reserved"


KindOf = Callable[[str], Optional[str]]
"""
What an address is: C{None} if public, else its kind (see L{addressKind}).
"""


def checkHost(host: str, kindOf: KindOf = addressKind) -> None:
    """
    Refuse a host named by an address that is not public, or C{localhost}
    (a name always on the loopback); other names are checked when
    resolved (see L{PublicEndpointFactory}).

    @param kindOf: tells public addresses from others.
    @raise AddressRefused: if refused.
    """
    text = host.strip("[]")
    name = text.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise AddressRefused(host, "127.0.0.1", "loopback")
    try:
        kind = kindOf(text)
    except ValueError:
        return
    if kind is not None:
        raise AddressRefused(host, text, kind)


@implementer(IResolutionReceiver)
class _PublicReceiver:
    """
    Passes on the public addresses resolved, and notes the others.
    """

    def __init__(
        self, receiver: IResolutionReceiver, refused: list[tuple[str, str]], kindOf: KindOf
    ) -> None:
        self._receiver = receiver
        self._refused = refused
        self._kindOf = kindOf

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self._receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:
        host = getattr(address, "host", None)
        try:
            kind = "reserved" if host is None else self._kindOf(host)
        except ValueError:
            kind = "reserved"
        if kind is None:
            self._receiver.addressResolved(address)
        else:
            self._refused.append((str(host), kind))

    def resolutionComplete(self) -> None:
        self._receiver.resolutionComplete()


@implementer(IHostnameResolver)
class _PublicResolver:
    """
    A resolver giving only the public addresses of another's answers.
    """

    def __init__(
        self, resolver: IHostnameResolver, refused: list[tuple[str, str]], kindOf: KindOf
    ) -> None:
        self._resolver = resolver
        self._refused = refused
        self._kindOf = kindOf

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Optional[Sequence[type[IAddress]]] = None,
        transportSemantics: str = "TCP",
    ) -> IResolutionReceiver:
        self._resolver.resolveHostName(
            _PublicReceiver(resolutionReceiver, self._refused, self._kindOf),
            hostName,
            portNumber,
            addressTypes,
            transportSemantics,
        )
        return resolutionReceiver


@implementer(IReactorPluggableNameResolver)
class _ResolvingThrough:
    """
    A reactor whose C{nameResolver} is another: what C{HostnameEndpoint}
    resolves names with.  Everything else is the reactor's.
    """

    def __init__(self, reactor: Any, resolver: IHostnameResolver) -> None:
        self._reactor = reactor
        self.nameResolver = resolver

    def installNameResolver(self, resolver: IHostnameResolver) -> IHostnameResolver:
        raise NotImplementedError("a view of the reactor; install on the reactor itself")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


@implementer(IStreamClientEndpoint)
class _PublicHostEndpoint:
    """
    Connects to a host's public addresses only.
    """

    def __init__(self, reactor: Any, host: str, port: int, kindOf: KindOf) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._kindOf = kindOf

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        try:
            checkHost(self._host, self._kindOf)
        except AddressRefused:
            return fail()
        refused: list[tuple[str, str]] = []
        resolver = _PublicResolver(self._reactor.nameResolver, refused, self._kindOf)
        reactor = _ResolvingThrough(self._reactor, resolver)
        d = HostnameEndpoint(reactor, self._host, self._port).connect(protocolFactory)

        def allRefused(failure: Failure) -> Failure:
            # Every address resolved was refused: say why, not "no results".
            if refused and failure.check(DNSLookupError):
                address, kind = refused[0]
                return Failure(AddressRefused(self._host, address, kind))
            return failure

        return d.addErrback(allRefused)


@implementer(IAgentEndpointFactory)
class PublicEndpointFactory:
    """
    The endpoints of an C{Agent} (C{Agent.usingEndpointFactory})
    that connects to public addresses only: TCP for C{http}, TLS over it
    for C{https}, as Twisted's own; a connection to any other address fails
    with L{AddressRefused}.
    """

    def __init__(
        self,
        reactor: Any,
        policyForHTTPS: Optional[IPolicyForHTTPS] = None,
        kindOf: KindOf = addressKind,
    ) -> None:
        """
        @param reactor: connects, and resolves names with its
            C{nameResolver}.
        @param policyForHTTPS: checks servers' certificates (the browser's
            policy by default).
        @param kindOf: tells public addresses from others (tests draw the
            line elsewhere on the loopback).
        """
        self._reactor = reactor
        self._policy = policyForHTTPS or BrowserLikePolicyForHTTPS()
        self._kindOf = kindOf

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        """
        @return: the endpoint that connects to C{uri}'s host and port.
        @raise SchemeNotSupported: for a scheme other than C{http} and
            C{https}.
        """
        if uri.scheme not in (b"http", b"https"):
            raise SchemeNotSupported(f"Unsupported scheme: {uri.scheme!r}")
        try:
            host = uri.host.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"the host {uri.host!r} is not ASCII") from None
        endpoint: IStreamClientEndpoint = _PublicHostEndpoint(
            self._reactor, host, uri.port, self._kindOf
        )
        if uri.scheme == b"https":
            endpoint = wrapClientTLS(self._policy.creatorForNetloc(uri.host, uri.port), endpoint)
        return endpoint
