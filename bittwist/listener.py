# -*- test-case-name: tests.test_service -*-
"""
L{PeerListener}: the endpoint a service accepts peers on, listened on, and
the outcome told to whoever waits for it.
"""

from typing import Any, Callable, Optional, Union

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from bittwist.errors import ListenError
from bittwist.session import Session
from bittwist.waiters import Waiters

__all__ = ["PeerListener", "endpointDescription"]


def endpointDescription(text: str) -> str:
    """
    @return: C{text} as a server endpoint description: a bare port number
        (C{"6881"}) becomes C{"tcp:6881"}; anything else is kept.
    """
    text = text.strip()
    return f"tcp:{text}" if text.isdigit() else text


class PeerListener:
    """
    Listens for a session's peers on one endpoint; remembers whether it
    does (the port) or cannot (a L{ListenError}) until stopped.
    """

    log = Logger()

    def __init__(
        self, session: Session, reactor: Any, endpoint: Union[str, IStreamServerEndpoint]
    ) -> None:
        """
        @param session: listens and knows the port.
        @param reactor: the reactor, for an endpoint given as a string.
        @param endpoint: an endpoint, its string description
            (C{"tcp:6881"}), or a bare port number (C{"6881"}).
        """
        self._session = session
        self._description = "the endpoint given"
        if isinstance(endpoint, str):
            self._description = endpoint = endpointDescription(endpoint)
            endpoint = serverFromString(reactor, endpoint)
        self._endpoint = endpoint
        self._listening: Optional[Deferred[Any]] = None
        self._waiters: Waiters[int] = Waiters()
        self._result: Optional[Union[int, Failure]] = None

    def listen(self, listening: Callable[[], None]) -> None:
        """
        Listen; call C{listening} once listening. If it cannot, log a
        L{ListenError} saying what to do, and call nothing: announcing port
        0 would tell the swarm nothing true.
        """

        def listened(port: Any) -> None:
            self._listened(self._session.port)
            listening()

        def cannotListen(failure: Failure) -> None:
            error = ListenError(self._description, failure.getErrorMessage())
            self.log.error("{error}", error=str(error))
            self._listened(Failure(error))

        self._listening = self._session.listen(self._endpoint)
        self._listening.addCallbacks(listened, cannotListen)

    def _listened(self, result: Union[int, Failure]) -> None:
        self._listening = None
        self._result = result
        if isinstance(result, Failure):
            self._waiters.fail(result)
        else:
            self._waiters.fire(result)

    def whenListening(self) -> Deferred[int]:
        """
        @return: fires with the port number once listening, or fails with
            L{ListenError} if it cannot.
        """
        result = self._result
        if result is None:
            return self._waiters.wait()
        return fail(result) if isinstance(result, Failure) else succeed(result)

    def stop(self) -> None:
        """
        Forget the outcome, and stop trying to listen if still trying.
        """
        self._result = None
        if self._listening is not None:
            self._listening.cancel()
