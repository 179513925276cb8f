# -*- test-case-name: tests.test_state -*-
"""
The session's settings changed while it ran (the global rate limits), kept
in L{SETTINGS_NAME} beside the torrents' records.
"""

import json
from typing import Any

from bittwist.state.files import DamagedFile, readBounded

__all__ = ["SETTINGS_NAME", "SESSION_SETTINGS", "MAX_SETTINGS_SIZE", "encodeSettings", "readSettings"]

SETTINGS_NAME = "settings.json"
"""
The file of the session's settings in a state folder.
"""

SESSION_SETTINGS = ("maxUploadRate", "maxDownloadRate")
"""
The session settings kept: bytes per second, 0 for unlimited.
"""

MAX_SETTINGS_SIZE = 4096
"""
A settings file larger than this is damaged (a real one is under 100 bytes).
"""


def encodeSettings(settings: dict[str, int]) -> bytes:
    """
    @return: the bytes of a settings file holding C{settings}.
    """
    return json.dumps(dict(settings), sort_keys=True).encode("utf-8")


def readSettings(path: str) -> dict[str, int]:
    """
    Read a settings file, at most L{MAX_SETTINGS_SIZE} bytes of it, and
    only if it is a regular file (a FIFO there would block start-up, a
    huge file bloat it).

    @return: the settings; none if there is no file.
    @raise DamagedFile: if the file is unreadable, too big, not a regular
        file, or not settings.
    """
    try:
        data = readBounded(path, MAX_SETTINGS_SIZE, "it")
    except DamagedFile as e:
        if e.missing:
            return {}
        raise
    if len(data) > MAX_SETTINGS_SIZE:
        raise DamagedFile(f"it is over {MAX_SETTINGS_SIZE} bytes")
    try:
        document: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedFile(f"not JSON ({e})") from None
    if not isinstance(document, dict):
        raise DamagedFile(f"the settings are {document!r:.100}, not an object")
    for name, value in document.items():
        if name not in SESSION_SETTINGS or type(value) is not int or value < 0:
            raise DamagedFile(f"setting {name!r:.100} is unknown, or {value!r:.100} is not valid for it")
    return document
