"""
What the DHT node costs under hostile input, and how big its answers are.

    python benchmarks/bench_dht.py [--datagrams 20000]

Prints:
  - the CPU time per datagram for the KRPC decoder on valid queries, random
    bytes, deeply nested lists and maximal item counts, and the peak Python
    memory of decoding the worst one;
  - the largest answer our node sends to each query, against the query's
    size (the amplification factor an attacker spoofing a victim's address
    gets), and how many answers one source IP gets in a burst of 1,000;
  - memory of a routing table and a peer store filled to their bounds with
    hostile ids and announcements.
"""

import argparse
import os
import random
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.task import Clock  # noqa: E402

from bittwist.dht import krpc  # noqa: E402
from bittwist.dht.krpc import ANNOUNCE_PEER, FIND_NODE, GET_PEERS, PING, Query, Response  # noqa: E402
from bittwist.dht.node import MAX_VALUES, DHTNode  # noqa: E402
from bittwist.dht.routing import RoutingTable  # noqa: E402
from bittwist.dht.storage import PeerStore  # noqa: E402
from bittwist.errors import KRPCError  # noqa: E402
from tests.fakes import FakeDatagramTransport, ResolvingClock  # noqa: E402


def decodeCost(datagrams: list[bytes]) -> tuple[float, int]:
    """
    @return: microseconds per datagram, and the peak bytes allocated while
        decoding any one of them.
    """
    start = time.process_time()
    for data in datagrams:
        try:
            krpc.decode(data)
        except KRPCError:
            pass
    elapsed = time.process_time() - start
    peak = 0
    for data in datagrams[:200]:
        tracemalloc.start()
        try:
            krpc.decode(data)
        except KRPCError:
            pass
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return elapsed / len(datagrams) * 1e6, peak


