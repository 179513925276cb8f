"""
Memory taken by huge tracker answers (L{bittwist.tracker}).

A tracker in a child process (a C{twisted.web} site on 127.0.0.1) answers
every announce with a compact peer list of C{--answer-mib} MiB, every
address distinct.  This process announces to it through an L{Announcer},
feeding every answer to a torrent's L{Swarm} as the engine does, until
C{--answers} answers were handled (or refused), then prints its RSS (now
and peak, from C{/proc/self/status}).  Run it as a plain script::

    python benchmarks/bench_tracker_answers.py [--answer-mib 4] [--answers 3]

The issue that prompted it saw ~1.4 GiB after three 4 MiB answers.
"""

import argparse
import os
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.logger import globalLogPublisher  # noqa: E402

from bittwist.config import TorrentConfig  # noqa: E402
from bittwist.torrent.swarm import Swarm  # noqa: E402
from bittwist.tracker import Announcer  # noqa: E402

MIB = 1024 * 1024

# The tracker: a child process, so that its own copy of the answer is not
# counted against the client.
SERVER = textwrap.dedent(
    """
    import sys
    from twisted.internet import reactor
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    size = int(sys.argv[1])
    prefix = b"d8:intervali0e5:peers"
    room = size - len(prefix) - len(b"e") - 10
    count = room // 6
    blob = b"".join(
        bytes((10, (i >> 16) & 255, (i >> 8) & 255, i & 255)) + (6881).to_bytes(2, "big")
        for i in range(count)
    )
    body = prefix + str(len(blob)).encode() + b":" + blob + b"e"
    assert len(body) <= size, len(body)

    class Answer(Resource):
        isLeaf = True
        def render_GET(self, request):
            return body

    port = reactor.listenTCP(0, Site(Answer()), interface="127.0.0.1")
    print(port.getHost().port, len(body), flush=True)
    reactor.run()
    """
)


def memory() -> tuple[float, float]:
    """
    @return: this process's resident set size now and at its peak, in MiB.
    """
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class _Quick(Announcer):
    # Announce again at once, whatever the answer says, and retry at once.
    INTERVAL_FLOOR = 0
    BACKOFF_START = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--answer-mib", type=float, default=4, help="MiB per answer")
    parser.add_argument("--answers", type=int, default=3, help="answers to take")
    options = parser.parse_args()
    size = int(options.answer_mib * MIB)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(size)], stdout=subprocess.PIPE, text=True
    )
    try:
        port, bodySize = map(int, server.stdout.readline().split())
        run(port, bodySize, options.answers)
    finally:
        server.kill()
        server.wait()


def run(port: int, bodySize: int, answers: int) -> None:
    before, _ = memory()
    swarm = Swarm(None, None, TorrentConfig(), reactor)
    done: Deferred[None] = Deferred()
    results: list[str] = []

    def onPeers(peers: list) -> None:
        results.append(f"{len(peers)} peers")
        swarm.add(peers, "tracker")
        if len(results) >= answers and not done.called:
            done.callback(None)

    announcer = _Quick(
        [[f"http://127.0.0.1:{port}/announce"]], b"\x01" * 20, b"-BT0001-" + b"0" * 12,
        6881, lambda: (0, 0, 100), onPeers, reactor=reactor,
    )
    def observe(event: dict) -> None:
        # Count refusals as handled answers (the fixed client refuses them).
        if "reason" in event and "url" in event:
            if event["log_format"].startswith("Tracker {url} failed"):
                results.append(f"refused: {event['reason']}")
                if len(results) >= answers and not done.called:
                    done.callback(None)

    globalLogPublisher.addObserver(observe)
    announcer.start()
    done.addCallback(lambda _: announcer.stop())
    done.addBoth(lambda _: reactor.stop())
    reactor.run()
    now, peak = memory()
    print(f"answer size: {bodySize} bytes ({bodySize / MIB:.2f} MiB), {answers} answers")
    for i, result in enumerate(results[:answers], 1):
        print(f"  answer {i}: {result}")
    print(f"candidates remembered: {swarm.knownCount}")
    print(f"RSS before {before:.0f} MiB, after {now:.0f} MiB, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
