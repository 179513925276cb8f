# -*- test-case-name: tests.test_torrent -*-
"""
Snapshots of a torrent and its peers, for display.
"""

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from bittwist.encryption import isEncrypted
from bittwist.torrent.lifecycle import ACTIVE, TorrentState

__all__ = [
    "TorrentStatus",
    "PeerStatus",
    "FileStatus",
    "describeTorrent",
    "describeMagnet",
    "describePeer",
    "describePeers",
    "describeFiles",
    "extensionFlags",
]


@dataclass(frozen=True)
class TorrentStatus:
    """
    A snapshot of a torrent, for display.
    """

    name: str
    infoHash: str
    state: TorrentState
    totalLength: int
    verifiedLength: int
    piecesVerified: int
    numPieces: int
    downloadRate: float
    uploadRate: float
    downloaded: int
    uploaded: int
    peers: int
    knownPeers: int
    hashFailures: int
    error: Optional[str]
    peersUsed: int = 0
    """
    How many distinct peers sent us data.
    """
    sequential: bool = False
    """
    Whether pieces are downloaded in order, lowest first.
    """
    maxPeers: int = 0
    """
    The most peer connections it makes or takes.
    """
    seedRatio: Optional[float] = None
    """
    Its seed ratio goal, if any.
    """
    seedTime: Optional[float] = None
    """
    Its seed time goal, in seconds, if any.
    """
    maxUploadRate: int = 0
    """
    Its own upload limit in bytes per second (0: only the session's).
    """
    maxDownloadRate: int = 0
    """
    Its own download limit in bytes per second (0: only the session's).
    """
    wantedLeft: Optional[int] = None
    """
    With files skipped, the bytes of wanted pieces not yet verified;
    C{None} when every file is wanted.
    """
    metadataProgress: float = 1.0
    """
    The fraction of the metadata in: below 1 only while fetching it for a
    magnet link.
    """

    @property
    def eta(self) -> Optional[float]:
        """
        Seconds until complete at the current rate, or C{None} if not
        downloading.
        """
        if self.state is not TorrentState.DOWNLOADING or self.downloadRate <= 0:
            return None
        left = self.totalLength - self.verifiedLength if self.wantedLeft is None else self.wantedLeft
        return left / self.downloadRate

    @property
    def progress(self) -> float:
        """
        The verified fraction of the torrent, 0 to 1 (0 while its size is
        unknown, its metadata being fetched).
        """
        if self.state is TorrentState.FETCHING_METADATA:
            return 0.0
        return self.verifiedLength / self.totalLength if self.totalLength else 1.0


def describeTorrent(torrent: Any) -> TorrentStatus:
    """
    @param torrent: a L{bittwist.torrent.Torrent}.
    @return: a snapshot of it.
    """
    download, config, state = torrent.download, torrent.config, torrent.state
    verified = download.verifiedPieces()
    return TorrentStatus(
        name=torrent.metainfo.name,
        infoHash=torrent.infoHash.hex(),
        state=state,
        totalLength=torrent.metainfo.totalLength,
        verifiedLength=download.verifiedLength,
        piecesVerified=len(verified) if verified is not None else 0,
        numPieces=torrent.numPieces,
        # Seeding, nothing more comes: no trailing rate from the last pieces.
        downloadRate=download.rate.rate() if state is TorrentState.DOWNLOADING else 0.0,
        uploadRate=torrent.upload.rate.rate() if state in ACTIVE else 0.0,
        downloaded=download.rate.total,
        uploaded=torrent.upload.rate.total,
        peers=len(torrent.peers),
        knownPeers=torrent.swarm.knownCount,
        hashFailures=download.hashFailures,
        error=str(torrent.error) if torrent.error else None,
        peersUsed=len(download.contributors),
        sequential=config.sequential,
        maxPeers=config.maxPeers,
        seedRatio=config.seedRatio,
        seedTime=config.seedTime,
        wantedLeft=download.wantedLeft(),
        maxUploadRate=config.maxUploadRate,
        maxDownloadRate=config.maxDownloadRate,
    )


def describeMagnet(magnet: Any) -> TorrentStatus:
    """
    @param magnet: a L{bittwist.torrent.magnet.MagnetTorrent}.
    @return: a snapshot of it: no size yet; C{metadataProgress} is the
        fraction of the metadata in.
    """
    return TorrentStatus(
        name=magnet.name,
        infoHash=magnet.infoHash.hex(),
        state=magnet.state,
        totalLength=0,
        verifiedLength=0,
        piecesVerified=0,
        numPieces=0,
        downloadRate=0.0,
        uploadRate=0.0,
        downloaded=0,
        uploaded=0,
        peers=len(magnet.peers),
        knownPeers=magnet.swarm.knownCount,
        hashFailures=0,
        error=None,
        metadataProgress=magnet.fetcher.progress,
    )


