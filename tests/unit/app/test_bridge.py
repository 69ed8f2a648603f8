"""The render<->I/O bridge: nothing asked of the screen is lost while the Stage is built."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from edge.app.bridge import RenderBridge, ScreenUnavailable
from edge.content.player import Impression, Personal, Showing
from edge.content.slides import Slide, make_slide
from edge.signage.scenes import Resolve

SLIDES = [
    make_slide(id=f"s{n}", kind="text", duration_ms=1000, title=f"slide {n}") for n in range(200)
]


class RecordingStage:
    """Stands in for the Stage's thread-safe methods, recording every call in order."""

    def __init__(self) -> None:
        self.frames = 0
        self.last_frame_monotonic = 0.0
        self.playlists: list[tuple[str, bool]] = []
        self.codes: list[str | None] = []
        self.personal: list[Personal] = []
        self.departed: list[str] = []

    def show(self, personal: Personal) -> None:
        self.personal.append(personal)

    def depart(self, visit_id: str) -> None:
        self.departed.append(visit_id)

    def set_playlist(
        self, slides: Sequence[Slide], resolve: Resolve, *, fallback: bool = False
    ) -> None:
        self.playlists.append((slides[0].id, fallback))

    def set_checkin(self, url: str | None, label: str = "Scan to check in") -> None:
        self.codes.append(url)

    def reload(self) -> None:
        pass

    def repaint(self) -> None:
        pass

    def request_screenshot(self) -> concurrent.futures.Future[bytes]:
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        future.set_result(b"png")
        return future


def none(_name: str) -> Path | None:
    return None


def personal(n: int) -> Personal:
    return Personal(SLIDES[n], 1000, f"r{n}", f"v{n}", f"c{n}", None, None)


def test_what_is_asked_before_the_stage_exists_reaches_it_when_it_attaches() -> None:
    bridge = RenderBridge(on_impression=lambda _i: None)
    bridge.set_playlist(SLIDES[:2], none)
    bridge.set_playlist(SLIDES[3:5], none)  # the newer wins
    bridge.set_checkin("https://example.invalid/c?n=1")
    bridge.show(personal(7))
    stage = RecordingStage()
    bridge.attach(stage)
    assert stage.playlists == [("s3", False)]
    assert stage.codes == ["https://example.invalid/c?n=1"]
    assert [p.slide.id for p in stage.personal] == ["s7"]
    bridge.set_playlist(SLIDES[9:], none, fallback=True)  # after: straight through
    assert stage.playlists[-1] == ("s9", True)
    assert bridge.display == "on"


@pytest.mark.parametrize("attempt", range(20))
def test_a_playlist_racing_the_stage_construction_is_never_lost(attempt: int) -> None:
    """The I/O thread keeps changing the playlist while the render thread attaches: the
    Stage always ends up with the last one asked for (the race the old daemon lost)."""
    bridge = RenderBridge(on_impression=lambda _i: None)
    stage = RecordingStage()
    go = threading.Barrier(2)

    def io_side() -> None:
        go.wait()
        for n in range(100):
            bridge.set_playlist(SLIDES[n : n + 1], none)

    def render_side() -> None:
        go.wait()
        for _ in range(attempt * 5):  # attach at a different moment each time
            pass
        bridge.attach(stage)

    threads = [threading.Thread(target=io_side), threading.Thread(target=render_side)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert stage.playlists, "the stage never got a playlist"
    assert stage.playlists[-1] == ("s99", False)


def test_render_reports_reach_the_io_loop_on_its_thread() -> None:
    async def body() -> None:
        seen: list[tuple[int, str]] = []
        loop_thread = threading.get_ident()
        bridge = RenderBridge(
            on_impression=lambda i: seen.append((threading.get_ident(), i.showing.slide.id))
        )
        bridge.bind_loop(asyncio.get_running_loop())
        showing = Showing(SLIDES[0], 0.0, 1.0)
        render = threading.Thread(target=bridge.impression, args=(Impression(showing, 900),))
        render.start()
        render.join()
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [(loop_thread, "s0")]

    asyncio.run(body())


def test_a_screenshot_without_a_screen_is_refused_in_words() -> None:
    async def body() -> None:
        bridge = RenderBridge(on_impression=lambda _i: None)
        with pytest.raises(ScreenUnavailable, match="not up yet"):
            bridge.screenshot()
        bridge.no_display()
        with pytest.raises(ScreenUnavailable, match="no display"):
            bridge.screenshot()
        bridge.attach(RecordingStage())
        assert await bridge.screenshot() == b"png"

    asyncio.run(body())
