"""Screenshots: numbered PNG files of slides as they appear, and PNG bytes on request.

Both go through the one PNG writer (`png`). Slide files are written on the
render thread, so the file exists when the slide is reported shown; a requested
screenshot is encoded in a helper thread, so playback does not stall.
"""

from __future__ import annotations

import re
import threading
import zlib
from concurrent.futures import Future
from pathlib import Path

import pygame

from edge.signage import png

_SHOT = re.compile(r"^(\d{9})-[A-Za-z0-9._-]*\.png$")


def save_numbered(canvas: pygame.Surface, folder: Path, name: str, keep: int) -> Path:
    """Save `canvas` as `folder/<seq>-<name>.png`; keep only the newest `keep` of ours.

    The sequence continues across restarts; `name` is made safe for a file name.
    The file appears atomically, so an uploader never reads half a PNG.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shots = numbered(folder)
    seq = shots[-1][0] + 1 if shots else 1
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80].lstrip(".") or "screen"
    path = folder / f"{seq:09d}-{safe}.png"
    partial = folder / f".partial-{path.name}"
    png.save(canvas, partial)
    partial.replace(path)
    shots.append((seq, path))
    for _, old in shots[:-keep]:
        old.unlink(missing_ok=True)
    return path


def numbered(folder: Path) -> list[tuple[int, Path]]:
    """(sequence, path) of our screenshots in `folder`, oldest first; other files are left alone."""
    found = ((_SHOT.match(p.name), p) for p in folder.iterdir())
    return sorted((int(m[1]), p) for m, p in found if m)


def send_png(canvas: pygame.Surface, futures: list[Future[bytes]]) -> None:
    """Copy the canvas's pixels (~2 ms) now and resolve `futures` with its PNG from a thread."""
    pixels = png.rgb_pixels(canvas)
    threading.Thread(
        target=_encode_for,
        args=(pixels, canvas.get_size(), futures),
        name="edge-screenshot",
        daemon=True,
    ).start()


def _encode_for(pixels: bytes, size: tuple[int, int], futures: list[Future[bytes]]) -> None:
    try:
        data: bytes | None = png.encode(pixels, size)
        error: BaseException | None = None
    except (ValueError, MemoryError, zlib.error) as exc:
        data, error = None, exc
    for future in futures:
        if not future.set_running_or_notify_cancel():
            continue
        if data is not None:
            future.set_result(data)
        else:
            future.set_exception(error or RuntimeError("no PNG"))
