"""
twistd plugins of bittwist: C{twistd bittorrent}.
"""

from twisted.application.service import ServiceMaker

bittorrent = ServiceMaker(
    "bittwist", "bittwist.tap", "Download and seed a torrent with bittwist.", "bittorrent"
)
