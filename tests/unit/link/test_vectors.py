"""The test vectors in docs/vectors/ are what the device accepts, and a single changed byte
is refused: a central team whose signer reproduces them can trust it works."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from edge.checkin.tokens import TokenRejected, verify_token
from edge.config import from_mapping
from edge.content.manifest import canonical, verify
from edge.doctor.keys import PUBLISHED_TEST_KEYS, check_trusted_keys
from edge.errors import ContentRejected
from edge.presence.pseudonym import pseudonym
from tests.support.paths import ROOT

VECTORS = ROOT / "docs" / "vectors"


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def flip(text: str, at: int) -> str:
    """`text` with the character at `at` replaced by another of the same kind."""
    ch = text[at]
    new = {"0": "1", "A": "B", "a": "b", "=": "A"}.get(ch, "0" if ch != "0" else "1")
    return text[:at] + new + text[at + 1 :]


def verify_manifest(vector: dict[str, Any], payload: bytes) -> int:
    manifest = verify(
        payload,
        public_keys={vector["kid"]: vector["public_key_b64"]},
        store_id=vector["store_id"],
        device_id=vector["device_id"],
        now_ms=vector["now_ms"],
        current_version=None,
    )
    return manifest.version


def test_the_manifest_vector_is_canonical_signed_and_accepted() -> None:
    v = load("manifest.json")
    assert canonical(v["manifest"]) == v["canonical"].encode("utf-8")
    assert "オモ" in v["canonical"]  # non-ASCII as UTF-8, never \\u escapes
    assert hashlib.sha256(v["canonical"].encode()).hexdigest() == v["canonical_sha256"]
    assert v["payload"]["sig"] == v["sig_b64"]
    for ascii_only in (True, False):  # the envelope's own spelling does not matter
        payload = json.dumps(v["payload"], ensure_ascii=ascii_only, indent=1).encode()
        assert verify_manifest(v, payload) == v["manifest"]["version"]


@pytest.mark.parametrize("where", ["title", "sig"])
def test_the_manifest_vector_with_one_byte_changed_is_refused(where: str) -> None:
    v = load("manifest.json")
    payload = json.loads(json.dumps(v["payload"]))
    if where == "title":
        slide = payload["manifest"]["playlist"][0]
        slide["title"] = slide["title"].replace("オ", "ォ")
    else:
        payload["sig"] = flip(payload["sig"], 10)
    with pytest.raises(ContentRejected) as info:
        verify_manifest(v, json.dumps(payload).encode())
    assert info.value.reason == "bad_signature"


def test_a_signature_over_indented_json_is_refused() -> None:
    """The classic signer bug: signing the pretty-printed manifest, not the canonical one."""
    v = load("manifest.json")
    from nacl.signing import SigningKey

    key = SigningKey(base64.b64decode(v["seed_b64"]))
    wrong = key.sign(json.dumps(v["manifest"], indent=2).encode()).signature
    payload = dict(v["payload"], sig=base64.b64encode(wrong).decode())
    with pytest.raises(ContentRejected) as info:
        verify_manifest(v, json.dumps(payload).encode())
    assert info.value.reason == "bad_signature"


def test_the_visitor_token_vector_is_accepted_and_a_changed_byte_refused() -> None:
    v = load("visitor-token.json")
    keys = {v["kid"]: v["public_key_b64"]}
    token = verify_token(v["token"], public_keys=keys, now_ms=v["now_ms"], clock_synced=True)
    assert (token.visitor, list(token.consent), token.segment) == (
        v["visitor"],
        v["consent"],
        v["segment"],
    )
    payload_part, sig_part = v["token"].split(".")
    for changed in (flip(payload_part, 5) + "." + sig_part, payload_part + "." + flip(sig_part, 5)):
        with pytest.raises(TokenRejected):
            verify_token(changed, public_keys=keys, now_ms=v["now_ms"], clock_synced=True)


def test_the_pseudonym_vector() -> None:
    v = load("pseudonym.json")
    key = base64.b64decode(v["key_b64"])
    assert pseudonym(key, v["kid"], v["identity"]) == v["pseudonym"]
    assert pseudonym(key, v["kid"], v["identity_non_ascii"]) == v["pseudonym_non_ascii"]
    other = bytes([key[0] ^ 1]) + key[1:]
    assert pseudonym(other, v["kid"], v["identity"]) != v["pseudonym"]


def test_doctor_fails_a_device_that_trusts_a_published_test_key() -> None:
    manifest_key = load("manifest.json")["public_key_b64"]
    token_key = load("visitor-token.json")["public_key_b64"]
    assert set(PUBLISHED_TEST_KEYS) == {manifest_key, token_key}  # the doctor knows them all
    risky = from_mapping({"content": {"public_keys": {"test": manifest_key}}})
    finding = check_trusted_keys(risky)
    assert finding.status == "FAIL" and "content] public_keys.test" in finding.found
    assert "manifest.json" in finding.found
    own = base64.b64encode(b"\x01" * 32).decode()
    assert check_trusted_keys(from_mapping({"content": {"public_keys": {"k": own}}})).status == "OK"
