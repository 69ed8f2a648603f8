"""The render loop's costs, headless (SDL dummy driver), at 1920x1080.

1. Crossfade: frames/s the Stage presents during crossfades (fps cap lifted).
2. Idle: CPU seconds per second while a static slide is up (goal <= 0.02).
3. Start: from spawning `python -c` (imports edge, opens Screen, builds a Stage
   with the fallback playlist) to its first presented frame (goal <= 1.5 s), and
   that process's peak RSS after playing the fallback playlist with crossfades
   (goal <= 80 MB; VmHWM from /proc/self/status). Measured as installed here,
   and with numpy hidden, as on a device: numpy is only a test dependency, but
   pygame imports it (~20 MB) whenever it is installed.
4. Video: decode + scale to 1920x1080 RGB frames/s for 720p and 1080p H.264
   clips (no pacing: the decoder's capacity), and frames/s the Stage displays
   playing a 60 fps clip with fps=60 (with the frames it had to drop).

Prints figures, then ONE JSON object on the last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import av
import numpy as np

from edge.content.slides import Slide, make_slide
from edge.signage.screen import Screen
from edge.signage.stage import Stage

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1920, 1080)

CHILD = r"""
import sys, time
T0 = float(sys.argv[1])
if sys.argv[2] == "hide-numpy":
    sys.modules["numpy"] = None  # as on a device, where numpy is not installed
import os, json, threading
from pathlib import Path
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import msgspec
from edge.content.fallback import image_path, load_playlist
from edge.signage.screen import Screen
from edge.signage.stage import Stage

content = Path(sys.argv[3])
playlist = [msgspec.structs.replace(s, duration_ms=1500) for s in load_playlist(content)]
first = []
stop = threading.Event()

def shown(showing, _shot):
    if not first:
        first.append(time.time() - T0)

