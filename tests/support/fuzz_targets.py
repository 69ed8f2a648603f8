"""Fuzz targets and input generators shared by tests/unit/*/test_fuzz_*.py and benchmarks/fuzz.py.

A *target* runs one input through the real code a device uses for input from
outside and returns "accepted" or "rejected". Rejected means the module's
documented rejection (its exception or its counter). Anything else that comes
out of it, an exception of another kind or an accepted input that is not well
formed, propagates: that is an *escape*. The tests run the targets under
hypothesis (bounded); the benchmark runs them by the hundred thousand.

A *generator* `gen_*(rng)` makes one input from a `random.Random`: real frames,
payloads and files, mutated (bytes flipped, cut, grown; JSON values replaced,
deleted, nested deeply), or plain garbage. Hypothesis draws the Random
(`st.randoms()`), the benchmark seeds one.

"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import random
import re
import string
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey, VerifyKey

from edge.checkin import lan
from edge.checkin.nonces import VERDICTS, NonceBook, qr_url
from edge.checkin.tokens import TokenRejected, b64url_encode, sign_payload, verify_token
from edge.config import SCHEMA, Config, from_mapping, load
from edge.content import reasons
from edge.content.assets import AssetStore, image_size
from edge.content.manifest import Manifest, canonical, sign, verify
from edge.content.slides import Slide
from edge.errors import (
    ConfigError,
    ConfigFileError,
    ContentRejected,
    PayloadRejected,
    TraceLineError,
)
from edge.link.schemas import Checkin, Command, Decision, EventsAck, parse, parse_command
from edge.presence import encode
from edge.presence.allow import AllowList
from edge.presence.decode import BeaconDecoder, decode, decode_frame
from edge.presence.formats import (
    APPLE,
    EDDYSTONE_UUID,
    LINE_IBEACON_UUID,
    LINE_UUID,
    OUTCOMES,
    Beacon,
    EddystoneUrl,
    Telemetry,
)
from edge.presence.trace import format_advert, parse_line
from edge.provision import pairing

ACCEPTED = "accepted"
REJECTED = "rejected"

# One content key and one check-in key, known to every target that verifies signatures.
SEED_B64 = base64.b64encode(bytes(range(32))).decode()
OTHER_SEED_B64 = base64.b64encode(bytes(range(1, 33))).decode()
PUBLIC_B64 = base64.b64encode(bytes(SigningKey(bytes(range(32))).verify_key)).decode()
KID = "k1"
PUBLIC_KEYS = {KID: PUBLIC_B64}
STORE_ID, DEVICE_ID = "store-1", "screen-1"
NONCE_MARK = "@@shown-nonce@@"  # InboxTarget puts the nonce on screen in its place


class Escaped(AssertionError):
    """An input was accepted but what came out is not well formed."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise Escaped(what)


# -- mutation ---------------------------------------------------------------------------

SPECIAL_BYTES = (0x00, 0x01, 0x02, 0x15, 0x10, 0x20, 0x30, 0x7F, 0x80, 0xBE, 0xAC, 0xFE, 0xFF)