def _perCall(function, count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        function()
    return (time.process_time() - start) / count * 1e6


def filledNode(
    rng: random.Random, clock: ResolvingClock, **options: float
) -> tuple[DHTNode, FakeDatagramTransport, bytes]:
    """
    @return: a running node on a fake transport, with 300 nodes heard and
        500 peers announced for one info hash, its transport, and that
        info hash.
    """
    node = DHTNode(clock, nodeId=rng.randbytes(20), bootstrap=(), **options)
    transport = FakeDatagramTransport()
    node.makeConnection(transport)
    for i in range(300):
        node.table.heard(rng.randbytes(20), (f"10.1.{i // 256}.{i % 256}", 6881), 0, responded=True)
    infoHash = rng.randbytes(20)
    for i in range(500):
        node.peerStore.announce(infoHash, (f"10.2.{i // 256}.{i % 256}", 6881))
    return node, transport, infoHash


def answerCosts(rng: random.Random, count: int) -> list[tuple[str, float]]:
    """
    @return: microseconds to encode a get_peers answer with L{MAX_VALUES}
        peers, one with 8 nodes, and to answer a get_peers query whole
        (decoding, the store, the token, encoding) on a node without rate
        limits.
    """
    big = 1e12
    node, transport, infoHash = filledNode(
        rng, ResolvingClock(), answerRate=big, answerBurst=big, inputRate=big, inputBurst=big
    )
    peers = tuple(node.peerStore.peers(infoHash, MAX_VALUES))
    nodes = tuple(node.table.closest(rng.randbytes(20), 8))
    withPeers = Response(b"aa", node.nodeId, (), peers, b"t" * 8)
    withNodes = Response(b"aa", node.nodeId, nodes, (), b"t" * 8)
    query = krpc.encode(Query(b"aa", GET_PEERS, rng.randbytes(20), infoHash=infoHash))

    def answerWhole() -> None:
        node.datagramReceived(query, ("192.0.2.7", 1234))
        transport.written.clear()

    try:
        return [
            (f"encode get_peers answer, {len(peers)} peers", _perCall(lambda: krpc.encode(withPeers), count)),
            (f"encode get_peers answer, {len(nodes)} nodes", _perCall(lambda: krpc.encode(withNodes), count)),
            ("answer a get_peers query (peers)", _perCall(answerWhole, count)),
        ]
    finally:
        node.doStop()


def closestCost(rng: random.Random, count: int) -> tuple[int, int, float]:
    """
    @return: the nodes and buckets of a table split as deep as hostile ids
        near ours can split it, and microseconds per C{closest(target, 8)}
        (what a find_node or get_peers answer without peers looks up).
    """
    own = rng.randbytes(20)
    table = RoutingTable(own)
    for n in range(20_000):
        shared = n % 20
        table.heard(own[:shared] + rng.randbytes(20 - shared), (f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}", 1), 0, True)
    targets = [rng.randbytes(20) for _ in range(count)]
    start = time.process_time()
    for target in targets:
        table.closest(target, 8)
    return len(table), table.bucketCount, (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datagrams", type=int, default=20000)
    n = parser.parse_args().datagrams
    rng = random.Random(1)
    valid = krpc.encode(Query(b"aa", GET_PEERS, rng.randbytes(20), infoHash=rng.randbytes(20)))
    kinds = {
        "valid get_peers": [valid] * n,
        "random bytes (<=1500)": [rng.randbytes(rng.randrange(1, 1501)) for _ in range(n)],
        "nested lists (1500 bytes)": [b"l" * 750 + b"e" * 750] * n,
        "256+ integers (1500 bytes)": [b"l" + b"i1e" * 499 + b"e"] * n,
        "oversized (64 KiB)": [b"d" + b"x" * 65536] * n,
    }
    print("KRPC decode, per datagram:")
    for name, datagrams in kinds.items():
        micros, peak = decodeCost(datagrams)
        print(f"  {name:28s} {micros:8.1f} us   peak {peak / 1024:6.1f} KiB")

    clock = ResolvingClock()
    node, transport, infoHash = filledNode(rng, clock)
    print("KRPC encode and answer, per message:")
    for name, micros in answerCosts(rng, n // 10):
        print(f"  {name:38s} {micros:8.1f} us")
    nodes, buckets, micros = closestCost(rng, n // 10)
    print(f"  {f'closest 8 of {nodes} nodes in {buckets} buckets':38s} {micros:8.1f} us")
    print("Answers (largest per query, amplification = answer / query bytes):")
    token = node.tokens.tokenFor("192.0.2.1")
    queries = {
        PING: Query(b"aa", PING, rng.randbytes(20)),
        FIND_NODE: Query(b"aa", FIND_NODE, rng.randbytes(20), target=rng.randbytes(20)),
        GET_PEERS: Query(b"aa", GET_PEERS, rng.randbytes(20), infoHash=infoHash),
        ANNOUNCE_PEER: Query(b"aa", ANNOUNCE_PEER, rng.randbytes(20), infoHash=infoHash, port=1, token=token),
    }
    for method, query in queries.items():
        data = krpc.encode(query)
        clock.advance(10)
        transport.written.clear()
        node.datagramReceived(data, ("192.0.2.1", 1234))
        answer = len(transport.written[0][0])
        print(f"  {method:14s} query {len(data):4d} B  answer {answer:4d} B  x{answer / len(data):.1f}")
    clock.advance(60)
    transport.written.clear()
    data = krpc.encode(queries[GET_PEERS])
    for _ in range(1000):
        node.datagramReceived(data, ("192.0.2.1", 1234))
    sent = sum(len(d) for d, _ in transport.written)
    print(f"  burst of 1000 get_peers from one IP: {len(transport.written)} answered, {sent} B sent")

    tracemalloc.start()
    table = RoutingTable(rng.randbytes(20))
    for i in range(200_000):
        table.heard(rng.randbytes(20), (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1), i, responded=True)
    tableBytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"Routing table after 200,000 hostile ids: {len(table)} nodes in {table.bucketCount} buckets, "
        f"{tableBytes / 1024:.0f} KiB"
    )
    tracemalloc.start()
    store = PeerStore(Clock())
    for i in range(100_000):
        store.announce(rng.randbytes(20), (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1))
    storeBytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"Peer store after 100,000 announces of new info hashes: {len(store)} peers, "
        f"{store.infoHashCount} info hashes, {storeBytes / 1024:.0f} KiB"
    )
    node.doStop()


if __name__ == "__main__":
    main()
