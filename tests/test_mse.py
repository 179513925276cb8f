# -*- test-case-name: tests.test_mse -*-
"""
Tests for L{bittwist.mse}: the MSE/PE handshake state machines.
"""

import random
import struct
from typing import Callable, Optional

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bittwist import mse
from bittwist.errors import EncryptionError, ProtocolError
from bittwist.mse import (
    MAX_PAD,
    MAX_REQ1_SYNC,
    MAX_VC_SYNC,
    PLAINTEXT_PREFIX,
    CryptoMethod,
    HandshakeComplete,
    Initiator,
    PayloadReceived,
    PlaintextDetected,
    Policy,
    Receiver,
)

INFO_HASH = bytes(range(20))
OTHER_HASH = b"\xff" * 20
BT_HANDSHAKE = PLAINTEXT_PREFIX + bytes(8) + INFO_HASH + b"-XX0001-theirpeerid0"


def seededRandom(seed: int, padLength: Optional[int] = None) -> Callable[[int], bytes]:
    """
    @return: a deterministic C{randomBytes}; with C{padLength}, every pad is
        that long (the 2-byte draws that choose pad lengths give it).
    """
    rng = random.Random(seed)

    def randomBytes(n: int) -> bytes:
        if n == 2 and padLength is not None:
            return padLength.to_bytes(2, "big")
        return rng.randbytes(n)

    return randomBytes


def payloadOf(events) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, PayloadReceived))


def exchange(
    initiator: Initiator, receiver: Receiver, chunk: Optional[int] = None
) -> tuple[list, list]:
    """
    Carry bytes between the two until neither has any to send, C{chunk}
    bytes at a time (all at once if C{None}).

    @return: the events of the initiator and of the receiver.
    """
    initiatorEvents: list = []
    receiverEvents: list = []

    def feed(handshake, data, events):
        if chunk is None:
            events.extend(handshake.receiveData(data))
        else:
            for i in range(0, len(data), chunk):
                events.extend(handshake.receiveData(data[i : i + chunk]))

    while True:
        toReceiver = initiator.dataToSend()
        feed(receiver, toReceiver, receiverEvents)
        toInitiator = receiver.dataToSend()
        feed(initiator, toInitiator, initiatorEvents)
        if not toReceiver and not toInitiator:
            return initiatorEvents, receiverEvents


