"""
Tests for L{bittwist.torrent.peerdispatch}: each event of a torrent's peers
handed to the part it concerns.
"""

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from bittwist import events
from bittwist.bitfield import Bitfield
from bittwist.torrent.lifecycle import TorrentState
from bittwist.torrent.peerdispatch import PeerDispatch
from tests.faketorrent import FakePeer, FakeTorrent
from tests.test_status import makeMetainfo

S = TorrentState


class PeerDispatchTests(SynchronousTestCase):
    """
    Tests for L{PeerDispatch}.
    """

    def setUp(self) -> None:
        self.metainfo = makeMetainfo(self)
        self.full = Bitfield(self.metainfo.numPieces, range(self.metainfo.numPieces))
        self.admit = True
        self.removed = True
        self.verified: Any = Bitfield(self.metainfo.numPieces, [0, 1])

    def makeDispatch(self, state: TorrentState = S.DOWNLOADING) -> PeerDispatch:
        answers: dict[str, Any] = {
            "swarm": {"admit": lambda: self.admit, "removed": lambda: self.removed},
            "download": {"verifiedPieces": lambda: self.verified},
            "extensions": {"handshakeFields": lambda: {"metadataSize": 77}},
            "sources": {"dhtPort": 6881},
        }
        self.torrent = FakeTorrent(self.metainfo, state, **answers)
        return PeerDispatch(self.torrent)  # type: ignore[arg-type]

    def test_identity(self) -> None:
        """
        The peers see the torrent's info hash and number of pieces.
        """
        dispatch = self.makeDispatch()
        self.assertEqual(
            (dispatch.infoHash, dispatch.numPieces),
            (self.metainfo.infoHash, self.metainfo.numPieces),
        )

    def test_handshakeAdmitted(self) -> None:
        """
        A peer the swarm admits joins the download, wakes the periodic
        work, and the observers hear of it.
        """
        peer = FakePeer(1)
        self.assertTrue(self.makeDispatch().peerHandshaked(peer))  # type: ignore[arg-type]
        self.assertEqual(self.torrent.called("swarm"), [("admit", peer)])
        self.assertEqual(self.torrent.called("download"), [("peerJoined", peer)])
        self.assertEqual(self.torrent.called("periodic"), [("wake",)])
        self.assertEqual(
            self.torrent.events, [events.PeerConnected(self.torrent, peer.address, peer.peerId)]
        )

    def test_handshakeRefused(self) -> None:
        """
        A peer is refused by a torrent not downloading or seeding, without
        asking the swarm, and by a swarm that does not admit it.
        """
        peer = FakePeer(1)
        self.assertFalse(self.makeDispatch(S.PAUSED).peerHandshaked(peer))  # type: ignore[arg-type]
        self.assertEqual(self.torrent.calls, [])
        self.admit = False
        self.assertFalse(self.makeDispatch().peerHandshaked(peer))  # type: ignore[arg-type]
        self.assertEqual(self.torrent.calls, [("swarm", "admit", peer)])
        self.assertEqual(self.torrent.events, [])

    def test_disconnected(self) -> None:
        """
        A peer the swarm had leaves the download and the extensions, and a
        choking round follows.
        """
        peer = FakePeer(1)
        self.makeDispatch().peerDisconnected(peer, "gone")  # type: ignore[arg-type]
        self.assertEqual(
            self.torrent.calls,
            [
                ("swarm", "removed", peer),
                ("download", "peerLeft", peer),
                ("extensions", "peerGone", peer),
                ("periodic", "choke"),
            ],
        )
        self.assertEqual(
            self.torrent.events, [events.PeerDisconnected(self.torrent, peer.address, "gone")]
        )

    def test_disconnectedUnknown(self) -> None:
        """
        A connection the swarm did not have (never admitted) is nobody
        else's business.
        """
        self.removed = False
        self.makeDispatch().peerDisconnected(FakePeer(1), "gone")  # type: ignore[arg-type]
        self.assertEqual([call[0] for call in self.torrent.calls], ["swarm"])
        self.assertEqual(self.torrent.events, [])

    def test_seedsDropEachOther(self) -> None:
        """
        While seeding, a peer that has everything is dropped, by its
        bitfield or by its last C{have}.
        """
        seed = FakePeer(1, self.full)
        self.makeDispatch(S.SEEDING).peerBitfield(seed)  # type: ignore[arg-type]
        self.assertEqual(seed.said, [("drop", "both seeding")])
        self.assertEqual(self.torrent.called("download"), [])
        another = FakePeer(2, self.full)
        self.makeDispatch(S.SEEDING).peerHave(another, 3)  # type: ignore[arg-type]
        self.assertEqual(self.torrent.called("download"), [("peerHave", another, 3)])
        self.assertEqual(another.said, [("drop", "both seeding")])

    def test_downloadHears(self) -> None:
        """
        What peers have and send, and whether they let us ask, goes to the
        download.
        """
        dispatch = self.makeDispatch()
        peer: Any = FakePeer(1, self.full)
        dispatch.peerBitfield(peer)
        dispatch.peerHave(peer, 2)
        dispatch.peerUnchoked(peer)
        dispatch.blocksReceived(peer, ["block"])  # type: ignore[list-item]
        dispatch.requestRejected(peer, 2, 0)
        dispatch.peerAllowedFast(peer, 3)
        dispatch.peerChoked(peer, [(2, 0)])
        self.assertEqual(
            self.torrent.called("download"),
            [
                ("peerBitfield", peer),
                ("peerHave", peer, 2),
                ("peerUnchoked", peer),
                ("blocksReceived", peer, ["block"]),
                ("requestRejected", peer, 2, 0),
                ("fill", peer),
                ("peerChoked", peer, [(2, 0)]),
            ],
        )
        self.assertEqual(peer.said, [])
        self.assertEqual(dispatch.ourBitfield(), self.verified)

    def test_uploadServes(self) -> None:
        """
        Requests queued and room to write go to the upload; a change of
        interest to a choking round.
        """
        dispatch = self.makeDispatch()
        peer: Any = FakePeer(1)
        dispatch.requestsQueued(peer)
        dispatch.peerWritable(peer)
        dispatch.peerInterestChanged(peer)
        self.assertEqual(self.torrent.called("upload"), [("serve", peer), ("serve", peer)])
        self.assertEqual(self.torrent.called("periodic"), [("choke",)])

    def test_requestsChecked(self) -> None:
        """
        Requests for pieces we have pass; one for a piece we lack is
        rejected, or drops a peer that cannot hear rejects; one past a
        piece's end drops the peer.
        """
        dispatch = self.makeDispatch()
        fast: Any = FakePeer(1)
        dispatch.requestsReceived(fast, [(0, 0, 16384), (2, 0, 16384), (1, 0, 16384)])
        self.assertEqual(fast.said, [("reject", 2, 0, 16384)])
        plain: Any = FakePeer(2, reject=False)
        dispatch.requestsReceived(plain, [(2, 0, 16384), (0, 0, 16384)])
        self.assertEqual(plain.said, [("drop", "requested piece 2, which we do not have")])
        greedy: Any = FakePeer(3)
        dispatch.requestsReceived(greedy, [(0, 16384, 16384)])
        self.assertEqual(greedy.said, [("drop", "requested past the end of piece 0")])

    def test_requestsBeforeCheck(self) -> None:
        """
        Before the check, every request is for a piece we do not have.
        """
        self.verified = None
        peer: Any = FakePeer(1)
        self.makeDispatch().requestsReceived(peer, [(0, 0, 16384)])
        self.assertEqual(peer.said, [("reject", 0, 0, 16384)])

    def test_extensionEvents(self) -> None:
        """
        The extension protocol's events reach the torrent's extension table
        and sources, as they are now, with its listening port.
        """
        dispatch = self.makeDispatch()
        self.torrent.extensions.names = ("ut_metadata",)
        self.torrent.port = 7000
        self.assertEqual(
            dispatch.extendedHandshakeFields(),
            (("ut_metadata",), {"metadataSize": 77, "listenPort": 7000}),
        )
        peer: Any = FakePeer(1)
        dispatch.extensionMessage(peer, "ut_metadata", b"x")
        dispatch.peerPort(peer, 6882)
        self.assertEqual(dispatch.dhtPort(), 6881)
        self.assertIn(("received", peer, "ut_metadata", b"x"), self.torrent.called("extensions"))
        self.assertEqual(
            self.torrent.called("sources"), [("peerDHTPort", "10.0.0.1", 6882), ("dhtPort",)]
        )
