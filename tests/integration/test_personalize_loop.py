"""Check-ins end to end on real parts: mosquitto, the central simulator, the whole daemon
(in this process: `tests/support/device.py`; its log read as `omo-edge run` prints it).

The nonce always comes off the screen (a `P/cmd` screenshot, its check-in QR decoded
with zxing), as a phone would read it; what reaches the screen is judged by the
daemon's screenshots (`NNN-personal-<slide id>.png`), what reaches central by the
events it stored. Beacon visits → coupon are covered by tests/integration/test_loop.py.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pygame
import pytest
import zxingcpp
from nacl.signing import SigningKey

from edge.checkin.tokens import sign_token
from edge.content.manifest import sign
from edge.sim.broker import Mosquitto, free_port
from edge.sim.central import CentralSim, coupon_for
from tests.support.device import LogLines, captured_log, running_device
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

DEVICE = "omo/v1/store-1/screen-1"
STORE = "omo/v1/store-1/_store"
BASE_URL = "https://checkin.example.invalid/c"


class Key:
    """An Ed25519 key pair as the platform holds it (seed) and the device (public)."""

    def __init__(self) -> None:
        seed = SigningKey.generate()
        self.seed = base64.b64encode(bytes(seed)).decode()
        self.public = base64.b64encode(bytes(seed.verify_key)).decode()


def decode_qr_texts(png: bytes) -> list[str]:
    surface = pygame.image.load(io.BytesIO(png), "shot.png")
    pixels = np.asarray(pygame.surfarray.array3d(surface)).swapaxes(0, 1)
    return [b.text for b in zxingcpp.read_barcodes(pixels)]


class Screen:
    """What the daemon under test shows: check-in nonces read off it, screenshots counted."""

    def __init__(self, central: CentralSim, shots: Path) -> None:
        self.central = central
        self.shots = shots
        self._n = 0

    def _codes(self) -> list[str]:
        """The QR codes on screen, from a screenshot taken on command (as on a real screen)."""
        self._n += 1
        cmd = self.central.command(DEVICE, "screenshot", cmd_id=f"shot-{time.time_ns()}")
        assert wait_for(lambda: cmd in self.central.cmd_results, 10), "no screenshot answer"
        result = self.central.cmd_results[cmd]
        assert result["ok"], result
        return decode_qr_texts(base64.b64decode(result["png_b64"]))

    def checkin_url(self) -> str:
        """The check-in QR's URL. A personal coupon with a code of its own has the card step
        aside (one code on screen at a time): the shopper reads it once the coupon is done."""
        seen: list[list[str]] = []

        def found() -> bool:
            seen.append(self._codes())
            return sum(BASE_URL in t for t in seen[-1]) == 1

        assert wait_for(found, 10), f"check-in QR not found on screen (decoded {seen[-3:]})"
        assert len(seen[-1]) == 1, f"two codes on screen at once: {seen[-1]}"
        return seen[-1][0]

    def nonce(self) -> str:
        url = self.checkin_url()
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == BASE_URL
        query = parse_qs(parts.query, strict_parsing=True)
        assert query["d"] == ["screen-1"], url
        [nonce] = query["n"]
        assert url == f"{BASE_URL}?d=screen-1&n={nonce}"
        return nonce

    def personal(self, slide_id: str) -> list[Path]:
        return sorted(self.shots.glob(f"*-personal-{slide_id}.png"))

    def any_personal(self) -> list[Path]:
        return sorted(self.shots.glob("*-personal-*.png"))

    def playlist(self, slide_id: str) -> list[Path]:
        return sorted(self.shots.glob(f"*-playlist-{slide_id}.png"))


def checkins(central: CentralSim, nonce: str) -> list[dict[str, Any]]:
    return [e for e in central.events_of("checkin") if e["nonce"] == nonce]


def central_checkin(central: CentralSim, visitor: str, nonce: str, consent: list[str]) -> None:
    body = {"visitor": visitor, "nonce": nonce, "consent": consent, "ts": int(time.time() * 1000)}
    central.publish(f"{DEVICE}/checkin", json.dumps(body).encode())


def lan_post(port: int, nonce: str, token: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = json.dumps({"nonce": nonce, "token": token})
        conn.request("POST", "/checkin", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def token(
    key: Key,
    visitor: str,
    *,
    kid: str = "t1",
    consent: tuple[str, ...] = ("personalize", "analytics"),
    segment: str | None = None,
    life_ms: int = 600_000,
) -> str:
    now = int(time.time() * 1000)
    return sign_token(
        signing_key_b64=key.seed,
        kid=kid,
        visitor=visitor,
        consent=consent,
        segment=segment,
        iat_ms=now - 1000 if life_ms > 0 else now - 3_600_000,
        exp_ms=now + life_ms,
    )


class Log:
    """The daemon's log lines so far, as `omo-edge run` prints them."""

    def __init__(self, lines: LogLines) -> None:
        self._lines = lines

    @property
    def stdout(self) -> str:
        return self._lines.text


