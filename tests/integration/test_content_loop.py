"""Signed content from central, end to end: manifest → assets → screen; every rejection is
reported and leaves the current content on screen; commands; restart without a broker."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from edge.app import Device
from edge.content.manifest import sign
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.device import LogLines, captured_log, running_device
from tests.support.paths import SIGNAGE_CONTENT
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DEVICE = "omo/v1/store-1/screen-1"
STORE = "omo/v1/store-1/_store"
IMAGE = (SIGNAGE_CONTENT / "images" / "market.png").read_bytes()
IMAGE_SHA = hashlib.sha256(IMAGE).hexdigest()


class Keys:
    def __init__(self) -> None:
        self.seed = SigningKey.generate()
        self.public = base64.b64encode(bytes(self.seed.verify_key)).decode()
        self.seed_b64 = base64.b64encode(bytes(self.seed)).decode()


@pytest.fixture
def keys() -> Keys:
    return Keys()


def manifest(version: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    body: dict[str, Any] = {
        "version": version,
        "issued_ts": now - 1000,
        "expires_ts": now + 3_600_000,
        "scope": {"store_id": "store-1", "device_id": None},
        "playlist": [
            {
                "id": f"jp-{version}",
                "kind": "text",
                "duration_ms": 1000,
                "title": "あなたにおすすめ",
                "body": f"version {version}",
            },
            {
                "id": f"img-{version}",
                "kind": "image",
                "duration_ms": 1000,
                "image": "market",
                "title": "Market",
            },
        ],
        "schedule": [],
        "assets": {"market": IMAGE_SHA},
        "timezone": "Asia/Tokyo",
    }
    body.update(overrides)
    return body


def shots(folder: Path, slide_id: str) -> list[Path]:
    return sorted(folder.glob(f"*-playlist-{slide_id}.png"))


@dataclass
class Running:
    device: Device
    config: Path
    log: LogLines


@pytest.fixture
def running(
    keys: Keys, central: CentralSim, device_config: Callable[..., Path]
) -> Iterator[Running]:
    """The device in this process, heard by central, taking manifests signed with `keys`."""
    central.assets[IMAGE_SHA] = IMAGE
    config = device_config(speed=0.001, content={"public_keys": {"k1": keys.public}})
    with captured_log() as log, running_device(config) as device:
        assert wait_for(lambda: DEVICE in central.states, 20), log.text
        yield Running(device, config, log)


def rejected(central: CentralSim) -> list[dict[str, Any]]:
    return central.events_of("content.rejected")


def test_signed_manifest_with_an_asset_goes_on_screen(
    tmp_path: Path, keys: Keys, central: CentralSim, running: Running
) -> None:
    central.publish(f"{STORE}/manifest", sign(manifest(1), keys.seed_b64, "k1"), retain=True)
    assert wait_for(lambda: bool(shots(tmp_path / "shots", "img-1")), 20), running.log.text
    assert central.asset_requests[IMAGE_SHA] >= 1
    assert wait_for(lambda: bool(shots(tmp_path / "shots", "jp-1")), 10)
    cached = list((tmp_path / "state" / "assets").iterdir())
    assert [p.name for p in cached if p.name == IMAGE_SHA], "asset not stored by its hash"


@pytest.mark.parametrize(
    ("reason", "make"),
    [
        ("bad_signature", lambda k: _tamper(sign(manifest(2), k.seed_b64, "k1"))),
        ("unknown_kid", lambda k: sign(manifest(2), k.seed_b64, "k-unknown")),
        (
            "wrong_scope",
            lambda k: sign(
                manifest(2, scope={"store_id": "store-9", "device_id": None}), k.seed_b64, "k1"
            ),
        ),
        ("expired", lambda k: sign(manifest(2, expires_ts=1_000), k.seed_b64, "k1")),
        ("stale_version", lambda k: sign(manifest(1), k.seed_b64, "k1")),
        ("malformed", lambda k: b'{"manifest": {"version": 2.5}, "sig": "", "kid": "k1"}'),
        (
            "unknown_slide_kind",
            lambda k: sign(
                manifest(2, playlist=[{"id": "x", "kind": "hologram", "duration_ms": 3000}]),
                k.seed_b64,
                "k1",
            ),
        ),
        (
            "bad_asset_name",
            lambda k: sign(manifest(2, assets={"../../etc/passwd": IMAGE_SHA}), k.seed_b64, "k1"),
        ),
    ],
)
def test_each_rejection_is_reported_and_the_current_content_stays(
    tmp_path: Path,
    keys: Keys,
    central: CentralSim,
    running: Running,
    reason: str,
    make: Callable[[Keys], bytes],
) -> None:
    central.publish(f"{STORE}/manifest", sign(manifest(1), keys.seed_b64, "k1"), retain=True)
    assert wait_for(lambda: bool(shots(tmp_path / "shots", "jp-1")), 20), running.log.text
    central.publish(f"{STORE}/manifest", make(keys), retain=True)
    assert wait_for(lambda: any(e["reason"] == reason for e in rejected(central)), 10), (
        rejected(central),
        running.log.text,
    )
    before = len(shots(tmp_path / "shots", "jp-1")) + len(shots(tmp_path / "shots", "img-1"))
    assert wait_for(
        lambda: (
            len(shots(tmp_path / "shots", "jp-1")) + len(shots(tmp_path / "shots", "img-1"))
            > before
        ),
        10,
    ), "the current content stopped playing after a rejected manifest"
    assert not running.device.stop.is_set()


def _tamper(payload: bytes) -> bytes:
    doc = json.loads(payload)
    doc["manifest"]["playlist"][0]["title"] = "tampered"
    return json.dumps(doc, ensure_ascii=False).encode()


def test_tampered_or_oversized_asset_is_rejected_and_never_shown(
    tmp_path: Path, keys: Keys, central: CentralSim, running: Running
) -> None:
    fake = b"\x89PNG\r\n\x1a\n" + b"not really the image"
    fake_sha = hashlib.sha256(b"what central claimed").hexdigest()
    central.assets[fake_sha] = fake
    body = manifest(3, assets={"market": fake_sha})
    central.publish(f"{STORE}/manifest", sign(body, keys.seed_b64, "k1"), retain=True)
    assert wait_for(
        lambda: any(
            e["reason"] == "asset_hash_mismatch" and e["sha256"] == fake_sha
            for e in rejected(central)
        ),
        20,
    ), running.log.text
    assert not shots(tmp_path / "shots", "img-3")
    assert not running.device.stop.is_set()


def test_screenshot_reload_and_refused_commands(central: CentralSim, running: Running) -> None:
    shot = central.command(DEVICE, "screenshot", cmd_id="c-shot")
    assert wait_for(lambda: shot in central.cmd_results, 15)
    result = central.cmd_results[shot]
    assert result["ok"] is True
    assert base64.b64decode(result["png_b64"]).startswith(b"\x89PNG")
    reload_ = central.command(DEVICE, "reload", cmd_id="c-reload")
    assert wait_for(lambda: reload_ in central.cmd_results, 10)
    assert central.cmd_results[reload_]["ok"] is True
    central.cmd_results.clear()
    again = central.command(DEVICE, "reload", cmd_id="c-reload")
    assert wait_for(lambda: again in central.cmd_results, 10)
    assert central.cmd_results[again]["ok"] is False
    assert "already" in central.cmd_results[again]["detail"]
    unknown = central.command(DEVICE, "set_log_level", {"level": "loud"}, cmd_id="c-level")
    assert wait_for(lambda: unknown in central.cmd_results, 10)
    assert central.cmd_results[unknown]["ok"] is False


def test_restart_without_a_broker_shows_the_last_good_content(
    tmp_path: Path,
    keys: Keys,
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
) -> None:
    central.assets[IMAGE_SHA] = IMAGE
    config = device_config(speed=0.001, content={"public_keys": {"k1": keys.public}})
    with captured_log() as log, running_device(config):
        assert wait_for(lambda: DEVICE in central.states, 20), log.text
        central.publish(f"{STORE}/manifest", sign(manifest(4), keys.seed_b64, "k1"), retain=True)
        assert wait_for(lambda: bool(shots(tmp_path / "shots", "jp-4")), 20), log.text
    broker.stop()
    for old in (tmp_path / "shots").glob("*.png"):
        old.unlink()
    with running_device(config, online=False):
        assert wait_for(
            lambda: bool(shots(tmp_path / "shots", "jp-4") or shots(tmp_path / "shots", "img-4")),
            15,
        ), log.text
    assert not list((tmp_path / "shots").glob("*-playlist-fallback-*.png")), (
        "fallback content shown although good content was saved"
    )
