# -*- test-case-name: tests.test_dht_tokens -*-
"""
Announce tokens (BEP 5): proof that an announcing node asked us first.

A get_peers answer carries a token; an announce_peer must bring it back from
the same IP address.  The token is an HMAC of the requester's IP under a
secret that changes every L{ROTATE_EVERY} seconds; tokens under the current
and the previous secret are accepted, so a token lives 5 to 10 minutes.  No
state is kept per requester.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Callable

from twisted.internet.interfaces import IReactorTime

__all__ = ["ROTATE_EVERY", "TOKEN_LENGTH", "TokenKeeper"]

#: Seconds between secret rotations.
ROTATE_EVERY = 5 * 60

#: Bytes in a token.
TOKEN_LENGTH = 8

_SECRET_LENGTH = 20


class TokenKeeper:
    """
    Hands out and checks announce tokens.
    """

    def __init__(self, clock: IReactorTime, randomBytes: Callable[[int], bytes] = os.urandom) -> None:
        """
        @param clock: tells the time of rotations.
        @param randomBytes: where secrets come from.
        """
        self._clock = clock
        self._randomBytes = randomBytes
        self._current = randomBytes(_SECRET_LENGTH)
        self._previous = self._current
        self._rotatedAt = clock.seconds()

    def _rotate(self) -> None:
        now = self._clock.seconds()
        elapsed = now - self._rotatedAt
        if elapsed < ROTATE_EVERY:
            return
        if elapsed >= 2 * ROTATE_EVERY:
            # Both secrets are too old: no token handed out so far is valid.
            self._previous = self._randomBytes(_SECRET_LENGTH)
        else:
            self._previous = self._current
        self._current = self._randomBytes(_SECRET_LENGTH)
        self._rotatedAt = now

    @staticmethod
    def _token(secret: bytes, host: str) -> bytes:
        return hmac.new(secret, host.encode("ascii"), hashlib.sha1).digest()[:TOKEN_LENGTH]

    def tokenFor(self, host: str) -> bytes:
        """
        @param host: the requester's IP address.
        @return: the token to give it.
        """
        self._rotate()
        return self._token(self._current, host)

    def check(self, token: bytes, host: str) -> bool:
        """
        @return: whether C{token} is one we gave C{host} in the last one or
            two rotation periods.
        """
        self._rotate()
        return any(
            hmac.compare_digest(token, self._token(secret, host))
            for secret in (self._current, self._previous)
        )
