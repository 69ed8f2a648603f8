"""Visitor tokens: real Ed25519 keys, every rejection reason, and garbage of any kind."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from edge.checkin.tokens import (
    MAX_LIFETIME_MS,
    TIME_FLOOR_MS,
    TokenRejected,
    b64url_encode,
    sign_payload,
    sign_token,
    verify_token,
)
from edge.errors import ConfigError, EdgeError
from tests.support.examples import examples

NOW = TIME_FLOOR_MS + 30 * 86_400_000
HOUR = 3_600_000


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


SIGNING = {kid: SigningKey.generate() for kid in ("t1", "t2")}
SEEDS = {kid: b64(bytes(key)) for kid, key in SIGNING.items()}
PUBLIC = {kid: b64(bytes(key.verify_key)) for kid, key in SIGNING.items()}


def token(kid: str = "t1", key: str | None = None, **fields: Any) -> str:
    args: dict[str, Any] = {
        "visitor": "member:12345",
        "consent": ["personalize", "analytics"],
        "segment": "gold",
        "iat_ms": NOW - HOUR,
        "exp_ms": NOW + HOUR,
    }
    args.update(fields)
    return sign_token(signing_key_b64=SEEDS[key or kid], kid=kid, **args)


def verify(text: str, *, now_ms: int = NOW, synced: bool = True) -> Any:
    return verify_token(text, public_keys=PUBLIC, now_ms=now_ms, clock_synced=synced)


def reason(text: str, **kwargs: Any) -> str:
    with pytest.raises(TokenRejected) as caught:
        verify(text, **kwargs)
    assert isinstance(caught.value, EdgeError)
    return caught.value.reason


def payload_of(text: str) -> bytes:
    head = text.split(".", maxsplit=1)[0]
    return base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))


def test_a_good_token() -> None:
    text = token()
    assert "=" not in text and text.count(".") == 1
    got = verify(text)
    assert got.visitor == "member:12345"
    assert got.consent == ("personalize", "analytics")
    assert got.allows("analytics") and not got.allows("marketing")
    assert got.segment == "gold"
    assert (got.kid, got.iat_ms, got.exp_ms) == ("t1", NOW - HOUR, NOW + HOUR)
    assert got.clock_checked is True
    assert verify(token(kid="t2")).kid == "t2"


def test_the_signature_covers_the_exact_payload_bytes() -> None:
    # Whitespace, key order, escapes, unknown fields: the platform's JSON as it wrote it.
    exp, iat = NOW + HOUR, NOW - HOUR
    body = (
        f'{{ "exp": {exp},\n "iat": {iat}, "visitor": "caf\\u00e9", "consent": [],'
        ' "kid": "t1", "future": {"x": 1.5} }'
    ).encode()
    got = verify(sign_payload(body, SEEDS["t1"]))
    assert got.visitor == "café" and got.segment is None and got.consent == ()
    # Re-serialising the same object gives other bytes: the signature no longer fits.
    resaved = json.dumps(json.loads(body), separators=(",", ":")).encode()
    forged = b64url_encode(resaved) + "." + sign_payload(body, SEEDS["t1"]).split(".")[1]
    assert reason(forged) == "bad_signature"


def test_a_tampered_payload_is_refused() -> None:
    good = token(consent=["analytics"])
    sig = good.split(".")[1]
    payload = json.loads(payload_of(good))
    payload["consent"] = ["analytics", "personalize"]
    tampered = b64url_encode(json.dumps(payload).encode()) + "." + sig
    assert reason(tampered) == "bad_signature"
    payload["visitor"] = "member:99999"
    assert reason(b64url_encode(json.dumps(payload).encode()) + "." + sig) == "bad_signature"


def test_a_tampered_signature_is_refused() -> None:
    head, sig = token().split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[10] ^= 1
    assert reason(head + "." + b64url_encode(bytes(raw))) == "bad_signature"
    assert reason(head + "." + b64url_encode(b"\0" * 64)) == "bad_signature"
    assert reason(head + "." + b64url_encode(b"\0" * 63)) == "malformed"


def test_signed_by_another_key_or_an_unknown_kid() -> None:
    assert reason(token(kid="t1", key="t2")) == "bad_signature"
    stranger = SigningKey.generate()
    text = sign_token(
        signing_key_b64=b64(bytes(stranger)),
        kid="t9",
        visitor="v",
        consent=[],
        iat_ms=NOW,
        exp_ms=NOW + HOUR,
    )
    assert reason(text) == "unknown_kid"


def test_expired_and_not_yet_valid_with_a_synchronised_clock() -> None:
    assert reason(token(exp_ms=NOW)) == "expired"
    assert reason(token(iat_ms=NOW - 2 * HOUR, exp_ms=NOW - 1)) == "expired"
    assert verify(token(iat_ms=NOW + 60_000, exp_ms=NOW + HOUR)).clock_checked
    assert reason(token(iat_ms=NOW + 60_001, exp_ms=NOW + HOUR)) == "not_yet_valid"


def test_before_clock_sync_the_clock_is_only_a_floor() -> None:
    # A Pi that booted with yesterday's saved time: the true time is later still.
    behind = NOW - 86_400_000
    issued_today = token(iat_ms=NOW - HOUR, exp_ms=NOW + HOUR)
    got = verify(issued_today, now_ms=behind, synced=False)
    assert got.clock_checked is False
    assert reason(issued_today, now_ms=behind, synced=True) == "not_yet_valid"
    # expired before even the device's lagging clock: expired for certain
    assert reason(token(iat_ms=behind - 2 * HOUR, exp_ms=behind - HOUR), synced=False) == (
        "expired"
    )
    # a clock at 1970 (no saved time at all) still knows this code's release date
    old = token(iat_ms=TIME_FLOOR_MS - 2 * HOUR, exp_ms=TIME_FLOOR_MS - HOUR)
    assert reason(old, now_ms=0, synced=False) == "expired"
    assert verify(token(), now_ms=0, synced=False).clock_checked is False


def test_the_lifetime_is_bounded() -> None:
    assert verify(token(iat_ms=NOW - HOUR, exp_ms=NOW - HOUR + MAX_LIFETIME_MS))
    assert reason(token(iat_ms=NOW - HOUR, exp_ms=NOW - HOUR + MAX_LIFETIME_MS + 1)) == (
        "malformed"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"visitor": ""},
        {"visitor": "v" * 257},
        {"consent": ["x"] * 17},
        {"consent": [""]},
        {"segment": ""},
        {"iat_ms": NOW, "exp_ms": NOW},
        {"iat_ms": -1},
        {"exp_ms": 2**53 + 1},
        {"iat_ms": True},
        {"exp_ms": float(NOW + HOUR)},
        {"consent": "personalize"},
        {"visitor": "\ud800"},
    ],
)
def test_signed_but_out_of_contract_is_malformed(fields: dict[str, Any]) -> None:
    payload: dict[str, Any] = {
        "kid": "t1",
        "visitor": "v",
        "consent": [],
        "segment": None,
        "iat": NOW - HOUR,
        "exp": NOW + HOUR,
    }
    renames = {"iat_ms": "iat", "exp_ms": "exp"}
    payload.update({renames.get(k, k): v for k, v in fields.items()})
    body = json.dumps(payload).encode()  # ASCII escapes, so even a lone surrogate is encodable
    assert reason(sign_payload(body, SEEDS["t1"])) == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        b'{"kid":"t1","kid":"t2","visitor":"v","consent":[],"iat":1,"exp":2}',
        b"[1,2,3]",
        b'{"kid":1}',
        b'{"visitor":"v"}',
        b"\xff\xfe{}",
        b'\xef\xbb\xbf{"kid":"t1"}',
        b"",
        b"[" * 700 + b"]" * 700,
    ],
)
def test_structurally_broken_payloads_are_malformed(body: bytes) -> None:
    assert reason(sign_payload(body, SEEDS["t1"])) == "malformed"


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "a.b.c",
        "abc",
        "e30.",
        ".AAAA",
        "e30=.AAAA",
        "e3+/.AAAA",
        "e31.AAAA",  # non-canonical: the last character has stray bits
        "é.é",
        "e30\n.AAAA",
        "x" * 2049,
    ],
)
def test_garbage_is_malformed(text: str) -> None:
    assert reason(text) == "malformed"


def test_a_token_over_the_length_limit_is_malformed_even_if_signed() -> None:
    text = token(visitor="v" * 200, extra={"pad": "p" * 1500})
    assert len(text) > 2048
    assert reason(text) == "malformed"
    got = verify_token(text, public_keys=PUBLIC, now_ms=NOW, clock_synced=True, max_len=len(text))
    assert got.visitor == "v" * 200


def test_a_bad_configured_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        verify_token(token(), public_keys={"t1": "not base64!"}, now_ms=NOW, clock_synced=True)


def test_non_string_input_is_malformed() -> None:
    for junk in (None, 42, b"e30.AAAA", ["e30", "AAAA"]):
        assert reason(junk) == "malformed"  # type: ignore[arg-type]


@settings(max_examples=examples(400), deadline=None)
@given(st.text(max_size=300))
def test_property_any_text_is_refused_only_with_token_rejected(text: str) -> None:
    with pytest.raises(TokenRejected):
        verify(text, synced=bool(len(text) % 2))


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=80))
def test_property_any_bytes_in_token_form_are_refused(payload: bytes, sig: bytes) -> None:
    with pytest.raises(TokenRejected):
        verify(b64url_encode(payload) + "." + b64url_encode(sig))


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=examples(150), deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["kid", "visitor", "consent", "segment", "iat", "exp", "x"]), JSONISH
    ),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
)
def test_property_any_signed_json_gives_a_token_or_token_rejected(
    fields: dict[str, Any], synced: bool, now_ms: int
) -> None:
    fields = {"kid": "t1", **fields}
    body = json.dumps(fields).encode()
    try:
        got = verify_token(
            sign_payload(body, SEEDS["t1"]), public_keys=PUBLIC, now_ms=now_ms, clock_synced=synced
        )
    except TokenRejected as exc:
        assert exc.reason in {"malformed", "unknown_kid", "expired", "not_yet_valid"}
    else:
        assert got.clock_checked is synced
        assert got.exp_ms > max(now_ms, TIME_FLOOR_MS)


@settings(max_examples=examples(200), deadline=None)
@given(
    visitor=st.text(min_size=1, max_size=256),
    consent=st.lists(st.sampled_from(["personalize", "analytics", "x"]), max_size=3),
    lifetime=st.integers(min_value=2, max_value=MAX_LIFETIME_MS),
)
def test_property_what_is_signed_is_what_is_read(
    visitor: str, consent: list[str], lifetime: int
) -> None:
    text = token(visitor=visitor, consent=consent, iat_ms=NOW - 1, exp_ms=NOW - 1 + lifetime)
    if len(text) > 2048:
        assert reason(text) == "malformed"
        return
    got = verify(text)
    assert (got.visitor, list(got.consent)) == (visitor, consent)
