# -*- test-case-name: tests.test_web -*-
"""
C{/api/dht}: the DHT node's figures.
"""

from typing import Any

from twisted.web.server import Request

from bittwist.web.api.base import JsonResource, writeJson

__all__ = ["DHTResource"]


class DHTResource(JsonResource):
    """
    C{/api/dht}: the DHT node's figures (see
    L{bittwist.dht.node.DHTNode.stats}), and whether it is C{enabled}.
    """

    isLeaf = True

    def __init__(self, service: Any) -> None:
        super().__init__()
        self._service = service

    def render_GET(self, request: Request) -> bytes:
        dht = self._service.dht
        if dht is None:
            return writeJson(request, {"enabled": False})
        return writeJson(request, {"enabled": True, **dht.node.stats()})
