# -*- test-case-name: tests.test_dht_node -*-
"""
The mainline DHT (BEP 5): a node that finds peers without a tracker.

One module per job: L{krpc} (the codec, sans-IO), L{routing} (k-buckets),
L{tokens} (announce tokens), L{storage} (peers announced to us), L{lookup}
(iterative lookups), L{sourcelimit} (per-source rate limits), L{responder}
(answering queries), L{client} (our queries and their answers),
L{maintainer} (joining and table upkeep), L{tablefile} (the table across
restarts), L{node} (L{node.DHTNode}, the C{DatagramProtocol} and facade
over them) and L{service} (L{service.DHTService}: a node on a UDP port).  A torrent uses the DHT through
L{bittwist.sources.dht.DHTSource}.
"""

from typing import Optional

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

__all__ = ["IDHTNode"]


class IDHTNode(Interface):
    """
    What a peer source needs of a DHT node.
    """

    nodeCount = Attribute("The nodes in the routing table.")
    lookupsRunning = Attribute("Lookups in progress.")

    def getPeers(infoHash: bytes) -> Deferred:
        """
        Look up the peers of C{infoHash}.

        @return: fires with a L{bittwist.dht.lookup.LookupResult}; never fails.
        """

    def announcePeer(result: object, port: Optional[int]) -> Deferred:
        """
        Announce our TCP C{port} for C{result.target} to the nodes of a
        get_peers lookup.

        @return: fires with the number of nodes that acknowledged.
        """

    def listeningPort() -> Optional[int]:
        """
        @return: the UDP port the node listens on, or C{None} if it does not.
        """

    def addNode(host: str, port: int) -> None:
        """
        Learn of a node (the peer wire C{port} message).
        """
