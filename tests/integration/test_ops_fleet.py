"""`omo-ops` against real brokers, the slower variations: the tool's own TLS identity on the
fleet broker, every way a connection is refused, a publication refused for a device that
lacks a slide kind, and content served to a device that comes online after publishing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from edge.link.capabilities import capabilities
from edge.link.schemas import State, encode
from edge.ops.broker import Broker, Connection
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.cli import ops
from tests.support.wait import wait_for

DEVICE = "omo/v1/store-1/screen-1"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
STORE = "omo/v1/store-1/_store"


def retain_state(port: int, device: str, **fields: Any) -> None:
    """A device's retained `P/state`, as an older or absent device left it."""
    body = {
        "state": "offline",
        "version": "0.0.9",
        "protocol": 1,
        "capabilities": capabilities(),
        "clock_synced": True,
        "ts": 1,
        **fields,
    }
    with Connection(Broker("127.0.0.1", port, None), []) as conn:
        topic = f"omo/v1/store-1/{device}/state"
        conn.publish(topic, encode(msgspec.convert(body, State)), retain=True)


def retained(port: int, topic: str) -> list[bytes]:
    with Connection(Broker("127.0.0.1", port, None), [topic]) as conn:
        return [m.payload for m in conn.settle()]


def key_and_folder(tmp_path: Path, slides: list[dict[str, Any]] | None = None) -> list[str]:
    key = tmp_path / "content.key"
    assert ops("keygen", "--kid", "k1", "--out", str(key)).returncode == 0
    folder = tmp_path / "content"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "market.png").write_bytes(
        (ROOT / "signage_content" / "images" / "market.png").read_bytes()
    )
    playlist = slides or [{"id": "m", "kind": "image", "image": "market.png", "title": "Market"}]
    (folder / "playlist.json").write_text(json.dumps({"playlist": playlist}))
    return [str(folder), "--store", "store-1", "--signing-key", str(key), "--kid", "k1"]


def test_a_tool_connects_with_its_own_identity_and_refusals_are_words(
    fleet_broker: Any, fleet_pki_full: Any, tmp_path: Path
) -> None:
    pki = fleet_pki_full
    central = ["--broker", f"mqtts://127.0.0.1:{fleet_broker.central_port}"]
    central += ["--tls-ca", str(pki.ca_cert)]
    me = ["--tls-cert", str(pki.central_cert), "--tls-key", str(pki.central_key)]
    ok = ops("fleet", "status", *central, *me)
    assert ok.returncode == 0 and "no device has a retained state" in ok.stderr, ok.stderr

    no_cert = ops("fleet", "status", *central)
    assert no_cert.returncode == 2 and "Traceback" not in no_cert.stderr
    assert "certificate" in no_cert.stderr, no_cert.stderr

    untrusted = ops("fleet", "status", *central[:2], "--tls-ca", str(pki.service_ca_cert), *me)
    assert untrusted.returncode == 2 and "not trusted" in untrusted.stderr, untrusted.stderr

    # a device's certificate on the device listener may not publish a store's manifest
    device_cert, device_key = pki.client("screen-1")
    as_device = ["--broker", f"mqtts://127.0.0.1:{fleet_broker.port}", "--tls-ca", str(pki.ca_cert)]
    as_device += ["--tls-cert", str(device_cert), "--tls-key", str(device_key)]
    denied = ops("content", "publish", *key_and_folder(tmp_path), *as_device)
    assert denied.returncode == 2, denied.stdout + denied.stderr
    assert "refused the message on omo/v1/store-1/_store/manifest" in denied.stderr
    assert "ACL" in denied.stderr


def test_a_refused_login_is_said_in_words(tmp_path: Path) -> None:
    with Mosquitto(workdir=tmp_path / "closed", listener=["allow_anonymous false"]) as closed:
        out = ops("fleet", "status", "--broker", f"mqtt://127.0.0.1:{closed.port}")
    assert out.returncode == 2 and "refused the login" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_nothing_is_published_when_a_device_in_scope_lacks_a_slide_kind(
    broker: Mosquitto, tmp_path: Path
) -> None:
    old = [c for c in capabilities() if c != "slide:qr"]
    retain_state(broker.port, "old-screen", capabilities=old)
    retain_state(broker.port, "new-screen")
    slides = [{"id": "q", "kind": "qr", "qr_url": "https://example.invalid/app"}]
    out = ops(
        "content", "publish", *key_and_folder(tmp_path, slides),
        "--broker", f"mqtt://127.0.0.1:{broker.port}",
    )  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert "store-1/old-screen (omo-edge 0.0.9) does not show qr" in out.stderr
    assert "new-screen" not in out.stderr
    assert retained(broker.port, f"{STORE}/manifest") == []


def test_a_command_nobody_answers_is_exit_1_naming_the_state(broker: Mosquitto) -> None:
    retain_state(broker.port, "screen-9")
    at = ["--broker", f"mqtt://127.0.0.1:{broker.port}"]
    out = ops("cmd", "--store", "store-1", "--device", "screen-9", *at, "--timeout", "1", "reload")
    assert out.returncode == 1, out.stderr
    assert "no result from store-1/screen-9 within 1 s (its retained state says offline)" in (
        out.stderr
    )


def test_content_serve_answers_a_device_that_comes_online_after_publishing(
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., Any],
    tmp_path: Path,
) -> None:
    at = ["--broker", f"mqtt://127.0.0.1:{broker.port}"]
    publish = key_and_folder(tmp_path)
    public = json.loads((tmp_path / "content.key").read_text())["public_key_b64"]
    config = device_config(speed=0.001, content={"public_keys": {"k1": public}})

    def status() -> dict[str, Any]:
        """The device's row in `omo-ops fleet status --json`, as ops read it."""
        rows = json.loads(ops("fleet", "status", "--json", *at).stdout or "[]")
        return rows[0] if rows else {}

    def state() -> dict[str, Any]:
        """Its retained state as it arrives (waited on here without a process per look)."""
        return central.states.get(DEVICE, {})

    def live_version() -> int | None:
        version: int | None = (
            state().get("content", {}).get("store", {}).get("live", {}).get("version")
        )
        return version

    first = daemon("run", "--config", str(config), "--duration", "60")
    assert wait_for(lambda: state().get("state") == "online", 30)
    assert status()["online"]
    first.stop()  # a clean stop leaves its retained state "offline"
    assert wait_for(lambda: state().get("state") == "offline", 10)
    assert not status()["online"]

    published = ops("content", "publish", *publish, *at, "--timeout", "10")
    assert published.returncode == 0, published.stdout + published.stderr
    assert "store-1/screen-1  offline" in published.stdout
    assert "content serve --store store-1" in published.stderr

    serve = subprocess.Popen(
        [sys.executable, "-m", "edge.ops.cli", "content", "serve", "--store", "store-1", *at,
         publish[0]],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        daemon("run", "--config", str(config), "--duration", "60")
        assert wait_for(lambda: live_version() is not None, 30), state()
        assert status()["content"]["store"]["version"] == live_version()
    finally:
        serve.send_signal(signal.SIGTERM)
        _out, err = serve.communicate(timeout=15)
    assert serve.returncode == 0, err
    assert "sent market.png" in err and "stopped: sent 1 asset(s)" in err, err
    assert "Traceback" not in err