def mutate_bytes(data: bytes, rng: random.Random, rounds: int | None = None) -> bytes:
    """Up to a few random edits: flip, set, cut, grow, insert, delete, repeat."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3) if rounds is None else rounds):
        op = rng.randrange(8)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[pos % len(out)] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[pos % len(out)] = rng.choice(SPECIAL_BYTES)
        elif op == 2:
            del out[pos:]
        elif op == 3:
            out += rng.randbytes(rng.randint(1, 8))
        elif op == 4:
            out[pos:pos] = rng.randbytes(rng.randint(1, 4))
        elif op == 5 and out:
            del out[pos : pos + rng.randint(1, 4)]
        elif op == 6 and out:
            start = rng.randrange(len(out))
            out[pos:pos] = out[start : start + rng.randint(1, 8)]
        elif out:
            out[pos % len(out)] = rng.randrange(256)
    return bytes(out)


DEEP = "\x00deep\x00"  # replaced by deeply nested JSON after encoding


def json_value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value, biased towards the edges: huge and negative numbers, odd strings."""
    pick = rng.randrange(14 if depth < 3 else 10)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.choice((0, -1, 1, 500, 7999, 3_600_000, 3_600_001, 2**31, 2**53, 2**63, 2**64))
    if pick == 3:
        return rng.randint(-(2**70), 2**70)
    if pick == 4:
        return rng.choice((0.5, -0.0, 1e308, 1.5e-300, 8000.0))
    if pick == 5:
        return rng.choice(("", " ", "\u0000", "é", "\U0001f600", "#1_2345", "#ABCDEF", "UTC"))
    if pick == 6:
        return "".join(rng.choices(string.printable, k=rng.randint(0, 20)))
    if pick == 7:
        return "x" * rng.choice((64, 65, 128, 129, 256, 257, 5000))
    if pick == 8:
        return rng.choice(("a" * 64, "../etc/passwd", "a/b", "text", "image", "video", "qr"))
    if pick == 9:
        return DEEP
    if pick in (10, 11):
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ("id", "kind", "version", "a", "", "slides", "days", "visitor", "nonce", "cmd")
    return {rng.choice(keys): json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def mutate_json(doc: Any, rng: random.Random) -> Any:
    """`doc` with one node replaced, removed or added to (a deep copy)."""
    doc = json.loads(json.dumps(doc))
    if not isinstance(doc, dict | list) or rng.random() < 0.05:
        return json_value(rng)
    parent: Any = doc
    for _ in range(rng.randint(0, 4)):
        children = list(parent.values()) if isinstance(parent, dict) else parent
        containers = [c for c in children if isinstance(c, dict | list)]
        if not containers:
            break
        parent = rng.choice(containers)
    keys = list(parent.keys()) if isinstance(parent, dict) else list(range(len(parent)))
    op = rng.randrange(4)
    if keys and op == 0:
        key = rng.choice(keys)
        del parent[key]
    elif keys and op in (1, 2):
        parent[rng.choice(keys)] = json_value(rng)
    elif isinstance(parent, dict):
        parent[rng.choice(("extra", "id", "kind", "x"))] = json_value(rng)
    else:
        parent.append(json_value(rng))
    return doc


def dumps(doc: Any, rng: random.Random | None = None) -> bytes:
    """JSON bytes of `doc`, with DEEP markers replaced by thousands of nested arrays."""
    text = json.dumps(doc, allow_nan=True)
    marker = json.dumps(DEEP)
    if marker in text:
        depth = rng.choice((50, 1000, 5000, 20000)) if rng else 5000
        text = text.replace(marker, "[" * depth + "]" * depth)
    return text.encode("utf-8", "surrogatepass")


def json_payload(template: Any, rng: random.Random) -> bytes:
    """The template as is, mutated as JSON, mutated as bytes, or garbage."""
    r = rng.random()
    if r < 0.1:
        return dumps(template)
    if r < 0.65:
        doc = template
        for _ in range(rng.randint(1, 3)):
            doc = mutate_json(doc, rng)
        return dumps(doc, rng)
    if r < 0.9:
        return mutate_bytes(dumps(template), rng)
    if r < 0.95:
        return dumps(json_value(rng), rng)
    return rng.randbytes(rng.randint(0, 64))


# -- adverts ----------------------------------------------------------------------------

IDENTITY = {
    "ibeacon": re.compile(r"ibeacon:[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}:\d{1,5}:\d{1,5}"),
    "altbeacon": re.compile(r"altbeacon:[0-9a-f]{32}:\d{1,5}:\d{1,5}"),
    "eddystone-uid": re.compile(r"eddystone-uid:[0-9a-f]{20}:[0-9a-f]{12}"),
    "eddystone-eid": re.compile(r"eddystone-eid:[0-9a-f]{16}"),
    "line": re.compile(r"line:[0-9a-f]{10}"),
}
URL = re.compile(r"https?://[\x21-\x7e]*")


def real_frames(rng: random.Random) -> list[tuple[str, Any, bytes]]:
    """Well-formed frames of every format, as (where, key, payload)."""
    eddy, line_svc = ("svc", EDDYSTONE_UUID), ("svc", LINE_UUID)
    frames = [
        (
            ("mfr", APPLE),
            encode.ibeacon(
                uuid.UUID(bytes=rng.randbytes(16)),
                rng.randrange(65536),
                rng.randrange(65536),
                rng.randint(-128, 127),
            ),
        ),
        (("mfr", APPLE), encode.line_ibeacon(rng.randint(-100, 0))),
        (
            ("mfr", rng.choice((APPLE, 0x0118, rng.randrange(65536)))),
            encode.altbeacon(
                rng.randbytes(16),
                rng.randrange(65536),
                rng.randrange(65536),
                -59,
                rng.randrange(256),
            ),
        ),
        (eddy, encode.eddystone_uid(rng.randbytes(10), rng.randbytes(6), -20, rng.random() < 0.5)),
        (eddy, encode.eddystone_eid(rng.randbytes(8), rng.randint(-128, 127))),
        (eddy, encode.eddystone_url(rng.choice(("https://www.omo.example/", "http://a.co")), -20)),
        (eddy, encode.eddystone_tlm(3000, rng.choice((None, 21.5, -3.25)), 10, 1234.5)),
        (eddy, encode.eddystone_etlm(rng.randbytes(12), rng.randrange(65536), 7)),
        (
            line_svc,
            encode.line(
                rng.randbytes(5), rng.choice((None, -60, 0)), rng.randbytes(rng.randint(1, 13))
            ),
        ),
        (("mfr", APPLE), bytes([rng.choice((0x05, 0x07, 0x10, 0x12)), 4]) + rng.randbytes(4)),
    ]
    return [(where, key, payload) for (where, key), payload in frames]


def gen_advert(rng: random.Random) -> tuple[dict[int, bytes], dict[str, bytes]]:
    """One advert's manufacturer and service data: real frames, mutated, moved, or noise."""
    mfr: dict[int, bytes] = {}
    svc: dict[str, bytes] = {}
    frames = real_frames(rng)
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        where, key, payload = rng.choice(frames)
        r = rng.random()
        if r < 0.5:
            payload = mutate_bytes(payload, rng)
        elif r < 0.6:
            payload = rng.randbytes(rng.randint(0, 31))
        if rng.random() < 0.1:  # the right frame under the wrong key
            where = rng.choice(("mfr", "svc"))
            key = rng.randrange(65536) if where == "mfr" else rng.choice(SERVICE_KEYS)
        if where == "mfr":
            mfr[int(key)] = payload
        else:
            svc[str(key)] = payload
    return mfr, svc


SERVICE_KEYS = (
    EDDYSTONE_UUID,
    LINE_UUID,
    "0000fe9a-0000-1000-8000-00805f9b34fb",
    EDDYSTONE_UUID.upper(),
    "feaa",
    "",
)


def check_frame(frame: Any) -> None:
    """A decoded frame is one of the documented kinds with well-formed fields."""
    if frame is None:
        return
    if type(frame) is Beacon:
        pattern = IDENTITY.get(frame.kind)
        _check(pattern is not None, f"unknown beacon kind {frame.kind!r}")
        assert pattern is not None
        _check(pattern.fullmatch(frame.identity) is not None, f"identity {frame.identity!r}")
        _check(
            not frame.identity.startswith(f"ibeacon:{LINE_IBEACON_UUID}"),
            "LINE's fixed iBeacon named a visitor",
        )
        tx = frame.tx_power_1m
        _check(tx is None or -169 <= tx <= 127, f"tx power {tx}")
        _check(tx is not None or frame.kind == "line", "only LINE may omit tx power")
    elif type(frame) is EddystoneUrl:
        _check(URL.fullmatch(frame.url) is not None, f"URL {frame.url!r}")
    elif type(frame) is Telemetry:
        if not frame.encrypted:
            _check(frame.adv_count is not None and frame.uptime_s is not None, "telemetry")
            t = frame.temperature_c
            _check(t is None or -128 <= t < 128, f"temperature {t}")
    else:
        raise Escaped(f"decoder returned {type(frame).__name__}")


class AdvertTarget:
    """decode(), decode_frame() and BeaconDecoder (cached, with and without an allow-list)."""

    def __init__(self) -> None:
        self.decoder = BeaconDecoder(cache_size=64)  # small: the cache gets emptied too
        self.allow = AllowList.from_lists(
            ["e2c56db5-dffb-48d2-b060-d0f5a71096e0"], ["00" * 10], ["0011223344"]
        )
        self.allowing = BeaconDecoder(self.allow, cache_size=64)

    def __call__(self, mfr: Mapping[int, bytes], svc: Mapping[str, bytes]) -> str:
        frame = decode_frame(mfr, svc)
        check_frame(frame)
        beacon = decode(mfr, svc)
        _check(beacon == (frame if type(frame) is Beacon else None), "decode != decode_frame")
        before = sum(self.decoder.counters.values())
        cached = self.decoder.decode_frame(mfr, svc)
        _check(cached == frame, f"BeaconDecoder gave {cached!r}, decode_frame {frame!r}")
        _check(sum(self.decoder.counters.values()) == before + 1, "counters did not add one")
        _check(set(self.decoder.counters) == set(OUTCOMES), "unknown counter")
        allowed = self.allowing.decode(mfr, svc)
        _check(allowed is None or self.allow.permits(allowed), "allow-list not applied")
        return ACCEPTED if beacon is not None else REJECTED


# -- MQTT payloads ----------------------------------------------------------------------

SLIDE = {
    "id": "s1",
    "kind": "coupon",
    "duration_ms": 8000,
    "title": "10% off",
    "body": "today",
    "code": "OMO10",
    "qr_url": "https://example.invalid/c",
    "background": "#101820",
    "foreground": "#f5f5f0",
    "accent": "#f2aa4c",
}
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def check_slide(slide: Slide) -> None:
    """What the painter needs: known kind, duration in range, colours pygame can read."""
    _check(slide.kind in ("text", "image", "coupon", "qr", "video"), f"kind {slide.kind}")
    _check(bool(slide.id) and 500 <= slide.duration_ms <= 3_600_000, "slide id or duration")
    for name in ("background", "foreground", "accent"):
        value = getattr(slide, name)
        _check(COLOUR.fullmatch(value) is not None, f"slide {name} {value!r} is not #rrggbb")


def templates(nonce: str = NONCE_MARK) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "decision": {
            "request_id": "r1",
            "visitor": "h1:abc",
            "show_ms": 8000,
            "ttl_ms": 60000,
            "slide": SLIDE,
            "content_id": "c1",
            "campaign_id": "camp",
            "variant": "A",
        },
        "events_ack": {"batch_id": "b1"},
        "checkin": {"visitor": "h1:abc", "nonce": nonce, "consent": ["analytics"], "ts": now},
        "command": {
            "cmd_id": "c1",
            "cmd": "purge_visitor",
            "args": {"visitor": "h1:abc"},
            "ts": now,
            "expires_ts": now + 60_000,
        },
    }