@pytest.fixture
def start(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
) -> Iterator[Callable[..., tuple[Log, Screen]]]:
    """Start the device (no beacon visitors: the replay is slowed to a crawl) and wait for
    it; it stops when the test ends."""
    with contextlib.ExitStack() as running:

        def go(**tables: dict[str, Any]) -> tuple[Log, Screen]:
            checkin = {"base_url": BASE_URL, **tables.pop("checkin", {})}
            config = device_config(speed=0.001, checkin=checkin, **tables)
            log = Log(running.enter_context(captured_log()))
            running.enter_context(running_device(config))
            assert wait_for(lambda: DEVICE in central.states, 15), log.stdout
            screen = Screen(central, tmp_path / "shots")
            assert wait_for(lambda: bool(list(screen.shots.glob("*-playlist-*.png"))), 10)
            return log, screen

        yield go


# -- via central -------------------------------------------------------------------------


def test_checkin_qr_nonce_serves_one_shopper_once_and_the_next_one_too(
    central: CentralSim, start: Callable[..., tuple[Log, Screen]]
) -> None:
    proc, screen = start()
    first = screen.nonce()
    alice, bob = "member:alice", "member:bob"

    central_checkin(central, alice, first, ["personalize", "analytics"])
    assert wait_for(lambda: bool(screen.personal(coupon_for(alice)["id"])), 5), proc.stdout
    assert wait_for(lambda: bool(checkins(central, first)), 5)
    [event] = checkins(central, first)
    assert event["visitor"] == alice and event["via"] == "central" and event["visit_id"]

    central_checkin(central, "member:mallory", first, ["personalize", "analytics"])
    assert wait_for(lambda: "check-in via central refused: reused nonce" in proc.stdout, 5), (
        proc.stdout
    )

    second = screen.nonce()
    assert second != first, "the used nonce is still on screen"
    central_checkin(central, bob, second, ["personalize", "analytics"])
    assert wait_for(lambda: bool(screen.personal(coupon_for(bob)["id"])), 15), (
        proc.stdout
    )  # after its turn
    assert wait_for(lambda: bool(checkins(central, second)), 5)
    assert [e["visitor"] for e in checkins(central, second)] == [bob]
    assert len(checkins(central, first)) == 1, "a reused nonce was checked in again"
    assert not screen.personal(coupon_for("member:mallory")["id"])


def test_consent_decides_what_is_shown_and_what_is_recorded(
    central: CentralSim, start: Callable[..., tuple[Log, Screen]]
) -> None:
    proc, screen = start()
    # analytics only: recorded by name, nothing personal on screen, central not even asked
    carol = "member:carol"
    nonce = screen.nonce()
    central_checkin(central, carol, nonce, ["analytics"])
    assert wait_for(lambda: bool(checkins(central, nonce)), 5), proc.stdout
    assert checkins(central, nonce)[0]["visitor"] == carol
    time.sleep(1.5)  # a decision would have come and gone on screen by now
    assert not screen.any_personal(), "personal content without personalize consent"
    assert central.decisions == 0
    assert "without personalize consent" in proc.stdout

    # personalize only: the coupon is shown, the check-in recorded without the visitor
    dave = "member:dave"
    nonce = screen.nonce()
    central_checkin(central, dave, nonce, ["personalize"])
    assert wait_for(lambda: bool(screen.personal(coupon_for(dave)["id"])), 5), proc.stdout
    assert wait_for(lambda: bool(checkins(central, nonce)), 5)
    assert checkins(central, nonce)[0]["visitor"] is None


def test_impression_of_a_checkin_without_analytics_consent_names_nobody(
    central: CentralSim, start: Callable[..., tuple[Log, Screen]]
) -> None:
    central.show_ms = 3000  # recorded when it leaves, if on screen its min_impression_ms (2 s)
    proc, screen = start()
    erin = "member:erin"
    central_checkin(central, erin, screen.nonce(), ["personalize"])
    coupon = coupon_for(erin)["id"]

    def impressions() -> list[dict[str, Any]]:
        return [e for e in central.events_of("impression") if e["content_id"] == coupon]

    assert wait_for(lambda: bool(impressions()), 12), proc.stdout
    assert [i["visitor"] for i in impressions()] == [None]


