"""What the privacy tests look for: a trace's addresses and tag ids, and where they might hide."""

from __future__ import annotations

import base64
import contextlib
import re
import sqlite3
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import packing
from edge.presence.advert import Advert
from edge.presence.decode import BeaconDecoder
from edge.presence.trace import read_trace

VISITOR_KEY = bytes(range(32))
VISITOR_KEY_B64 = base64.b64encode(VISITOR_KEY).decode()
MAC = re.compile(rb"(?i)(?<![0-9a-f])(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}(?![0-9a-f])")


def trace_adverts(path: Path) -> list[Advert]:
    return [a for a in read_trace(path) if isinstance(a, Advert)]


def trace_addresses(path: Path) -> set[str]:
    return {a.address for a in trace_adverts(path) if a.address}


def trace_identities(path: Path) -> set[str]:
    """Every beacon identity the decoder names in the trace (visitors or not)."""
    decoder = BeaconDecoder()
    found = set()
    for advert in trace_adverts(path):
        beacon = decoder.decode(advert.manufacturer_data, advert.service_data)
        if beacon is not None:
            found.add(beacon.identity)
    return found


def tag_id_needles(identity: str) -> set[str]:
    """The identity and the raw ids inside it (instance, hwid, major:minor, uuid+major+minor)."""
    needles = {identity}
    kind, _, rest = identity.partition(":")
    parts = rest.split(":")
    if kind == "eddystone-uid" and len(parts) == 2:
        needles |= {parts[0] + parts[1], parts[0] + ":" + parts[1], parts[1]}
    elif kind == "ibeacon" and len(parts) == 3:
        uuid, major, minor = parts
        needles |= {f"{uuid}:{major}:{minor}", f"{uuid.replace('-', '')}{int(major):04x}"}
    elif kind == "line":
        needles.add(rest)
    return needles


def address_needles(address: str) -> set[str]:
    bare = address.replace(":", "")
    return {address, address.lower(), bare, bare.lower()}


def find(blob: bytes, needles: set[str]) -> list[str]:
    """Which needles occur in `blob` (case-insensitive), plus any MAC-shaped string."""
    low = blob.lower()
    hits = sorted(n for n in needles if n.lower().encode() in low)
    return hits + [m.decode(errors="replace") for m in MAC.findall(blob)]


def outbox_bytes(db: Path) -> bytes:
    """The outbox file with its journal, as they are on disk now, and the text of every
    event stored in it (events are stored compressed: a search of the bytes alone
    would not see them)."""
    parts = [Path(str(db) + s) for s in ("", "-journal", "-wal", "-shm")]
    raw = b"".join(p.read_bytes() for p in parts if p.exists())
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT body FROM batches").fetchall()
    return raw + b"\n".join("\n".join(packing.unpack(body)).encode() for (body,) in rows)


class Recorder:
    """A central-side client subscribed to `{prefix}/#`: every payload published."""

    def __init__(self, port: int, topic: str = "omo/v1/#") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="recorder", protocol=mqtt.MQTTv5)
        c.on_connect = lambda cl, *_a: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda *_a: self._ready.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port, 30)
        c.loop_start()
        self._client = c
        if not self._ready.wait(10):
            self.close()
            raise TimeoutError("recorder could not subscribe")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def payloads(self, exclude_suffixes: tuple[str, ...] = ()) -> list[tuple[str, bytes]]:
        with self._lock:
            return [(t, p) for t, p in self.messages if not t.endswith(exclude_suffixes)]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