KINDS: dict[str, type[Any]] = {
    "decision": Decision,
    "events_ack": EventsAck,
    "checkin": Checkin,
    "command": Command,
}


def gen_payload(kind: str, rng: random.Random) -> bytes:
    template = templates()[kind]
    if kind == "command":
        template["cmd"] = rng.choice(
            ("screenshot", "reload", "purge_visitor", "set_log_level", "reprovision", "format")
        )
        template["cmd_id"] = f"c{rng.randrange(10**9)}"
    return json_payload(template, rng)


def check_message(msg: Any) -> None:
    """A decoded message satisfies the contract's limits."""
    if isinstance(msg, Decision):
        _check(0 <= msg.show_ms <= 3_600_000 and msg.ttl_ms >= 0, "decision times")
        _check(isinstance(msg.request_id, str) and isinstance(msg.visitor, str), "decision ids")
        if msg.slide is not None:
            check_slide(msg.slide)
    elif isinstance(msg, Checkin):
        _check(1 <= len(msg.visitor) <= 256 and 8 <= len(msg.nonce) <= 128, "checkin sizes")
        _check(all(isinstance(c, str) for c in msg.consent), "consent")
    elif isinstance(msg, Command):
        _check(1 <= len(msg.cmd_id) <= 128 and msg.expires_ts >= 0, "command")
    elif isinstance(msg, EventsAck):
        _check(isinstance(msg.batch_id, str), "batch id")
    else:
        raise Escaped(f"parse returned {type(msg).__name__}")


def payload_target(kind: str, payload: bytes) -> str:
    """schemas.parse: a valid message or PayloadRejected."""
    try:
        if kind == "command":
            msg: Any = parse_command(f"t/{kind}", payload)
        else:
            msg = parse(f"t/{kind}", payload, KINDS[kind])
    except PayloadRejected:
        return REJECTED
    check_message(msg)
    return ACCEPTED


# -- manifests and assets -----------------------------------------------------------------