with Screen(1920, 1080, headless=True) as screen:
    stage = Stage(screen, playlist, lambda name: image_path(content, name),
                  on_impression=lambda _i: None, on_shown=shown)
    threading.Timer(len(playlist) * 1.5 + 1.0, stop.set).start()
    stage.run(stop)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({
    "first_frame_s": first[0],
    "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
    "numpy_loaded": "numpy" in sys.modules and sys.modules["numpy"] is not None,
    "frames": stage.frames,
}))
"""


def text_slide(slide_id: str, background: str, duration_ms: int) -> Slide:
    return make_slide(
        id=slide_id,
        kind="text",
        title="Members save more",
        body="Show the store app at the till to collect points on every visit.",
        background=background,
        duration_ms=duration_ms,
    )


def crossfade_fps(rotation: int) -> float:
    """Frames/s during crossfades: slides of 1.2 s, 600 ms fades, fps cap lifted."""
    slides = [
        text_slide("a", "#1d2b53", 1200),
        make_slide(id="b", kind="image", image="market.png", title="Fresh", duration_ms=1200),
        text_slide("c", "#7a2048", 1200),
    ]
    shown: list[float] = []
    with Screen(*SIZE, rotation=rotation, headless=True) as screen:
        stage = Stage(
            screen,
            slides,
            ROOT / "signage_content",
            on_impression=lambda _i: None,
            on_shown=lambda _s, _p: shown.append(time.monotonic()),
            fps=1000,
            crossfade_ms=600,
        )
        stop = threading.Event()
        threading.Timer(6.2, stop.set).start()
        stage.run(stop)
    fades = len(shown) - 1  # every slide after the first faded in; the first was a cut
    return round((stage.frames - 1) / (fades * 0.6), 1)


def idle_cpu() -> float:
    """CPU seconds per second with one static slide up (after its first frame)."""
    samples: list[float] = []
    with Screen(*SIZE, headless=True) as screen:
        stage = Stage(
            screen,
            [text_slide("still", "#101820", 600_000)],
            ROOT / "signage_content",
            on_impression=lambda _i: None,
        )
        stop = threading.Event()
        timers = [
            threading.Timer(1.0, lambda: samples.append(time.process_time())),
            threading.Timer(6.0, lambda: samples.append(time.process_time())),
            threading.Timer(6.1, stop.set),
        ]
        for timer in timers:
            timer.start()
        stage.run(stop)
    return (samples[1] - samples[0]) / 5.0


def startup(mode: str) -> dict[str, float]:
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, repr(t0), mode, str(ROOT / "signage_content")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def make_clip(path: Path, size: tuple[int, int], fps: int, seconds: float) -> str:
    """A moving gradient with a sliding box, H.264 if PyAV can encode it, else MPEG-4."""
    codec = "h264" if "libx264" in av.codecs_available else "mpeg4"
    w, h = size
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "h264":
            stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(int(fps * seconds)):
            picture = np.empty((h, w, 3), np.uint8)
            picture[..., 0] = (ramp + i * 4) % 256
            picture[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
            picture[..., 2] = 255 - picture[..., 0]
            x = (i * 13) % (w - h // 4)
            picture[h // 3 : h // 3 + h // 4, x : x + h // 4] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return codec


def decode_fps(path: Path) -> float:
    """Decode + scale to 1920x1080 RGB, as the feed does, as fast as it goes."""
    frames = 0
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.reformat(width=1920, height=1080, format="rgb24", interpolation="BILINEAR")
            frames += 1
    return frames / (time.perf_counter() - start)


def display_fps(folder: Path, name: str, seconds: float = 4.0) -> dict[str, float]:
    """Frames/s the Stage presents playing a 60 fps clip at fps=60; drops counted."""
    slide = make_slide(id="v", kind="video", video=name, duration_ms=60_000, transition="cut")
    with Screen(*SIZE, headless=True) as screen:
        stage = Stage(
            screen,
            [slide],
            lambda n: folder / n if (folder / n).is_file() else None,
            on_impression=lambda _i: None,
            fps=60,
        )
        stop = threading.Event()
        first: list[tuple[float, int]] = []
        last: list[tuple[float, int]] = []
        counters: list[dict[str, int]] = []

        def sample(into: list[tuple[float, int]]) -> None:
            into.append((time.monotonic(), stage.frames))
            counters.append(stage.video_counters)

        threading.Timer(0.5, sample, args=(first,)).start()
        threading.Timer(0.5 + seconds, sample, args=(last,)).start()
        threading.Timer(0.6 + seconds, stop.set).start()
        stage.run(stop)
    decoded = counters[1]["decoded"] - counters[0]["decoded"]
    dropped = counters[1]["dropped"] - counters[0]["dropped"]
    shown = (last[0][1] - first[0][1]) / (last[0][0] - first[0][0])
    return {"fps": round(shown, 1), "decoded": decoded, "dropped": dropped}


def main() -> None:
    figures: dict[str, object] = {}
    fade, turned = crossfade_fps(0), crossfade_fps(90)
    figures["crossfade_fps_1080p"] = fade
    figures["crossfade_fps_1080p_rotated"] = turned
    print(f"crossfade at 1920x1080: {fade} frames/s ({turned} with the panel rotated 90)")

    cpu = idle_cpu()
    figures["idle_cpu_s_per_s"] = round(cpu, 4)
    print(f"static slide: {cpu:.4f} CPU s per s (goal <= 0.02)")

    for mode, label in (("as-is", "installed here"), ("hide-numpy", "numpy hidden, as deployed")):
        child = startup(mode)
        key = "" if mode == "as-is" else "_no_numpy"
        figures[f"first_frame_s{key}"] = round(child["first_frame_s"], 3)
        figures[f"peak_rss_mb{key}"] = round(child["peak_rss_mb"], 1)
        print(
            f"process start -> first frame: {child['first_frame_s']:.2f} s (goal <= 1.5); "
            f"peak RSS {child['peak_rss_mb']:.1f} MB (goal <= 80) [{label}; "
            f"numpy loaded: {child['numpy_loaded']}]"
        )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
            codec = make_clip(folder / f"{label}.mp4", size, 60, 3.0)
            raw = decode_fps(folder / f"{label}.mp4")
            shown = display_fps(folder, f"{label}.mp4")
            figures[f"video_{label}_decode_scale_fps"] = round(raw, 1)
            figures[f"video_{label}_display_fps"] = shown["fps"]
            figures[f"video_{label}_dropped_of_decoded"] = [shown["dropped"], shown["decoded"]]
            print(
                f"video {label} {codec} 60 fps: decode+scale to 1080p {raw:.0f} frames/s; "
                f"Stage shows {shown['fps']} frames/s at fps=60 "
                f"(dropped {shown['dropped']} of {shown['decoded']} decoded)"
            )
        figures["video_codec"] = codec

    print(
        "Raspberry Pi 4 (EXPECTATION, not measured): software H.264 decode + scale on its "
        "4 Cortex-A72 cores should manage 720p30 and roughly 1080p at 15-25 frames/s "
        "(late frames are dropped, so playback keeps time); for 1080p30, decode with "
        "FFmpeg's 'h264_v4l2m2m' (the Pi 4's hardware H.264 block via V4L2 M2M; not wired "
        "in yet: VideoFeed uses FFmpeg's default software decoder) or encode assets at "
        "720p. 1080p crossfades should reach roughly 20-30 frames/s (fewer on a rotated "
        "panel, which turns every frame); an idle slide stays near zero CPU."
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
