"""Signed manifests: every rejection docs/protocol.md lists, with real Ed25519 keys."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from nacl.signing import SigningKey

from edge.content import reasons
from edge.content.manifest import (
    Manifest,
    canonical,
    precedence,
    scope_key,
    sign,
    valid_public_key,
    verify,
)
from edge.content.schedule import Window
from edge.errors import ConfigError, ContentRejected

NOW = 1_750_000_000_000
SHA = "ab" * 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class Keys:
    def __init__(self) -> None:
        self.signing = {kid: SigningKey.generate() for kid in ("k1", "k2")}
        self.public = {kid: b64(bytes(key.verify_key)) for kid, key in self.signing.items()}

    def sign(self, manifest: dict[str, Any], kid: str = "k1", key: str | None = None) -> bytes:
        return sign(manifest, b64(bytes(self.signing[key or kid])), kid)


@pytest.fixture
def keys() -> Keys:
    return Keys()


def base_manifest() -> dict[str, Any]:
    return {
        "version": 5,
        "issued_ts": NOW - 60_000,
        "expires_ts": NOW + 86_400_000,
        "scope": {"store_id": "store-1", "device_id": None},
        "playlist": [
            {
                "id": "welcome",
                "kind": "text",
                "title": "いらっしゃいませ",
                "body": "本日のおすすめ",
            },
            {"id": "sale", "kind": "image", "image": "sale.png", "duration_ms": 5000},
            {"id": "ad", "kind": "video", "video": "ad.mp4"},
        ],
        "schedule": [
            {
                "slides": ["sale", "welcome"],
                "days": [1, 2, 3, 4, 5],
                "start": "09:00",
                "end": "12:00",
                "from_date": None,
                "to_date": "2030-12-31",
                "priority": 1,
            }
        ],
        "assets": {"sale.png": SHA, "ad.mp4": "cd" * 32},
        "timezone": "Asia/Tokyo",
    }


def check(payload: bytes, keys: Keys, current_version: int | None = None, **kw: Any) -> Manifest:
    args: dict[str, Any] = {
        "public_keys": keys.public,
        "store_id": "store-1",
        "device_id": "screen-1",
        "now_ms": NOW,
        "current_version": current_version,
    }
    return verify(payload, **(args | kw))


def rejected(payload: bytes, keys: Keys, **kw: Any) -> ContentRejected:
    with pytest.raises(ContentRejected) as info:
        check(payload, keys, **kw)
    return info.value


def test_valid_manifest_round_trips(keys: Keys) -> None:
    m = check(keys.sign(base_manifest()), keys)
    assert m.version == 5
    assert m.scope.store_id == "store-1" and m.scope.device_id is None
    assert [s.id for s in m.playlist] == ["welcome", "sale", "ad"]
    assert m.playlist[0].title == "いらっしゃいませ"
    assert m.schedule == [
        Window(
            slides=["sale", "welcome"],
            days=[1, 2, 3, 4, 5],
            start="09:00",
            end="12:00",
            to_date="2030-12-31",
            priority=1,
        )
    ]
    assert m.assets["sale.png"] == SHA
    assert str(m.zone()) == "Asia/Tokyo"
    assert scope_key(m) == "store"


def test_canonical_form_is_sorted_compact_and_unescaped() -> None:
    assert canonical({"b": 1, "a": {"d": [1, 2], "c": "日本"}}) == (
        '{"a":{"c":"日本","d":[1,2]},"b":1}'.encode()
    )


def test_signature_covers_the_value_not_the_payload_layout(keys: Keys) -> None:
    doc = json.loads(keys.sign(base_manifest()))
    relaid = json.dumps(doc, indent=2, ensure_ascii=True).encode()  # \u escapes, whitespace
    assert check(relaid, keys).playlist[0].body == "本日のおすすめ"


def test_japanese_text_is_signed_unescaped(keys: Keys) -> None:
    manifest = base_manifest()
    signature = keys.signing["k1"].sign(canonical(manifest)).signature
    payload = json.dumps({"manifest": manifest, "sig": b64(signature), "kid": "k1"}).encode()
    assert check(payload, keys).playlist[0].title == "いらっしゃいませ"
    escaped = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    wrong = keys.signing["k1"].sign(escaped).signature  # a signer that escaped non-ASCII
    payload = json.dumps({"manifest": manifest, "sig": b64(wrong), "kid": "k1"}).encode()
    assert rejected(payload, keys).reason == reasons.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("version",), 6),
        (("scope", "store_id"), "store-2"),
        (("playlist", 0, "title"), "Welcome"),
        (("assets", "sale.png"), "ef" * 32),
    ],
)
def test_a_field_changed_after_signing_is_bad_signature(
    keys: Keys, path: tuple[Any, ...], value: Any
) -> None:
    doc = json.loads(keys.sign(base_manifest()))
    target = doc["manifest"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    exc = rejected(json.dumps(doc).encode(), keys)
    assert exc.reason == reasons.BAD_SIGNATURE


def test_key_rotation_second_kid_verifies(keys: Keys) -> None:
    assert check(keys.sign(base_manifest(), kid="k2"), keys).version == 5
    only_new = {"k2": keys.public["k2"]}
    assert check(keys.sign(base_manifest(), kid="k2"), keys, public_keys=only_new).version == 5
    exc = rejected(keys.sign(base_manifest(), kid="k1"), keys, public_keys=only_new)
    assert exc.reason == reasons.UNKNOWN_KID


def test_signed_by_another_key_than_its_kid_is_bad_signature(keys: Keys) -> None:
    exc = rejected(keys.sign(base_manifest(), kid="k2", key="k1"), keys)
    assert exc.reason == reasons.BAD_SIGNATURE


def test_unknown_kid_and_bad_signature_come_before_reading_the_content(keys: Keys) -> None:
    junk = {"version": 9, "scope": "nowhere", "expires_ts": 0}
    other = SigningKey.generate()
    assert rejected(sign(junk, b64(bytes(other)), "k9"), keys).reason == reasons.UNKNOWN_KID
    exc = rejected(sign(junk, b64(bytes(other)), "k1"), keys)
    assert exc.reason == reasons.BAD_SIGNATURE
    assert exc.manifest_version == 9  # the claim, for the message only


def mutate(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    manifest = base_manifest()
    change(manifest)
    return manifest


def set_in(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(m: dict[str, Any]) -> None:
        for step in path[:-1]:
            m = m[step]
        m[path[-1]] = value

    return change


# (what is wrong, the change to a valid manifest, the reason) — all signed with a known key.
SIGNED_REJECTIONS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("other store", set_in("scope", "store_id", value="store-2"), reasons.WRONG_SCOPE),
    ("other device", set_in("scope", "device_id", value="screen-2"), reasons.WRONG_SCOPE),
    ("expired now", set_in("expires_ts", value=NOW), reasons.EXPIRED),
    ("expired before", set_in("expires_ts", value=NOW - 1), reasons.EXPIRED),
    ("missing field", lambda m: m.pop("timezone"), reasons.MALFORMED),
    ("missing scope field", lambda m: m["scope"].pop("device_id"), reasons.MALFORMED),
    ("version a string", set_in("version", value="6"), reasons.MALFORMED),
    ("version a bool", set_in("version", value=True), reasons.MALFORMED),
    ("version a float", set_in("version", value=6.0), reasons.MALFORMED),
    ("nested float", set_in("playlist", 1, "duration_ms", value=5000.5), reasons.MALFORMED),
    ("float in a window", set_in("schedule", 0, "priority", value=1e3), reasons.MALFORMED),
    ("playlist not a list", set_in("playlist", value={}), reasons.MALFORMED),
    ("empty playlist", set_in("playlist", value=[]), reasons.MALFORMED),
    ("unknown timezone", set_in("timezone", value="Mars/Olympus_Mons"), reasons.MALFORMED),
    ("timezone a path", set_in("timezone", value="../../etc/passwd"), reasons.MALFORMED),
    ("timezone local", set_in("timezone", value="localtime"), reasons.MALFORMED),
    ("expiry before issue", set_in("issued_ts", value=NOW + 86_400_001), reasons.MALFORMED),
    ("bad slide", set_in("playlist", 0, "duration_ms", value=10), reasons.MALFORMED),
    ("slide without id", lambda m: m["playlist"][0].pop("id"), reasons.MALFORMED),
    (
        "duplicate slide id",
        lambda m: m["playlist"].append({"id": "sale", "kind": "text"}),
        reasons.MALFORMED,
    ),
    ("window unknown slide", set_in("schedule", 0, "slides", value=["gone"]), reasons.MALFORMED),
    ("window bad time", set_in("schedule", 0, "start", value="24:00"), reasons.MALFORMED),
    ("window bad day", set_in("schedule", 0, "days", value=[0, 1]), reasons.MALFORMED),
    ("window bad date", set_in("schedule", 0, "from_date", value="2025-02-30"), reasons.MALFORMED),
    ("sha not hex", set_in("assets", "sale.png", value="xyz"), reasons.MALFORMED),
    ("sha upper case", set_in("assets", "sale.png", value="AB" * 32), reasons.MALFORMED),
    ("asset name a path", set_in("assets", "../etc/passwd", value=SHA), reasons.BAD_ASSET_NAME),
    ("asset name hidden", set_in("assets", ".profile", value=SHA), reasons.BAD_ASSET_NAME),
    ("image not listed", set_in("playlist", 1, "image", value="other.png"), reasons.MISSING_ASSET),
    ("video not listed", lambda m: m["assets"].pop("ad.mp4"), reasons.MISSING_ASSET),
    ("unknown kind", set_in("playlist", 0, "kind", value="hologram"), reasons.UNKNOWN_SLIDE_KIND),
]


@pytest.mark.parametrize(
    ("change", "reason"),
    [(c, r) for _, c, r in SIGNED_REJECTIONS],
    ids=[what for what, _, _ in SIGNED_REJECTIONS],
)
def test_signed_but_rejected(
    keys: Keys, change: Callable[[dict[str, Any]], object], reason: str
) -> None:
    exc = rejected(keys.sign(mutate(change)), keys)
    assert exc.reason == reason, exc
    assert exc.detail


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2]",
        b'{"sig": "AAAA", "kid": "k1"}',
        b'{"manifest": [], "sig": "AAAA", "kid": "k1"}',
        b'{"manifest": {}, "sig": 12, "kid": "k1"}',
        b'{"manifest": {}, "sig": "AAAA", "kid": null}',
        b'{"manifest": {}, "sig": "not base64!", "kid": "k1"}',
        b'{"manifest": {"version": 1, "version": 2}, "sig": "AAAA", "kid": "k1"}',
        b'{"manifest": {"x": NaN}, "sig": "AAAA", "kid": "k1"}',
        b'{"manifest": {"x": 1.5}, "sig": "AAAA", "kid": "k9"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_unparseable_payload_is_malformed(keys: Keys, payload: bytes) -> None:
    assert rejected(payload, keys).reason == reasons.MALFORMED


def test_stale_version_for_the_same_scope(keys: Keys) -> None:
    payload = keys.sign(base_manifest())
    assert rejected(payload, keys, current_version=5).reason == reasons.STALE_VERSION
    exc = rejected(payload, keys, current_version=7)
    assert (exc.reason, exc.manifest_version) == (reasons.STALE_VERSION, 5)
    assert check(payload, keys, current_version=4).version == 5


def test_signature_of_wrong_length_is_bad_signature(keys: Keys) -> None:
    doc = json.loads(keys.sign(base_manifest()))
    doc["sig"] = b64(base64.b64decode(doc["sig"])[:40])
    assert rejected(json.dumps(doc).encode(), keys).reason == reasons.BAD_SIGNATURE


def test_rejections_carry_the_version(keys: Keys) -> None:
    exc = rejected(keys.sign(mutate(set_in("expires_ts", value=NOW - 1))), keys)
    assert exc.manifest_version == 5
    assert exc.sha256 is None


def test_device_manifest_for_this_device(keys: Keys) -> None:
    m = check(keys.sign(mutate(set_in("scope", "device_id", value="screen-1"))), keys)
    assert scope_key(m) == "device"


def test_a_bad_public_key_in_the_config_is_a_config_error(keys: Keys) -> None:
    with pytest.raises(ConfigError, match="k1"):
        check(keys.sign(base_manifest()), keys, public_keys={"k1": "c2hvcnQ="})


def test_valid_public_key_for_the_config_check(keys: Keys) -> None:
    assert valid_public_key(keys.public["k1"])
    assert not valid_public_key("c2hvcnQ=")
    assert not valid_public_key("not base64!")
    assert not valid_public_key(32)
    assert not valid_public_key("鍵")


def test_every_manifest_reason_of_the_protocol_is_tested() -> None:
    asset_only = {
        reasons.ASSET_HASH_MISMATCH,
        reasons.ASSET_TOO_LARGE,
        reasons.IMAGE_TOO_LARGE,
        reasons.UNREADABLE_ASSET,
    }  # tests/unit/content/test_assets.py
    tested = {r for _, _, r in SIGNED_REJECTIONS} | {
        reasons.BAD_SIGNATURE,
        reasons.UNKNOWN_KID,
        reasons.STALE_VERSION,
    }
    assert tested | asset_only == set(reasons.ALL)


def test_precedence_device_wins_while_valid(keys: Keys) -> None:
    store = check(keys.sign(base_manifest()), keys)
    device_doc = mutate(set_in("scope", "device_id", value="screen-1"))
    device_doc["expires_ts"] = NOW + 1000
    device = check(keys.sign(device_doc), keys)
    assert precedence(store, device, NOW) is device
    assert precedence(store, device, NOW + 1000) is store
    assert precedence(store, None, NOW) is store
    assert precedence(None, device, NOW) is device
    assert precedence(store, device, NOW + 86_400_000) is None
    assert precedence(None, None, NOW) is None


def test_sign_round_trip_is_independent_of_key_order(keys: Keys) -> None:
    manifest = base_manifest()
    shuffled = dict(reversed(list(copy.deepcopy(manifest).items())))
    assert canonical(manifest) == canonical(shuffled)
    doc = json.loads(keys.sign(manifest))
    doc["manifest"] = shuffled
    assert check(json.dumps(doc).encode(), keys).version == 5