class HandshakeTests(SynchronousTestCase):
    """
    An L{Initiator} and a L{Receiver} talking to each other.
    """

    def handshake(self, chunk=None, initiatorPolicy=Policy.PREFER, receiverPolicy=Policy.PREFER,
                  seed=1, padLength=None):
        initiator = Initiator(INFO_HASH, initiatorPolicy, seededRandom(seed, padLength))
        receiver = Receiver(
            lambda: [OTHER_HASH, INFO_HASH], receiverPolicy, seededRandom(seed + 1, padLength)
        )
        initiator.sendPayload(BT_HANDSHAKE)
        initiatorEvents, receiverEvents = exchange(initiator, receiver, chunk)
        return initiator, receiver, initiatorEvents, receiverEvents

    def assertHandshake(self, chunk=None, **kwargs):
        initiator, receiver, initiatorEvents, receiverEvents = self.handshake(chunk, **kwargs)
        self.assertEqual(initiatorEvents, [HandshakeComplete(CryptoMethod.RC4, INFO_HASH)])
        self.assertEqual(receiverEvents[0], HandshakeComplete(CryptoMethod.RC4, INFO_HASH))
        self.assertEqual(payloadOf(receiverEvents), BT_HANDSHAKE)
        self.assertTrue(initiator.complete)
        self.assertTrue(receiver.complete)
        self.assertEqual(receiver.infoHash, INFO_HASH)
        return initiator, receiver

    def test_wholeMessages(self):
        """
        Fed whole messages, both sides complete with RC4 and the receiver
        gets the initiator's first payload (the initial payload).
        """
        self.assertHandshake()

    def test_byteByByte(self):
        """
        Fed one byte at a time, the handshake completes just the same.
        """
        self.assertHandshake(chunk=1)

    def test_longestPadding(self):
        """
        Pads of 512 bytes, the most allowed, are found through, whole and
        byte by byte.
        """
        self.assertHandshake(padLength=MAX_PAD)
        self.assertHandshake(chunk=1, padLength=MAX_PAD)

    def test_noPadding(self):
        """
        Empty pads work too.
        """
        self.assertHandshake(chunk=1, padLength=0)

    def test_manySeeds(self):
        """
        Random keys and pad lengths of many runs all succeed (a found VC or
        req1 is never a false match inside the padding).
        """
        for seed in range(0, 60, 2):
            self.assertHandshake(seed=seed)

    def test_policies(self):
        """
        Every pair of prefer and require selects RC4.
        """
        for a in (Policy.PREFER, Policy.REQUIRE):
            for b in (Policy.PREFER, Policy.REQUIRE):
                self.assertHandshake(initiatorPolicy=a, receiverPolicy=b)

    def test_payloadBothWays(self):
        """
        After the handshake payload goes both ways, encrypted on the wire.
        """
        initiator, receiver = self.assertHandshake()
        secret = b"piece data " * 100
        initiator.sendPayload(secret)
        wire = initiator.dataToSend()
        self.assertEqual(len(wire), len(secret))
        self.assertNotIn(b"piece data", wire)
        self.assertEqual(receiver.receiveData(wire), [PayloadReceived(secret)])
        receiver.sendPayload(b"answer")
        self.assertEqual(
            initiator.receiveData(receiver.dataToSend()), [PayloadReceived(b"answer")]
        )
        self.assertEqual(receiver.encrypt(b""), b"")
        self.assertEqual(receiver.receiveData(b""), [])

    def test_payloadBeyondInitialPayload(self):
        """
        Payload beyond the 65535 bytes the initial payload can hold, or
        queued after it was sent, is sent once the method is known.
        """
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        big = bytes(range(256)) * 300
        initiator.sendPayload(big)
        receiver.receiveData(initiator.dataToSend())
        initiator.receiveData(receiver.dataToSend()[:96])
        initiator.sendPayload(b"more")
        initiatorEvents, receiverEvents = exchange(initiator, receiver)
        self.assertEqual(payloadOf(receiverEvents), big + b"more")

    def test_receiverSendsBeforeComplete(self):
        """
        What a receiver is asked to send before its handshake ends goes
        after it, encrypted.
        """
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        receiver.sendPayload(b"early")
        initiatorEvents, receiverEvents = exchange(initiator, receiver)
        self.assertEqual(payloadOf(initiatorEvents), b"early")

    def test_streamInSameChunk(self):
        """
        Payload that arrives in the same chunk as the end of the handshake
        is delivered, decrypted, after L{HandshakeComplete}.
        """
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        receiver.receiveData(initiator.dataToSend())
        initiator.receiveData(receiver.dataToSend())
        receiver.receiveData(initiator.dataToSend())
        receiver.sendPayload(b"bitfield")
        events = initiator.receiveData(receiver.dataToSend())
        self.assertEqual(
            events,
            [HandshakeComplete(CryptoMethod.RC4, INFO_HASH), PayloadReceived(b"bitfield")],
        )

    def test_plaintextSelected(self):
        """
        An initiator that offers plaintext only gets plaintext from a
        preferring receiver: the initial payload is still encrypted, the
        stream after is not.
        """
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        initiator._accepted = CryptoMethod.PLAINTEXT
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        initiator.sendPayload(BT_HANDSHAKE)
        initiatorEvents, receiverEvents = exchange(initiator, receiver, chunk=1)
        self.assertEqual(initiatorEvents, [HandshakeComplete(CryptoMethod.PLAINTEXT, INFO_HASH)])
        self.assertEqual(payloadOf(receiverEvents), BT_HANDSHAKE)
        initiator.sendPayload(b"clear")
        self.assertEqual(initiator.dataToSend(), b"clear")
        self.assertEqual(receiver.receiveData(b"clear"), [PayloadReceived(b"clear")])
        self.assertIs(initiator.encryptor, bytes)
        self.assertIs(initiator.decryptor, bytes)

    def test_offerOf(self):
        """
        Prefer offers RC4 and plaintext; require offers RC4 only.
        """
        for policy, offer in [(Policy.PREFER, 3), (Policy.REQUIRE, 2)]:
            initiator = Initiator(INFO_HASH, policy)
            receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
            receiver.receiveData(initiator.dataToSend())
            initiator.receiveData(receiver.dataToSend())
            self.assertEqual(initiator._accepted, offer)

    def test_policyOff(self):
        """
        A handshake state machine cannot run under the policy off.
        """
        self.assertRaises(ValueError, Initiator, INFO_HASH, Policy.OFF)
        self.assertRaises(ValueError, Receiver, lambda: [], Policy.OFF)

    def test_payloadRepr(self):
        """
        The repr of received payload shows at most 20 bytes.
        """
        self.assertEqual(repr(PayloadReceived(b"x" * 30)), f"PayloadReceived({b'x' * 20!r}...)")
        self.assertEqual(repr(PayloadReceived(b"ab")), "PayloadReceived(b'ab')")


