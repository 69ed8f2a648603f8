"""The device's own content (`signage_content/`): what plays when nothing else can."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from edge.content.slides import Slide, make_slide, parse_slide
from edge.errors import ContentRejected

log = logging.getLogger(__name__)

# Shown when even the fallback folder is unreadable: the screen is never black.
LAST_RESORT = make_slide(
    id="omo-edge-idle", kind="text", duration_ms=10_000, title="Welcome", body=""
)


def safe_name(name: str) -> bool:
    """An asset name is a name, never a path."""
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and name not in (".", "..")
        and (not name.startswith("."))
    )


def load_playlist(folder: Path) -> list[Slide]:
    """The slides of `folder/playlist.json`; bad slides are skipped with a warning."""
    path = folder / "playlist.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        raw = doc["playlist"]
        if not isinstance(raw, list):
            raise TypeError("playlist is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("fallback content %s unusable (%s); showing a plain welcome slide", path, exc)
        return [LAST_RESORT]
    slides = []
    for number, obj in enumerate(raw, 1):
        try:
            slide = parse_slide(obj)
        except ContentRejected as exc:
            log.warning("fallback slide %d in %s skipped: %s", number, path, exc.reason)
            continue
        missing = [
            name
            for name in slide.assets()
            if not (safe_name(name) and (folder / "images" / name).is_file())
        ]
        if missing:
            log.warning(
                "fallback slide %r skipped: image %r not in %s/images",
                slide.id,
                missing[0],
                folder,
            )
            continue
        slides.append(slide)
    return slides or [LAST_RESORT]


def image_path(folder: Path, name: str) -> Path | None:
    """Where the fallback image `name` lives, or None if it is not a safe, existing name."""
    if not safe_name(name):
        return None
    path = folder / "images" / name
    return path if path.is_file() else None
