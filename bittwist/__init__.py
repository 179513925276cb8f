"""
bittwist: BitTorrent for Twisted.

A library first (L{bittwist.service.BitTorrentService} embeds in any Twisted
application) and a twistd plugin on top (C{twistd -n bittorrent}).
"""

__version__ = "0.1.0.dev0"
