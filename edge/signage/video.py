"""Video slides: PyAV decodes one asset in a background thread into a small bounded queue.

The render loop never waits on a decoder: it takes whatever frame is due and
otherwise keeps the last one on screen. Frames are scaled (and turned to RGB)
in the decoding thread to the size they are shown at, so the render thread only
blits. Audio is never decoded. A clip shorter than its slide loops; a clip the
decoder cannot keep up with drops late frames before scaling them, so playback
keeps time and a slow device shows fewer frames rather than slow motion.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import EdgeError

ROW_ALIGN_PX = 32
"""Frame widths are multiples of this, so RGB rows carry no padding (3 * 32 bytes is
a multiple of FFmpeg's 32-byte line alignment) and pygame can wrap them without a copy."""

LATE_S = 0.1
"""A frame due this long ago when it is decoded is dropped unscaled."""


class VideoError(EdgeError):
    """The asset is no playable video (missing, unreadable, no video stream, no frames)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture, `due` seconds after the clip started (loops add up)."""

    due: float
    size: tuple[int, int]
    pixels: Any  # a buffer of size[0] * size[1] RGB triplets, rows unpadded


def scaled_size(source: tuple[int, int], area: tuple[int, int], fit: str) -> tuple[int, int]:
    """The size a `source`-sized video is shown at in an `area`-sized box.

    "fit" shows all of it (no larger than `area`); "fill" covers `area` (it is
    cropped by whoever blits it). The width is a multiple of ROW_ALIGN_PX (rounded
    down for fit, up for fill) and the height keeps the aspect ratio.
    """
    sw, sh = max(1, source[0]), max(1, source[1])
    aw, ah = max(1, area[0]), max(1, area[1])
    pick = max if fit == "fill" else min
    width = sw * pick(aw / sw, ah / sh)
    if fit == "fill":
        w = -(-round(width) // ROW_ALIGN_PX) * ROW_ALIGN_PX
    else:
        w = max(ROW_ALIGN_PX, round(width) // ROW_ALIGN_PX * ROW_ALIGN_PX)
    return w, max(1, round(w * sh / sw))


class VideoFeed:
    """Decodes `path` in a thread, looping until `length_s`, into at most `depth` frames.

    `start(t0)` tells the feed when the clip's time zero is on the monotonic clock
    (before that it decodes ahead, filling the queue, so a slide that starts later
    has its first frame ready). `take(now)` returns the newest frame that is due.
    Errors end the feed: `error` then says why, and `on_error` is called once from
    the decoding thread.
    """

    def __init__(
        self,
        path: Path | None,
        area: tuple[int, int],
        fit: str,
        *,
        length_s: float,
        depth: int = 3,
        on_error: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.path = path
        self.area = area
        self.fit = fit
        self.length_s = length_s
        self.error: str | None = None
        self.decoded = 0
        self.dropped = 0
        self._on_error = on_error
        self._frames: queue.Queue[Frame | None] = queue.Queue(maxsize=max(1, depth))
        self._head: Frame | None = None  # taken from the queue, not yet due
        self._t0: float | None = None
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="edge-video", daemon=True)
        self._thread.start()

    # -- render thread -------------------------------------------------------------
    def start(self, t0: float) -> None:
        self._t0 = t0

    def take(self, now: float) -> Frame | None:
        """The newest frame due by `now` (older due ones are skipped), or None."""
        t0 = self._t0
        if t0 is None:
            return None
        found = None
        while True:
            head = self._peek()
            if head is None or t0 + head.due > now:
                return found
            found, self._head = head, None

    def next_due(self) -> float | None:
        """Monotonic time the next queued frame is due; None if none is queued yet."""
        head = self._peek()
        if head is None or self._t0 is None:
            return None
        return self._t0 + head.due

    @property
    def primed(self) -> bool:
        """True once the first frame is queued or the decoder has ended (error or empty)."""
        return self._peek() is not None or self._finished or self.error is not None

    @property
    def finished(self) -> bool:
        """True once the decoder has ended (clip done or failed) and every frame is taken."""
        return self._finished and self._peek() is None

    def close(self) -> None:
        """Stop decoding without waiting: the thread ends after the frame it is on."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # unblock a decoder waiting to put
                self._frames.get_nowait()

    def join(self, timeout: float) -> bool:
        """Wait for the decoding thread to end after `close`; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _peek(self) -> Frame | None:
        if self._head is None and not self._finished:
            try:
                item = self._frames.get_nowait()
            except queue.Empty:
                return None
            if item is None:
                self._finished = True
            self._head = item
        return self._head

    # -- decoding thread -----------------------------------------------------------
    def _run(self) -> None:
        try:
            if self.path is None:
                raise VideoError("no such asset")
            offset = 0.0
            while offset < self.length_s and not self._stop.is_set():
                offset, count = self._play_once(self.path, offset)
                if count == 0 and not self._stop.is_set():
                    raise VideoError("no video frames")
        except Exception as exc:  # any decoder failure ends this feed alone
            self.error = f"{type(exc).__name__}: {exc}"
            self._on_error(self.error)
        finally:
            self._put(None)

    def _play_once(self, path: Path, offset: float) -> tuple[float, int]:
        """Decode the clip once from `offset` s; returns (where the next pass starts, frames)."""
        import av  # lazy: PyAV costs ~25 MB and is only needed for video slides

        count = 0
        end = offset
        try:
            container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(f"cannot open {path.name}: {exc}") from exc
        with container:
            if not container.streams.video:
                raise VideoError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            step = float(1 / rate) if rate else 1 / 25
            size: tuple[int, int] | None = None
            first: float | None = None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    break
                t = frame.time if frame.time is not None else count * step
                first = t if first is None else first
                due = offset + t - first
                if due >= self.length_s:
                    break
                end = due + step
                count += 1
                self.decoded += 1
                t0 = self._t0
                if t0 is not None and time.monotonic() > t0 + due + LATE_S:
                    self.dropped += 1
                    continue
                if size is None:
                    size = scaled_size((frame.width, frame.height), self.area, self.fit)
                rgb = frame.reformat(
                    width=size[0], height=size[1], format="rgb24", interpolation="BILINEAR"
                )
                plane = rgb.planes[0]
                pixels: Any = plane
                if plane.line_size != size[0] * 3:  # an unusual alignment: copy rows out
                    raw, pitch, row = bytes(plane), plane.line_size, size[0] * 3
                    pixels = b"".join(raw[y * pitch : y * pitch + row] for y in range(size[1]))
                self._put(Frame(due, size, pixels))
        return end, count

    def _put(self, item: Frame | None) -> None:
        """Queue `item`, waiting while the queue is full unless the feed is stopped."""
        while not self._stop.is_set():
            try:
                self._frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        if item is None:
            with contextlib.suppress(queue.Full):
                self._frames.put_nowait(None)
