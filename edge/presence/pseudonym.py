"""Visitor pseudonyms (docs/protocol.md "Visitor identifiers and consent"). Pure.

A visitor id leaves memory (outbox, `P/events`, `P/decide`, logs) as
`h{kid}:` + lowercase hex HMAC-SHA256(visitor_key[kid], identity): the
platform, which provisioned the keys, can still resolve its own customers;
nobody else can tell which tag or member it names, and the same visitor
gets the same pseudonym on every device of the fleet using that key.

Only the presence tracker holds raw identities, in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from edge.errors import EdgeError

MIN_KEY_BYTES = 16
KID = re.compile(r"[A-Za-z0-9_-]{1,32}")
PSEUDONYM = re.compile(r"h([A-Za-z0-9_-]{1,32}):([0-9a-f]{64})")


class PseudonymSettingsError(EdgeError, ValueError):
    """`[privacy]` keys that cannot work; `key` names the config key at fault."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"privacy.{key} = {value!r}: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


def pseudonym(key: bytes, kid: str, identity: str) -> str:
    """`h{kid}:` + hex HMAC-SHA256(key, identity as UTF-8)."""
    digest = hmac.new(key, identity.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"h{kid}:{digest}"


def is_pseudonym(visitor: str) -> bool:
    return PSEUDONYM.fullmatch(visitor) is not None


def decode_key(text: object) -> bytes | None:
    """A base64 visitor key (standard or URL-safe alphabet), or None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) >= MIN_KEY_BYTES else None


@dataclass(frozen=True)
class Pseudonymizer:
    """Turns identities into what the device may store and send. `kid` None: off."""

    keys: Mapping[str, bytes] = field(default_factory=dict)
    kid: str | None = None

    @property
    def active(self) -> bool:
        return self.kid is not None

    def public(self, identity: str) -> str:
        """What may leave memory for `identity` (a pseudonym already stays as it is)."""
        if self.kid is None or is_pseudonym(identity):
            return identity
        return pseudonym(self.keys[self.kid], self.kid, identity)

    def forms(self, visitor: str) -> frozenset[str]:
        """Every string that may name this visitor on the device: the id as given and its
        pseudonym under every provisioned key (the active key may have changed since)."""
        if is_pseudonym(visitor):
            return frozenset({visitor})
        return frozenset(
            {visitor, *(pseudonym(key, kid, visitor) for kid, key in self.keys.items())}
        )


class PrivacySettings(Protocol):
    """The `[privacy]` config section's keys that choose the pseudonymizer."""

    @property
    def visitor_keys(self) -> Mapping[str, str]: ...
    @property
    def visitor_kid(self) -> str: ...
    @property
    def pseudonymize(self) -> bool: ...


def from_settings(privacy: Mapping[str, object] | PrivacySettings) -> Pseudonymizer:
    """The pseudonymizer a `[privacy]` table asks for; PseudonymSettingsError if it cannot."""
    if not isinstance(privacy, Mapping):
        privacy = {
            "visitor_keys": privacy.visitor_keys,
            "visitor_kid": privacy.visitor_kid,
            "pseudonymize": privacy.pseudonymize,
        }
    given = privacy.get("visitor_keys") or {}
    if not isinstance(given, Mapping):
        raise PseudonymSettingsError("visitor_keys", given, "a table of kid = base64 key")
    keys: dict[str, bytes] = {}
    for kid, text in given.items():
        if not isinstance(kid, str) or KID.fullmatch(kid) is None:
            raise PseudonymSettingsError(
                "visitor_keys", kid, "key ids of 1-32 letters, digits, '-' or '_'"
            )
        key = decode_key(text)
        if key is None:
            raise PseudonymSettingsError(
                f"visitor_keys.{kid}", "(hidden)", f"base64 of at least {MIN_KEY_BYTES} bytes"
            )
        keys[kid] = key
    kid = privacy.get("visitor_kid") or ""
    if kid and kid not in keys:
        raise PseudonymSettingsError(
            "visitor_kid", kid, "empty, or one of the kids in privacy.visitor_keys"
        )
    if not privacy.get("pseudonymize", True) or not keys:
        return Pseudonymizer(keys, None)
    if not kid:
        if len(keys) > 1:
            raise PseudonymSettingsError(
                "visitor_kid",
                kid,
                f"the kid that pseudonymises (several keys: {', '.join(sorted(keys))})",
            )
        (kid,) = keys
    return Pseudonymizer(keys, str(kid))