class PlaintextDetectionTests(SynchronousTestCase):
    """
    A L{Receiver} tells a plaintext BitTorrent handshake from MSE.
    """

    def test_plaintextWhole(self):
        """
        A connection that starts with byte 19 and C{BitTorrent protocol} is
        plaintext: every byte is handed back as payload.
        """
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        events = receiver.receiveData(BT_HANDSHAKE + b"more")
        self.assertEqual(events, [PlaintextDetected(), PayloadReceived(BT_HANDSHAKE + b"more")])
        self.assertTrue(receiver.complete)
        self.assertIsNone(receiver.method)
        self.assertEqual(receiver.receiveData(b"next"), [PayloadReceived(b"next")])
        receiver.sendPayload(b"reply")
        self.assertEqual(receiver.dataToSend(), b"reply")

    def test_plaintextByteByByte(self):
        """
        Fed byte by byte, nothing is decided until the 20th byte.
        """
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        receiver.sendPayload(b"queued")
        for byte in BT_HANDSHAKE[:19]:
            self.assertEqual(receiver.receiveData(bytes([byte])), [])
        self.assertEqual(
            receiver.receiveData(BT_HANDSHAKE[19:20]),
            [PlaintextDetected(), PayloadReceived(PLAINTEXT_PREFIX)],
        )
        self.assertEqual(receiver.dataToSend(), b"queued")

    def test_plaintextRefused(self):
        """
        Under require, a plaintext handshake is refused.
        """
        receiver = Receiver(lambda: [INFO_HASH], Policy.REQUIRE)
        e = self.assertRaises(EncryptionError, receiver.receiveData, BT_HANDSHAKE)
        self.assertIn("plaintext", e.reason)
        self.assertIn("--encryption prefer", str(e))
        self.assertIsInstance(e, ProtocolError)

    def test_almostPlaintext(self):
        """
        A start that differs from the plaintext prefix in its last byte is
        taken for MSE (a Diffie-Hellman key).
        """
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        self.assertEqual(receiver.receiveData(PLAINTEXT_PREFIX[:-1] + b"X"), [])
        self.assertEqual(receiver._step, receiver._readPublicKey)


