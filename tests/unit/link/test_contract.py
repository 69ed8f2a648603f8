"""The published contract is the device's own: docs/schemas/ is generated from the structs
it decodes and encodes with, every payload on the wire validates against it, and the
device and the schemas agree on what to accept."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from nacl.signing import SigningKey

from edge.content.manifest import sign
from edge.errors import PayloadRejected
from edge.link.schemas import Checkin, Decision, EventsAck, parse, parse_command
from edge.link.schemas.generate import PAYLOADS, text
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support import fuzz_targets as ft
from tests.support.device import running_device
from tests.support.paths import ROOT
from tests.support.privacy_scan import Recorder
from tests.support.wait import wait_for

SCHEMAS = ROOT / "docs" / "schemas"
PNG = ft.PNG


def validator(name: str) -> jsonschema.protocols.Validator:
    """A 2020-12 validator for docs/schemas/{name}.schema.json.

    One documented tightening: an `integer` is written as an integer (no fraction or
    exponent), as the device reads it; plain JSON Schema would also take 7.0.
    """
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _c, x: isinstance(x, int) and not isinstance(x, bool)
    )
    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)
    return cls(schema)  # type: ignore[no-any-return]


def test_the_schemas_in_docs_are_what_the_structs_generate() -> None:
    """Change a struct without regenerating (python -m edge.link.schemas.generate) and this
    fails: the published contract cannot drift from the code."""
    for name in PAYLOADS:
        path = SCHEMAS / f"{name}.schema.json"
        assert path.read_text(encoding="utf-8") == text(name), f"{path} is out of date"
    assert {p.name for p in SCHEMAS.glob("*.schema.json")} == {f"{n}.schema.json" for n in PAYLOADS}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_every_schema_is_a_valid_2020_12_schema(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(text(name)))


# -- what the device and the schemas accept ---------------------------------------------

DECODERS: dict[str, Callable[[bytes], object]] = {
    "decision": lambda p: parse("t", p, Decision),
    "events_ack": lambda p: parse("t", p, EventsAck),
    "checkin": lambda p: parse("t", p, Checkin),
    "command": lambda p: parse_command("t", p),
}
SCHEMA_OF = {"decision": "decision", "events_ack": "events-ack", "checkin": "checkin"}
SCHEMA_OF["command"] = "cmd"


def device_accepts(kind: str, payload: bytes) -> bool:
    try:
        DECODERS[kind](payload)
    except PayloadRejected:
        return False
    return True


def schema_accepts(kind: str, payload: bytes) -> bool:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than any reader takes
        return False
    if kind == "command" and isinstance(doc, dict):
        doc.setdefault("args", {})  # docs/protocol.md: a missing `args` is read as {}
    return validator(SCHEMA_OF[kind]).is_valid(doc)


@pytest.mark.parametrize("kind", sorted(DECODERS))
def test_the_device_and_the_schema_agree_on_the_fuzz_corpus(kind: str) -> None:
    rng = random.Random(f"contract-{kind}")
    accepted = rejected = 0
    for _ in range(400):
        payload = ft.gen_payload(kind, rng)
        if len(payload) > 256 * 1024:
            continue
        device = device_accepts(kind, payload)
        assert device == schema_accepts(kind, payload), (kind, payload[:300])
        accepted, rejected = accepted + device, rejected + (not device)
    assert accepted >= 20 and rejected >= 20, (accepted, rejected)  # both sides exercised


# -- everything on the wire ----------------------------------------------------------------


def schema_for(topic: str) -> str | None:
    """Which schema a topic's payload follows (None: raw asset bytes)."""
    tail = topic.split("/", 4)[-1]  # after prefix/store/device
    if tail.startswith("asset/") and tail not in ("asset/get", "asset/missing"):
        return None
    return tail.replace("/", "-")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_every_payload_on_the_wire_validates_against_its_schema(
    tmp_path: Path,
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
) -> None:
    seed = bytes(range(32))
    public = base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()
    central.answer_missing = True
    central.assets[hashlib.sha256(PNG).hexdigest()] = PNG
    config = device_config(
        content={"public_keys": {"k1": public}},
        health={"interval_s": 1},
        sync={"ack_timeout_s": 1.0},
    )
    recorder = Recorder(broker.port, "omo/v1/#")
    try:
        with running_device(config) as device:
            online = device.io.online
            assert online is not None
            topics = online.link.topics
            now = int(time.time() * 1000)
            good = ft.manifest_doc(version=now, asset=PNG)
            good["playlist"][0]["title"] = "Café オモ"
            seed_b64 = base64.b64encode(seed).decode()
            central.publish(topics.store_manifest, sign(good, seed_b64, "k1"), True)
            assert wait_for(lambda: bool(central.events_of("content.live")), 20)
            missing = ft.manifest_doc(version=now + 1, asset=PNG + b"not served")
            central.publish(topics.store_manifest, sign(missing, seed_b64, "k1"), True)
            checkin = {"visitor": "app:7", "nonce": "n" * 12, "consent": ["analytics"]}
            central.publish(topics.checkin, json.dumps(checkin).encode())
            for cmd in ("screenshot", "reload"):
                central.command(topics.base, cmd)
            assert wait_for(lambda: len(central.cmd_results) >= 2, 20)
            assert wait_for(
                lambda: any(
                    e["reason"] == "missing_asset" for e in central.events_of("content.rejected")
                ),
                20,
            )
            assert wait_for(lambda: bool(central.events_of("device.health")), 20)
            assert wait_for(lambda: central.decisions > 0, 40), "no visitor was decided about"
            assert wait_for(lambda: bool(central.events_of("impression")), 30)
        seen: dict[str, int] = {}
        for topic, payload in recorder.payloads():
            name = schema_for(topic)
            if name is None or not payload:  # an asset, or a retained message cleared
                continue
            doc: Any = json.loads(payload)
            errors = sorted(validator(name).iter_errors(doc), key=str)
            assert not errors, (topic, errors[0].message, doc)
            seen[name] = seen.get(name, 0) + 1
            if name == "events":
                for event in doc["events"]:
                    assert validator("event").is_valid(event), event
        expected = {
            "state", "events", "decide", "asset-get", "cmd-result", "events-ack", "decision",
            "manifest", "asset-missing", "checkin", "cmd",
        }  # fmt: skip
        assert expected <= set(seen), expected - set(seen)
    finally:
        recorder.close()
