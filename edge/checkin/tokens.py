"""Visitor tokens for LAN check-in: signed by the platform, verified with public keys only.

Format (docs/checkin.md "Visitor token"):

    token   = b64url(payload) "." b64url(signature)
    payload = UTF-8 JSON object {"kid": str, "visitor": str, "consent": [str],
              "segment": str|null, "iat": int ms, "exp": int ms}

`b64url` is RFC 4648 §5 base64url without "=" padding, in its one canonical
form. The Ed25519 signature, by the platform's token key named `kid`, covers
the payload bytes exactly as they are inside the token (after base64url
decoding): the device never re-serialises anything, so the platform may
write the JSON however it likes. Unknown payload fields are ignored;
duplicate keys are refused.

Order: the token is split and decoded, the payload parsed only far enough to
read `kid`, the signature checked; only a payload that verifies is read any
further (types, limits, times). A problem is TokenRejected with one reason:
malformed, unknown_kid, bad_signature, expired, not_yet_valid.

Time (a Pi has no RTC). With a synchronised clock a token is valid while
`iat - leeway_ms <= now < exp`. Before the first sync the clock is only a
lower bound on the true time (systemd restores the last known time at boot;
the release date of this code is a second floor), so:
- `exp <= max(now_ms, floor_ms)` is still expired: it is so in any case;
- "not yet valid" cannot be judged and is not checked;
- the token is accepted with `clock_checked=False`, so the caller can say so
  (every event carries `clock_synced`) or be stricter.
`exp - iat` may be at most `max_lifetime_ms` (7 days by default) at any time,
which bounds how long a copied token works on a device that never syncs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from edge.clock import TIME_FLOOR_MS
from edge.content.manifest import valid_public_key
from edge.errors import ConfigError, EdgeError
from edge.signed import no_duplicate_keys

Reason = Literal["malformed", "unknown_kid", "bad_signature", "expired", "not_yet_valid"]
MALFORMED: Reason = "malformed"
UNKNOWN_KID: Reason = "unknown_kid"
BAD_SIGNATURE: Reason = "bad_signature"
EXPIRED: Reason = "expired"
NOT_YET_VALID: Reason = "not_yet_valid"

MAX_LEN = 2048
LEEWAY_MS = 60_000
MAX_LIFETIME_MS = 7 * 24 * 3_600_000

MAX_TS = 2**53  # beyond any real time; keeps the arithmetic exact everywhere
MAX_VISITOR = 256
MAX_CONSENT = 16
MAX_WORD = 64  # a consent purpose or a segment

_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class TokenRejected(EdgeError):
    """A visitor token is not believed; `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason: Reason = reason
        self.detail = detail or reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class VisitorToken:
    """A verified token. `clock_checked` is False if it was accepted before clock sync."""

    kid: str
    visitor: str
    consent: tuple[str, ...]
    segment: str | None
    iat_ms: int
    exp_ms: int
    clock_checked: bool

    def allows(self, purpose: str) -> bool:
        """Did the visitor consent to `purpose` ("personalize", "analytics")?"""
        return purpose in self.consent


class _Payload(msgspec.Struct, frozen=True, kw_only=True):
    kid: str
    visitor: str
    consent: list[str]
    iat: int
    exp: int
    segment: str | None = None


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str, what: str) -> bytes:
    """Strict: the alphabet only, no padding, and the one canonical spelling."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError(f"{what} is not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(raw) != text:
        raise ValueError(f"{what} is not canonical base64url")
    return raw


def _verify_key(public_keys: Mapping[str, str], kid: str) -> VerifyKey:
    value = public_keys[kid]
    if not valid_public_key(value):
        raise ConfigError(
            f"check-in public key {kid!r}", value, "base64 of a raw 32-byte Ed25519 public key"
        )
    return VerifyKey(base64.b64decode(value, validate=True))


def _split(token: object, max_len: int) -> tuple[bytes, bytes, dict[str, Any]]:
    """Payload bytes, signature bytes and the parsed payload (with a string kid), or ValueError."""
    if not isinstance(token, str):
        raise ValueError("token is not a string")
    if len(token) > max_len:
        raise ValueError(f"token is longer than {max_len} characters")
    parts = token.split(".")
    if len(parts) != 2:
        raise ValueError("token is not two base64url parts joined by '.'")
    payload = _b64url_decode(parts[0], "payload")
    sig = _b64url_decode(parts[1], "signature")
    if len(sig) != 64:
        raise ValueError(f"signature is {len(sig)} bytes, not 64")
    doc = json.loads(payload.decode("utf-8"), object_pairs_hook=no_duplicate_keys)
    if not isinstance(doc, dict):
        raise ValueError("payload is not a JSON object")
    if not isinstance(doc.get("kid"), str):
        raise ValueError("payload has no string kid")
    return payload, sig, doc


def _fields(doc: dict[str, Any], max_lifetime_ms: int) -> _Payload:
    """The verified payload's fields, within the limits of the contract, or ValueError."""
    p = msgspec.convert(doc, _Payload)  # strict: no bool or float for an int
    for text in (p.kid, p.visitor, *p.consent, p.segment or ""):
        text.encode("utf-8")  # a lone surrogate (JSON "\ud800") could not be stored or sent
    if not 1 <= len(p.visitor) <= MAX_VISITOR:
        raise ValueError(f"visitor must be 1-{MAX_VISITOR} characters")
    if len(p.consent) > MAX_CONSENT or not all(1 <= len(c) <= MAX_WORD for c in p.consent):
        raise ValueError(f"consent must be at most {MAX_CONSENT} words of 1-{MAX_WORD} chars")
    if p.segment is not None and not 1 <= len(p.segment) <= MAX_WORD:
        raise ValueError(f"segment must be null or 1-{MAX_WORD} characters")
    if not 0 <= p.iat < p.exp <= MAX_TS:
        raise ValueError(f"iat {p.iat} and exp {p.exp} are not 0 <= iat < exp <= 2**53")
    if p.exp - p.iat > max_lifetime_ms:
        raise ValueError(f"lifetime {p.exp - p.iat} ms is over {max_lifetime_ms} ms")
    return p


def verify_token(
    token: str,
    *,
    public_keys: Mapping[str, str],
    now_ms: int,
    clock_synced: bool,
    max_len: int = MAX_LEN,
    floor_ms: int = TIME_FLOOR_MS,
    leeway_ms: int = LEEWAY_MS,
    max_lifetime_ms: int = MAX_LIFETIME_MS,
) -> VisitorToken:
    """The visitor in `token` if a known key signed it and it is valid now.

    Anything else is TokenRejected, whatever `token` holds. `public_keys` maps
    kid to base64 of a raw Ed25519 public key (a bad configured key is a
    ConfigError). `now_ms` is the wall clock; `clock_synced` says whether to
    believe it (see the module docstring for what changes before the sync).
    """
    try:
        payload, sig, doc = _split(token, max_len)
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8 and base64 errors are ValueErrors
        raise TokenRejected(MALFORMED, str(exc)) from exc
    kid: str = doc["kid"]
    if kid not in public_keys:
        raise TokenRejected(UNKNOWN_KID, f"no check-in public key with kid {kid!r}")
    try:
        _verify_key(public_keys, kid).verify(payload, sig)
    except BadSignatureError as exc:
        raise TokenRejected(BAD_SIGNATURE, f"signature does not verify with kid {kid!r}") from exc
    try:
        p = _fields(doc, max_lifetime_ms)
    except (msgspec.ValidationError, ValueError) as exc:
        raise TokenRejected(MALFORMED, str(exc)) from exc

    known_ms = max(now_ms, floor_ms)  # the true time is at least this, synced or not
    if p.exp <= known_ms:
        raise TokenRejected(EXPIRED, f"expired at {p.exp}, now at least {known_ms}")
    if clock_synced and p.iat - leeway_ms > now_ms:
        raise TokenRejected(NOT_YET_VALID, f"issued at {p.iat}, now {now_ms}")
    return VisitorToken(
        kid=p.kid,
        visitor=p.visitor,
        consent=tuple(p.consent),
        segment=p.segment,
        iat_ms=p.iat,
        exp_ms=p.exp,
        clock_checked=clock_synced,
    )


def sign_payload(payload: bytes, signing_key_b64: str) -> str:
    """A token of exactly `payload`, signed with the raw 32-byte Ed25519 seed (base64)."""
    key = SigningKey(base64.b64decode(signing_key_b64, validate=True))
    return f"{b64url_encode(payload)}.{b64url_encode(key.sign(payload).signature)}"


def sign_token(
    *,
    signing_key_b64: str,
    kid: str,
    visitor: str,
    consent: Sequence[str],
    iat_ms: int,
    exp_ms: int,
    segment: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """What the platform does (for the simulator and tests); `extra` adds fields."""
    payload = {
        **(extra or {}),
        "kid": kid,
        "visitor": visitor,
        "consent": list(consent),
        "segment": segment,
        "iat": iat_ms,
        "exp": exp_ms,
    }
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return sign_payload(body, signing_key_b64)