def craftThirdMessage(
    receiverReply: bytes,
    initiator: Initiator,
    infoHash: bytes = INFO_HASH,
    vc: bytes = mse.VC,
    provide: int = 2,
    padC: int = 0,
    initial: bytes = b"",
) -> bytes:
    """
    Build message 3 by hand (after the initiator's Ya and no PadA), for an
    initiator whose private key is known, with any field wrong.
    """
    secret = initiator._secret(receiverReply[:96])
    encryptor = mse._rc4(mse._sha1(b"keyA", secret, infoHash))
    return (
        mse._sha1(b"req1", secret)
        + mse._xor(mse._sha1(b"req2", infoHash), mse._sha1(b"req3", secret))
        + encryptor.update(
            vc + struct.pack(">IH", provide, padC) + bytes(padC)
            + struct.pack(">H", len(initial)) + initial
        )
    )


def craftFourthMessage(
    initiatorStart: bytes,
    receiver: Receiver,
    select: int = 2,
    padD: int = 0,
    padB: int = 0,
) -> bytes:
    """
    Build message 2 and 4 by hand (Yb, PadB of zeros, ENCRYPT(VC, select,
    len(PadD), PadD)) for a receiver whose private key is known.
    """
    secret = receiver._secret(initiatorStart[:96])
    encryptor = mse._rc4(mse._sha1(b"keyB", secret, INFO_HASH))
    return (
        receiver._publicKey
        + bytes(padB)
        + encryptor.update(mse.VC + struct.pack(">IH", select, padD) + bytes(padD))
    )


class ReceiverFailureTests(SynchronousTestCase):
    """
    A L{Receiver} refuses a broken or hostile initiator with
    L{EncryptionError}, and holds no more than the specification allows.
    """

    def setUp(self):
        self.initiator = Initiator(INFO_HASH, Policy.PREFER, seededRandom(5, padLength=0))
        self.receiver = Receiver(lambda: [OTHER_HASH, INFO_HASH], Policy.PREFER)
        self.start = self.initiator.dataToSend()
        self.assertEqual(self.receiver.receiveData(self.start), [])
        self.reply = self.receiver.dataToSend()

    def twin(self) -> Receiver:
        """
        @return: a new receiver with the same private key as C{self.receiver}.
        """
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        receiver._private = self.receiver._private
        return receiver

    def assertFails(self, data: bytes, reason: str, byteByByte: bool = False) -> EncryptionError:
        if byteByByte:
            for i in range(len(data) - 1):
                self.receiver.receiveData(data[i : i + 1])
            data = data[-1:]
        e = self.assertRaises(EncryptionError, self.receiver.receiveData, data)
        self.assertIn(reason, e.reason)
        # Broken for good.
        self.assertRaises(EncryptionError, self.receiver.receiveData, b"")
        return e

    def test_wrongVerificationConstant(self):
        """
        A wrong VC is refused.
        """
        self.assertFails(
            craftThirdMessage(self.reply, self.initiator, vc=b"\x01" * 8), "verification constant"
        )

    def test_unknownInfoHash(self):
        """
        SKEY not among the torrents served is refused.
        """
        self.assertFails(
            craftThirdMessage(self.reply, self.initiator, infoHash=b"\x42" * 20),
            "do not serve",
        )

    def test_tooMuchPadC(self):
        """
        PadC longer than 512 bytes is refused.
        """
        self.assertFails(craftThirdMessage(self.reply, self.initiator, padC=513), "PadC")

    def test_noCommonMethod(self):
        """
        An initiator offering neither RC4 nor plaintext is refused; so is
        one offering plaintext only to a receiver that requires RC4.
        """
        self.assertFails(craftThirdMessage(self.reply, self.initiator, provide=0x04), "0x4")
        receiver = Receiver(lambda: [INFO_HASH], Policy.REQUIRE)
        receiver.receiveData(self.start)
        e = self.assertRaises(
            EncryptionError,
            receiver.receiveData,
            craftThirdMessage(receiver.dataToSend(), self.initiator, provide=0x01),
        )
        self.assertIn("--encryption prefer", e.hint)

    def test_craftedIsAccepted(self):
        """
        The crafted message with nothing wrong is accepted (so the failures
        above fail for the reason they name), with its initial payload,
        whole and byte by byte.
        """
        message = craftThirdMessage(self.reply, self.initiator, initial=b"hello", padC=512)
        self.assertEqual(
            self.receiver.receiveData(message),
            [HandshakeComplete(CryptoMethod.RC4, INFO_HASH), PayloadReceived(b"hello")],
        )
        receiver = self.twin()
        events = []
        for byte in self.start + message:
            events.extend(receiver.receiveData(bytes([byte])))
        self.assertEqual(payloadOf(events), b"hello")

    def test_tooMuchPadA(self):
        """
        Without HASH('req1', S) in the first 628 bytes the receiver gives
        up, having held no more than that, whole and byte by byte.
        """
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        garbage = self.start[:96] + bytes(MAX_REQ1_SYNC)
        held = 0
        with self.assertRaises(EncryptionError) as caught:
            for byte in garbage:
                receiver.receiveData(bytes([byte]))
                held = max(held, len(receiver._in))
        self.assertIn("628", caught.exception.reason)
        self.assertEqual(held, MAX_REQ1_SYNC - 1)
        self.assertFails(garbage, "628")

    def test_req1JustBeyondLimit(self):
        """
        A req1 hash that ends one byte past the 628th is not looked for,
        even when it arrives in one chunk.
        """
        message = craftThirdMessage(self.reply, self.initiator)
        receiver = self.twin()
        receiver.receiveData(self.start[:96])
        e = self.assertRaises(
            EncryptionError, receiver.receiveData, bytes(MAX_PAD + 1) + message
        )
        self.assertIn("628", e.reason)
        receiver = self.twin()
        receiver.receiveData(self.start[:96])
        self.assertTrue(receiver.receiveData(bytes(MAX_PAD) + message))

    def test_publicKeyOutOfRange(self):
        """
        A public key of 0, 1, P - 1 or P or more is refused.
        """
        for y in (0, 1, mse.P - 1, mse.P, 2**768 - 1):
            receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
            e = self.assertRaises(
                EncryptionError, receiver.receiveData, y.to_bytes(96, "big")
            )
            self.assertIn("out of range", e.reason)


