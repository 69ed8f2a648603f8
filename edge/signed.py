"""The signed envelope central wraps manifests and config overlays in.

`{"<field>": {...}, "sig": "<base64 Ed25519>", "kid": "<key id>"}`, read as strict
JSON: a duplicate key would let two parsers read one payload differently, so it is
refused here, before anything is verified.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` for `json.loads` that refuses an object naming a key twice."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"key {twice[0]!r} appears twice in one object")
    return obj


class EnvelopeError(ValueError):
    """The payload is not a well-formed envelope; `claimed` is the body's version if it
    named one, so the rejection can say which version it refused."""

    def __init__(self, detail: str, claimed: int | None) -> None:
        super().__init__(detail)
        self.claimed = claimed


@dataclass(frozen=True)
class Envelope:
    body: dict[str, Any]
    sig: bytes
    kid: str
    claimed: int | None  # the body's `version`, when it is an integer


def open_envelope(payload: bytes, field: str) -> Envelope:
    """The body under `field`, its signature and key id; EnvelopeError if malformed.
    Nothing is verified here: the caller checks the signature with its own keys."""
    claimed: int | None = None
    try:
        doc = json.loads(payload, object_pairs_hook=no_duplicate_keys)
        if not isinstance(doc, dict):
            raise ValueError("payload is not a JSON object")
        body, sig_b64, kid = doc.get(field), doc.get("sig"), doc.get("kid")
        if not isinstance(body, dict):
            raise ValueError(f"{field} is missing or not an object")
        version = body.get("version")
        claimed = version if type(version) is int else None
        if not isinstance(sig_b64, str) or not isinstance(kid, str):
            raise ValueError("sig and kid must be strings")
        sig = base64.b64decode(sig_b64, validate=True)
    except (ValueError, TypeError, RecursionError) as exc:  # bad JSON, UTF-8, base64
        raise EnvelopeError(str(exc), claimed) from exc
    return Envelope(body, sig, kid, claimed)
