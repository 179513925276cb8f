# -*- test-case-name: tests.test_web -*-
"""
The web status page: torrents, progress, peers and a piece map, live in a
browser, over a JSON API (C{docs/web.md}).
"""

from bittwist.web.site import WebService, makeWebSite

__all__ = ["WebService", "makeWebSite"]
