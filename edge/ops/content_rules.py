"""A content folder checked as a screen would check it, and its manifest built: pure code.

Every slide and window goes through the device's own types (edge/content/slides.py,
edge/content/schedule.py) one field at a time, so every problem is reported with
its slide id and field, not only the first; then the whole manifest goes through
the device's own `verify`, so nothing a screen would refuse gets past `check`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from nacl.signing import SigningKey

from edge.content.manifest import Manifest, Scope, sign, verify
from edge.content.schedule import Window
from edge.content.slides import KINDS, Slide, parse_slide
from edge.errors import ContentRejected, plain
from edge.link.schemas import MAX_PAYLOAD
from edge.ops.content_folder import IMAGES, PLAYLIST, SCHEDULE, AssetFile, Folder

DEFAULT_TIMEZONE = "UTC"
"""Without schedule.json: a manifest needs a timezone, and without windows it means nothing."""

_SLIDE_TYPES: dict[str, type[Any]] = {s.__struct_config__.tag: s for s in Slide.__args__}


@dataclass(frozen=True, slots=True)
class Limits:
    """A screen's limits on assets (`[content]` in its config; the defaults unless told)."""

    max_asset_bytes: int
    max_image_pixels: int


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a screen would refuse (or, `warning`, show badly), where and in which field."""

    where: str
    field: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        at = f"{self.where}, {self.field}" if self.field else self.where
        return f"{'warning' if self.warning else 'problem'}: {at}: {self.message}"


@dataclass(frozen=True, slots=True)
class Content:
    """A checked folder: what goes into a manifest (assets: only those a slide names)."""

    playlist: list[Slide]
    schedule: list[Window]
    timezone: str
    offers: dict[str, Slide]
    assets: dict[str, AssetFile]


Glyphs = Callable[[str], str]
"""The characters of a text the screen's font cannot draw (they show as boxes)."""


def _slide_name(obj: Any, number: int) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"]:
        return f"slide {obj['id']!r}"
    return f"slide {number} (no id)"


def _fields(obj: Any, kind: type[Any], where: str, what: str) -> list[Problem]:
    """Each field of `obj` against `kind`'s type for it, so every bad field is named."""
    if not isinstance(obj, dict):
        return [Problem(where, "", f"{what} is a JSON object, not {type(obj).__name__}")]
    found: list[Problem] = []
    known = set()
    for spec in msgspec.structs.fields(kind):
        known.add(spec.encode_name)
        if spec.encode_name not in obj:
            if spec.required:
                article = "an" if what[0] in "aeiou" else "a"
                found.append(
                    Problem(where, spec.encode_name, f"missing ({article} {what} needs it)")
                )
            continue
        try:
            msgspec.convert(obj[spec.encode_name], spec.type)
        except msgspec.ValidationError as exc:
            found.append(Problem(where, spec.encode_name, plain(exc)))
    tag = kind.__struct_config__.tag_field
    for name in sorted(set(obj) - known - {tag}):
        found.append(Problem(where, name, "not a field screens know (ignored)", warning=True))
    return found


def _slide(obj: Any, where: str, glyphs: Glyphs | None) -> tuple[Slide | None, list[Problem]]:
    if not isinstance(obj, dict):
        return None, [Problem(where, "", f"a slide is a JSON object, not {type(obj).__name__}")]
    kind = obj.get("kind")
    if kind not in _SLIDE_TYPES:
        said = "missing" if kind is None else f"{kind!r} is not a slide kind"
        return None, [Problem(where, "kind", f"{said}; screens show {', '.join(KINDS)}")]
    found = _fields(obj, _SLIDE_TYPES[kind], where, f"{kind} slide")
    if any(not p.warning for p in found):
        return None, found
    try:
        slide = parse_slide(obj)
    except ContentRejected as exc:  # a rule across fields
        return None, [*found, Problem(where, "", exc.detail)]
    if glyphs is not None:
        for name in ("title", "body", "code"):
            missing = glyphs(str(getattr(slide, name, "")))
            if missing:
                shown = " ".join(f"{c} (U+{ord(c):04X})" for c in missing[:5])
                found.append(
                    Problem(where, name, f"the screen's font has no {shown}: boxes", warning=True)
                )
    return slide, found


