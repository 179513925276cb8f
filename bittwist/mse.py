# -*- test-case-name: tests.test_mse -*-
"""
Message Stream Encryption (MSE, also called Protocol Encryption or PE): the
obfuscated handshake that libtorrent, Transmission, qBittorrent and Vuze
speak before the BitTorrent handshake, as a sans-IO state machine.

    1. A->B: Diffie-Hellman Ya, PadA
    2. B->A: Diffie-Hellman Yb, PadB
    3. A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
             ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
    4. B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
    5. A->B: ENCRYPT2(payload)

A is the L{Initiator} (it dialled, and knows the torrent: SKEY is its info
hash); B is the L{Receiver} (it accepted, and finds SKEY among the info hashes
it serves). Both take bytes with C{receiveData}, which returns events, and give
bytes to send with C{dataToSend}; neither touches a transport or a reactor.
Every malformed or hostile input raises L{EncryptionError}, and while a
handshake waits for more bytes it never holds more than the specification
allows for the step it is in.
"""

import enum
import hashlib
import os
import struct
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from cryptography.hazmat.primitives.ciphers import Cipher

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
except ImportError:  # cryptography < 43, before RC4 moved to "decrepit"
    from cryptography.hazmat.primitives.ciphers.algorithms import ARC4  # type: ignore[no-redef]

from bittwist.errors import EncryptionError

__all__ = [
    "Policy",
    "CryptoMethod",
    "Event",
    "HandshakeComplete",
    "PlaintextDetected",
    "PayloadReceived",
    "Initiator",
    "Receiver",
    "PLAINTEXT_PREFIX",
    "MAX_PAD",
    "MAX_REQ1_SYNC",
    "MAX_VC_SYNC",
]

P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
    16,
)
"""
The specification's 768-bit Diffie-Hellman prime.
"""

G = 2

KEY_LENGTH = 96
"""
Bytes of a public key (768 bits, big-endian).
"""

PRIVATE_KEY_BITS = 160

MAX_PAD = 512
"""
The longest PadA, PadB, PadC or PadD the specification allows.
"""

MAX_REQ1_SYNC = KEY_LENGTH + MAX_PAD + 20
"""
628: the receiver finds C{HASH('req1', S)} within this many bytes of the
start of the stream (Ya, at most 512 bytes of PadA, the hash), or gives up.
"""

MAX_VC_SYNC = KEY_LENGTH + MAX_PAD + 8
"""
616: the initiator finds C{ENCRYPT(VC)} within this many bytes of the start
of the stream (Yb, at most 512 bytes of PadB, VC), or gives up.
"""

MAX_INITIAL_PAYLOAD = 0xFFFF
"""
The most bytes the 16-bit C{len(IA)} can announce.
"""

VC = bytes(8)
"""
The verification constant: eight zero bytes, sent encrypted.
"""

RC4_DISCARD = 1024
"""
Keystream bytes each side throws away before the first use of RC4.
"""

PLAINTEXT_PREFIX = b"\x13BitTorrent protocol"
"""
What a plaintext BitTorrent handshake starts with; an incoming connection
that starts with anything else is taken for MSE.
"""


class Policy(enum.Enum):
    """
    Whether a connection uses MSE, and what it accepts.

    @cvar PREFER: offer and accept both RC4 and plaintext, pick RC4 when the
        peer offers it; accept plaintext BitTorrent handshakes too.
    @cvar REQUIRE: RC4 only; plaintext handshakes are refused.
    @cvar OFF: no MSE at all, plaintext BitTorrent only.
    """

    PREFER = "prefer"
    REQUIRE = "require"
    OFF = "off"


class CryptoMethod(enum.IntFlag):
    """
    The bits of C{crypto_provide} and C{crypto_select}: how the payload
    stream after the handshake is carried.
    """

    PLAINTEXT = 0x01
    RC4 = 0x02


class Event:
    """
    Something a handshake tells its caller, returned by C{receiveData}.
    """


@dataclass(frozen=True)
class HandshakeComplete(Event):
    """
    The MSE handshake succeeded: what follows is payload.

    @ivar method: the crypto method of the payload stream.
    @ivar infoHash: SKEY, the info hash of the torrent the connection is for.
    """

    method: CryptoMethod
    infoHash: bytes


@dataclass(frozen=True)
class PlaintextDetected(Event):
    """
    The connecting peer (for a L{Receiver}) sent a plaintext BitTorrent
    handshake, not MSE; every byte it sent follows as L{PayloadReceived}.
    """


@dataclass(frozen=True)
class PayloadReceived(Event):
    """
    Payload bytes (the initial payload, then the stream), decrypted.
    """

    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"PayloadReceived({self.data[:20]!r}{'...' if len(self.data) > 20 else ''})"


