"""Visitor pseudonyms: `h{kid}:` + hex HMAC-SHA256(key, identity); settings from `[privacy]`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config import load
from edge.errors import ConfigError
from edge.presence.pseudonym import (
    PSEUDONYM,
    Pseudonymizer,
    PseudonymSettingsError,
    from_settings,
    is_pseudonym,
    pseudonym,
)

keys = st.binary(min_size=16, max_size=64)
kids = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)
identities = st.text(min_size=1, max_size=80)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_known_answer_rfc4231_case_2() -> None:
    """HMAC-SHA256 test vector: key "Jefe", data "what do ya want for nothing?"."""
    assert pseudonym(b"Jefe", "1", "what do ya want for nothing?") == (
        "h1:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


@given(keys, kids, identities)
def test_format_stable_and_recognised(key: bytes, kid: str, identity: str) -> None:
    name = pseudonym(key, kid, identity)
    match = PSEUDONYM.fullmatch(name)
    assert match is not None and match.group(1) == kid
    assert match.group(2) == hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()
    assert pseudonym(key, kid, identity) == name


@given(keys, keys, kids, identities)
def test_another_key_gives_another_pseudonym(a: bytes, b: bytes, kid: str, who: str) -> None:
    if a != b:
        assert pseudonym(a, kid, who) != pseudonym(b, kid, who)


@given(keys, kids, kids, identities)
def test_different_kids_differ(key: bytes, k1: str, k2: str, who: str) -> None:
    if k1 != k2:
        assert pseudonym(key, k1, who) != pseudonym(key, k2, who)


@given(keys, identities, identities)
def test_different_visitors_differ(key: bytes, a: str, b: str) -> None:
    if a != b:
        assert pseudonym(key, "k", a) != pseudonym(key, "k", b)


@given(keys, keys, identities)
def test_public_is_idempotent_and_forms_cover_every_key(a: bytes, b: bytes, who: str) -> None:
    p = Pseudonymizer({"k1": a, "k2": b}, "k2")
    public = p.public(who)
    assert public == pseudonym(b, "k2", who) or is_pseudonym(who)
    assert p.public(public) == public
    if not is_pseudonym(who):
        assert p.forms(who) == {who, pseudonym(a, "k1", who), pseudonym(b, "k2", who)}
    assert p.forms(public) >= {public}


def test_off_without_keys_or_when_switched_off() -> None:
    assert from_settings({}).public("line:0123456789") == "line:0123456789"
    off = from_settings({"visitor_keys": {"k": b64(b"k" * 32)}, "pseudonymize": False})
    assert not off.active and off.public("line:0123456789") == "line:0123456789"
    assert off.forms("line:0123456789") == {
        "line:0123456789",
        pseudonym(b"k" * 32, "k", "line:0123456789"),
    }


def test_the_only_key_is_used_several_need_a_kid() -> None:
    one = from_settings({"visitor_keys": {"a": b64(b"a" * 32)}})
    assert one.public("x") == pseudonym(b"a" * 32, "a", "x")
    two = {"a": b64(b"a" * 32), "b": b64(b"b" * 32)}
    with pytest.raises(PseudonymSettingsError, match="several keys: a, b"):
        from_settings({"visitor_keys": two})
    assert from_settings({"visitor_keys": two, "visitor_kid": "b"}).public("x") == pseudonym(
        b"b" * 32, "b", "x"
    )
    with pytest.raises(PseudonymSettingsError, match="visitor_kid"):
        from_settings({"visitor_keys": two, "visitor_kid": "c"})


def test_config_errors_name_the_key_and_never_show_a_key(tmp_path: Path) -> None:
    secret = b64(b"s" * 8)  # too short
    path = tmp_path / "edge.toml"
    path.write_text(f'[privacy]\nvisitor_keys = {{ "k1" = "{secret}" }}\n')
    with pytest.raises(ConfigError) as err:
        load(path)
    assert err.value.key == "privacy.visitor_keys.k1" and secret not in str(err.value)
    path.write_text('[privacy]\nvisitor_keys = { "k1" = "not base64!" }\n')
    with pytest.raises(ConfigError, match="base64"):
        load(path)
    path.write_text(
        f'[privacy]\nvisitor_keys = {{ "a" = "{b64(b"a" * 32)}", "b" = "{b64(b"b" * 32)}" }}\n'
    )
    with pytest.raises(ConfigError) as err:
        load(path)
    assert err.value.key == "privacy.visitor_kid"
    path.write_text("[privacy]\nevent_retention_days = 0\n")
    with pytest.raises(ConfigError, match="event_retention_days"):
        load(path)
