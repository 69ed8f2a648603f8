"""Published test keys must never be trusted on a real device.

docs/vectors/ publishes key pairs, seeds included, so central teams can check
their signers against the device. Anyone can sign with them: a device that
trusts one of their public keys accepts anything from anyone.
"""

from __future__ import annotations

from edge.config import Config
from edge.doctor.findings import Finding

PUBLISHED_TEST_KEYS = {
    "TbaAMum+AO8gNMff+bVuhjuX3gO3Ed0l04sx8lsaSs4=": "docs/vectors/manifest.json",
    "Kam20vmJpNs3if3eQjzoRakDBLCP12bbAaxitE8+Hn4=": "docs/vectors/visitor-token.json",
}
"""Public key (base64) -> the vector file whose seed signs for it."""


def check_trusted_keys(cfg: Config) -> Finding:
    trusted = {
        f"[content] public_keys.{kid}": key for kid, key in cfg.content.public_keys.items()
    } | {f"[checkin] public_keys.{kid}": key for kid, key in cfg.checkin.public_keys.items()}
    bad = [f"{where} is the published test key of {PUBLISHED_TEST_KEYS[key]}"
           for where, key in trusted.items() if key in PUBLISHED_TEST_KEYS]  # fmt: skip
    if bad:
        return Finding(
            "FAIL",
            "keys",
            "; ".join(bad) + ": anyone can sign with it",
            "remove it and configure your platform's own public key",
        )
    return Finding("OK", "keys", f"{len(trusted)} trusted public keys, none a published test key")
