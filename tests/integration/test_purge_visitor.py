"""purge_visitor through the real broker: afterwards nothing on the device names the visitor.

A beacon visitor of the demo trace (purged by its raw identity) and a checked-in member
(purged by its pseudonym). Central does not acknowledge until after the purge, so the
visitor's events sit both in the batch in flight and in the queue. Searched afterwards:
the outbox file, its -wal and -shm (raw bytes, while the daemon runs and after it
stopped), nonces.json, what the daemon sends afterwards, its command answers and
`omo-edge outbox export`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.ids import short_visitor
from edge.outbox import packing
from edge.presence.pseudonym import pseudonym
from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.privacy_scan import VISITOR_KEY, VISITOR_KEY_B64, find, outbox_bytes
from tests.support.screen import screen_checkin_nonce
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DEVICE = "omo/v1/store-1/screen-1"
TARGET = "eddystone-uid:8b0ca750e7a74e14bd99:ea071e452217"  # the first visit in demo.jsonl
OTHER = "eddystone-uid:8b0ca750e7a74e14bd99:16c6e9c9bf35"  # stays: the search can see
MEMBER = "member:purge-me"
OLD_KEY = bytes(range(100, 132))  # a key the platform provisioned earlier


def impressions_of(db: Path, visitor: str) -> int:
    """Impressions naming `visitor` waiting in the device's outbox (read-only, beside it)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT body FROM batches").fetchall()
    events = [json.loads(text) for (body,) in rows for text in packing.unpack(body)]
    return sum(e["type"] == "impression" and e.get("visitor") == visitor for e in events)


def test_nothing_about_a_purged_visitor_remains(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    central.acking = False
    keys = {"k0": base64.b64encode(OLD_KEY).decode(), "k1": VISITOR_KEY_B64}
    config = device_config(
        speed=40.0,  # the 240 s trace in 6 s (visits are counted in trace time)
        sync={"ack_timeout_s": 0.5},
        privacy={"visitor_keys": keys, "visitor_kid": "k1"},
        checkin={"base_url": "https://checkin.example.invalid/c"},
    )
    db = tmp_path / "state" / "outbox.sqlite3"
    nonce_file = db.parent / "nonces.json"
    target, member, other = (pseudonym(VISITOR_KEY, "k1", v) for v in (TARGET, MEMBER, OTHER))
    gone = {
        TARGET,
        MEMBER,
        target,
        member,
        pseudonym(OLD_KEY, "k0", TARGET),
        pseudonym(OLD_KEY, "k0", MEMBER),
    }
    proc = daemon("run", "--config", str(config), "--duration", "90")
    try:
        assert wait_for(lambda: DEVICE in central.states, 15), proc.stdout + proc.stderr
        nonce = screen_checkin_nonce(central, DEVICE)
        body = {"visitor": MEMBER, "nonce": nonce, "consent": ["personalize", "analytics"]}
        central.publish(f"{DEVICE}/checkin", json.dumps({**body, "ts": 1}).encode())
        assert wait_for(lambda: "check-in via central committed" in proc.stdout, 10)
        left = f"visitor left: {short_visitor(target)}"
        assert wait_for(lambda: proc.stdout.count(left) == 1, 40), proc.stdout
        assert wait_for(lambda: proc.stdout.count("visitor entered") >= 12, 20)  # trace over
        assert wait_for(lambda: impressions_of(db, member) >= 1, 30), proc.stdout  # their coupon
        before = outbox_bytes(db)
        assert all(v.encode() in before for v in (target, member, other))
        assert nonce.encode() in nonce_file.read_bytes()
        sent_before = set(central.events)

        by_identity = central.command(DEVICE, "purge_visitor", {"visitor": TARGET})
        by_pseudonym = central.command(DEVICE, "purge_visitor", {"visitor": member})
        assert wait_for(lambda: {by_identity, by_pseudonym} <= set(central.cmd_results), 10)
        first, second = central.cmd_results[by_identity], central.cmd_results[by_pseudonym]
        assert first["ok"] and second["ok"], (first, second)
        assert int(first["detail"].split()[0]) >= 4  # its approach and its visit, enters and exits
        assert int(second["detail"].split()[0]) >= 2  # the check-in, its impression
        assert "1 check-in nonces" in second["detail"]

        running = outbox_bytes(db)
        assert find(running, gone) == [] and nonce.encode() not in running
        assert other.encode() in running
        nonces = nonce_file.read_bytes()
        assert find(nonces, gone) == [] and nonce.encode() not in nonces

        central.acking = True  # what the device sends from now on (the stop's drain at least)
    finally:
        proc.stop()
    assert "stopped:" in proc.stdout, proc.stdout + proc.stderr
    after = outbox_bytes(db)
    assert find(after, gone) == [] and nonce.encode() not in after
    sent_after = [e for i, e in central.events.items() if i not in sent_before]
    assert sent_after and all(e.get("visitor") not in gone for e in sent_after)
    answers = json.dumps(central.cmd_results).encode()
    assert find(answers, gone) == []
    export = subprocess.run(
        [sys.executable, "-m", "edge.cli", "outbox", "export", "-", "--config", str(config)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert find(export.stdout, gone) == []