PNG = (
    b"\x89PNG\r\n\x1a\n"
    + struct.pack(">I", 13)
    + b"IHDR"
    + struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)
    + struct.pack(">I", zlib.crc32(b"IHDR" + struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)))
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + (
    b"\xff\xc0\x00\x11\x08\x00\x03\x00\x04\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9"
)
GIF = b"GIF89a\x04\x00\x03\x00\x00\x00\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x03\xc0\x00\x00" + bytes(8)
IMAGES = (PNG, JPEG, GIF, WEBP, b"not an image at all")


def manifest_doc(
    *, version: int = 7, device: bool = False, asset: bytes | None = None
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    doc: dict[str, Any] = {
        "version": version,
        "issued_ts": now - 60_000,
        "expires_ts": now + 86_400_000,
        "scope": {"store_id": STORE_ID, "device_id": DEVICE_ID if device else None},
        "playlist": [{"id": "t1", "kind": "text", "title": "Welcome", "duration_ms": 5000}],
        "schedule": [
            {"slides": ["t1"], "days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "00:00"}
        ],
        "assets": {},
        "timezone": "Asia/Tokyo",
        "offers": {"vip": dict(SLIDE, id="o1")},
    }
    if asset is not None:
        doc["assets"]["a.png"] = hashlib.sha256(asset).hexdigest()
        doc["playlist"].append({"id": "i1", "kind": "image", "image": "a.png"})
    return doc


def gen_manifest(rng: random.Random) -> bytes:
    """Signed manifests mutated before signing (must verify, may be refused for content),
    after signing (must never be accepted), or as bytes; wrong keys and kids; garbage."""
    doc = manifest_doc(
        version=rng.randint(1, 10**6),
        device=rng.random() < 0.3,
        asset=rng.choice(IMAGES) if rng.random() < 0.3 else None,
    )
    r = rng.random()
    if r < 0.1:
        return sign(doc, SEED_B64, KID)
    if r < 0.45:
        for _ in range(rng.randint(1, 3)):
            doc = mutate_json(doc, rng)
        if DEEP in json.dumps(doc):
            return dumps({"manifest": doc, "sig": "AAAA", "kid": KID}, rng)
        try:
            return sign(doc, SEED_B64, KID)
        except (ValueError, TypeError):  # a value canonical JSON cannot carry
            return dumps({"manifest": doc, "sig": "AAAA", "kid": KID}, rng)
    if r < 0.65:
        outer = json.loads(sign(doc, SEED_B64, KID))
        return json_payload(outer, rng)
    if r < 0.75:
        return sign(doc, OTHER_SEED_B64, rng.choice((KID, "k2", "")))
    if r < 0.9:
        return mutate_bytes(sign(doc, SEED_B64, KID), rng)
    return json_payload({"manifest": doc, "sig": "", "kid": KID}, rng)


def validly_signed(payload: bytes, public_keys: Mapping[str, str] = PUBLIC_KEYS) -> bool:
    """Independently of the code under test: does `payload` carry a good signature?"""
    try:
        doc = json.loads(payload)
        key = VerifyKey(base64.b64decode(public_keys[doc["kid"]]))
        key.verify(canonical(doc["manifest"]), base64.b64decode(doc["sig"]))
    except Exception:
        return False
    return True


def check_manifest(manifest: Manifest, payload: bytes) -> None:
    _check(validly_signed(payload), "a manifest without a valid signature was accepted")
    _check(manifest.scope.store_id == STORE_ID, "wrong store accepted")
    _check(manifest.scope.device_id in (None, DEVICE_ID), "wrong device accepted")
    _check(bool(manifest.playlist), "empty playlist")
    for slide in (*manifest.playlist, *manifest.offers.values()):
        check_slide(slide)
        for used in slide.assets():
            _check(used in manifest.assets, "slide uses an unlisted asset")
    for name, sha in manifest.assets.items():
        _check(re.fullmatch(r"[0-9a-f]{64}", sha) is not None, f"asset sha {sha!r}")
        _check("/" not in name and name not in ("", ".", ".."), f"asset name {name!r}")
    manifest.zone()  # the timezone loads


def manifest_target(payload: bytes) -> str:
    """manifest.verify: a verified, well-formed manifest or ContentRejected with a known reason."""
    try:
        manifest = verify(
            payload,
            public_keys=PUBLIC_KEYS,
            store_id=STORE_ID,
            device_id=DEVICE_ID,
            now_ms=int(time.time() * 1000),
            current_version=None,
        )
    except ContentRejected as exc:
        _check(exc.reason in reasons.ALL, f"unknown reason {exc.reason!r}")
        return REJECTED
    check_manifest(manifest, payload)
    return ACCEPTED


def gen_asset(rng: random.Random) -> tuple[str, bytes]:
    """(announced sha256, bytes): real image headers, announced right or mutated after."""
    data = rng.choice(IMAGES)
    if rng.random() < 0.5:
        data = mutate_bytes(data, rng)
    sha = hashlib.sha256(data).hexdigest()
    r = rng.random()
    if r < 0.4:
        data = mutate_bytes(data, rng)  # announced hash of the bytes before
    elif r < 0.5:
        sha = rng.choice((sha.upper(), sha[:63], sha + "0", "../" + sha[3:], "", "x" * 64))
    return sha, data


class AssetTarget:
    """AssetStore.put: the file stored under its own hash, or ContentRejected."""

    def __init__(self, folder: Path) -> None:
        self.store = AssetStore(
            folder, max_bytes=10**9, max_asset_bytes=4096, max_image_pixels=10**6
        )

    def __call__(self, sha: str, data: bytes) -> str:
        try:
            size = image_size(data)
        except ValueError:
            size = None
        _check(size is None or (size[0] > 0 and size[1] > 0), "zero image size")
        try:
            path = self.store.put(sha, data)
        except ContentRejected as exc:
            _check(exc.reason in reasons.ALL, f"unknown reason {exc.reason!r}")
            stored = re.fullmatch(r"[0-9a-f]{64}", sha) and (self.store.folder / sha).exists()
            _check(not stored, "a rejected asset was stored")
            return REJECTED
        _check(path.parent == self.store.folder and path.name == sha, f"stored at {path}")
        _check(hashlib.sha256(path.read_bytes()).hexdigest() == sha, "stored under a wrong hash")
        path.unlink()
        return ACCEPTED


# -- config -----------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # TOML basic strings take JSON's escapes
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"?"'


def toml_text(tables: Mapping[str, Any]) -> str:
    lines = []
    for section, keys in tables.items():
        if isinstance(keys, dict):
            lines.append(f"[{json.dumps(str(section))}]")
            lines += [f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in keys.items()]
        else:
            lines.insert(0, f"{json.dumps(str(section))} = {toml_value(keys)}")
    return "\n".join(lines) + "\n"


def config_value(rng: random.Random, default: Any) -> Any:
    pick = rng.randrange(8)
    if pick == 0:
        return default
    if pick == 1 and isinstance(default, int | float) and not isinstance(default, bool):
        return type(default)(default * rng.choice((-1, 0, 2, 1000)))
    if pick == 2:
        return rng.choice((math.inf, -math.inf, math.nan, 0.1, 1e9, -5, 0, 2**63 - 1))
    if pick == 3:
        return rng.choice(("", "replay:", "replay:/x", "bleak", "a/b", "#", "é", "0" * 70))
    if pick == 4:
        return rng.choice(([], ["x"], [1], {}, {"k": "v"}, {"k": PUBLIC_B64}, [["a"]]))
    if pick == 5:
        return rng.random() < 0.5
    return json_value(rng) if rng.random() < 0.5 else default


def gen_config_table(rng: random.Random) -> dict[str, Any]:
    """SCHEMA's sections with some keys changed, removed or added."""
    tables: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        if rng.random() < 0.5:
            continue
        table = {}
        for key, spec in keys.items():
            if rng.random() < 0.3:
                table[key] = config_value(rng, spec.default) if rng.random() < 0.5 else spec.default
        if rng.random() < 0.1:
            table[rng.choice(("unknown", "port ", ""))] = 1
        tables[section] = table
    if rng.random() < 0.1:
        tables[rng.choice(("extra", "device", "mqtt"))] = rng.choice((1, "x", [], {}))
    return tables


def gen_config_text(rng: random.Random) -> bytes:
    text = toml_text(gen_config_table(rng)).encode("utf-8", "surrogatepass")
    r = rng.random()
    if r < 0.6:
        return text
    if r < 0.9:
        return mutate_bytes(text, rng)
    return rng.randbytes(rng.randint(0, 200))


def check_config(config: Config) -> None:
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            value = config.tables()[section][key]
            types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
            _check(isinstance(value, types), f"{section}.{key} = {value!r}")
            _check(not isinstance(value, bool) or bool in types, f"{section}.{key} bool")
    config.allow_list  # noqa: B018 - must not raise once accepted
    config.tracker_params  # noqa: B018


def check_config_error(exc: ConfigError) -> None:
    """It names the key ("section.key", or the section) in its message."""
    named = exc.key.split(".")[0] in SCHEMA
    _check(named and repr(exc.key) in str(exc), f"config error names no key: {exc}")


def config_table_target(tables: Mapping[str, Any]) -> str:
    """config.from_mapping: a Config, or ConfigError naming the key."""
    try:
        config = from_mapping(tables)
    except ConfigError as exc:
        check_config_error(exc)
        return REJECTED
    check_config(config)
    return ACCEPTED


def config_file_target(path: Path, text: bytes) -> str:
    """config.load of a file holding `text`: a Config, or ConfigError / ConfigFileError."""
    path.write_bytes(text)
    try:
        config = load(path)
    except ConfigError as exc:
        check_config_error(exc)
        return REJECTED
    except ConfigFileError as exc:
        _check(str(path) in str(exc), f"config file error names no file: {exc}")
        return REJECTED
    check_config(config)
    return ACCEPTED


# -- LAN check-in and visitor tokens -----------------------------------------------------


def token_payload(now_ms: int) -> dict[str, Any]:
    return {
        "kid": KID,
        "visitor": "h1:visitor",
        "consent": ["personalize", "analytics"],
        "segment": "vip",
        "iat": now_ms - 1000,
        "exp": now_ms + 3_600_000,
    }


def good_token() -> str:
    """A token the device takes: signed by the platform's key, valid for an hour."""
    return sign_payload(dumps(token_payload(int(time.time() * 1000))), SEED_B64)


def gen_token(rng: random.Random) -> str:
    """Signed tokens of mutated payloads, mutated token text, wrong keys, garbage."""
    now = int(time.time() * 1000)
    payload = token_payload(now)
    r = rng.random()
    if r < 0.1:
        return sign_payload(dumps(payload), SEED_B64)
    if r < 0.5:
        body = json_payload(payload, rng)
        return sign_payload(body, rng.choice((SEED_B64, SEED_B64, OTHER_SEED_B64)))
    good = sign_payload(dumps(payload), SEED_B64)
    if r < 0.85:
        return mutate_bytes(good.encode(), rng).decode("latin-1")
    if r < 0.95:
        head, _, sig = good.partition(".")
        return rng.choice(
            (
                head,
                f"{head}.{sig}.{sig}",
                f"{head}=.{sig}",
                f"{b64url_encode(rng.randbytes(40))}.{sig}",
            )
        )
    return "".join(rng.choices(string.printable, k=rng.randint(0, 80)))


def token_signed(token: str) -> bool:
    """Independently: is `token` two base64url parts whose signature verifies with our key?"""
    try:
        head, sig = token.split(".")
        pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
        payload = base64.urlsafe_b64decode(pad(head))
        VerifyKey(base64.b64decode(PUBLIC_B64)).verify(payload, base64.urlsafe_b64decode(pad(sig)))
    except Exception:
        return False
    return True


def token_target(token: str) -> str:
    """tokens.verify_token: a VisitorToken from a validly signed token, or TokenRejected."""
    try:
        visitor = verify_token(
            token, public_keys=PUBLIC_KEYS, now_ms=int(time.time() * 1000), clock_synced=True
        )
    except TokenRejected as exc:
        _check(
            exc.reason in ("malformed", "unknown_kid", "bad_signature", "expired", "not_yet_valid"),
            exc.reason,
        )
        return REJECTED
    _check(token_signed(token), "an unsigned token was accepted")
    _check(1 <= len(visitor.visitor) <= 256 and visitor.iat_ms < visitor.exp_ms, "token fields")
    visitor.visitor.encode("utf-8")
    return ACCEPTED


def lan_request(body: bytes, *, content_type: str = "application/json", extra: str = "") -> bytes:
    return (
        f"POST /checkin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def gen_lan_request(rng: random.Random) -> bytes:
    """Whole HTTP requests: good ones, mutated heads and bodies, lying lengths, garbage."""
    body = dumps({"nonce": "n" * rng.choice((7, 8, 16, 128, 129)), "token": gen_token(rng)})
    r = rng.random()
    if r < 0.3:
        return lan_request(body)
    if r < 0.5:
        return lan_request(json_payload({"nonce": "abcdefgh12", "token": gen_token(rng)}, rng))
    if r < 0.6:
        extra = rng.choice(
            (
                "Expect: 100-continue\r\n",
                "Expect: x\r\n",
                "Transfer-Encoding: chunked\r\n",
                "Content-Length: 5\r\n",
                "X: \x01\r\n",
                " folded\r\n",
            )
        )
        return lan_request(
            body,
            extra=extra,
            content_type=rng.choice(
                ("application/json", "application/json; charset=latin-1", "text/plain")
            ),
        )
    if r < 0.9:
        raw = lan_request(body)
        return mutate_bytes(raw, rng)
    return rng.randbytes(rng.randint(0, 100)) + b"\r\n\r\n"


class _Writer:
    """What _exchange writes to before the reply (the 100 Continue), kept in memory."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def write(self, data: bytes) -> None:
        self.sent += data


LAN_STATUSES = {200, 400, 401, 403, 404, 405, 408, 411, 413, 415, 417, 429, 431, 503}


class LanTarget:
    """A real LanCheckin's request handling (head, length, type, body, token, callback),
    fed from memory instead of a socket: status and JSON reply, never an exception."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.checkins: list[tuple[str, str]] = []

        async def on_checkin(token: Any, nonce: str) -> tuple[int, dict[str, Any]]:
            self.checkins.append((token.visitor, nonce))
            return 200, {"ok": True}

        self.endpoint = lan.LanCheckin(
            host="127.0.0.1",
            device_id=DEVICE_ID,
            public_keys=PUBLIC_KEYS,
            on_checkin=on_checkin,
            advertise=False,
            limits=lan.LanLimits(head_timeout_s=1.0, body_timeout_s=1.0),
            clock_synced=lambda: True,
        )

    def close(self) -> None:
        self.loop.close()

    async def _exchange(self, raw: bytes) -> Any:
        reader = asyncio.StreamReader(limit=self.endpoint.limits.max_head_bytes)
        reader.feed_data(raw)
        reader.feed_eof()
        return await self.endpoint._exchange(reader, _Writer(), True)  # type: ignore[arg-type]

    def __call__(self, raw: bytes) -> str:
        reply = self.loop.run_until_complete(self._exchange(raw))
        if reply is None:  # the client sent less than it announced: nothing to answer
            return REJECTED
        _check(reply.status in LAN_STATUSES, f"status {reply.status}")
        wire = lan._encode(reply)
        _check(wire.startswith(f"HTTP/1.1 {reply.status} ".encode()), "reply head")
        json.loads(wire.partition(b"\r\n\r\n")[2])
        if reply.status != 200:
            return REJECTED
        head, _, body = raw.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
        assert length is not None
        token = json.loads(body[: int(length[1])])["token"]
        _check(token_signed(token), "a LAN check-in with an unsigned token was accepted")
        return ACCEPTED


def lan_body_target(body: bytes) -> str:
    """lan._parse_body: (nonce, token) of the documented sizes, or ValueError/RecursionError."""
    try:
        nonce, token = lan._parse_body(body)
    except (ValueError, RecursionError):
        return REJECTED
    _check(8 <= len(nonce) <= 128 and isinstance(token, str) and bool(token), "body fields")
    return ACCEPTED


# -- replay traces ----------------------------------------------------------------------


def gen_trace_line(rng: random.Random) -> str:
    from edge.presence.advert import Advert

    mfr, svc = gen_advert(rng)
    advert = Advert(
        rng.uniform(0, 1e5), "aa:bb:cc:dd:ee:ff", rng.randint(-100, 0), None, None, (), mfr, svc
    )
    line = format_advert(advert, "h:1234")
    r = rng.random()
    if r < 0.2:
        return line
    if r < 0.7:
        return json_payload(json.loads(line), rng).decode("utf-8", "replace")
    if r < 0.95:
        return mutate_bytes(line.encode(), rng).decode("utf-8", "replace")
    return "".join(rng.choices(string.printable, k=rng.randint(0, 60)))


def trace_target(line: str) -> str:
    """trace.parse_line: an Advert that round-trips, None, or TraceLineError."""
    try:
        advert = parse_line(line, 7)
    except TraceLineError as exc:
        _check(exc.line_no == 7, "line number")
        return REJECTED
    if advert is None:
        _check(not line.strip(), "a non-blank line gave nothing")
        return REJECTED
    _check(math.isfinite(advert.t) and advert.t >= 0 and -127 <= advert.rssi <= 20, "t or rssi")
    _check(all(0 <= k <= 0xFFFF for k in advert.manufacturer_data), "company id not 16 bits")
    again = parse_line(format_advert(advert, advert.address), 1)
    assert again is not None
    _check(again.manufacturer_data == advert.manufacturer_data, "manufacturer data round trip")
    _check(again.service_data == advert.service_data, "service data round trip")
    decode_frame(advert.manufacturer_data, advert.service_data)
    return ACCEPTED


# -- check-in nonces and the QR code -------------------------------------------------------


class NonceTarget:
    """NonceBook.use with untrusted text: one of the verdicts, "ok" only for a shown nonce."""

    def __init__(self) -> None:
        self.book = NonceBook(accept_s=120, rotate_s=60)
        self.now = 1000.0
        self.issued: set[str] = set()

    def shown(self) -> str:
        nonce = self.book.current(self.now)
        self.issued.add(nonce)
        return nonce

    def __call__(self, nonce: str, advance_s: float = 0.0) -> str:
        self.now += max(0.0, advance_s)
        verdict = self.book.use(nonce, self.now)
        _check(verdict in VERDICTS, f"verdict {verdict!r}")
        if verdict != "ok":
            return REJECTED
        _check(nonce in self.issued, "a nonce never shown was accepted")
        _check(self.book.use(nonce, self.now) == "reused", "a nonce was accepted twice")
        return ACCEPTED


def gen_nonce(rng: random.Random, target: NonceTarget) -> tuple[str, float]:
    r = rng.random()
    if r < 0.3:
        nonce = target.shown()
    elif r < 0.5:
        nonce = mutate_bytes(target.shown().encode(), rng).decode("latin-1")
    else:
        nonce = "".join(rng.choices(string.printable, k=rng.randint(0, 30)))
    return nonce, rng.choice((0.0, 0.0, 1.0, 61.0, 121.0, 1e6))


def qr_target(base_url: str, device_id: str, nonce: str) -> str:
    """checkin.qr_url: a URL that carries exactly the device id and nonce, or ValueError."""
    from urllib.parse import parse_qs, urlsplit

    try:
        url = qr_url(base_url, device_id, nonce)
    except ValueError:
        return REJECTED
    _check(url.startswith(base_url), "base URL changed")
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    _check(query.get("d", [None])[-1] == device_id, f"device id lost in {url!r}")
    _check(query.get("n", [None])[-1] == nonce, f"nonce lost in {url!r}")
    return ACCEPTED


def gen_qr(rng: random.Random) -> tuple[str, str, str]:
    base = rng.choice(
        (
            "https://omo.example/c",
            "http://omo.example/c?x=1",
            "https://omo.example/c?",
            "https://omo.example/c#f",
            "ftp://x",
            "https://",
            "omo.example",
        )
    )
    if rng.random() < 0.5:
        base = mutate_bytes(base.encode(), rng).decode("latin-1")
    ident = rng.choice(("screen-1", "a&n=evil", "é", ""))
    nonce = rng.choice(("AbCdEfGhIjKlMnOp", "x&d=other", "#", " "))
    return base, ident, nonce


# -- pairing ------------------------------------------------------------------------------
PAIR_DEVICE, PAIR_CODE = "omo-fuzzfuzzfuzzfuzz", "123456"
_pairing_frames: list[bytes] = []


def real_pairing_frames() -> list[bytes]:
    """One real exchange with the right code, framed (made once: SPAKE2 costs a few ms)."""
    if not _pairing_frames:
        ops = pairing.OpsSession(PAIR_DEVICE, PAIR_CODE)
        device = pairing.DeviceSession(PAIR_DEVICE, PAIR_CODE)
        hello = ops.hello()
        pake = device.hello(hello, attempts_left=5)
        assert isinstance(pake, pairing.Pake)
        confirm = ops.pake(pake)
        csr = device.confirm(confirm, b"-----BEGIN CERTIFICATE REQUEST-----")
        assert csr is not None
        box = ops.seal_bundle(b"{}")
        refused = pairing.Refused("locked", "try again later", 30.0, 0)
        msgs = (hello, pake, confirm, csr, box, pairing.Done(), refused)
        _pairing_frames.extend(pairing.frame(m) for m in msgs)
    return _pairing_frames


def gen_pairing(rng: random.Random) -> bytes:
    """A recorded exchange (or part of it), framed, its JSON or its bytes mutated."""
    frames = real_pairing_frames()
    picked = rng.sample(frames, rng.randint(1, len(frames)))
    if rng.random() < 0.5:
        bodies = [json_payload(json.loads(f[4:]), rng) for f in picked]
        picked = [struct.pack(">I", len(b)) + b for b in bodies]
    data = b"".join(picked)
    return mutate_bytes(data, rng) if rng.random() < 0.7 else data


def pairing_target(data: bytes) -> str:
    """Whatever arrives, the device gives its CSR only to a peer that proved the code in
    this session, and the ops tool confirms only a device that did. Both sides here know
    the code the recorded frames were made with, so a replay must fail on freshness alone
    (each side's SPAKE2 half is new per session)."""
    try:
        msgs = pairing.parse_frames(data)
    except pairing.FrameError:
        return REJECTED
    device = pairing.DeviceSession(PAIR_DEVICE, PAIR_CODE)
    ops = pairing.OpsSession(PAIR_DEVICE, PAIR_CODE)
    for msg in msgs:
        try:
            if isinstance(msg, pairing.Hello):
                device.hello(msg)
            elif isinstance(msg, pairing.Confirm):
                _check(device.confirm(msg, b"csr") is None, "CSR released to an unproven peer")
            elif isinstance(msg, pairing.BundleBox):
                device.open_bundle(msg)
                raise Escaped("a bundle opened on a device whose peer never proved the code")
            elif isinstance(msg, pairing.Pake):
                ops.pake(msg)
                raise Escaped("ops confirmed a device that replayed or forged its answer")
            elif isinstance(msg, pairing.Csr):
                ops.open_csr(msg)
                raise Escaped("ops opened a CSR from an unconfirmed device")
        except (pairing.FrameError, pairing.PairingFailed):
            return REJECTED
    return ACCEPTED


# -- the daemon's MQTT inbox ----------------------------------------------------------------


class InboxTarget:
    """The daemon's own I/O side (edge/app/io.py), started in this process with its real
    services (SQLite outbox, content with an asset store, commands, decider, syncer,
    nonce book) and an MQTT link that never connects; each message goes through its
    router exactly as the inbox task hands it over: topic and payload in, "accepted"
    (handled), or "rejected" (PayloadRejected, which the router counts and acknowledges).
    Any other exception in a handler is counted by the router too: that is an escape.
    """

    def __init__(self, folder: Path) -> None:
        from edge.app.bridge import RenderBridge
        from edge.app.io import IoSide
        from edge.app.stats import Stats
        from edge.sim.replay import ReplaySource

        self.folder = folder
        (folder / "none.jsonl").write_text("")
        config = from_mapping(
            {
                "device": {"store_id": STORE_ID, "device_id": DEVICE_ID},
                "mqtt": {"host": "127.0.0.1", "port": 9},
                "storage": {
                    "path": str(folder / "state" / "outbox.sqlite3"),
                    "group_ms": 0,
                    "hold_s": 0,
                },
                "content": {"public_keys": PUBLIC_KEYS, "max_asset_bytes": 4096},
                "display": {"headless": True},
                "health": {"interval_s": 0},
            }
        )
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.io = IoSide(
            config,
            ReplaySource(folder / "none.jsonl"),
            RenderBridge(on_impression=lambda _i: None),
            Stats(),
        )
        self.rejected = 0
        ready = asyncio.Event()
        self._main = self.loop.create_task(self.io.main(ready.set))
        self.loop.run_until_complete(asyncio.wait_for(ready.wait(), 30))

    def close(self) -> None:
        self.io.request_stop()
        self.loop.run_until_complete(asyncio.wait_for(self._main, 60))
        self.loop.close()
        asyncio.set_event_loop(None)

    @property
    def topics(self) -> Any:
        assert self.io.online is not None
        return self.io.online.link.topics

    @property
    def state_dir(self) -> Path:
        return self.io.config.state_dir

    def status(self) -> dict[str, Any]:
        """The outbox's status, read on its own thread."""
        return self.loop.run_until_complete(self.io.outbox.status())

    def nonce(self) -> str:
        """The nonce the screen shows now (a phone that scanned it may check in with it)."""
        return self.io.checkin.nonces.current(time.monotonic())

    async def _deliver(self, topic: str, payload: bytes, correlation: bytes | None) -> str:
        from edge.link.session import Incoming

        router = self.io.router
        rejected, errors = sum(router.rejected.values()), sum(router.handler_errors.values())
        await router.dispatch(Incoming(topic, payload, 1, 1, correlation))
        _check(sum(router.handler_errors.values()) == errors, f"a handler raised on {topic}")
        online = self.io.online
        assert online is not None
        await online.command_jobs.idle()  # a command runs, then answers on P/cmd/result
        await online.content.jobs.idle()  # an asset is checked and stored off the loop
        await self.io.outbox.writer.idle()
        if sum(router.rejected.values()) > rejected:
            self.rejected += 1
            return REJECTED
        return ACCEPTED

    def __call__(self, topic: str, payload: bytes, correlation: bytes | None = None) -> str:
        root = logging.getLogger()
        level = root.level  # set_log_level commands change it; the tests' logging must not
        try:
            payload = payload.replace(NONCE_MARK.encode(), self.nonce().encode())
            return self.loop.run_until_complete(self._deliver(topic, payload, correlation))
        finally:
            root.setLevel(level)
            self.check_assets()

    def check_assets(self) -> None:
        """Every stored asset hashes to its file name; nothing else is in the folder."""
        assert self.io.online is not None
        folder = self.io.online.content.assets.folder
        for file in folder.iterdir():
            _check(re.fullmatch(r"[0-9a-f]{64}", file.name) is not None, f"stray file {file.name}")
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            _check(digest == file.name, f"asset {file.name} holds bytes hashing to {digest}")


def gen_message(rng: random.Random, topics: Any) -> tuple[str, bytes]:
    """A topic the device subscribes to (or one beside it) and a payload for some topic."""
    by_topic: dict[str, Callable[[], bytes]] = {
        topics.decision: lambda: gen_payload("decision", rng),
        topics.events_ack: lambda: gen_payload("events_ack", rng),
        topics.checkin: lambda: gen_payload("checkin", rng),
        topics.cmd: lambda: gen_payload("command", rng),
        topics.manifest: lambda: gen_manifest(rng),
        topics.store_manifest: lambda: gen_manifest(rng),
    }
    r = rng.random()
    if r < 0.75:
        topic = rng.choice(list(by_topic))
        make = by_topic[topic] if rng.random() < 0.9 else rng.choice(list(by_topic.values()))
        return topic, make()
    sha, data = gen_asset(rng)
    if r < 0.9:
        return f"{topics.base}/asset/{sha}", data
    topic = rng.choice(
        (
            topics.asset_get,
            f"{topics.base}/asset/",
            f"{topics.base}/asset/{sha}/x",
            f"{topics.base}/unknown",
            topics.base,
            f"{topics.store}/cmd",
            "",
        )
    )
    return topic, data