def _window(obj: Any, where: str) -> tuple[Window | None, list[Problem]]:
    found = _fields(obj, Window, where, "window")
    if any(not p.warning for p in found):
        return None, found
    try:
        return msgspec.convert(obj, Window), found
    except (msgspec.ValidationError, ValueError) as exc:  # dates out of order, not real
        return None, [*found, Problem(where, "", plain(exc))]


def _asset_problems(
    slide: Slide, where: str, assets: dict[str, AssetFile], limits: Limits
) -> list[Problem]:
    found = []
    for name in slide.assets():
        field = "video" if slide.kind == "video" else "image"
        asset = assets.get(name)
        if asset is None:
            found.append(Problem(where, field, f"{IMAGES}/{name} is not in the folder"))
        elif asset.unreadable:
            found.append(Problem(where, field, f"{IMAGES}/{name}: {asset.unreadable}"))
        elif asset.size > limits.max_asset_bytes:
            found.append(
                Problem(
                    where,
                    field,
                    f"{IMAGES}/{name} is {asset.size} bytes; screens take at most "
                    f"{limits.max_asset_bytes} ([content] max_asset_bytes)",
                )
            )
        elif asset.pixels and asset.pixels[0] * asset.pixels[1] > limits.max_image_pixels:
            w, h = asset.pixels
            found.append(
                Problem(
                    where,
                    field,
                    f"{IMAGES}/{name} is {w}x{h} pixels; screens take at most "
                    f"{limits.max_image_pixels} ([content] max_image_pixels)",
                )
            )
        elif field == "video" and asset.kind != "video":
            found.append(Problem(where, field, f"{IMAGES}/{name} is no video a screen can play"))
        elif field == "image" and asset.kind != "picture":
            found.append(Problem(where, field, f"{IMAGES}/{name} is not a PNG, JPEG, GIF or WebP"))
    return found


def _known_zone(name: object) -> bool:
    if not isinstance(name, str) or not name or name == "localtime":
        return False
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def _documents(folder: Folder) -> tuple[list[Any], dict[str, Any], str, list[Any], list[Problem]]:
    """playlist, offers, timezone and windows as raw JSON, and what is wrong with the files."""
    found = [Problem(name, "", message) for name, message in folder.problems]
    doc, sched = folder.playlist, folder.schedule
    playlist: list[Any] = []
    offers: dict[str, Any] = {}
    if isinstance(doc, dict):
        raw = doc.get("playlist")
        if isinstance(raw, list) and raw:
            playlist = raw
        else:
            found.append(Problem(PLAYLIST, "playlist", "give a list of at least one slide"))
        if isinstance(doc.get("offers", {}), dict):
            offers = doc.get("offers", {})
        else:
            found.append(Problem(PLAYLIST, "offers", "give an object: segment -> slide"))
        for extra in sorted(set(doc) - {"playlist", "offers"}):
            found.append(Problem(PLAYLIST, extra, "not a field of playlist.json (ignored)", True))
    elif doc is not None:
        found.append(Problem(PLAYLIST, "", '{"playlist": [slides]} is a JSON object'))
    timezone, windows = DEFAULT_TIMEZONE, []
    if isinstance(sched, dict):
        timezone = sched.get("timezone", DEFAULT_TIMEZONE)
        windows = sched.get("schedule", [])
        if not _known_zone(timezone):
            found.append(
                Problem(
                    SCHEDULE,
                    "timezone",
                    f"{timezone!r} is not an IANA time zone name such as Asia/Tokyo",
                )
            )
            timezone = DEFAULT_TIMEZONE
        if not isinstance(windows, list):
            found.append(Problem(SCHEDULE, "schedule", "give a list of windows"))
            windows = []
    elif sched is not None:
        found.append(Problem(SCHEDULE, "", '{"timezone": ..., "schedule": [windows]} is an object'))
    return playlist, offers, timezone, windows, found