class InitiatorFailureTests(SynchronousTestCase):
    """
    An L{Initiator} refuses a broken or hostile receiver with
    L{EncryptionError}, and holds no more than the specification allows.
    """

    def setUp(self):
        self.initiator = Initiator(INFO_HASH, Policy.REQUIRE)
        self.receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER, seededRandom(3, 0))
        self.start = self.initiator.dataToSend()
        self.receiver.receiveData(self.start)

    def test_craftedIsAccepted(self):
        """
        The crafted reply with nothing wrong (PadB and PadD of 512 bytes) is
        accepted, whole and byte by byte.
        """
        reply = craftFourthMessage(self.start, self.receiver, padB=512, padD=512)
        self.assertEqual(
            self.initiator.receiveData(reply), [HandshakeComplete(CryptoMethod.RC4, INFO_HASH)]
        )
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        initiator._private = self.initiator._private
        events = []
        for byte in reply:
            events.extend(initiator.receiveData(bytes([byte])))
        self.assertEqual(events, [HandshakeComplete(CryptoMethod.RC4, INFO_HASH)])

    def test_tooMuchPadB(self):
        """
        Without ENCRYPT(VC) in the first 616 bytes, the initiator gives up,
        having held no more than that.
        """
        reply = craftFourthMessage(self.start, self.receiver, padB=513)
        held = 0
        with self.assertRaises(EncryptionError) as caught:
            for byte in reply:
                self.initiator.receiveData(bytes([byte]))
                held = max(held, len(self.initiator._in))
        self.assertIn("616", caught.exception.reason)
        self.assertEqual(held, MAX_VC_SYNC - 1)

    def test_tooMuchPadBWhole(self):
        """
        The same in one chunk.
        """
        reply = craftFourthMessage(self.start, self.receiver, padB=513)
        e = self.assertRaises(EncryptionError, self.initiator.receiveData, reply)
        self.assertIn("616", e.reason)

    def test_tooMuchPadD(self):
        """
        PadD longer than 512 bytes is refused.
        """
        reply = craftFourthMessage(self.start, self.receiver, padD=513)
        e = self.assertRaises(EncryptionError, self.initiator.receiveData, reply)
        self.assertIn("PadD", e.reason)

    def test_selectNotOffered(self):
        """
        A selected method we did not offer (plaintext under require), or
        several methods at once, or an unknown one, is refused.
        """
        for select in (0x01, 0x03, 0x04, 0):
            initiator = Initiator(INFO_HASH, Policy.REQUIRE)
            initiator._private = self.initiator._private
            reply = craftFourthMessage(self.start, self.receiver, select=select)
            e = self.assertRaises(EncryptionError, initiator.receiveData, reply)
            self.assertIn("selected", e.reason)

    def test_publicKeyOutOfRange(self):
        """
        A receiver's public key of 1 is refused.
        """
        e = self.assertRaises(
            EncryptionError, self.initiator.receiveData, (1).to_bytes(96, "big")
        )
        self.assertIn("out of range", e.reason)