def _sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _rc4(key: bytes):
    """
    @return: an RC4 cipher context keyed with C{key}, its first
        L{RC4_DISCARD} keystream bytes thrown away. Encrypting and decrypting
        are the same operation: C{update(data)}.
    """
    context = Cipher(ARC4(key), mode=None).encryptor()
    context.update(bytes(RC4_DISCARD))
    return context


class _Handshake:
    """
    What both roles share: keys, buffers, payload queued until the handshake
    ends, and the cipher of the payload stream afterwards.

    @ivar complete: whether the handshake is over (payload flows).
    @ivar method: the crypto method of the payload stream, once complete;
        C{None} for a plaintext BitTorrent handshake detected by a
        L{Receiver}.
    @ivar infoHash: SKEY, once known.
    """

    def __init__(self, policy: Policy, randomBytes: Callable[[int], bytes]) -> None:
        if policy not in (Policy.PREFER, Policy.REQUIRE):
            raise ValueError(f"MSE handshakes run under prefer or require, not {policy}")
        self._policy = policy
        self._random = randomBytes
        self._accepted = (
            CryptoMethod.RC4 | CryptoMethod.PLAINTEXT
            if policy is Policy.PREFER
            else CryptoMethod.RC4
        )
        # 160 random bits; 0 would make the public key 1, which a careful
        # peer rejects.
        self._private = int.from_bytes(randomBytes(PRIVATE_KEY_BITS // 8), "big") or 1
        # Python's pow is fine here: the prime and generator are fixed and
        # public, the exponent is only 160 bits (well under a millisecond),
        # and MSE is obfuscation against passive observers, not
        # authenticated secrecy, so timing side channels are not a concern.
        self._publicKey = pow(G, self._private, P).to_bytes(KEY_LENGTH, "big")
        self._in = bytearray()
        self._out = bytearray()
        self._queued = bytearray()
        self._encryptor = None
        self._decryptor = None
        self._failed: Optional[EncryptionError] = None
        self._scanFrom = KEY_LENGTH
        self.complete = False
        self.method: Optional[CryptoMethod] = None
        self.infoHash: Optional[bytes] = None

    def _pad(self) -> bytes:
        """
        @return: random padding of a random length from 0 to L{MAX_PAD}.
        """
        return self._random(int.from_bytes(self._random(2), "big") % (MAX_PAD + 1))

    def _secret(self, peerKey: bytes) -> bytes:
        """
        @return: S, the shared secret, from the peer's public key.
        @raise EncryptionError: if the key is one that makes S guessable.
        """
        y = int.from_bytes(peerKey, "big")
        if not 1 < y < P - 1:
            raise EncryptionError("the peer's Diffie-Hellman key is out of range")
        return pow(y, self._private, P).to_bytes(KEY_LENGTH, "big")

    def _take(self, n: int) -> Optional[bytes]:
        """
        @return: the next C{n} received bytes, removed from the buffer, or
            C{None} if fewer have arrived.
        """
        if len(self._in) < n:
            return None
        data = bytes(self._in[:n])
        del self._in[:n]
        return data

    def _decrypt(self, n: int) -> Optional[bytes]:
        data = self._take(n)
        return None if data is None else self._decryptor.update(data)

    # The public surface.

    def receiveData(self, data: bytes) -> list[Event]:
        """
        Feed bytes received from the peer.

        @return: the events they complete, in order.
        @raise EncryptionError: if the peer broke the handshake; the
            connection must be dropped (every later call raises again).
        """
        if self._failed is not None:
            raise self._failed
        if self.complete:
            return [PayloadReceived(self.decrypt(data))] if data else []
        self._in += data
        events: list[Event] = []
        try:
            while not self.complete and self._step(events):
                pass
        except EncryptionError as e:
            self._failed = e
            self._in.clear()
            raise
        return events

    def dataToSend(self) -> bytes:
        """
        @return: the bytes to send to the peer now (and forget them).
        """
        out = bytes(self._out)
        self._out.clear()
        return out

    def sendPayload(self, data: bytes) -> None:
        """
        Send payload: queued until the handshake ends (an initiator sends the
        start of it as the initial payload), encrypted as negotiated after.
        """
        if self.complete:
            self._out += self.encrypt(data)
        else:
            self._queued += data

    def encrypt(self, data: bytes) -> bytes:
        """
        @return: payload C{data} as it goes on the wire (after completion).
        """
        if self.method is CryptoMethod.RC4:
            return self._encryptor.update(data)
        return data

    def decrypt(self, data: bytes) -> bytes:
        """
        @return: payload received on the wire as C{data}, in the clear
            (after completion).
        """
        if self.method is CryptoMethod.RC4:
            return self._decryptor.update(data)
        return data

    @property
    def encryptor(self) -> Callable[[bytes], bytes]:
        """
        The function L{encrypt} calls, for callers on a hot path: the RC4
        context's C{update}, or C{bytes} for plaintext.
        """
        return self._encryptor.update if self.method is CryptoMethod.RC4 else bytes

    @property
    def decryptor(self) -> Callable[[bytes], bytes]:
        """
        The function L{decrypt} calls (see L{encryptor}).
        """
        return self._decryptor.update if self.method is CryptoMethod.RC4 else bytes

    def _finish(self, events: list[Event], method: CryptoMethod, initial: bytes = b"") -> None:
        """
        Switch to the payload stream: report, pass on the initial payload and
        what arrived after the handshake, send what was queued.
        """
        assert self.infoHash is not None
        self.method = method
        self.complete = True
        events.append(HandshakeComplete(method, self.infoHash))
        if self._in:
            initial += self.decrypt(bytes(self._in))
            self._in.clear()
        if initial:
            events.append(PayloadReceived(initial))
        if self._queued:
            self._out += self.encrypt(bytes(self._queued))
            self._queued.clear()

    def _step(self, events: list[Event]) -> bool:
        raise NotImplementedError()


class Initiator(_Handshake):
    """
    The side that dialled: it knows the torrent, and sends the first
    payload (usually the BitTorrent handshake) in the third message, as the
    initial payload (IA).
    """

    def __init__(
        self,
        infoHash: bytes,
        policy: Policy,
        randomBytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """
        @param infoHash: the torrent's 20-byte info hash (SKEY).
        @param policy: L{Policy.PREFER} (offer RC4 and plaintext) or
            L{Policy.REQUIRE} (offer RC4 only).
        @param randomBytes: the source of keys and padding.
        """
        super().__init__(policy, randomBytes)
        self.infoHash = infoHash
        self._out += self._publicKey + self._pad()
        self._step = self._readPublicKey
        self._vcMark = b""
        self._padLeft = 0
        self._selected = CryptoMethod.RC4

    def _readPublicKey(self, events: list[Event]) -> bool:
        if len(self._in) < KEY_LENGTH:
            return False
        # Yb stays in the buffer: the search for VC counts from its start.
        secret = self._secret(bytes(self._in[:KEY_LENGTH]))
        skey = self.infoHash
        assert skey is not None
        self._encryptor = _rc4(_sha1(b"keyA", secret, skey))
        self._decryptor = _rc4(_sha1(b"keyB", secret, skey))
        # What ENCRYPT(VC) looks like from B; computing it moves our
        # decryptor past VC, as decrypting it would.
        self._vcMark = self._decryptor.update(VC)
        initial = bytes(self._queued[:MAX_INITIAL_PAYLOAD])
        del self._queued[: len(initial)]
        padC = self._pad()
        self._out += _sha1(b"req1", secret)
        self._out += _xor(_sha1(b"req2", skey), _sha1(b"req3", secret))
        self._out += self._encryptor.update(
            VC
            + struct.pack(">IH", self._accepted, len(padC))
            + padC
            + struct.pack(">H", len(initial))
            + initial
        )
        self._step = self._findVerificationConstant
        return True

    def _findVerificationConstant(self, events: list[Event]) -> bool:
        found = self._in.find(self._vcMark, self._scanFrom, MAX_VC_SYNC)
        if found < 0:
            if len(self._in) >= MAX_VC_SYNC:
                raise EncryptionError(
                    f"no verification constant within {MAX_VC_SYNC} bytes "
                    f"(more than {MAX_PAD} bytes of padding, or not MSE)"
                )
            self._scanFrom = max(KEY_LENGTH, len(self._in) - len(VC) + 1)
            return False
        del self._in[: found + len(VC)]
        self._step = self._readSelect
        return True

    def _readSelect(self, events: list[Event]) -> bool:
        plain = self._decrypt(6)
        if plain is None:
            return False
        select, self._padLeft = struct.unpack(">IH", plain)
        if select not in (CryptoMethod.RC4, CryptoMethod.PLAINTEXT) or not (
            select & self._accepted
        ):
            raise EncryptionError(
                f"the peer selected crypto method {select:#x}, we offered {self._accepted:#x}"
            )
        if self._padLeft > MAX_PAD:
            raise EncryptionError(f"PadD of {self._padLeft} bytes, more than {MAX_PAD}")
        self._selected = CryptoMethod(select)
        self._step = self._skipPadD
        return True

    def _skipPadD(self, events: list[Event]) -> bool:
        if self._decrypt(self._padLeft) is None:
            return False
        self._finish(events, self._selected)
        return True


class Receiver(_Handshake):
    """
    The side that accepted: it tells a plaintext BitTorrent handshake from
    MSE, and finds the torrent (SKEY) among those it serves.
    """

    def __init__(
        self,
        infoHashes: Callable[[], Iterable[bytes]],
        policy: Policy,
        randomBytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """
        @param infoHashes: gives the info hashes we serve, asked once the
            peer names one.
        @param policy: L{Policy.PREFER} (accept plaintext handshakes and
            either crypto method, pick RC4) or L{Policy.REQUIRE} (RC4 only).
        @param randomBytes: the source of keys and padding.
        """
        super().__init__(policy, randomBytes)
        self._infoHashes = infoHashes
        self._step = self._detect
        self._secretKey = b""
        self._req1 = b""
        self._padLeft = 0
        self._selected = CryptoMethod.RC4

    def _detect(self, events: list[Event]) -> bool:
        n = min(len(self._in), len(PLAINTEXT_PREFIX))
        if self._in[:n] != PLAINTEXT_PREFIX[:n]:
            self._step = self._readPublicKey
            return True
        if n < len(PLAINTEXT_PREFIX):
            return False
        if self._policy is Policy.REQUIRE:
            raise EncryptionError(
                "plaintext BitTorrent handshake refused",
                "encryption is required; allow plaintext peers with --encryption prefer",
            )
        self.complete = True
        data = bytes(self._in)
        self._in.clear()
        events.append(PlaintextDetected())
        events.append(PayloadReceived(data))
        if self._queued:
            self._out += self._queued
            self._queued.clear()
        return True

    def _readPublicKey(self, events: list[Event]) -> bool:
        if len(self._in) < KEY_LENGTH:
            return False
        self._secretKey = self._secret(bytes(self._in[:KEY_LENGTH]))
        self._req1 = _sha1(b"req1", self._secretKey)
        self._out += self._publicKey + self._pad()
        self._step = self._findReq1
        return True

    def _findReq1(self, events: list[Event]) -> bool:
        found = self._in.find(self._req1, self._scanFrom, MAX_REQ1_SYNC)
        if found < 0:
            if len(self._in) >= MAX_REQ1_SYNC:
                raise EncryptionError(
                    f"no HASH('req1', S) within {MAX_REQ1_SYNC} bytes "
                    f"(more than {MAX_PAD} bytes of padding, or not MSE)"
                )
            self._scanFrom = max(KEY_LENGTH, len(self._in) - len(self._req1) + 1)
            return False
        del self._in[: found + len(self._req1)]
        self._step = self._readSecretKey
        return True

    def _readSecretKey(self, events: list[Event]) -> bool:
        obfuscated = self._take(20)
        if obfuscated is None:
            return False
        wanted = _xor(obfuscated, _sha1(b"req3", self._secretKey))
        for infoHash in self._infoHashes():
            if _sha1(b"req2", infoHash) == wanted:
                break
        else:
            raise EncryptionError(
                "the peer asked for a torrent we do not serve",
                "nothing to do: peers learn of torrents from trackers and other peers",
            )
        self.infoHash = infoHash
        self._decryptor = _rc4(_sha1(b"keyA", self._secretKey, infoHash))
        self._encryptor = _rc4(_sha1(b"keyB", self._secretKey, infoHash))
        self._step = self._readProvide
        return True

    def _readProvide(self, events: list[Event]) -> bool:
        plain = self._decrypt(14)
        if plain is None:
            return False
        vc, provide, self._padLeft = struct.unpack(">8sIH", plain)
        if vc != VC:
            raise EncryptionError("wrong verification constant")
        if self._padLeft > MAX_PAD:
            raise EncryptionError(f"PadC of {self._padLeft} bytes, more than {MAX_PAD}")
        common = provide & self._accepted
        if common & CryptoMethod.RC4:
            self._selected = CryptoMethod.RC4
        elif common & CryptoMethod.PLAINTEXT:
            self._selected = CryptoMethod.PLAINTEXT
        else:
            raise EncryptionError(
                f"the peer offers crypto methods {provide:#x}, we accept {self._accepted:#x}",
                "encryption is required; allow plaintext peers with --encryption prefer"
                if self._policy is Policy.REQUIRE
                else "the peer speaks no crypto method we know",
            )
        self._step = self._skipPadC
        return True

    def _skipPadC(self, events: list[Event]) -> bool:
        if self._decrypt(self._padLeft) is None:
            return False
        self._step = self._readInitialPayloadLength
        return True

    def _readInitialPayloadLength(self, events: list[Event]) -> bool:
        plain = self._decrypt(2)
        if plain is None:
            return False
        (self._padLeft,) = struct.unpack(">H", plain)
        self._step = self._readInitialPayload
        return True

    def _readInitialPayload(self, events: list[Event]) -> bool:
        initial = self._decrypt(self._padLeft)
        if initial is None:
            return False
        padD = self._pad()
        self._out += self._encryptor.update(
            VC + struct.pack(">IH", self._selected, len(padD)) + padD
        )
        self._finish(events, self._selected, initial)
        return True
