"""The render loop on the SDL dummy driver: real frames, real timing, real video decoding.

Each test runs a Stage in the main thread for a bounded time (a timer sets the stop
event) and looks at what it presented: a thumbnail of every presented frame is
kept, and screenshots come through `request_screenshot`.
"""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import io
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pygame
import pytest
import zxingcpp

from edge.content.player import Impression, Personal, Showing
from edge.content.slides import Slide, make_slide
from edge.errors import ContentRejected
from edge.signage.checkin_card import checkin_zone
from edge.signage.scenes import Images, Resolve
from edge.signage.screen import Screen
from edge.signage.stage import Stage
from tests.support.paths import SIGNAGE_CONTENT

CONTENT = SIGNAGE_CONTENT
URL = "https://shop.example/c?d=edge-01&n=5f3a9c2e"
RED, GREEN, BLUE = (220, 40, 40), (40, 200, 70), (40, 70, 220)


@dataclass
class Run:
    """What one Stage run did, times in seconds from its start."""

    stage: Stage
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)  # thumbnails
    shown: list[tuple[float, str]] = field(default_factory=list)
    impressions: list[Impression] = field(default_factory=list)
    shots: list[Future[bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def thumb(surface: pygame.Surface) -> np.ndarray:
    """A 64x36 (or 36x64) RGB thumbnail: enough to tell colours and black apart."""
    w, h = surface.get_size()
    small = pygame.transform.scale(surface, (64, 36) if w >= h else (36, 64))
    return pygame.surfarray.array3d(small).swapaxes(0, 1).astype(np.int32)


def black(frame: np.ndarray) -> bool:
    return bool(frame.mean() < 4)


def play(
    screen: Screen,
    playlist: Sequence[Slide],
    resolve: Resolve | Path,
    seconds: float,
    at: Sequence[tuple[float, Callable[[Run], object]]] = (),
    until: int | None = None,
    **options: int,
) -> Run:
    """Run a Stage on `screen` for `seconds` (or until an action sets `run.stop`, or until
    `until` slides were shown), calling each `at` action from another thread.

    A test that expects a sequence of slides passes `until` with a generous `seconds`: on
    a busy machine the frames come slower, and the sequence still comes whole."""
    stop = threading.Event()
    t0 = time.monotonic()
    impressions: list[Impression] = []
    shown: list[tuple[float, str]] = []

    def on_shown(showing: Showing, _shot: object) -> None:
        shown.append((time.monotonic() - t0, showing.slide.id))
        if until is not None and len(shown) >= until:
            stop.set()

    stage = Stage(
        screen,
        playlist,
        resolve,
        on_impression=impressions.append,
        on_shown=on_shown,
        **options,
    )
    run = Run(stage, shown=shown, impressions=impressions, stop=stop)
    present = screen.present

    def capture() -> None:
        drawn = time.monotonic() - t0  # when the canvas was drawn (a present may take long)
        present()
        run.frames.append((drawn, thumb(screen.canvas)))

    screen.present = capture  # type: ignore[method-assign]
    timers = [threading.Timer(t, action, args=(run,)) for t, action in at]
    timers.append(threading.Timer(seconds, stop.set))
    t0 = time.monotonic()
    for timer in timers:
        timer.start()
    try:
        run.stage.run(stop)
    finally:
        for timer in timers:
            timer.cancel()
            timer.join()
        del screen.present
    return run


def screenshot(run: Run) -> None:
    run.shots.append(run.stage.request_screenshot())


def screenshot_and_stop(run: Run) -> None:
    """Take a screenshot and end the run once it is taken, however busy the machine is."""
    shot = run.stage.request_screenshot()
    run.shots.append(shot)
    shot.add_done_callback(lambda _: run.stop.set())


def png_pixels(data: bytes) -> np.ndarray:
    """PNG bytes as an (height, width, 3) uint8 array, the layout zxing-cpp expects."""
    image = pygame.image.load(io.BytesIO(data), "shot.png")
    return np.ascontiguousarray(pygame.surfarray.array3d(image).swapaxes(0, 1))


def shoot(
    slides: Sequence[Slide],
    resolve: Resolve | Path = CONTENT,
    *,
    rotation: int = 0,
    size: tuple[int, int] = (1920, 1080),
    when: float = 0.25,
) -> np.ndarray:
    """A screenshot of the Stage playing `slides`, taken `when` seconds in (the run ends as
    soon as it is taken, however long a slow machine takes to paint)."""
    with Screen(*size, rotation=rotation, headless=True) as screen:
        run = play(screen, slides, resolve, when + 30, at=[(when, screenshot_and_stop)])
    return png_pixels(run.shots[0].result(timeout=5))


def files(folder: Path) -> Resolve:
    def resolve(name: str) -> Path | None:
        path = folder / name
        return path if path.is_file() else None

    return resolve


def close(colour: np.ndarray, want: tuple[int, int, int], tolerance: int = 40) -> bool:
    return bool(np.abs(colour.astype(int) - np.array(want)).max() <= tolerance)


# -- test assets -------------------------------------------------------------------


def quadrants(path: Path, size: tuple[int, int] = (400, 300)) -> Path:
    """An image with four coloured quadrants and a white centre square."""
    w, h = size
    image = pygame.Surface(size)
    image.fill(RED, (0, 0, w // 2, h // 2))
    image.fill(GREEN, (w // 2, 0, w - w // 2, h // 2))
    image.fill(BLUE, (0, h // 2, w // 2, h - h // 2))
    image.fill((230, 200, 40), (w // 2, h // 2, w - w // 2, h - h // 2))
    image.fill((255, 255, 255), pygame.Rect(0, 0, w // 5, h // 5).move(w * 2 // 5, h * 2 // 5))
    pygame.image.save(image, str(path))
    return path


def clip(
    path: Path, colours: Sequence[tuple[int, int, int]], fps: int = 10, each_s: float = 1.0
) -> Path:
    """A 64x48 video showing each colour for `each_s` seconds (mpeg4 in MP4)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for colour in colours:
            for _ in range(round(fps * each_s)):
                picture = np.full((48, 64, 3), colour, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def text_slide(slide_id: str, background: str, **fields: object) -> Slide:
    return make_slide(id=slide_id, kind="text", title=slide_id, background=background, **fields)  # type: ignore[arg-type]


# -- each kind, landscape and portrait -----------------------------------------------


@pytest.mark.parametrize("rotation", [0, 90])
def test_text_slide_draws_its_text(rotation: int) -> None:
    slide = make_slide(id="t", kind="text", title="Welcome to our store", body="Fresh daily.")
    shot = shoot([slide], rotation=rotation)
    assert shot.shape == ((1080, 1920, 3) if rotation == 0 else (1920, 1080, 3))
    h, w, _ = shot.shape
    middle = shot[h // 3 : 2 * h // 3, w // 8 : 7 * w // 8]
    ink = (np.abs(middle.astype(int) - (16, 24, 32)).max(axis=2) > 60).mean()
    assert 0.02 < ink < 0.6  # text, not an empty or a flooded box


@pytest.mark.parametrize("rotation", [0, 90])
def test_image_fit_letterboxes_the_whole_picture(tmp_path: Path, rotation: int) -> None:
    quadrants(tmp_path / "q.png")
    slide = make_slide(id="i", kind="image", image="q.png", fit="fit", background="#203040")
    shot = shoot([slide], files(tmp_path), rotation=rotation)
    h, w, _ = shot.shape
    assert close(shot[h // 2, w // 2], (255, 255, 255), 10)  # the source's centre
    scale = min(w / 400, h / 300)  # the picture's quadrants, a quarter in from its centre
    assert close(shot[h // 2 - round(75 * scale), w // 2 - round(100 * scale)], RED)
    assert close(shot[h // 2 + round(75 * scale), w // 2 + round(100 * scale)], (230, 200, 40))
    edge = (h // 2, 2) if rotation == 0 else (2, w // 2)  # a letterbox bar
    assert close(shot[edge], (0x20, 0x30, 0x40), 3)


@pytest.mark.parametrize("rotation", [0, 90])
def test_image_fill_covers_the_canvas(tmp_path: Path, rotation: int) -> None:
    quadrants(tmp_path / "q.png")
    slide = make_slide(id="i", kind="image", image="q.png", fit="fill", background="#203040")
    shot = shoot([slide], files(tmp_path), rotation=rotation)
    h, w, _ = shot.shape
    assert close(shot[h // 2, w // 2], (255, 255, 255), 10)
    for y, x, colour in [(2, 2, RED), (2, w - 3, GREEN), (h - 3, 2, BLUE)]:
        assert close(shot[y, x], colour), (y, x, shot[y, x])
    background = (np.abs(shot.astype(int) - (0x20, 0x30, 0x40)).max(axis=2) <= 3).mean()
    assert background == 0  # no letterbox anywhere


@pytest.mark.parametrize("rotation", [0, 90])
@pytest.mark.parametrize("kind", ["coupon", "qr"])
def test_qr_on_the_stage_decodes_to_the_url(kind: str, rotation: int) -> None:
    slide = make_slide(
        id=kind,
        kind=kind,  # type: ignore[arg-type]
        title="20% off fruit today",
        body="Scan to add the coupon to your member account.",
        code="FRUIT20",
        qr_url=URL,
        image="market.png",
    )
    shot = shoot([slide], rotation=rotation)
    assert [code.text for code in zxingcpp.read_barcodes(shot)] == [URL]


@pytest.mark.parametrize("rotation", [0, 90])
def test_japanese_coupon_draws_glyphs(rotation: int) -> None:
    slide = make_slide(
        id="jp",
        kind="coupon",
        title="あなたにおすすめ 特別クーポン",
        body="本日限り、レジでこの画面をお見せください。",
        code="TOKUBETSU",
        qr_url=URL,
    )
    shot = shoot([slide], rotation=rotation)
    assert [code.text for code in zxingcpp.read_barcodes(shot)] == [URL]
    h, w, _ = shot.shape
    title = shot[h // 10 : h // 3, w // 10 : w // 2] if rotation == 0 else shot[h // 12 : h // 3]
    ink = (np.abs(title.astype(int) - (0x10, 0x18, 0x20)).max(axis=2) < 60).mean()
    assert ink > 0.03  # dark glyphs on the accent card


@pytest.mark.parametrize("rotation", [0, 90])
def test_video_plays_its_frames_in_time_and_loops(tmp_path: Path, rotation: int) -> None:
    clip(tmp_path / "c.mp4", [RED, GREEN], fps=20, each_s=0.5)
    slide = make_slide(
        id="v", kind="video", video="c.mp4", duration_ms=60_000, background="#203040"
    )

    def stop_after_enough_frames(run: Run) -> None:
        """Past one loop, with frames enough to judge (a busy machine draws fewer a second)."""
        while len(run.frames) < 40 and not run.stop.wait(0.05):
            pass
        run.stop.set()

    with Screen(1920, 1080, rotation=rotation, headless=True) as screen:
        run = play(screen, [slide], files(tmp_path), 10, at=[(1.8, stop_after_enough_frames)])
    assert run.frames, "nothing presented"
    start = run.frames[0][0]
    checked = wrong = 0
    for t, frame in run.frames:
        phase = (t - start) % 1.0
        if min(phase % 0.5, 0.5 - phase % 0.5) < 0.1:
            continue  # near a colour change: either is fine
        centre = frame[frame.shape[0] // 2, frame.shape[1] // 2]
        checked += 1
        wrong += not close(centre, RED if phase < 0.5 else GREEN, 50)
    # a starved machine shows late frames now and then (a third of them, with every core
    # busy); a clock off by a whole colour would get nearly all of them wrong
    assert checked >= 15 and wrong <= checked // 3, (checked, wrong)
    late = [f for t, f in run.frames if 1.15 < t - start < 1.35]  # looped: red again
    assert late and close(late[-1][late[-1].shape[0] // 2, late[-1].shape[1] // 2], RED, 50)
    assert not any(black(f) for _, f in run.frames)
    assert not [t for t in threading.enumerate() if t.name == "edge-video"]  # decoders ended


def test_video_fit_and_fill_on_a_full_hd_screen(tmp_path: Path) -> None:
    clip(tmp_path / "c.mp4", [BLUE])
    fit = make_slide(id="f", kind="video", video="c.mp4", fit="fit", background="#203040")
    fill = make_slide(id="g", kind="video", video="c.mp4", fit="fill", background="#203040")
    shot = shoot([fit], files(tmp_path), when=0.6)
    assert close(shot[540, 960], BLUE, 50)
    assert close(shot[540, 100], (0x20, 0x30, 0x40), 3)  # 4:3 on 16:9: letterboxed
    shot = shoot([fill], files(tmp_path), when=0.6)
    assert close(shot[540, 100], BLUE, 50) and close(shot[5, 5], BLUE, 50)


def test_a_broken_video_shows_a_placeholder_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    slides = [
        make_slide(id="a", kind="video", video="bad.mp4", duration_ms=500, background="#000000"),
        make_slide(id="b", kind="video", video="bad.mp4", duration_ms=500, background="#000000"),
    ]
    with (
        caplog.at_level(logging.WARNING, logger="edge.signage.stage"),
        Screen(640, 360, headless=True) as screen,
    ):
        run = play(screen, slides, files(tmp_path), 1.6)
    assert run.frames and not any(black(f) for _, f in run.frames)
    centre = run.frames[-1][1][18, 32]
    assert centre.max() > 40  # the grey placeholder, not the black background
    warnings = [r for r in caplog.records if "bad.mp4" in r.getMessage()]
    assert len(warnings) == 1


# -- transitions and content changes -------------------------------------------------


def test_crossfade_presents_no_black_frame_and_blends(tmp_path: Path) -> None:
    slides = [
        text_slide("one", "#c03030", duration_ms=700),
        text_slide("two", "#3050c0", duration_ms=700, transition="crossfade"),
    ]
    with Screen(640, 360, headless=True) as screen:
        run = play(screen, slides, tmp_path, 1.9, crossfade_ms=300, fps=60)
    assert len(run.frames) > 20
    assert not any(black(f) for _, f in run.frames)
    corners = [f[2, 2] for _, f in run.frames]
    assert any(60 < c[0] < 180 and 60 < c[2] < 170 for c in corners)  # a blend of both
    assert [sid for _, sid in run.shown][:3] == ["one", "two", "one"]


def test_cut_goes_straight_to_the_next_slide(tmp_path: Path) -> None:
    slides = [
        text_slide("one", "#c03030", duration_ms=500, transition="cut"),
        text_slide("two", "#3050c0", duration_ms=500, transition="cut"),
    ]
    with Screen(320, 180, headless=True) as screen:
        run = play(screen, slides, tmp_path, 0.8)
    assert len(run.frames) == 2  # one frame per slide, nothing in between
    assert close(run.frames[0][1][2, 2], (0xC0, 0x30, 0x30), 2)
    assert close(run.frames[1][1][2, 2], (0x30, 0x50, 0xC0), 2)


def test_set_playlist_replaces_fallback_at_once_without_black(tmp_path: Path) -> None:
    fallback = [text_slide("fallback", "#2040a0", duration_ms=30_000)]
    fresh = [text_slide("fresh", "#a02040", duration_ms=30_000)]
    with Screen(640, 360, headless=True) as screen:
        run = play(
            screen,
            fallback,
            tmp_path,
            1.3,
            at=[(0.3, lambda r: r.stage.set_playlist(fresh, files(tmp_path)))],
        )
    assert [sid for _, sid in run.shown] == ["fallback", "fresh"]
    assert 0.3 < run.shown[1][0] < 1.2  # at once, plus the crossfade
    assert not any(black(f) for _, f in run.frames)
    assert close(run.frames[-1][1][2, 2], (0xA0, 0x20, 0x40), 2)
    assert [i.showing.slide.id for i in run.impressions] == ["fallback", "fresh"]


def test_new_content_waits_for_the_slide_boundary(tmp_path: Path) -> None:
    first = [text_slide("first", "#2040a0", duration_ms=1000)]
    second = [text_slide("second", "#a02040", duration_ms=30_000)]
    with Screen(320, 180, headless=True) as screen:
        run = play(
            screen,
            [text_slide("fallback", "#206020", duration_ms=30_000)],
            tmp_path,
            15,
            at=[
                (0.2, lambda r: r.stage.set_playlist(first, files(tmp_path))),
                (0.5, lambda r: r.stage.set_playlist(second, files(tmp_path))),
            ],
            until=3,
        )
    names = [sid for _, sid in run.shown]
    assert names == ["fallback", "first", "second"]
    first_at, second_at = run.shown[1][0], run.shown[2][0]
    assert second_at - first_at > 0.8  # "first" played its whole second
    assert not any(black(f) for _, f in run.frames)


def test_personal_slide_preempts_and_the_playlist_resumes(tmp_path: Path) -> None:
    playlist = [text_slide("base", "#2040a0", duration_ms=30_000)]
    personal = Personal(text_slide("you", "#a08020"), 600, "req-1", "v1", "c1", None, None)
    with Screen(320, 180, headless=True) as screen:
        run = play(
            screen, playlist, tmp_path, 15, at=[(0.2, lambda r: r.stage.show(personal))], until=3
        )
    assert [sid for _, sid in run.shown] == ["base", "you", "base"]
    assert not any(black(f) for _, f in run.frames)
    assert run.impressions[1].showing.personal is personal


def test_visitors_take_turns_with_the_playlist_and_a_departed_one_is_skipped(
    tmp_path: Path,
) -> None:
    """Fair airtime on the real render loop: three visitors at once, the second leaves before
    its turn. The playlist plays between personal slides; the one who left is never shown."""
    playlist = [text_slide("base", "#2040a0", duration_ms=1500)]

    def personal(visit: str, colour: str) -> Personal:
        slide = text_slide(f"for-{visit}", colour)
        return Personal(slide, 1000, f"req-{visit}", f"v-{visit}", visit, None, None,
                        wait_ms=10_000, visit_id=visit)  # fmt: skip

    def arrive(run: Run) -> None:
        for visit, colour in (("a", "#a08020"), ("b", "#20a080"), ("c", "#8020a0")):
            run.stage.show(personal(visit, colour))

    with Screen(320, 180, headless=True) as screen:
        run = play(
            screen,
            playlist,
            tmp_path,
            30,
            at=[(0.2, arrive), (0.5, lambda r: r.stage.depart("b"))],
            until=5,
        )
    shown = [sid for _, sid in run.shown]
    assert shown[:5] == ["base", "for-a", "base", "for-c", "base"], shown
    assert "for-b" not in shown
    assert run.stage.airtime.get("departed") == 1
    personal_seen = [i.showing.personal.visit_id for i in run.impressions if i.showing.personal]
    assert personal_seen == ["a", "c"]
    assert not any(black(f) for _, f in run.frames)


def test_request_screenshot_returns_a_png_of_the_canvas(tmp_path: Path) -> None:
    with Screen(800, 450, rotation=90, headless=True) as screen:
        run = play(
            screen,
            [text_slide("s", "#406080", duration_ms=10_000)],
            tmp_path,
            0.8,
            at=[(0.3, screenshot), (0.5, screenshot)],
        )
    for future in run.shots:
        data = future.result(timeout=5)
        assert data.startswith(b"\x89PNG")
        image = png_pixels(data)
        assert image.shape == (800, 450, 3)  # the portrait canvas, as viewers see it
        assert close(image[2, 2], (0x40, 0x60, 0x80), 2)


def test_an_idle_static_slide_costs_no_frames_but_stays_alive(tmp_path: Path) -> None:
    seen: list[tuple[int, float, float]] = []

    def sample(run: Run) -> None:
        seen.append((run.stage.frames, run.stage.last_frame_monotonic, time.monotonic()))

    with Screen(640, 360, headless=True) as screen:
        play(
            screen,
            [text_slide("still", "#406080", duration_ms=60_000)],
            tmp_path,
            1.9,
            at=[(0.6, sample), (1.8, sample)],
        )
    (frames_a, alive_a, _), (frames_b, alive_b, now_b) = seen
    assert frames_a == frames_b >= 1
    assert alive_b - alive_a > 1.0 and now_b - alive_b < 0.3


def test_reload_reads_assets_again(tmp_path: Path) -> None:
    picture = pygame.Surface((160, 90))
    picture.fill(RED)
    pygame.image.save(picture, str(tmp_path / "p.png"))

    def repaint(run: Run) -> None:
        picture.fill(GREEN)
        pygame.image.save(picture, str(tmp_path / "p.png"))
        run.stage.reload()

    slide = make_slide(id="p", kind="image", image="p.png", fit="fill", duration_ms=30_000)
    with Screen(320, 180, headless=True) as screen:
        run = play(screen, [slide], files(tmp_path), 1.0, at=[(0.4, repaint)])
    assert close(run.frames[0][1][18, 32], RED, 5)
    assert close(run.frames[-1][1][18, 32], GREEN, 5)


def test_a_decisions_image_that_arrives_after_its_slide_went_up_is_painted_in(
    tmp_path: Path,
) -> None:
    """A decision's image is asked for when its slide is shown: the slide goes up at once
    without it and, once the image is stored, the same stint shows it (no second 'shown',
    one impression)."""
    name = "ab" * 32  # a SHA-256 name, as a decision's assets are
    arrived = tmp_path / name

    def resolve(asset: str) -> Path | None:
        return arrived if asset == name and arrived.exists() else None

    slide = make_slide(id="you", kind="image", image=name, fit="fill", duration_ms=1000)
    personal = Personal(slide, 2500, "req-1", "v1", "c1", None, None, resolve=resolve)

    def store(run: Run) -> None:
        """Once the slide is fully up (without its picture), the picture arrives."""
        while len(run.shown) < 2 and not run.stop.is_set():
            time.sleep(0.01)
        picture = pygame.Surface((160, 90))
        picture.fill(RED)
        pygame.image.save(picture, str(tmp_path / "red.png"))
        (tmp_path / "red.png").rename(arrived)  # stored under its name, as the cache does
        run.stage.repaint()

    playlist = [text_slide("base", "#2040a0", duration_ms=30_000)]
    with Screen(320, 180, headless=True) as screen:
        run = play(
            screen,
            playlist,
            tmp_path,
            15,
            at=[(0.2, lambda r: r.stage.show(personal)), (0.3, store)],
            until=3,
        )
    assert [sid for _, sid in run.shown] == ["base", "you", "base"]
    you_at, back_at = run.shown[1][0], run.shown[2][0]
    before = [frame for t, frame in run.frames if t <= you_at]
    after = [frame for t, frame in run.frames if you_at < t < back_at]
    assert not close(before[-1][18, 32], RED, 30)  # up at once, without the picture
    assert any(close(frame[18, 32], RED, 5) for frame in after)  # then with it
    assert [i.showing.slide.id for i in run.impressions].count("you") == 1


def test_the_fallback_folder_still_works_as_resolve() -> None:
    slide = make_slide(id="m", kind="image", image="market.png", fit="fill")
    shot = shoot([slide], CONTENT, size=(640, 360))
    assert shot.std() > 20  # the picture, not a flat placeholder


def test_images_are_cached_by_path_within_a_byte_budget(tmp_path: Path) -> None:
    paths = []
    for name, colour in [("a", RED), ("b", GREEN), ("c", BLUE)]:
        picture = pygame.Surface((100, 100))
        picture.fill(colour)
        pygame.image.save(picture, str(tmp_path / f"{name}.png"))
        paths.append(tmp_path / f"{name}.png")
    failures: list[str] = []
    images = Images(on_error=lambda name, _why: failures.append(name))
    one = images.get(paths[0])
    assert one is not None
    images.max_bytes = int(2.5 * one.get_width() * one.get_height() * one.get_bytesize())
    b = images.get(paths[1])
    assert images.get(paths[0]) is one and images.get(paths[1]) is b  # hits
    images.get(paths[2])  # over budget: the least recently used ("a") goes
    assert images.get(paths[1]) is b
    assert images.get(paths[0]) is not one
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert images.get(tmp_path / "bad.png") is None
    assert images.get(tmp_path / "bad.png") is None
    assert failures == ["bad.png"]  # one attempt, one report
    images.clear()
    assert images.get(paths[1]) is not b


# -- the check-in card ---------------------------------------------------------------

CHECKIN = "https://checkin.example/c?d=edge-01&n=0f1e2d3c4b5a6978"
CHECKIN_2 = "https://checkin.example/c?d=edge-01&n=89abcdef01234567"


def codes(shot: np.ndarray) -> list[str]:
    return sorted(code.text for code in zxingcpp.read_barcodes(shot))


def checkin(url: str | None) -> Callable[[Run], None]:
    return lambda run: run.stage.set_checkin(url)


def then_screenshot(url: str | None) -> Callable[[Run], None]:
    """Change the card and ask for the next frame at once (from the same thread)."""

    def action(run: Run) -> None:
        run.stage.set_checkin(url)
        screenshot(run)

    return action


def shots(run: Run) -> list[np.ndarray]:
    return [png_pixels(future.result(timeout=5)) for future in run.shots]


@pytest.mark.parametrize("rotation", [0, 90])
@pytest.mark.parametrize("kind", ["text", "image"])
def test_checkin_code_decodes_on_every_kind_of_slide(
    tmp_path: Path, kind: str, rotation: int
) -> None:
    quadrants(tmp_path / "q.png")
    slide = make_slide(
        id=kind,
        kind=kind,  # type: ignore[arg-type]
        title="Welcome to our store",
        body="Fresh daily.",
        image="q.png",
        fit="fill",  # the picture reaches into the corner under the card
    )
    with Screen(1920, 1080, rotation=rotation, headless=True) as screen:
        run = play(
            screen,
            [slide],
            files(tmp_path),
            30,
            at=[(0, checkin(CHECKIN)), (0.3, screenshot_and_stop)],
        )
    (shot,) = shots(run)
    assert shot.shape == ((1080, 1920, 3) if rotation == 0 else (1920, 1080, 3))
    assert codes(shot) == [CHECKIN]
    (found,) = zxingcpp.read_barcodes(shot)
    h, w, _ = shot.shape
    box = [(p.x, p.y) for p in (found.position.top_left, found.position.bottom_right)]
    zone = checkin_zone((w, h))
    assert all(zone.collidepoint(x, y) for x, y in box)  # in the card's own corner zone
    side = max(abs(box[1][0] - box[0][0]), abs(box[1][1] - box[0][1]))
    assert side >= 6 * 33 * min(w, h) / 1080 - 2  # 6 px modules at 1080p: legible from 2 m
    (x0, y0), (x1, y1) = box
    code = shot[min(y0, y1) : max(y0, y1), min(x0, x1) : max(x0, x1)]
    assert {tuple(c) for c in code.reshape(-1, 3)} == {(0, 0, 0), (255, 255, 255)}  # crisp


def test_a_new_code_replaces_the_old_at_once_without_a_transition(tmp_path: Path) -> None:
    slides = [
        text_slide("one", "#c03030", duration_ms=1500, transition="crossfade"),
        text_slide("two", "#3050c0", duration_ms=30_000, transition="crossfade"),
    ]
    with Screen(1280, 720, headless=True) as screen:
        run = play(
            screen,
            slides,
            tmp_path,
            1.9,
            at=[
                (0, checkin(CHECKIN)),
                (0.4, screenshot),
                (0.7, then_screenshot(CHECKIN_2)),
                (1.0, checkin(CHECKIN_2)),  # the same again: nothing to do
            ],
            crossfade_ms=200,
        )
    before, after = shots(run)
    assert codes(before) == [CHECKIN]
    assert codes(after) == [CHECKIN_2]
    assert not any(black(f) for _, f in run.frames)
    at_change = [f for t, f in run.frames if 0.6 < t < 1.4]
    assert len(at_change) == 1  # one frame with the new code: no fade, no repaint storm
    assert close(at_change[0][2, 2], (0xC0, 0x30, 0x30), 2)  # the same slide, all of it
    # the slide kept its clock: "two" came at 1.5 s (+ its 0.2 s fade), not 1.5 s after the change
    assert [sid for _, sid in run.shown] == ["one", "two"]
    assert 1.55 < run.shown[1][0] < 1.85
    assert [i.showing.slide.id for i in run.impressions] == ["one", "two"]


@pytest.mark.parametrize("rotation", [0, 90])
def test_a_coupon_with_its_own_code_shows_only_that_code(rotation: int) -> None:
    """One QR at a time: the check-in card steps aside for a slide with a code of its own."""
    for image in ("market.png", None):
        slide = make_slide(
            id="coupon",
            kind="coupon",
            title="20% off fruit today",
            body="Scan to add the coupon to your member account.",
            code="FRUIT20",
            qr_url=URL,
            image=image,
        )
        with Screen(1920, 1080, rotation=rotation, headless=True) as screen:
            run = play(
                screen, [slide], CONTENT, 30, at=[(0, checkin(CHECKIN)), (0.3, screenshot_and_stop)]
            )
        (shot,) = shots(run)
        assert codes(shot) == [URL], image


def test_a_qr_slide_goes_without_the_card() -> None:
    slide = make_slide(id="q", kind="qr", title="Join us", body="Scan me", qr_url=URL)
    with Screen(1920, 1080, headless=True) as screen:
        run = play(
            screen, [slide], CONTENT, 30, at=[(0, checkin(CHECKIN)), (0.3, screenshot_and_stop)]
        )
    (shot,) = shots(run)
    assert codes(shot) == [URL]


def test_none_takes_the_card_away_and_restores_the_slide(tmp_path: Path) -> None:
    quadrants(tmp_path / "q.png")
    slide = make_slide(id="i", kind="image", image="q.png", fit="fill", duration_ms=30_000)
    plain = shoot([slide], files(tmp_path), size=(1280, 720))
    with Screen(1280, 720, headless=True) as screen:
        run = play(
            screen,
            [slide],
            files(tmp_path),
            0.9,
            at=[(0, checkin(CHECKIN)), (0.3, screenshot), (0.5, then_screenshot(None))],
        )
    carded, bare = shots(run)
    assert codes(carded) == [CHECKIN]
    assert codes(bare) == []
    assert np.array_equal(bare, plain)  # the slide's own pixels, exactly
    assert not any(black(f) for _, f in run.frames)
    assert [sid for _, sid in run.shown] == ["i"]


def test_the_card_stays_on_through_a_crossfade(tmp_path: Path) -> None:
    slides = [
        text_slide("one", "#c03030", duration_ms=1000),
        text_slide("two", "#3050c0", duration_ms=2000, transition="crossfade"),
    ]
    with Screen(1280, 720, headless=True) as screen:
        run = play(
            screen,
            slides,
            tmp_path,
            1.8,
            at=[(0, checkin(CHECKIN)), (1.3, screenshot), (1.5, then_screenshot(CHECKIN_2))],
            crossfade_ms=1000,
            fps=60,
        )
    assert [sid for _, sid in run.shown][:1] == ["one"]
    for shot, url in zip(shots(run), [CHECKIN, CHECKIN_2], strict=True):
        r, _, b = shot[2, 2]
        assert 0x40 < r < 0xB0 and 0x40 < b < 0xB0  # mid-fade: a blend of both slides
        assert codes(shot) == [url]
    assert not any(black(f) for _, f in run.frames)


def test_the_card_stays_over_video_frames_and_leaves_them_whole(tmp_path: Path) -> None:
    clip(tmp_path / "c.mp4", [BLUE])
    slide = make_slide(id="v", kind="video", video="c.mp4", fit="fill", duration_ms=30_000)
    with Screen(1280, 720, headless=True) as screen:
        run = play(
            screen,
            [slide],
            files(tmp_path),
            1.3,
            at=[(0, checkin(CHECKIN)), (0.6, screenshot), (0.8, checkin(None)), (1.1, screenshot)],
        )
    carded, bare = shots(run)
    assert close(carded[360, 640], BLUE, 50)  # frames are playing
    assert codes(carded) == [CHECKIN]
    assert codes(bare) == []
    assert close(bare[700, 1260], BLUE, 50)  # the video, where the card was


def test_a_personal_slide_carries_the_card(tmp_path: Path) -> None:
    playlist = [text_slide("base", "#2040a0", duration_ms=30_000)]
    personal = Personal(text_slide("you", "#a08020"), 5000, "req-1", "v1", "c1", None, None)
    with Screen(1280, 720, headless=True) as screen:
        run = play(
            screen,
            playlist,
            tmp_path,
            1.2,
            at=[(0, checkin(CHECKIN)), (0.2, lambda r: r.stage.show(personal)), (1.0, screenshot)],
        )
    assert [sid for _, sid in run.shown] == ["base", "you"]
    (shot,) = shots(run)
    assert close(shot[2, 2], (0xA0, 0x80, 0x20), 2)
    assert codes(shot) == [CHECKIN]


def test_an_unencodable_checkin_url_is_refused_on_the_callers_thread(tmp_path: Path) -> None:
    with Screen(320, 180, headless=True) as screen:
        stage = Stage(screen, [text_slide("s", "#406080")], tmp_path, on_impression=print)
        with pytest.raises(ContentRejected):
            stage.set_checkin("https://x.example/?" + "x" * 5000)
