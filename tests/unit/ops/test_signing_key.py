"""Content signing keys: written private, never overwritten by accident, read back from our
own files or PEM, and anything else refused in words."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from edge.content.manifest import valid_public_key
from edge.ops.errors import OpsError
from edge.ops.signing_key import config_line, read_key, write_new_key

VECTOR = Path(__file__).resolve().parents[3] / "docs" / "vectors" / "manifest.json"


def test_a_new_key_is_private_and_its_line_configures_a_device(tmp_path: Path) -> None:
    path = tmp_path / "content.key"
    key = write_new_key(path, "content-2026", force=False)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_key(path).public_b64 == key.public_b64 and read_key(path).kid == "content-2026"
    table = tomllib.loads("[content]\n" + config_line("content-2026", key.public_b64))
    assert table["content"]["public_keys"] == {"content-2026": key.public_b64}
    assert valid_public_key(key.public_b64)


def test_a_key_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    path = tmp_path / "content.key"
    first = write_new_key(path, "k1", force=False)
    with pytest.raises(OpsError, match="--force"):
        write_new_key(path, "k1", force=False)
    assert read_key(path).public_b64 == first.public_b64
    assert write_new_key(path, "k1", force=True).public_b64 != first.public_b64


def test_the_vector_file_reads_as_a_key() -> None:
    key = read_key(VECTOR)  # same field names: seed_b64, public_key_b64, kid
    assert key.kid == "vector-2026"
    assert key.public_b64 == json.loads(VECTOR.read_text())["public_key_b64"]


def test_a_pem_ed25519_key_is_read(tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "k.pem").write_bytes(pem)
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert read_key(tmp_path / "k.pem").public_b64 == base64.b64encode(raw).decode()


def _rsa_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not a signing key file"),
        (b'{"kid": "k", "public_key_b64": "AAAA"}', "missing field seed_b64"),
        (b'{"kid": "k", "seed_b64": "!!", "public_key_b64": "x"}', "not base64"),
        (b'{"kid": "k", "seed_b64": "AAAA", "public_key_b64": "AAAA"}', "not the 32"),
        (
            json.dumps(
                {"kid": "k", "seed_b64": "A" * 43 + "=", "public_key_b64": "B" * 43 + "="}
            ).encode(),
            "do not belong together",
        ),
        (b"-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n", "without a private"),
        (b"-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n", "not a readable"),
        (_rsa_pem(), "RSAPrivateKey key; manifests are signed with Ed25519"),
    ],
)
def test_what_is_not_a_signing_key_is_refused_in_words(
    tmp_path: Path, data: bytes, words: str
) -> None:
    path = tmp_path / "key"
    path.write_bytes(data)
    with pytest.raises(OpsError, match=words):
        read_key(path)
    with pytest.raises(OpsError, match="cannot read"):
        read_key(tmp_path / "missing")
