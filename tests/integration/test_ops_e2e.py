"""A central team's day with `omo-ops`, end to end: a real Mosquitto, a real device process
(`omo-edge run`), and only `omo-ops` commands as processes, as docs/ops.md tells them.

keygen; a folder with a text slide, an image slide and a Japanese title is checked,
previewed and published; the device's screenshot shows exactly what the preview painted;
a second version whose image the publisher withholds is reported rejected while the
first keeps playing; `fleet status` shows the device online with the live version; and
`content verify` gives the device's verdict on signed files.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.sim.broker import Mosquitto
from tests.support.cli import ops
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "signage_content" / "images"
KID = "content-2026"
SIZE = (960, 540)  # the device_config fixture's screen


SPRING = [
    {"id": "welcome", "kind": "text", "title": "いらっしゃいませ", "body": "Café Omo",
     "duration_ms": 1500, "transition": "cut", "background": "#1d2b53"},
    {"id": "market", "kind": "image", "image": "market.png", "title": "市場から毎朝",
     "duration_ms": 1500, "transition": "cut"},
]  # fmt: skip
"""Version 1: a text slide with a Japanese title and an image slide, cut (never a blend)
so that every screenshot is one slide."""


def content_folder(folder: Path, playlist: list[dict[str, Any]], images: list[str]) -> Path:
    (folder / "images").mkdir(parents=True)
    for name in images:
        shutil.copy(IMAGES / name, folder / "images" / name)
    (folder / "playlist.json").write_text(
        json.dumps({"playlist": playlist}, ensure_ascii=False), encoding="utf-8"
    )
    return folder


def pixels(png: Path) -> Any:
    import numpy as np
    import pygame

    return np.asarray(pygame.surfarray.array3d(pygame.image.load(str(png)))).swapaxes(0, 1)


def same_picture(shot: Any, preview: Any) -> bool:
    """Equal outside the check-in card (its code differs: a fresh nonce on the device)."""
    import numpy as np

    from edge.signage.checkin_card import checkin_corner

    if shot.shape != preview.shape:
        return False
    card = checkin_corner(SIZE)
    mask = np.ones(shot.shape[:2], dtype=bool)
    mask[card.top : card.bottom, card.left : card.right] = False
    differ = (abs(shot.astype(int) - preview.astype(int)).max(axis=2) > 8) & mask
    return bool(differ.mean() < 0.002)


def checkin_url(shot: Any) -> str:
    import numpy as np
    import zxingcpp

    codes = zxingcpp.read_barcodes(np.ascontiguousarray(shot))
    return next(c.text for c in codes if "d=" in c.text)


def test_a_central_team_publishes_content_and_runs_the_screen_with_omo_ops(
    tmp_path: Path,
    broker: Mosquitto,
    device_config: Callable[..., Path],
    daemon: Callable[..., Any],
) -> None:
    started = time.monotonic()
    at = ["--broker", f"mqtt://127.0.0.1:{broker.port}"]
    store = ["--store", "store-1"]
    device = [*store, "--device", "screen-1"]

    # keygen: a private key file and the line for the device's [content] table
    key_file = tmp_path / "content.key"
    made = ops("keygen", "--kid", KID, "--out", str(key_file))
    assert made.returncode == 0, made.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    found = re.fullmatch(r'public_keys = \{ "(.+)" = "(.+)" \}', made.stdout.strip())
    assert found is not None and found[1] == KID, made.stdout
    public = found[2]

    config = device_config(speed=0.001, content={"public_keys": {KID: public}})
    daemon("run", "--config", str(config), "--duration", "90")

    # a folder with a text slide (Japanese title) and an image slide, checked and previewed
    v1 = content_folder(tmp_path / "spring", SPRING, ["market.png"])
    checked = ops("content", "check", str(v1))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "warning" not in checked.stdout, checked.stdout  # the font has every character
    previews = tmp_path / "previews"
    painted = ops("content", "preview", str(v1), "--out", str(previews), "--size", "960x540")
    assert painted.returncode == 0, painted.stderr
    expected = {name: pixels(previews / f"{name}.png") for name in ("welcome", "market")}
    assert not same_picture(expected["welcome"], expected["market"])

    def online() -> bool:
        status = ops("fleet", "status", "--json", *at)
        return any(row["online"] for row in json.loads(status.stdout or "[]"))

    assert wait_for(online, 30), "the device never showed up online in fleet status"

    # publish v1: signed, its image served, live on the device
    published = ops(
        "content", "publish", str(v1), *store, "--signing-key", str(key_file), "--kid", KID,
        "--expires-in", "2d", "--timeout", "30", *at,
    )  # fmt: skip
    assert published.returncode == 0, published.stdout + published.stderr
    assert re.search(r"store-1/screen-1\s+live\s+v1\b", published.stdout), published.stdout
    assert "sent market.png" in published.stderr

    # the screenshot command shows v1 exactly as the preview painted it, card and all
    shot_file = tmp_path / "screen.png"
    seen: set[str] = set()
    for _ in range(12):
        shot = ops("cmd", *device, *at, "screenshot", "--out", str(shot_file))
        assert shot.returncode == 0, shot.stdout + shot.stderr
        picture = pixels(shot_file)
        seen |= {name for name, pic in expected.items() if same_picture(picture, pic)}
        if seen == set(expected):
            break
    assert seen == set(expected), f"only {seen} of the previews were seen on the screen"
    url = urllib.parse.urlsplit(checkin_url(picture))
    assert urllib.parse.parse_qs(url.query)["d"] == ["screen-1"]

    # fleet status: online, v1 live, and the 2-day expiry warned about
    [row] = json.loads(ops("fleet", "status", "--json", *store, *at).stdout)
    assert row["online"] and row["device_id"] == "screen-1"
    assert row["content"]["store"]["version"] == 1
    assert any("expires in 1 d" in w for w in row["warnings"]), row

    # v2 with an image the publisher withholds: reported rejected, v1 keeps playing
    v2 = content_folder(
        tmp_path / "summer",
        [{"id": "summer", "kind": "image", "image": "welcome.png", "title": "Summer"}],
        ["welcome.png"],
    )
    refused = ops(
        "content", "publish", str(v2), *store, "--signing-key", str(key_file), "--kid", KID,
        "--withhold", "welcome.png", "--timeout", "30", *at,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert re.search(r"store-1/screen-1\s+rejected\s+v2: missing_asset", refused.stdout)
    shot = ops("cmd", *device, *at, "screenshot", "--out", str(shot_file))
    assert shot.returncode == 0, shot.stderr
    assert any(same_picture(pixels(shot_file), pic) for pic in expected.values())
    [row] = json.loads(ops("fleet", "status", "--json", *store, *at).stdout)
    assert row["online"] and row["content"]["store"]["version"] == 1

    # content verify: the device's verdict, offline, on signed files
    signed = tmp_path / "signed.json"
    made = ops(
        "content", "sign", str(v1), *store, "--signing-key", str(key_file), "--kid", KID,
        "--version", "9", "--out", str(signed),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = ["--public-key", f"{KID}={public}"]
    good = ops("content", "verify", str(signed), *key, *store)
    assert good.returncode == 0 and good.stdout.startswith("accepted"), good.stdout + good.stderr
    other = ops("content", "verify", str(signed), *key, "--store", "store-2")
    assert other.returncode == 1 and other.stdout.startswith("rejected: wrong_scope"), other.stdout
    indented = tmp_path / "indented.json"
    indented.write_bytes(signed_over_indented_json(signed, key_file))
    bad = ops("content", "verify", str(indented), *key, *store)
    assert bad.returncode == 1 and bad.stdout.startswith("rejected: bad_signature"), bad.stdout

    print(f"omo-ops end to end: {time.monotonic() - started:.1f} s")


def signed_over_indented_json(signed: Path, key_file: Path) -> bytes:
    """A central signer's classic bug: the signature taken over indented JSON, not the
    canonical form docs/protocol.md defines (section 5.2)."""
    import base64

    from nacl.signing import SigningKey

    envelope = json.loads(signed.read_bytes())
    seed = base64.b64decode(json.loads(key_file.read_text())["seed_b64"])
    wrong = json.dumps(envelope["manifest"], indent=2, ensure_ascii=False).encode()
    envelope["sig"] = base64.b64encode(SigningKey(seed).sign(wrong).signature).decode()
    return json.dumps(envelope).encode()
