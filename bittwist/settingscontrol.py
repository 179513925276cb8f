# -*- test-case-name: tests.test_service -*-
"""
L{SettingsController}: the session's settings changed while it runs, and
the config each torrent gets.
"""

import dataclasses
from typing import Optional

from bittwist.config import SessionConfig, TorrentConfig
from bittwist.errors import UsageError
from bittwist.session import Session
from bittwist.state import StateFolder, TorrentRecord

__all__ = ["SettingsController"]


class SettingsController:
    """
    Changes the session's rate limits at once and remembers them in the
    state folder; makes each torrent's config from the session's.
    """

    def __init__(self, session: Session, state: Optional[StateFolder]) -> None:
        """
        @param session: whose settings are changed.
        @param state: where they are remembered, or C{None}.
        """
        self._session = session
        self._state = state

    def setRateLimits(
        self, maxUploadRate: Optional[int] = None, maxDownloadRate: Optional[int] = None
    ) -> None:
        """
        Change the session's rate limits (bytes per second for all torrents
        together, 0 for unlimited; C{None} leaves one as it is), and
        remember them for the next start.

        @raise bittwist.errors.UsageError: for a negative rate.
        """
        changes = {
            name: value
            for name, value in (("maxUploadRate", maxUploadRate), ("maxDownloadRate", maxDownloadRate))
            if value is not None
        }
        config = self._setSessionLimits(changes)
        if self._state is not None:
            self._state.saveSettings(
                {"maxUploadRate": config.maxUploadRate, "maxDownloadRate": config.maxDownloadRate}
            )

    def applySaved(self) -> None:
        """
        Take the rate limits last set while running (the page, the API),
        except where this start was given a limit of its own (a
        C{--max-*-rate} option wins).
        """
        if self._state is None:
            return
        config = self._session.config
        changes = {
            name: value for name, value in self._state.readSettings().items()
            if not getattr(config, name)
        }
        if changes:
            self._setSessionLimits(changes)

    def _setSessionLimits(self, changes: dict[str, int]) -> SessionConfig:
        """
        Put C{changes} (C{maxUploadRate}, C{maxDownloadRate}) in the
        session's config and apply its rate limits now.

        @return: the session's new config.
        @raise bittwist.errors.UsageError: for a negative rate.
        """
        session = self._session
        config = dataclasses.replace(session.config, **changes)
        session.config = config
        session.uploadLimit.setRate(config.maxUploadRate)
        session.downloadLimit.setRate(config.maxDownloadRate)
        return config

    def torrentConfig(self, announce: bool) -> TorrentConfig:
        """
        @return: the session's torrent config, using the torrent's trackers
            or not.
        """
        return dataclasses.replace(self._session.config.torrent, announce=announce)

    def recordConfig(self, record: TorrentRecord) -> TorrentConfig:
        """
        @return: the config of a remembered torrent: the session's, with the
            record's own options; a record whose options the config refuses
            (saved by a version with other bounds) gets the session's.
        """
        config = self.torrentConfig(record.announce)
        try:
            return dataclasses.replace(config, **record.options)
        except (UsageError, TypeError):
            return config