def test_slow_central_falls_back_to_the_playlist_and_the_late_answer_is_dropped(
    central: CentralSim, start: Callable[..., tuple[Log, Screen]]
) -> None:
    central.decide_delay_s = 0.6
    proc, screen = start(mqtt={"decide_timeout_ms": 200})
    frank = "member:frank"
    nonce = screen.nonce()
    central_checkin(central, frank, nonce, ["personalize", "analytics"])
    assert wait_for(lambda: central.decisions == 1, 5), "central never answered"
    assert wait_for(lambda: "dropped a decision nobody waits for" in proc.stdout, 3), proc.stdout
    assert "no decision within 200 ms" in proc.stdout
    time.sleep(1.0)  # had the late answer been shown, its screenshot would be there
    assert not screen.any_personal(), "a decision that came too late was shown"
    assert wait_for(lambda: bool(checkins(central, nonce)), 5)


# -- via the store LAN -------------------------------------------------------------------


def test_lan_checkin_with_a_signed_token_and_forged_or_expired_ones_refused(
    central: CentralSim, start: Callable[..., tuple[Log, Screen]]
) -> None:
    platform, forger = Key(), Key()
    port = free_port()
    proc, screen = start(
        checkin={
            "lan_address": "127.0.0.1",
            "lan_port": port,
            "public_keys": {"t1": platform.public},
        }
    )
    assert wait_for(lambda: "LAN check-in on 127.0.0.1" in proc.stdout, 5), proc.stdout
    nonce = screen.nonce()
    grace = "member:grace"

    status, body = lan_post(port, nonce, token(forger, grace))
    assert (status, body.get("reason")) == (401, "bad_signature")
    status, body = lan_post(port, nonce, token(platform, grace, life_ms=-60_000))
    assert (status, body.get("reason")) == (401, "expired")

    status, body = lan_post(port, nonce, token(platform, grace))  # the nonce is still unused
    assert status == 200, body
    assert wait_for(lambda: bool(screen.personal(coupon_for(grace)["id"])), 5), proc.stdout
    assert wait_for(lambda: bool(checkins(central, nonce)), 5)
    [event] = checkins(central, nonce)
    assert event["via"] == "lan" and event["visitor"] == grace

    status, body = lan_post(port, nonce, token(platform, "member:heidi"))
    assert (status, body.get("reason")) == (403, "reused")
    time.sleep(0.5)
    assert len(checkins(central, nonce)) == 1


def test_broker_down_lan_checkin_with_a_segment_gets_the_manifests_offer(
    broker: Mosquitto, central: CentralSim, start: Callable[..., tuple[Log, Screen]]
) -> None:
    content, platform = Key(), Key()
    port = free_port()
    proc, screen = start(
        content={"public_keys": {"k1": content.public}},
        checkin={
            "lan_address": "127.0.0.1",
            "lan_port": port,
            "public_keys": {"t1": platform.public},
        },
    )
    now = int(time.time() * 1000)
    manifest = {
        "version": 1,
        "issued_ts": now - 1000,
        "expires_ts": now + 3_600_000,
        "scope": {"store_id": "store-1", "device_id": None},
        "playlist": [
            {"id": "store-hello", "kind": "text", "duration_ms": 4000, "title": "Hello"},
        ],
        "schedule": [],
        "assets": {},
        "timezone": "Europe/Berlin",
        "offers": {
            "gold": {
                "id": "gold-offer",
                "kind": "coupon",
                "duration_ms": 5000,
                "title": "Gold members",
                "body": "20% off today",
                "code": "GOLD-20",
            }
        },
    }
    central.publish(f"{STORE}/manifest", sign(manifest, content.seed, "k1"), retain=True)
    assert wait_for(lambda: bool(screen.playlist("store-hello")), 8), proc.stdout
    nonce = screen.nonce()

    assert wait_for(lambda: "LAN check-in on 127.0.0.1" in proc.stdout, 10), proc.stdout
    broker.stop()
    assert wait_for(lambda: "lost the broker" in proc.stdout, 5), proc.stdout
    status, body = lan_post(port, nonce, token(platform, "member:ivan", segment="gold"))
    assert status == 200, body
    assert wait_for(lambda: bool(screen.personal("gold-offer")), 5), proc.stdout
    assert "offline: showing the 'gold' segment offer" in proc.stdout
