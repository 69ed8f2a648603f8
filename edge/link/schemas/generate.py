"""JSON Schemas (draft 2020-12) for every payload, generated from the device's own structs.

    python -m edge.link.schemas.generate docs/schemas

One file per payload, named after its topic's suffix (`P/events/ack` ->
`events-ack.schema.json`). A test regenerates them and compares with the files
in the repository, so a change to a struct without its schema fails the suite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from edge.config.remote import SignedConfig
from edge.content.manifest import SignedManifest
from edge.link.schemas.central import (
    AssetMissing,
    CertReply,
    Checkin,
    Command,
    Decision,
    EventsAck,
)
from edge.link.schemas.device import AssetGet, CertRequest, CmdResult, Decide, State
from edge.link.schemas.events import Event, EventBatch

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://omo-edge.invalid/schemas/v1/"

PAYLOADS: dict[str, tuple[Any, str, str]] = {
    # name: (type, topic, direction)
    "state": (State, "P/state", "device -> central (retained)"),
    "events": (EventBatch, "P/events", "device -> central"),
    "event": (Event, "one event of P/events", "device -> central"),
    "decide": (Decide, "P/decide", "device -> central"),
    "asset-get": (AssetGet, "P/asset/get", "device -> central"),
    "cmd-result": (CmdResult, "P/cmd/result", "device -> central"),
    "events-ack": (EventsAck, "P/events/ack", "central -> device"),
    "decision": (Decision, "P/decision", "central -> device"),
    "manifest": (SignedManifest, "S/manifest, P/manifest", "central -> device (retained)"),
    "asset-missing": (AssetMissing, "P/asset/missing", "central -> device"),
    "checkin": (Checkin, "P/checkin", "central -> device"),
    "cmd": (Command, "P/cmd", "central -> device"),
    "csr": (CertRequest, "P/csr", "device -> CA service"),
    "cert": (CertReply, "P/cert", "CA service -> device"),
    "config": (SignedConfig, "S/config, P/config", "central -> device (retained)"),
}
"""Every JSON payload of protocol 1. Assets (`P/asset/{sha256}`) are raw bytes."""


def tagged(node: Any) -> Any:
    """msgspec writes a tagged union as `anyOf` + OpenAPI's `discriminator`, which JSON
    Schema 2020-12 ignores: a bad member then fails only as "not valid under any of the
    given schemas". Rewritten as `if` the tag is X `then` X's schema (the same payloads
    accepted), a validator names the field that is wrong."""
    if isinstance(node, list):
        return [tagged(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: tagged(value) for key, value in node.items()}
    if "discriminator" in node and "anyOf" in node:
        tag = node["discriminator"]["propertyName"]
        mapping = node.pop("discriminator")["mapping"]
        del node["anyOf"]
        node.update(
            type="object",
            required=[tag],
            properties={tag: {"enum": sorted(mapping)}},
            allOf=[
                {"if": {"properties": {tag: {"const": value}}}, "then": {"$ref": ref}}
                for value, ref in sorted(mapping.items())
            ],
        )
    return node


def schema(name: str) -> dict[str, Any]:
    kind, topic, direction = PAYLOADS[name]
    generated = tagged(msgspec.json.schema(kind))
    return {
        "$schema": DIALECT,
        "$id": f"{BASE_ID}{name}.schema.json",
        "title": f"{topic} ({direction})",
        **generated,
    }


def text(name: str) -> str:
    return json.dumps(schema(name), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PAYLOADS:
        path = folder / f"{name}.schema.json"
        path.write_text(text(name), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path("docs/schemas")
    for path in write(folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
