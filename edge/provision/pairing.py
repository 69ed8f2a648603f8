"""The pairing protocol, pure: frames, messages, and both sides' state machines.

Why a PAKE: the 6-digit code on the screen is the only secret the ops person
and the device share, and a million codes are brute-forced in a second. With
SPAKE2 keyed by the code, a passive listener on the store Wi-Fi learns nothing
it can test offline, and an active one (a fake device, or a fake ops tool)
gets exactly one guess per session, which the device counts. Both sides prove
they know the code (HMAC of the transcript under keys derived from the SPAKE2
key) before anything else moves; the CSR and the bundle travel sealed
(AES-GCM) under keys derived from the same session key.

Exchange (ops = SPAKE2 side A, device = side B, identities bind the device id):

    ops    -> device  hello    {v, device_id, pake}
    device -> ops     pake     {pake, confirm}     (or refused {reason, ...})
    ops    -> device  confirm  {confirm}           only if the device's confirm was right
    device -> ops     csr      {box}               (or refused wrong_code)
    ops    -> device  bundle   {box}
    device -> ops     done     {}                  (or refused bundle_rejected)

Frames are a 4-byte big-endian length and a JSON object of at most
MAX_FRAME bytes; anything else is rejected with FrameError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from spake2 import SPAKE2_A, SPAKE2_B

from edge.errors import EdgeError

VERSION = 1
LABEL = b"omo-edge pairing v1"
OPS_IDENTITY = b"omo-edge ops"
MAX_FRAME = 64 * 1024
CODE_DIGITS = 6

B64 = Annotated[str, msgspec.Meta(max_length=48 * 1024)]
Reason = Literal["locked", "provisioned", "busy", "wrong_code", "bundle_rejected", "protocol"]


class FrameError(EdgeError):
    """Bytes that are not a well-formed pairing message."""


class PairingFailed(EdgeError):
    """The exchange ended without a bundle; `reason` is one of `Reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


class _Msg(msgspec.Struct, tag_field="t", forbid_unknown_fields=True, frozen=True):
    pass


class Hello(_Msg, tag="hello", frozen=True):
    v: int
    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    pake: B64


class Pake(_Msg, tag="pake", frozen=True):
    pake: B64
    confirm: B64
    attempts_left: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0  # this one included


class Confirm(_Msg, tag="confirm", frozen=True):
    confirm: B64


class Csr(_Msg, tag="csr", frozen=True):
    box: B64


class BundleBox(_Msg, tag="bundle", frozen=True):
    box: B64


class Done(_Msg, tag="done", frozen=True):
    pass


class Refused(_Msg, tag="refused", frozen=True):
    reason: Reason
    detail: Annotated[str, msgspec.Meta(max_length=500)] = ""
    retry_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 0.0
    attempts_left: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0


Message = Hello | Pake | Confirm | Csr | BundleBox | Done | Refused
_decoder = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()


def frame(msg: Message) -> bytes:
    body = _encoder.encode(msg)
    if len(body) > MAX_FRAME:
        raise FrameError(f"message of {len(body)} bytes is over the {MAX_FRAME}-byte limit")
    return struct.pack(">I", len(body)) + body


def frame_length(header: bytes) -> int:
    """The body length a 4-byte header announces; FrameError if it is over the limit."""
    if len(header) != 4:
        raise FrameError("truncated frame header")
    (length,) = struct.unpack(">I", header)
    if not 0 < length <= MAX_FRAME:
        raise FrameError(f"frame of {length} bytes announced (allowed: 1-{MAX_FRAME})")
    return int(length)


def parse(body: bytes) -> Message:
    """One message from a frame body; FrameError for anything not exactly a message."""
    if len(body) > MAX_FRAME:
        raise FrameError("frame over the size limit")
    try:
        msg: Message = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise FrameError(f"not a pairing message: {exc}") from exc
    except RecursionError as exc:  # found by fuzzing: JSON nested thousands deep
        raise FrameError("not a pairing message: nested too deeply") from exc
    return msg


def parse_frames(data: bytes) -> list[Message]:
    """Every message of a byte string of whole frames (tests, recorded exchanges)."""
    out: list[Message] = []
    while data:
        n = frame_length(data[:4])
        if len(data) < 4 + n:
            raise FrameError("truncated frame")
        out.append(parse(data[4 : 4 + n]))
        data = data[4 + n :]
    return out


def new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FrameError(f"{what} is not base64") from exc


@dataclass(frozen=True, slots=True)
class _Keys:
    device_confirm: bytes
    ops_confirm: bytes
    to_ops: bytes
    to_device: bytes


def _keys(session_key: bytes, transcript: bytes) -> _Keys:
    okm = HKDF(hashes.SHA256(), 128, salt=transcript, info=LABEL + b" keys").derive(session_key)
    return _Keys(okm[:32], okm[32:64], okm[64:96], okm[96:])


def _transcript(device_id: str, msg_a: bytes, msg_b: bytes) -> bytes:
    h = hashlib.sha256(LABEL)
    for part in (device_id.encode(), msg_a, msg_b):
        h.update(struct.pack(">I", len(part)) + part)
    return h.digest()


def _mac(key: bytes, who: bytes, transcript: bytes) -> bytes:
    return hmac.new(key, who + transcript, hashlib.sha256).digest()


def _seal(key: bytes, plaintext: bytes, what: bytes) -> str:
    nonce = secrets.token_bytes(12)
    return _b64(nonce + AESGCM(key).encrypt(nonce, plaintext, LABEL + what))


def _open(key: bytes, box: str, what: bytes) -> bytes:
    raw = _unb64(box, "sealed box")
    if len(raw) < 12 + 16:
        raise FrameError("sealed box too short")
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], LABEL + what)
    except InvalidTag as exc:
        raise FrameError("sealed box does not open under the session key") from exc


def _spake_finish(side: SPAKE2_A | SPAKE2_B, msg: bytes) -> bytes | None:
    try:
        return bytes(side.finish(msg))
    except Exception:  # the spake2 package raises several kinds for a bad element
        return None


class DeviceSession:
    """The device's side of one session. Each method takes the peer's message and
    returns the answer; `confirmed` says whether the peer proved it knows the code."""

    def __init__(self, device_id: str, code: str) -> None:
        self.device_id = device_id
        self._code = code.encode()
        self._keys: _Keys | None = None
        self._transcript = b""
        self.confirmed = False
        self.started = False

    def hello(self, msg: Hello, attempts_left: int = 0) -> Pake | Refused:
        if msg.v != VERSION:
            return Refused("protocol", f"pairing protocol v{msg.v} is not spoken here (v1 is)")
        if msg.device_id != self.device_id:
            return Refused("protocol", f"this is device {self.device_id}, not {msg.device_id}")
        msg_a = _unb64(msg.pake, "pake")
        side = SPAKE2_B(self._code, idA=OPS_IDENTITY, idB=self.device_id.encode())
        msg_b = bytes(side.start())
        self.started = True  # from here on the session counts as an attempt unless confirmed
        key = _spake_finish(side, msg_a)
        if key is None:
            key = secrets.token_bytes(32)  # a malformed element: answer like any wrong code
        self._transcript = _transcript(self.device_id, msg_a, msg_b)
        self._keys = _keys(key, self._transcript)
        mac = _mac(self._keys.device_confirm, b"device", self._transcript)
        return Pake(_b64(msg_b), _b64(mac), attempts_left)

    def confirm(self, msg: Confirm, csr_pem: bytes) -> Csr | None:
        """The CSR sealed for ops, or None if the confirmation is wrong (a wrong code)."""
        if self._keys is None:
            return None
        want = _mac(self._keys.ops_confirm, b"ops", self._transcript)
        if not hmac.compare_digest(want, _unb64(msg.confirm, "confirm")):
            return None
        self.confirmed = True
        return Csr(_seal(self._keys.to_ops, csr_pem, b"csr"))

    def open_bundle(self, msg: BundleBox) -> bytes:
        if self._keys is None or not self.confirmed:
            raise FrameError("a bundle before the code was confirmed")
        return _open(self._keys.to_device, msg.box, b"bundle")


class OpsSession:
    """The ops tool's side: nothing but its SPAKE2 message leaves before the device
    proves it knows the code."""

    def __init__(self, device_id: str, code: str) -> None:
        self.device_id = device_id
        self._side = SPAKE2_A(code.encode(), idA=OPS_IDENTITY, idB=device_id.encode())
        self._msg_a = bytes(self._side.start())
        self._keys: _Keys | None = None
        self._transcript = b""

    def hello(self) -> Hello:
        return Hello(VERSION, self.device_id, _b64(self._msg_a))

    def pake(self, msg: Pake) -> Confirm:
        """Our confirmation; PairingFailed("wrong_code") if the device's does not check out."""
        msg_b = _unb64(msg.pake, "pake")
        key = _spake_finish(self._side, msg_b)
        self._transcript = _transcript(self.device_id, self._msg_a, msg_b)
        if key is not None:
            keys = _keys(key, self._transcript)
            want = _mac(keys.device_confirm, b"device", self._transcript)
            if hmac.compare_digest(want, _unb64(msg.confirm, "confirm")):
                self._keys = keys
                return Confirm(_b64(_mac(keys.ops_confirm, b"ops", self._transcript)))
        left = max(0, msg.attempts_left - 1)
        then = (
            f"{left} attempts left"
            if left
            else "pairing is now locked for a while and a new code will be on the screen"
        )
        raise PairingFailed(
            "wrong_code",
            f"the device could not prove it knows this code (a wrong code, or not the device "
            f"you meant); nothing was sent to it; {then}",
        )

    def open_csr(self, msg: Csr) -> bytes:
        if self._keys is None:
            raise FrameError("a CSR before the code was confirmed")
        return _open(self._keys.to_ops, msg.box, b"csr")

    def seal_bundle(self, bundle_json: bytes) -> BundleBox:
        if self._keys is None:
            raise PairingFailed("wrong_code", "the code was not confirmed; the bundle stays here")
        return BundleBox(_seal(self._keys.to_device, bundle_json, b"bundle"))


@dataclass
class Guard:
    """Wrong-attempt counting and back-off for one device (pure; `now` is monotonic s).

    After `max_attempts` failed sessions the code is replaced and pairing is refused
    for `lock_s`, doubling with every further lock (up to `max_lock_s`); a session
    that confirmed replaces the code too (single use).
    """

    max_attempts: int = 5
    lock_s: float = 30.0
    max_lock_s: float = 3600.0
    code: str = ""
    failures: int = 0
    locks: int = 0
    locked_until: float = 0.0

    def __post_init__(self) -> None:
        if not self.code:
            self.code = new_code()

    def locked(self, now: float) -> float:
        """Seconds until pairing is allowed again (0: allowed now)."""
        return max(0.0, self.locked_until - now)

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.failures)

    def failed(self, now: float) -> bool:
        """Count a wrong attempt; True if that locked pairing (and a new code was made)."""
        self.failures += 1
        if self.failures < self.max_attempts:
            return False
        self.locked_until = now + min(self.max_lock_s, self.lock_s * 2**self.locks)
        self.locks += 1
        self.failures = 0
        self.code = new_code()
        return True

    def used(self) -> None:
        """The code was confirmed: it never works again."""
        self.failures = 0
        self.code = new_code()