class HypothesisTests(SynchronousTestCase):
    """
    Any bytes at all give events or L{EncryptionError}, nothing else.
    """

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.binary(max_size=700), max_size=4), st.sampled_from(list(Policy)[:2]))
    def test_receiverGarbage(self, chunks, policy):
        """
        A receiver fed garbage raises only our error, and holds at most the
        sync limit while searching.
        """
        receiver = Receiver(lambda: [INFO_HASH], policy)
        try:
            for chunk in chunks:
                receiver.receiveData(chunk)
                if not receiver.complete:
                    self.assertLessEqual(len(receiver._in), MAX_REQ1_SYNC)
        except EncryptionError:
            pass

    @settings(max_examples=100, deadline=None)
    @given(st.binary(min_size=96, max_size=96), st.lists(st.binary(max_size=700), max_size=4))
    def test_receiverGarbageAfterKey(self, key, chunks):
        """
        After a valid-looking public key, garbage still raises only our
        error.
        """
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER)
        try:
            receiver.receiveData(b"\x00" + key[1:])
            for chunk in chunks:
                receiver.receiveData(chunk)
        except EncryptionError:
            pass

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.binary(max_size=700), max_size=4))
    def test_initiatorGarbage(self, chunks):
        """
        An initiator fed garbage raises only our error and holds at most the
        sync limit while searching.
        """
        initiator = Initiator(INFO_HASH, Policy.PREFER)
        try:
            for chunk in chunks:
                initiator.receiveData(chunk)
                if not initiator.complete:
                    self.assertLessEqual(len(initiator._in), MAX_VC_SYNC)
        except EncryptionError:
            pass

    @settings(max_examples=50, deadline=None)
    @given(st.integers(1, 700), st.integers(0, 2**32))
    def test_anyChunking(self, chunk, seed):
        """
        However the bytes are cut, the handshake completes.
        """
        initiator = Initiator(INFO_HASH, Policy.PREFER, seededRandom(seed))
        receiver = Receiver(lambda: [INFO_HASH], Policy.PREFER, seededRandom(seed + 1))
        initiator.sendPayload(BT_HANDSHAKE)
        initiatorEvents, receiverEvents = exchange(initiator, receiver, chunk)
        self.assertEqual(initiatorEvents, [HandshakeComplete(CryptoMethod.RC4, INFO_HASH)])
        self.assertEqual(payloadOf(receiverEvents), BT_HANDSHAKE)
