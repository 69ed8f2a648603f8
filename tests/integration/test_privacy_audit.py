"""Privacy audit: a sample trace and two check-ins through the real daemon, then a search of
everything it left or said for addresses and raw tag ids.

Pseudonymisation is on (one platform key), the log level is debug, central does not
acknowledge until the trace is over (so its events are at rest in the outbox while we
look), then does. Searched: the outbox file with its -wal and -shm (while the daemon
runs and holds every event, and after it stopped),
nonces.json, the daemon's stdout and stderr, and every payload published under
`omo/v1/#` except the test's own inputs to the device (`P/checkin`, `P/cmd`). Looked for:
MAC-shaped strings, the trace's 724 addresses (with and without colons), every beacon
identity the decoder names in the trace and the raw ids inside them (iBeacon
uuid:major:minor, Eddystone namespace/instance, LINE hwid), and the check-in members.
The pseudonyms must be there instead, or the search proves nothing.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from edge.checkin.tokens import sign_token
from edge.presence.pseudonym import PSEUDONYM, pseudonym
from edge.sim.broker import Mosquitto, free_port
from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.paths import DEMO_TRACE
from tests.support.privacy_scan import (
    VISITOR_KEY,
    VISITOR_KEY_B64,
    Recorder,
    address_needles,
    find,
    outbox_bytes,
    tag_id_needles,
    trace_addresses,
    trace_identities,
)
from tests.support.screen import screen_checkin_nonce
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DEVICE = "omo/v1/store-1/screen-1"
MEMBERS = ("member:audit-central", "member:audit-lan")


def lan_post(port: int, nonce: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = json.dumps({"nonce": nonce, "token": token})
        conn.request("POST", "/checkin", body, {"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


def checkin_of(central: CentralSim, nonce: str) -> list[dict[str, Any]]:
    return [e for e in central.events_of("checkin") if e["nonce"] == nonce]


def said_offline(recorder: Recorder) -> bool:
    return any(
        topic == f"{DEVICE}/state" and json.loads(payload).get("state") == "offline"
        for topic, payload in recorder.payloads()
    )


def test_nothing_names_a_tag_an_address_or_a_member(
    tmp_path: Path,
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    seed = SigningKey.generate()
    port = free_port()
    recorder = Recorder(broker.port)
    central.acking = False  # everything stays at rest on the device while we look
    config = device_config(
        speed=40.0,  # the 240 s trace in 6 s (visits are counted in trace time)
        sync={"ack_timeout_s": 0.5},
        log={"level": "debug"},
        privacy={"visitor_keys": {"k1": VISITOR_KEY_B64}},
        checkin={
            "base_url": "https://checkin.example.invalid/c",
            "lan_address": "127.0.0.1",
            "lan_port": port,
            "public_keys": {"t1": base64.b64encode(bytes(seed.verify_key)).decode()},
        },
    )
    proc = daemon("run", "--config", str(config), "--duration", "90")
    try:
        assert wait_for(lambda: "LAN check-in on 127.0.0.1" in proc.stdout, 20), proc.stderr

        first = screen_checkin_nonce(central, DEVICE)
        body = {"visitor": MEMBERS[0], "nonce": first, "consent": ["personalize", "analytics"]}
        central.publish(f"{DEVICE}/checkin", json.dumps({**body, "ts": 1}).encode())
        assert wait_for(lambda: "check-in via central committed" in proc.stdout, 10)

        second = screen_checkin_nonce(central, DEVICE)
        now = int(time.time() * 1000)
        token = sign_token(
            signing_key_b64=base64.b64encode(bytes(seed)).decode(),
            kid="t1",
            visitor=MEMBERS[1],
            consent=("personalize", "analytics"),
            iat_ms=now - 1000,
            exp_ms=now + 600_000,
        )
        assert lan_post(port, second, token) == 200
        assert wait_for(lambda: "check-in via lan committed" in proc.stdout, 10)

        identities = trace_identities(DEMO_TRACE)
        visits = 12  # true visits in demo.jsonl, each counted once (omo-edge scan --replay)
        assert wait_for(lambda: proc.stdout.count("visitor entered") >= visits, 40), proc.stdout
        # personal slides were shown, so impressions naming visitors are at rest too
        assert wait_for(lambda: proc.stdout.count("slide shown: coupon") >= 2, 20), proc.stdout
        db = tmp_path / "state" / "outbox.sqlite3"
        at_rest_running = outbox_bytes(db)

        central.acking = True  # now everything reaches central: the stop's drain sends it
    finally:
        proc.stop()
        # Its last word on the way out is `offline` on P/state: everything before it is in.
        assert wait_for(lambda: said_offline(recorder), 10), "no offline state on the way out"
        recorder.close()
    assert len(central.events_of("visit.enter")) >= visits
    assert checkin_of(central, first) and checkin_of(central, second)
    at_rest_stopped = outbox_bytes(db)
    nonces = (db.parent / "nonces.json").read_bytes()
    logs = (proc.stdout + proc.stderr).encode()
    published = recorder.payloads(exclude_suffixes=("/checkin", "/cmd"))

    needles = set(MEMBERS)
    for identity in identities:
        needles |= tag_id_needles(identity)
    for address in trace_addresses(DEMO_TRACE):
        needles |= address_needles(address)
    assert len(identities) == 39 and len(needles) > 2000

    places = {
        "outbox while running": at_rest_running,
        "outbox after stopping": at_rest_stopped,
        "nonces.json": nonces,
        "logs": logs,
        **{f"published on {t} #{i}": p for i, (t, p) in enumerate(published)},
    }
    found = {place: hits for place, blob in places.items() if (hits := find(blob, needles))}
    assert found == {}

    # The search can fail: what should be there instead is there.
    expected = {pseudonym(VISITOR_KEY, "k1", v) for v in (*identities, *MEMBERS)}
    sent = {e.get("visitor") for e in central.events.values()} - {None}
    assert sent and sent <= expected, sent - expected
    assert all(PSEUDONYM.fullmatch(str(v)) for v in sent)
    assert len(sent & {pseudonym(VISITOR_KEY, "k1", m) for m in MEMBERS}) == 2
    assert any(v.encode() in at_rest_running for v in sent)
    decides = [json.loads(p) for t, p in published if t.endswith("/decide")]
    assert decides and all(d["visitor"] in expected for d in decides)
    assert "visitor entered: v:" in proc.stdout and "debug: " in proc.stdout


def test_consent_without_analytics_names_nobody_and_without_personalize_asks_nobody(
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    """Consent (docs/protocol.md), with pseudonyms on: a check-in with only `personalize` gets its
    coupon, but no event names the visitor or links back to the decide request that did;
    one with only `analytics` is recorded (pseudonymised) and nothing is asked or shown."""
    recorder = Recorder(broker.port)
    config = device_config(
        speed=0.001,  # no beacon visitors
        privacy={"visitor_keys": {"k1": VISITOR_KEY_B64}},
        checkin={"base_url": "https://checkin.example.invalid/c"},
    )
    proc = daemon("run", "--config", str(config), "--duration", "60")
    shy, counted = "member:shy", "member:counted"
    try:
        assert wait_for(lambda: DEVICE in central.states, 15), proc.stdout + proc.stderr
        first = screen_checkin_nonce(central, DEVICE)
        body = {"visitor": shy, "nonce": first, "consent": ["personalize"], "ts": 1}
        central.publish(f"{DEVICE}/checkin", json.dumps(body).encode())
        assert wait_for(lambda: bool(central.events_of("impression")), 20), proc.stdout
        second = screen_checkin_nonce(central, DEVICE)
        body = {"visitor": counted, "nonce": second, "consent": ["analytics"], "ts": 1}
        central.publish(f"{DEVICE}/checkin", json.dumps(body).encode())
        assert wait_for(lambda: bool(checkin_of(central, second)), 10), proc.stdout
    finally:
        proc.stop()
        recorder.close()
    decides = [json.loads(p) for t, p in recorder.payloads() if t.endswith("/decide")]
    assert [d["visitor"] for d in decides] == [pseudonym(VISITOR_KEY, "k1", shy)]
    [shy_checkin] = checkin_of(central, first)
    assert shy_checkin["visitor"] is None and shy_checkin["visit_id"] != decides[0]["visit_id"]
    personal = [e for e in central.events_of("impression") if e["campaign_id"] is not None]
    assert personal and all(e["visitor"] is None and e["request_id"] is None for e in personal)
    [counted_checkin] = checkin_of(central, second)
    assert counted_checkin["visitor"] == pseudonym(VISITOR_KEY, "k1", counted)
    assert "without personalize consent: nothing personal" in proc.stdout
