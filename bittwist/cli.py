# -*- test-case-name: tests.test_cli -*-
"""
The C{bittwist} console script: C{bittwist info} shows what a C{.torrent}
holds, C{bittwist create} makes one.
"""

import argparse
import concurrent.futures
import datetime
import queue
import sys
from typing import IO, Callable, NoReturn, Optional, Sequence

from bittwist import __version__
from bittwist.commandline import usageLine
from bittwist.errors import BittwistError, UsageError
from bittwist.metainfo import Metainfo, checkTrackerURL, createParsedTorrent, load
from bittwist.progress import formatSize

__all__ = ["main", "formatInfo", "HashingProgress"]

_SUFFIXES = {"k": 1024, "m": 1024**2, "g": 1024**3}


def formatInfo(metainfo: Metainfo) -> str:
    """
    @return: the text C{bittwist info} prints for C{metainfo}: name, size,
        the files (pad files left out), pieces, info hash, trackers by tier,
        the private flag and the optional fields present.
    """
    real = [entry for entry in metainfo.files if not entry.pad]
    pads = len(metainfo.files) - len(real)
    lines = [
        f"name:        {metainfo.name}",
        f"size:        {formatSize(metainfo.totalLength)} ({metainfo.totalLength} bytes)",
        f"pieces:      {metainfo.numPieces} x {formatSize(metainfo.pieceLength)} "
        f"({metainfo.pieceLength} bytes)",
        f"info hash:   {metainfo.infoHash.hex()}"
        + (" (v1 of a v1+v2 hybrid)" if metainfo.isHybrid else ""),
        f"private:     {'yes' if metainfo.private else 'no'}",
    ]
    if metainfo.comment is not None:
        lines.append(f"comment:     {metainfo.comment}")
    if metainfo.createdBy is not None:
        lines.append(f"created by:  {metainfo.createdBy}")
    if metainfo.creationDate is not None:
        lines.append(f"created on:  {_formatDate(metainfo.creationDate)}")
    if metainfo.announceTiers:
        lines.append("trackers:")
        for number, tier in enumerate(metainfo.announceTiers, 1):
            lines.append(f"  tier {number}: {' '.join(tier)}")
    else:
        lines.append("trackers:    none")
    header = f"files:       {len(real)}"
    if pads:
        header += f" (and {pads} pad file{'s' if pads > 1 else ''}, not shown)"
    lines.append(header)
    for entry in real:
        lines.append(f"  {'/'.join(entry.path)}  {formatSize(entry.length)} ({entry.length} bytes)")
    return "\n".join(lines) + "\n"


def _formatDate(timestamp: int) -> str:
    try:
        when = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _pieceLength(text: str) -> int:
    """
    Read a piece length: bytes, or with a C{K}, C{M} or C{G} suffix (binary).
    """
    text = text.strip()
    multiplier = 1
    if text[-1:].lower() in _SUFFIXES:
        multiplier = _SUFFIXES[text[-1].lower()]
        text = text[:-1]
    try:
        return int(text) * multiplier
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size") from None


