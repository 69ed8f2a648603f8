"""A content folder as a central team keeps it: the layout of the device's `signage_content/`.

    FOLDER/playlist.json   {"playlist": [Slide, ...], "offers": {segment: Slide}}  (offers optional)
    FOLDER/schedule.json   optional: {"timezone": "Asia/Tokyo", "schedule": [Window, ...]}
    FOLDER/images/NAME     every picture or video a slide names (`"image": "NAME"`)

Slides and windows are exactly docs/protocol.md's. This module is the one place
that reads the folder: every file once, each asset hashed and its picture header
read, so checking and building a manifest (`content_rules`) are pure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge.content.assets import image_size
from edge.ops.errors import OpsError
from edge.signed import no_duplicate_keys

PLAYLIST = "playlist.json"
SCHEDULE = "schedule.json"
IMAGES = "images"


@dataclass(frozen=True, slots=True)
class AssetFile:
    """One file of `images/`: what a device would be sent, and what it would make of it."""

    name: str
    path: Path
    sha256: str
    size: int
    kind: Literal["picture", "video", "other"]
    pixels: tuple[int, int] | None = None  # a picture's, from its header
    unreadable: str | None = None  # why a screen could not show it


@dataclass(frozen=True, slots=True)
class Folder:
    """The folder's documents as decoded JSON (None: absent) and its assets by name.

    `problems` are (file, message) pairs for files that could not be read at all.
    """

    path: Path
    playlist: Any
    schedule: Any
    assets: dict[str, AssetFile]
    problems: list[tuple[str, str]] = field(default_factory=list)


def _json(path: Path, problems: list[tuple[str, str]]) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=no_duplicate_keys)
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        problems.append((path.name, f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
    except json.JSONDecodeError as exc:
        problems.append((path.name, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"))
    except (ValueError, RecursionError) as exc:
        problems.append((path.name, str(exc)))
    except OSError as exc:
        problems.append((path.name, f"cannot read it ({exc.strerror or exc})"))
    return None


def _decodes(path: Path) -> str | None:
    """Why the screen's decoder (pygame) cannot load this picture, or None if it can."""
    import pygame

    try:
        pygame.image.load(str(path))
    except (pygame.error, OSError) as exc:
        return f"the screen cannot decode it ({exc})"
    return None


def _plays(path: Path) -> bool:
    """Whether the screen's video decoder (PyAV) finds a video stream in the file."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.FFmpegError, OSError, ValueError):
        return False


def _asset(path: Path) -> AssetFile:
    data = path.read_bytes()
    sha, size = hashlib.sha256(data).hexdigest(), len(data)
    try:
        pixels = image_size(data)
    except ValueError as exc:
        return AssetFile(path.name, path, sha, size, "picture", unreadable=str(exc))
    if pixels is not None:
        return AssetFile(path.name, path, sha, size, "picture", pixels, _decodes(path))
    return AssetFile(path.name, path, sha, size, "video" if _plays(path) else "other")


def read_folder(folder: Path) -> Folder:
    """Read a content folder; OpsError (exit 2) when it is not one at all."""
    if not folder.is_dir():
        raise OpsError(f"{folder}: no such folder (give a folder with {PLAYLIST} and {IMAGES}/)")
    if not (folder / PLAYLIST).is_file():
        raise OpsError(f"{folder}: no {PLAYLIST} in it (the layout of signage_content/)")
    problems: list[tuple[str, str]] = []
    playlist = _json(folder / PLAYLIST, problems)
    schedule = _json(folder / SCHEDULE, problems)
    assets: dict[str, AssetFile] = {}
    images = folder / IMAGES
    if images.is_dir():
        for path in sorted(images.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            try:
                assets[path.name] = _asset(path)
            except OSError as exc:
                problems.append((f"{IMAGES}/{path.name}", f"cannot read it ({exc.strerror})"))
    return Folder(folder, playlist, schedule, assets, problems)


def asset_files(folders: list[Path]) -> dict[str, Path]:
    """SHA-256 -> file for every asset in `folders` (what `content serve` can answer)."""
    found: dict[str, Path] = {}
    for folder in folders:
        for asset in read_folder(folder).assets.values():
            found.setdefault(asset.sha256, asset.path)
    return found
