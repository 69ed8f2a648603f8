"""Signed config overlays for tests: a config key, a content key, and `overlay(...)`, a
payload as `omo-ops config push` would publish it."""

from __future__ import annotations

import base64
import time
from typing import Any

from nacl.signing import SigningKey

from edge.config import remote

UUID_A = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
UUID_B = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"


def _key() -> tuple[str, str]:
    key = SigningKey.generate()
    return base64.b64encode(bytes(key)).decode(), base64.b64encode(bytes(key.verify_key)).decode()


CONFIG_SEED, CONFIG_PUB = _key()
CONTENT_SEED, CONTENT_PUB = _key()


def overlay(
    settings_: dict[str, Any],
    *,
    version: int = 1,
    store: str = "store-1",
    device: str | None = "screen-1",
    expires_in_ms: int = 3_600_000,
    seed: str = CONFIG_SEED,
    kid: str = "config-1",
) -> bytes:
    now = int(time.time() * 1000)
    body = {
        "version": version,
        "issued_ts": now,
        "expires_ts": now + expires_in_ms,
        "scope": {"store_id": store, "device_id": device},
        "settings": settings_,
    }
    return remote.sign(body, seed, kid)
