"""A decision's product images, end to end on a real device: they are assets named by
SHA-256, asked for (`P/asset/get`) when the slide goes up. The slide goes up at once; an
image central serves is painted into the same slide when it arrives, and a tile whose image
central withholds stays without a picture: the slide never waits for it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pygame
import pytest

from edge.sim.central import CentralSim
from tests.support.device import running_device
from tests.support.screen import screen_checkin_nonce
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

DEVICE = "omo/v1/store-1/screen-1"
MAGENTA = (200, 30, 160)  # nowhere else on a screen: the served picture's colour


def png(colour: tuple[int, int, int]) -> bytes:
    picture = pygame.Surface((120, 120))
    picture.fill(colour)
    out = io.BytesIO()
    pygame.image.save(picture, out, "picture.png")
    return out.getvalue()


def magenta_pixels(shot: bytes) -> int:
    surface = pygame.image.load(io.BytesIO(shot), "shot.png")
    pixels = pygame.surfarray.array3d(surface).astype(int)
    return int((np.abs(pixels - MAGENTA).max(axis=2) <= 8).sum())


def screenshot(central: CentralSim) -> bytes:
    cmd_id = central.command(DEVICE, "screenshot")
    assert wait_for(lambda: cmd_id in central.cmd_results, 10), "no screenshot came back"
    result = central.cmd_results[cmd_id]
    assert result["ok"], result
    return base64.b64decode(result["png_b64"])


def test_recommendation_images_arrive_on_demand_and_a_withheld_one_never_holds_the_slide(
    central: CentralSim, device_config: Callable[..., Path], tmp_path: Path
) -> None:
    served = png(MAGENTA)
    served_sha = hashlib.sha256(served).hexdigest()
    withheld_sha = hashlib.sha256(b"a picture central does not have").hexdigest()
    central.assets[served_sha] = served

    def recommendations(_visitor: str) -> dict[str, Any]:
        return {
            "id": "recs-for-you",
            "kind": "recommendations",
            "title": "あなたにおすすめ",
            "items": [
                {"name": "Plum jam", "price": "¥480", "image": served_sha},
                {"name": "Sourdough", "price": "¥520", "image": withheld_sha},
            ],
        }

    central.slide_for = recommendations
    config = device_config(speed=0.001)  # no beacon visitors: the check-in asks
    with running_device(config):
        assert wait_for(lambda: DEVICE in central.states, 20), central.states
        nonce = screen_checkin_nonce(central, DEVICE)
        body = {"visitor": "member-7", "nonce": nonce, "consent": ["personalize"]}
        body["ts"] = int(time.time() * 1000)
        central.publish(f"{DEVICE}/checkin", json.dumps(body).encode())

        shots = tmp_path / "shots"
        assert wait_for(lambda: bool(list(shots.glob("*-personal-recs-for-you.png"))), 20)
        # both pictures were asked for; the withheld one never came, and the slide is up
        assert central.asset_requests[served_sha] >= 1
        assert central.asset_requests[withheld_sha] >= 1
        # the served picture is on the screen, in the slide that is still up
        assert wait_for(lambda: magenta_pixels(screenshot(central)) > 2000, 5)
