"""
twistd plugins of bittwist: C{twistd bittorrent} and C{twistd bittorrent-tracker}.
"""

from twisted.application.service import ServiceMaker

bittorrent = ServiceMaker(
    "bittwist", "bittwist.tap", "Download and seed a torrent with bittwist.", "bittorrent"
)
bittorrentTracker = ServiceMaker(
    "bittwist tracker",
    "bittwist.trackertap",
    "Run an in-memory HTTP BitTorrent tracker.",
    "bittorrent-tracker",
)