@dataclass(frozen=True)
class PeerStatus:
    """
    A snapshot of one peer connection, for display.

    @ivar client: the peer's client, as its peer id says (e.g.
        C{"-lt2010-"}), or C{"?"}.
    @ivar progress: the fraction of the torrent the peer has.
    @ivar source: where its address came from (C{"tracker"}, C{"manual"},
        C{"incoming"}, ...).
    @ivar encrypted: whether the connection is encrypted (MSE/PE, RC4).
    @ivar extensions: the protocol extensions in use with the peer:
        C{"ext"} (the extension protocol, BEP 10), C{"fast"} (BEP 6), and
        the peer's extensions we speak too: C{"pex"} (BEP 11) and
        C{"metadata"} (BEP 9).
    """

    address: str
    client: str
    outgoing: bool
    downloadRate: float
    uploadRate: float
    amChoking: bool
    amInterested: bool
    peerChoking: bool
    peerInterested: bool
    snubbed: bool
    progress: float
    requests: int
    source: str
    encrypted: bool = False
    extensions: tuple[str, ...] = ()



def describePeer(peer: Any, snubbed: bool = False) -> PeerStatus:
    """
    @param peer: a connected L{bittwist.peer.PeerProtocol}.
    @param snubbed: whether it stopped sending us data.
    @return: a snapshot of it.
    """
    host, port = peer.address or ("?", 0)
    state = peer.state
    return PeerStatus(
        address=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        client=peer.clientName,
        outgoing=peer.outgoing,
        downloadRate=peer.downloadRate.rate(),
        uploadRate=peer.uploadRate.rate(),
        amChoking=peer.amChoking,
        amInterested=state.amInterested,
        peerChoking=state.peerChoking,
        peerInterested=state.peerInterested,
        snubbed=snubbed,
        progress=state.progress(),
        requests=len(state.requested),
        source=peer.source,
        encrypted=isEncrypted(peer),
        extensions=extensionFlags(peer),
    )


def describePeers(peers: Iterable[Any], download: Any = None) -> list[PeerStatus]:
    """
    @param peers: connected L{bittwist.peer.PeerProtocol}s.
    @param download: the L{bittwist.torrent.download.Download} that knows
        which of them snubbed us, if any.
    @return: a snapshot of each.
    """
    result = []
    for peer in peers:
        record = download.record(peer) if download is not None else None
        result.append(describePeer(peer, snubbed=record is not None and record.snubbed))
    return result


_EXTENSION_FLAGS = (("ut_pex", "pex"), ("ut_metadata", "metadata"))


def extensionFlags(peer: Any) -> tuple[str, ...]:
    """
    @param peer: a connected L{bittwist.peer.PeerProtocol}.
    @return: the extensions in use with C{peer}, as L{PeerStatus.extensions}
        names them.
    """
    flags = []
    if peer.extensionProtocol:
        flags.append("ext")
    if peer.fast:
        flags.append("fast")
    flags.extend(flag for name, flag in _EXTENSION_FLAGS if peer.supports(name))
    return tuple(flags)


@dataclass(frozen=True)
class FileStatus:
    """
    A snapshot of one file of a torrent, for display.

    @ivar path: its path below the download folder, C{/}-separated.
    @ivar size: its size in bytes.
    @ivar verified: how many of its bytes are in verified pieces.
    @ivar priority: 0 skipped, 1 normal, 2 high.
    """

    path: str
    size: int
    verified: int
    priority: int = 1

    @property
    def progress(self) -> float:
        """
        The verified fraction of the file, 0 to 1.
        """
        return self.verified / self.size if self.size else 1.0


def describeFiles(metainfo: Any, verified: Any, priorities: Sequence[int] = ()) -> list[FileStatus]:
    """
    @param metainfo: the torrent's L{bittwist.metainfo.Metainfo}.
    @param verified: its verified pieces (a L{bittwist.bitfield.Bitfield}),
        or C{None} before its check.
    @param priorities: per file but pad files, its priority; normal beyond
        its end.
    @return: each file but pad files, in order, with its verified bytes.
    """
    pieceLength = metainfo.pieceLength
    result = []
    for entry in metainfo.files:
        if entry.pad:
            continue
        done = 0
        if verified is not None and entry.length:
            start, end = entry.offset, entry.offset + entry.length
            for index in range(start // pieceLength, (end - 1) // pieceLength + 1):
                if index in verified:
                    pieceStart = index * pieceLength
                    done += min(end, pieceStart + pieceLength) - max(start, pieceStart)
        position = len(result)
        priority = priorities[position] if position < len(priorities) else 1
        result.append(FileStatus("/".join(entry.path), entry.length, done, priority))
    return result