def check(
    folder: Folder, limits: Limits, glyphs: Glyphs | None = None
) -> tuple[Content | None, list[Problem]]:
    """Every problem a screen would have with `folder`; the content when there is none
    (warnings only: text the font lacks, fields screens ignore)."""
    raw_playlist, raw_offers, timezone, raw_windows, found = _documents(folder)
    playlist: list[Slide] = []
    for number, obj in enumerate(raw_playlist, 1):
        where = _slide_name(obj, number)
        slide, problems = _slide(obj, where, glyphs)
        found += problems
        if slide is not None:
            found += _asset_problems(slide, where, folder.assets, limits)
            playlist.append(slide)
    ids = [s.get("id") for s in raw_playlist if isinstance(s, dict)]
    for twice in sorted({i for i in ids if isinstance(i, str) and ids.count(i) > 1}):
        found.append(Problem(f"slide {twice!r}", "id", "used by more than one slide"))
    offers: dict[str, Slide] = {}
    for segment, obj in raw_offers.items():
        where = f"offer {segment!r}"
        if not 1 <= len(segment) <= 64:
            found.append(Problem(where, "", "a segment name is 1-64 characters"))
        slide, problems = _slide(obj, where, glyphs)
        found += problems
        if slide is not None:
            found += _asset_problems(slide, where, folder.assets, limits)
            offers[segment] = slide
    schedule: list[Window] = []
    for number, obj in enumerate(raw_windows, 1):
        where = f"{SCHEDULE} window {number}"
        window, problems = _window(obj, where)
        found += problems
        if window is not None:
            unknown = [i for i in window.slides if i not in ids]
            if unknown:
                found.append(
                    Problem(where, "slides", f"{unknown} are not slide ids of the playlist")
                )
            schedule.append(window)
    used = {n for s in [*playlist, *offers.values()] for n in s.assets() if n in folder.assets}
    content = Content(
        playlist, schedule, timezone, offers, {n: folder.assets[n] for n in sorted(used)}
    )
    if any(not p.warning for p in found):
        return None, found
    found += _as_a_screen_would(content)
    return (None if any(not p.warning for p in found) else content), found


def manifest(
    content: Content,
    *,
    store_id: str,
    device_id: str | None,
    version: int,
    issued_ts: int,
    expires_ts: int,
) -> Manifest:
    """The manifest for `content` (through the device's own struct, so it is exactly its type)."""
    return Manifest(
        version=version,
        issued_ts=issued_ts,
        expires_ts=expires_ts,
        scope=Scope(store_id, device_id),
        playlist=content.playlist,
        schedule=content.schedule,
        assets={name: asset.sha256 for name, asset in content.assets.items()},
        timezone=content.timezone,
        offers=content.offers,
    )


def signed(manifest: Manifest, key: SigningKey, kid: str) -> bytes:
    """The `S/manifest` or `P/manifest` payload: the manifest, its signature and `kid`."""
    seed = base64.b64encode(bytes(key)).decode()
    return sign(msgspec.to_builtins(manifest), seed, kid)


def _as_a_screen_would(content: Content) -> list[Problem]:
    """The device's own verdict on this content, signed with a throwaway key."""
    key = SigningKey.generate()
    body = manifest(
        content, store_id="check", device_id=None, version=1, issued_ts=0, expires_ts=2**53
    )
    payload = signed(body, key, "check")
    public = base64.b64encode(bytes(key.verify_key)).decode()
    found = []
    if len(payload) > MAX_PAYLOAD:
        found.append(
            Problem("manifest", "", f"{len(payload)} bytes of JSON; at most {MAX_PAYLOAD}")
        )
    try:
        verify(
            payload,
            public_keys={"check": public},
            store_id="check",
            device_id="check",
            now_ms=1,
            current_version=None,
        )
    except ContentRejected as exc:
        found.append(Problem("manifest", "", f"a screen refuses it: {exc.reason}: {exc.detail}"))
    return found
