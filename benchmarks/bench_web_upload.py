"""
What a hostile upload to the web page costs the server: peak RSS of the
server process and time until it answers, for a 100 MB body sent to
C{POST /api/torrents}, before (a checkout of C{main}) and after (this
checkout), in the same run.

    python benchmarks/bench_web_upload.py [--size-mb 100] [--before-ref REF]

"Before" is by default the commit just before the guard came (the parent
of the first commit that added C{bittwist/web/multipart.py}).

Each case runs a fresh server process (the checkout's C{BitTorrentService}
and C{makeWebSite} on 127.0.0.1, one site needing no token and one needing
it) and one client on a raw socket that sends the headers, then the body in
1 MiB pieces until the server answers or the body ends:

  - C{403 origin}: multipart upload with a foreign C{Origin};
  - C{401 token}: multipart upload without the token the site needs;
  - C{413 multipart}: a well-formed multipart upload, too large;
  - C{413 raw}: a raw body (C{application/x-bittorrent}), too large;
  - C{413 chunked}: the same without a length (C{Transfer-Encoding:
    chunked}), refused as it passes the limit.

The server's peak RSS is its C{VmHWM} from C{/proc} after the answer.
"""

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVER = r"""
import json, os, sys
from twisted.internet import reactor
from bittwist.service import BitTorrentService
from bittwist.web.site import makeWebSite

service = BitTorrentService("tcp:0:interface=127.0.0.1", reactor=reactor, progressInterval=None)
service.startService()
downloads = sys.argv[1]
open_ = makeWebSite(service, downloads, token="sesame", requireToken=False, reactor=reactor)
guarded = makeWebSite(service, downloads, token="sesame", requireToken=True, reactor=reactor)
ports = [reactor.listenTCP(0, site, interface="127.0.0.1").getHost().port for site in (open_, guarded)]
print(json.dumps({"open": ports[0], "token": ports[1]}), flush=True)
reactor.run()
"""

BOUNDARY = b"benchboundary"


def peakRSS(pid: int) -> int:
    """
    @return: the peak resident set size of process C{pid}, in KiB.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def request(
    port: int, size: int, multipart: bool, extra: list[bytes], chunked: bool = False
) -> tuple[int, float, int]:
    """
    Send a C{POST /api/torrents} with a body of C{size} bytes until the
    server answers.

    @return: the status code, the seconds until the whole answer was in,
        and how many body bytes were sent by then.
    """
    prefix = b""
    suffix = b""
    if multipart:
        prefix = (
            b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="torrent"; filename="x.torrent"\r\n'
            b"Content-Type: application/x-bittorrent\r\n\r\n"
        )
        suffix = b"\r\n--" + BOUNDARY + b"--\r\n"
    fill = size - len(prefix) - len(suffix)
    contentType = b"multipart/form-data; boundary=" + BOUNDARY if multipart else b"application/x-bittorrent"
    head = b"\r\n".join(
        [
            b"POST /api/torrents HTTP/1.1",
            b"Host: 127.0.0.1:%d" % port,
            b"X-Bittwist: 1",
            b"Content-Type: " + contentType,
            b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size,
            *extra,
        ]
    ) + b"\r\n\r\n"
    chunk = b"\0" * 2**20
    pieces = [head, prefix] + [chunk] * (fill // len(chunk)) + [b"\0" * (fill % len(chunk)), suffix]
    pieces = [piece for piece in pieces if piece]
    if chunked:
        pieces = [pieces[0]] + [b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces[1:]] + [b"0\r\n\r\n"]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    answer = b""
    sent = 0
    started = time.perf_counter()
    pending = memoryview(b"")
    index = 0
    code = 0
    while True:
        if not pending and index < len(pieces):
            pending = memoryview(pieces[index])
            index += 1
        readable, writable, _ = select.select([sock], [sock] if pending else [], [], 60)
        if readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            answer += data
            answerHead, separator, body = answer.partition(b"\r\n\r\n")
            if separator:
                headers = dict(
                    line.split(b": ", 1) for line in answerHead.split(b"\r\n")[1:] if b": " in line
                )
                length = int(headers.get(b"Content-Length", headers.get(b"content-length", b"0")))
                if len(body) >= length:
                    code = int(answerHead.split(b" ")[1])
                    break
            if not data:
                break
        if writable and pending:
            try:
                n = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                pending = memoryview(b"")
                index = len(pieces)
                continue
            pending = pending[n:]
            sent += n
        if not readable and not writable:
            break
    elapsed = time.perf_counter() - started
    sock.close()
    return code, elapsed, max(0, sent - len(head))


CASES = [
    ("403 origin", "open", True, [b"Origin: http://evil.example"]),
    ("401 token", "token", True, []),
    ("413 multipart", "open", True, []),
    ("413 raw", "open", False, []),
    ("413 chunked", "open", False, []),
]


def runCase(checkout: str, case: tuple, size: int, folder: str) -> dict:
    name, site, multipart, extra = case
    env = {**os.environ, "PYTHONPATH": checkout}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, os.path.join(folder, "downloads")],
        env=env, stdout=subprocess.PIPE, cwd=folder,
    )
    try:
        ports = json.loads(server.stdout.readline())
        before = peakRSS(server.pid)
        code, elapsed, sent = request(ports[site], size, multipart, extra, chunked="chunked" in name)
        # Let the server finish whatever it does with the body.
        time.sleep(0.5)
        after = peakRSS(server.pid)
    finally:
        server.terminate()
        server.wait()
    return {"case": name, "code": code, "seconds": elapsed, "sentMB": sent / 1e6,
            "rssBeforeMiB": before / 1024, "peakMiB": after / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--before-ref", default=None, help="the git ref measured as 'before'")
    args = parser.parse_args()
    size = args.size_mb * 10**6
    if args.before_ref is None:
        added = subprocess.run(
            ["git", "-C", HERE, "log", "--format=%h", "--diff-filter=A", "--", "bittwist/web/multipart.py"],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        args.before_ref = added[-1] + "^"
    with tempfile.TemporaryDirectory() as folder:
        before = os.path.join(folder, "before")
        os.makedirs(before)
        archive = subprocess.run(
            ["git", "-C", HERE, "archive", args.before_ref], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", before], input=archive.stdout, check=True)
        print(f"{args.size_mb} MB bodies to POST /api/torrents; server peak RSS (VmHWM) and time to answer")
        print(f"before: {args.before_ref}; after: {HERE}")
        print(f"{'case':<15} {'checkout':<10} {'code':>4} {'answer s':>9} {'body sent MB':>13} "
              f"{'RSS idle MiB':>13} {'peak MiB':>9}")
        for case in CASES:
            for label, checkout in (("before", before), ("after", HERE)):
                r = runCase(checkout, case, size, folder)
                print(f"{r['case']:<15} {label:<10} {r['code']:>4} {r['seconds']:>9.3f} {r['sentMB']:>13.1f} "
                      f"{r['rssBeforeMiB']:>13.0f} {r['peakMiB']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
