# -*- test-case-name: tests.test_web -*-
"""
C{/api/settings}: the session's rate limits, read and changed.
"""

from typing import Any

from twisted.web.server import Request

from bittwist.state.settings import SESSION_SETTINGS
from bittwist.web.api.base import JsonResource, errorJson, readJsonObject, writeJson

__all__ = ["SettingsResource"]


class SettingsResource(JsonResource):
    """
    C{/api/settings}: the session's rate limits (bytes per second for all
    torrents together, 0 for unlimited): GET them, POST a JSON object of
    those to change (C{maxUploadRate}, C{maxDownloadRate}); remembered in
    the state folder.
    """

    def __init__(self, service: Any) -> None:
        super().__init__()
        self._service = service

    def _current(self) -> dict[str, int]:
        # The buckets' rates: what limits the transfers now.
        session = self._service.session
        return {
            "maxUploadRate": int(session.uploadLimit.rate),
            "maxDownloadRate": int(session.downloadLimit.rate),
        }

    def render_GET(self, request: Request) -> bytes:
        return writeJson(request, self._current())

    def render_POST(self, request: Request) -> bytes:
        usage = (
            "send a JSON object of rates in bytes per second (0: unlimited), "
            'e.g. {"maxDownloadRate": 1048576, "maxUploadRate": 0}'
        )
        value = readJsonObject(request, usage)
        if (
            not value
            or set(value) - set(SESSION_SETTINGS)
            or any(type(rate) is not int or rate < 0 for rate in value.values())
        ):
            return errorJson(request, 400, usage)
        self._service.setRateLimits(**value)
        return writeJson(request, self._current())