def _trackerURL(text: str) -> str:
    """
    Read a tracker URL: C{http://}, C{https://} or C{udp://} with a host.
    """
    try:
        checkTrackerURL(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


class _Parser(argparse.ArgumentParser):
    """
    An argparse parser that writes to the streams it is given and raises
    instead of exiting.
    """

    def __init__(self, *args, stdout: IO[str], stderr: IO[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stdout = stdout
        self.stderr = stderr

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        if message:
            (self.stderr if file is sys.stderr else self.stdout).write(message)

    def error(self, message: str) -> NoReturn:
        """
        Say what is wrong in one line, not after the usage text.
        """
        self.stderr.write(usageLine(self.prog, message) + "\n")
        raise _Exit(2)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.stderr.write(message)
        raise _Exit(status)


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _buildParser(stdout: IO[str], stderr: IO[str]) -> _Parser:
    streams = {"stdout": stdout, "stderr": stderr}
    parser = _Parser(prog="bittwist", description="BitTorrent for Twisted.", **streams)
    parser.add_argument("--version", action="version", version=f"bittwist {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    info = commands.add_parser("info", help="show what a .torrent holds", **streams)
    info.add_argument("torrent", help="the .torrent file")

    create = commands.add_parser("create", help="make a .torrent of a file or folder",
                                 **streams)
    create.add_argument("path", help="the file or folder to share")
    create.add_argument("-o", "--output", help="where to write it (default: NAME.torrent)")
    create.add_argument("-t", "--tracker", action="append", default=[], metavar="URL",
                        type=_trackerURL,
                        help="announce URL; repeat for fallbacks, each in a tier of its own")
    create.add_argument("--piece-length", type=_pieceLength, metavar="N",
                        help="bytes per piece, a power of two >= 16K (e.g. 256K, 1M); "
                             "default: chosen from the size")
    create.add_argument("--private", action="store_true", help="set the private flag (BEP 27)")
    create.add_argument("--comment", metavar="TEXT", help="a comment")
    create.add_argument("--name", help="the torrent's name (default: the base name of PATH)")
    create.add_argument("-f", "--force", action="store_true",
                        help="overwrite the output file if it exists")
    create.add_argument("-q", "--quiet", action="store_true",
                        help="do not show hashing progress on stderr")
    return parser


def _info(options: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    stdout.write(formatInfo(load(options.torrent)))
    return 0


class HashingProgress:
    """
    A C{progress(doneBytes, totalBytes)} callback for L{createParsedTorrent} that
    writes a line C{hashing: 45% (12.0 MiB of 26.6 MiB)} each time another
    C{step} percent is done, and at the end.
    """

    def __init__(self, stream: IO[str], step: int = 5) -> None:
        """
        @param stream: where the lines go.
        @param step: percent between lines.
        """
        self._stream = stream
        self._step = step
        self._shown = -1

    def __call__(self, doneBytes: int, totalBytes: int) -> None:
        percent = doneBytes * 100 // totalBytes if totalBytes else 100
        percent -= percent % self._step if percent < 100 else 0
        if percent <= self._shown:
            return
        self._shown = percent
        self._stream.write(
            f"hashing: {percent}% ({formatSize(doneBytes)} of {formatSize(totalBytes)})\n"
        )
        self._stream.flush()


def _hashInThread(
    options: argparse.Namespace, progress: Optional[Callable[[int, int], object]]
) -> tuple[bytes, Metainfo]:
    """
    Run L{createParsedTorrent} off the main thread, which meanwhile reports its
    progress: the main thread stays free to print (and to take Ctrl-C).

    @return: the torrent's bytes and its L{Metainfo}.
    @raise BittwistError: as L{createParsedTorrent} does.
    """
    reports: "queue.Queue[tuple[int, int]]" = queue.Queue()
    with concurrent.futures.ThreadPoolExecutor(1, "bittwist-create") as pool:
        future = pool.submit(
            createParsedTorrent,
            options.path,
            trackers=options.tracker,
            pieceLength=options.piece_length,
            private=options.private,
            comment=options.comment,
            name=options.name,
            progress=lambda done, total: reports.put((done, total)),
        )
        while True:
            try:
                report = reports.get(timeout=0.1)
            except queue.Empty:
                if future.done():
                    break
                continue
            if progress is not None:
                progress(*report)
        while not reports.empty():
            report = reports.get()
            if progress is not None:
                progress(*report)
        return future.result()


def _create(options: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    data, metainfo = _hashInThread(options, None if options.quiet else HashingProgress(stderr))
    output = options.output or f"{metainfo.name}.torrent"
    mode = "wb" if options.force else "xb"
    try:
        with open(output, mode) as f:
            f.write(data)
    except FileExistsError:
        raise _Failure(f"{output} exists; use --force to overwrite it") from None
    except OSError as e:
        raise _Failure(f"cannot write {output}: {e.strerror or e}") from None
    stdout.write(f"wrote {output}\n")
    stdout.write(formatInfo(metainfo))
    return 0


class _Failure(Exception):
    """
    A command failed for a reason outside bittwist's errors (e.g. writing
    the output file).
    """


def main(
    argv: Sequence[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """
    Run the C{bittwist} command.

    @param argv: the arguments, without the program name; by default
        C{sys.argv[1:]}.
    @param stdout: where output goes; by default C{sys.stdout}.
    @param stderr: where errors and C{create}'s hashing progress go; by
        default C{sys.stderr}.
    @return: the exit status: 0 on success, 1 when the command failed (one
        line C{bittwist: <message>} on C{stderr}), 2 for bad usage.
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = _buildParser(stdout, stderr)
    try:
        options = parser.parse_args(argv)
    except _Exit as e:
        return e.status
    command = {"info": _info, "create": _create}[options.command]
    try:
        return command(options, stdout, stderr)
    except (BittwistError, _Failure) as e:
        stderr.write(f"bittwist: {e}\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
