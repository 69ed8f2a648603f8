"""A content folder checked as a screen checks it: every problem named with its slide and
field, and a manifest built from a clean folder that the device's own `verify` accepts."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from edge.content.manifest import canonical, verify
from edge.ops.content_folder import read_folder
from edge.ops.content_rules import Limits, Problem, check, manifest, signed
from edge.ops.errors import OpsError
from edge.ops.preview import missing_glyphs

ROOT = Path(__file__).resolve().parents[3]
MARKET = ROOT / "signage_content" / "images" / "market.png"
LIMITS = Limits(max_asset_bytes=200 << 20, max_image_pixels=40_000_000)


def folder(
    path: Path,
    playlist: list[Any],
    *,
    schedule: dict[str, Any] | None = None,
    images: dict[str, bytes] | None = None,
) -> Path:
    (path / "images").mkdir(parents=True)
    (path / "playlist.json").write_text(json.dumps({"playlist": playlist}), encoding="utf-8")
    if schedule is not None:
        (path / "schedule.json").write_text(json.dumps(schedule), encoding="utf-8")
    for name, data in (
        images if images is not None else {"market.png": MARKET.read_bytes()}
    ).items():
        (path / "images" / name).write_bytes(data)
    return path


GOOD = [
    {"id": "hello", "kind": "text", "title": "いらっしゃいませ", "body": "Crème brûlée ¥450"},
    {"id": "market", "kind": "image", "image": "market.png", "duration_ms": 6000},
]


def problems(found: list[Problem]) -> set[tuple[str, str]]:
    return {(p.where, p.field) for p in found if not p.warning}


def test_the_shipped_fallback_content_is_clean() -> None:
    content, found = check(read_folder(ROOT / "signage_content"), LIMITS, missing_glyphs)
    assert content is not None, found
    assert [p for p in found if not p.warning] == []


def test_a_clean_folder_becomes_a_manifest_the_device_accepts(tmp_path: Path) -> None:
    schedule = {
        "timezone": "Asia/Tokyo",
        "schedule": [{"slides": ["hello"], "days": [1, 2, 3], "start": "07:00", "end": "10:00"}],
    }
    extra = {"market.png": MARKET.read_bytes(), "unused.png": MARKET.read_bytes()[:-1]}
    content, found = check(
        read_folder(folder(tmp_path, GOOD, schedule=schedule, images=extra)), LIMITS
    )
    assert content is not None and found == []
    assert list(content.assets) == ["market.png"]  # only what a slide names is sent
    key = SigningKey.generate()
    body = manifest(
        content, store_id="s1", device_id=None, version=4, issued_ts=1000, expires_ts=2**50
    )
    payload = signed(body, key, "k1")
    accepted = verify(
        payload,
        public_keys={"k1": base64.b64encode(bytes(key.verify_key)).decode()},
        store_id="s1",
        device_id="any-screen",
        now_ms=2000,
        current_version=3,
    )
    assert accepted.version == 4 and accepted.timezone == "Asia/Tokyo"
    assert accepted.playlist[0].title == "いらっしゃいませ"
    assert "いらっしゃいませ".encode() in canonical(json.loads(payload)["manifest"])


def test_every_problem_is_named_with_its_slide_and_field(tmp_path: Path) -> None:
    playlist = [
        {"id": "a", "kind": "text", "duration_ms": 100, "background": "red"},
        {"id": "b", "kind": "image", "image": "gone.png"},
        {"id": "c", "kind": "image"},
        {"id": "d", "kind": "hologram"},
        {"kind": "coupon", "code": 5},
        {"id": "e", "kind": "video", "video": "market.png"},
        {"id": "a", "kind": "qr", "qr_url": "https://example.invalid/x"},
        "not a slide",
    ]
    schedule = {
        "timezone": "Mars/Olympus",
        "schedule": [
            {"slides": ["a"], "days": [0], "start": "25:00", "end": "10:00"},
            {"slides": ["zz"], "days": [1], "start": "10:00", "end": "11:00"},
        ],
    }
    _content, found = check(read_folder(folder(tmp_path, playlist, schedule=schedule)), LIMITS)
    assert _content is None
    assert problems(found) == {
        ("slide 'a'", "duration_ms"),
        ("slide 'a'", "background"),
        ("slide 'b'", "image"),
        ("slide 'c'", "image"),
        ("slide 'd'", "kind"),
        ("slide 5 (no id)", "code"),
        ("slide 5 (no id)", "id"),
        ("slide 'e'", "video"),
        ("slide 'a'", "id"),  # used twice
        ("slide 8 (no id)", ""),
        ("schedule.json", "timezone"),
        ("schedule.json window 1", "days"),
        ("schedule.json window 1", "start"),
        ("schedule.json window 2", "slides"),
    }
    assert all(str(p).startswith("problem: ") for p in found if not p.warning)


def test_warnings_do_not_fail_a_folder(tmp_path: Path) -> None:
    playlist = [{"id": "don", "kind": "text", "title": "牛丼 🍚", "titel": "typo"}]
    content, found = check(read_folder(folder(tmp_path, playlist)), LIMITS, missing_glyphs)
    assert content is not None
    words = [str(p) for p in found]
    assert any("'don', title" in w and "U+4E3C" in w for w in words), words  # 丼: no glyph
    assert any("'don', titel: not a field" in w for w in words), words


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        (Limits(1000, 40_000_000), "max_asset_bytes"),
        (Limits(200 << 20, 100), "max_image_pixels"),
    ],
)
def test_assets_over_a_screens_limits_are_problems(
    tmp_path: Path, limits: Limits, words: str
) -> None:
    _content, found = check(read_folder(folder(tmp_path, GOOD)), limits)
    assert [p.field for p in found] == ["image"] and words in found[0].message


def test_a_broken_picture_is_a_problem(tmp_path: Path) -> None:
    images = {"market.png": MARKET.read_bytes()[:200]}
    _content, found = check(read_folder(folder(tmp_path, GOOD, images=images)), LIMITS)
    assert problems(found) == {("slide 'market'", "image")}


def test_unreadable_documents_are_problems_not_crashes(tmp_path: Path) -> None:
    path = folder(tmp_path, GOOD)
    (path / "playlist.json").write_text('{"playlist": [], "playlist": []}')
    (path / "schedule.json").write_bytes(b"\xff\xfe")
    _content, found = check(read_folder(path), LIMITS)
    assert {p.where for p in found} == {"playlist.json", "schedule.json"}
    assert any("twice" in p.message for p in found)


def test_what_is_not_a_content_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="no such folder"):
        read_folder(tmp_path / "nowhere")
    with pytest.raises(OpsError, match=r"no playlist\.json"):
        read_folder(tmp_path)
