"""The pygame renderer, checked on real headless screenshots (SDL dummy driver)."""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import pygame
import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.content.slides import Slide, SlideKind, make_slide, parse_slide
from edge.signage import painter, text, video
from edge.signage.painter import paint
from edge.signage.qr import qr_surface
from edge.signage.screen import DisplayError, Screen, available_drivers
from tests.support.examples import examples
from tests.support.paths import SIGNAGE_CONTENT

CONTENT = SIGNAGE_CONTENT
URL = "https://shop.example/c?d=edge-01&n=5f3a9c2e"

ImageFor = Callable[[str], pygame.Surface | None]


def images_in(folder: Path) -> ImageFor:
    def image_for(name: str) -> pygame.Surface | None:
        path = folder / name
        return pygame.image.load(path) if path.is_file() else None

    return image_for


def no_images(name: str) -> pygame.Surface | None:
    return None


def pixels(path: Path) -> np.ndarray:
    """A PNG as an (height, width, 3) uint8 array, the layout zxing-cpp expects."""
    return np.ascontiguousarray(pygame.surfarray.array3d(pygame.image.load(path)).swapaxes(0, 1))


def colours(image: np.ndarray) -> int:
    """How many distinct colours an (..., 3) array holds."""
    rgb = image.reshape(-1, 3).astype(np.uint32)
    return len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))


def qr_texts(image: np.ndarray) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(image)]


def shoot(screen: Screen, slide: Slide, image_for: ImageFor = no_images) -> Path:
    paint(screen.canvas, slide, image_for)
    screen.present()
    path = screen.screenshot(slide.id)
    assert path is not None
    return path


def test_text_slides_render_visibly_and_differently(tmp_path: Path) -> None:
    welcome = make_slide(
        id="welcome", kind="text", title="Welcome to our store", body="Fresh daily."
    )
    members = make_slide(id="members", kind="text", title="Members save more", background="#1d2b53")
    with Screen(1920, 1080, headless=True, screenshot_dir=tmp_path) as screen:
        first, second = pixels(shoot(screen, welcome)), pixels(shoot(screen, members))
    assert first.shape == (1080, 1920, 3)
    assert colours(first) > 2
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("rotation", [0, 90])
@pytest.mark.parametrize("kind", ["coupon", "qr"])
def test_qr_in_the_screenshot_decodes_to_the_url(tmp_path: Path, kind: str, rotation: int) -> None:
    slide = parse_slide(
        {
            "id": f"{kind}-{rotation}",
            "kind": kind,
            "title": "20% off fruit today",
            "body": "Scan to add the coupon to your member account.",
            "code": "FRUIT20",
            "qr_url": URL,
            "image": "market.png",
        }
    )
    with Screen(1920, 1080, rotation=rotation, headless=True, screenshot_dir=tmp_path) as screen:
        shot = pixels(shoot(screen, slide, images_in(CONTENT / "images")))
    assert shot.shape == ((1080, 1920, 3) if rotation == 0 else (1920, 1080, 3))
    assert qr_texts(shot) == [URL]


def test_qr_surface_has_whole_pixel_modules_and_a_quiet_zone() -> None:
    code = qr_surface(URL, 300)
    w, h = code.get_size()
    assert w == h <= 300
    assert code.get_at((0, 0)) == pygame.Color(255, 255, 255)
    colours = {tuple(c) for c in pygame.surfarray.array3d(code).reshape(-1, 3)}
    assert colours == {(0, 0, 0), (255, 255, 255)}  # crisp: no smoothing greys


def test_rotation_90_gives_a_portrait_canvas_turned_onto_the_panel() -> None:
    with Screen(1920, 1080, rotation=90, headless=True) as screen:
        assert screen.canvas.get_size() == (1080, 1920)
        display = pygame.display.get_surface()
        assert display is not None
        assert display.get_size() == (1920, 1080)
        assert screen.driver == "dummy"
        screen.canvas.fill((0, 0, 0))
        screen.canvas.fill((255, 0, 0), pygame.Rect(0, 0, 10, 10))
        screen.present()
        # turned 90 degrees clockwise: the canvas's top-left lands top-right
        assert display.get_at((1914, 5)) == pygame.Color(255, 0, 0)
        assert display.get_at((5, 5)) == pygame.Color(0, 0, 0)


def test_a_missing_image_shows_a_placeholder_not_black(tmp_path: Path) -> None:
    slide = make_slide(id="gone", kind="image", image="nowhere.png", background="#000000")
    with Screen(1280, 720, headless=True, screenshot_dir=tmp_path) as screen:
        shot = pixels(shoot(screen, slide))
    assert shot[360, 640].max() > 40
    assert (shot.max(axis=2) > 40).mean() > 0.5


def test_screenshots_keep_exactly_the_newest(tmp_path: Path) -> None:
    slide = make_slide(id="s", kind="text", title="Hello")
    with Screen(320, 180, headless=True, screenshot_dir=tmp_path, keep_screenshots=3) as screen:
        paint(screen.canvas, slide, no_images)
        paths = [screen.screenshot(f"shot{i}") for i in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths[2:] if p]
    assert [p.name for p in paths[2:] if p] == [
        "000000003-shot2.png",
        "000000004-shot3.png",
        "000000005-shot4.png",
    ]


def test_screenshot_names_are_sanitised_and_numbering_survives_a_restart(tmp_path: Path) -> None:
    for _ in range(2):
        with Screen(64, 64, headless=True, screenshot_dir=tmp_path) as screen:
            path = screen.screenshot("../../etc/passwd ü")
    assert path is not None
    assert path.parent == tmp_path
    assert path.name == "000000002-_.._etc_passwd__.png"


def test_no_screenshot_dir_means_no_screenshot() -> None:
    with Screen(64, 64, headless=True) as screen:
        assert screen.screenshot("x") is None


def test_an_unknown_driver_raises_display_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "no-such-driver")
    with pytest.raises(DisplayError, match="no-such-driver") as caught:
        Screen(640, 480, headless=True).__enter__()
    assert isinstance(caught.value.__cause__, pygame.error)
    assert not pygame.display.get_init()


def test_available_drivers_includes_dummy_and_restores_the_environment() -> None:
    assert "dummy" in available_drivers()
    assert os.environ["SDL_VIDEODRIVER"] == "dummy"


def test_the_fallback_playlist_parses_and_renders_with_its_images() -> None:
    slides = [
        parse_slide(obj) for obj in json.loads((CONTENT / "playlist.json").read_text())["playlist"]
    ]
    assert len(slides) >= 3
    assert {"text", "image"} <= {s.kind for s in slides}
    found = images_in(CONTENT / "images")
    wanted: list[str] = []

    def image_for(name: str) -> pygame.Surface | None:
        wanted.append(name)
        image = found(name)
        assert image is not None, f"{name} missing from signage_content/images"
        return image

    for slide in slides:
        for size in [(1920, 1080), (1080, 1920)]:
            surface = pygame.Surface(size)
            paint(surface, slide, image_for, badge="offline")
            assert colours(pygame.surfarray.array3d(surface)) > 2
    assert set(wanted) == {name for s in slides for name in s.assets()}


def test_the_badge_changes_the_corner() -> None:
    slide = make_slide(id="b", kind="text", title="Hi")
    plain, badged = pygame.Surface((800, 450)), pygame.Surface((800, 450))
    paint(plain, slide, no_images)
    paint(badged, slide, no_images, badge="offline")
    a, b = pygame.surfarray.array3d(plain), pygame.surfarray.array3d(badged)
    assert not np.array_equal(a[600:, :60], b[600:, :60])
    assert np.array_equal(a[:, 200:], b[:, 200:])


AWKWARD = [
    "",
    "word " * 3000,
    "x" * 600,
    "nul\x00 tab\t lone surrogate \ud800 emoji \U0001f600 日本語",
    "\n\n\nline\n\n",
]


@pytest.mark.parametrize("size", [(1, 1), (64, 48), (200, 900), (1920, 1080)])
@pytest.mark.parametrize("kind", ["text", "image", "coupon", "qr"])
def test_awkward_content_never_crashes(size: tuple[int, int], kind: SlideKind) -> None:
    """Even content past the contract's limits (built directly, not decoded) paints."""
    surface = pygame.Surface(size)
    for words in AWKWARD:
        slide = unchecked(
            id="a",
            kind=kind,
            title=words,
            body=words,
            code=words,
            image="missing.png",
            qr_url="https://x.example/" + "q" * 5000,
        )
        paint(surface, slide, no_images, badge=words or None)


def unchecked(kind: str, **fields: object) -> Slide:
    """A slide of `kind` built without the decoder's checks (only its kind's fields)."""
    cls = next(c for c in Slide.__args__ if c.__struct_config__.tag == kind)
    names = {f.name for f in msgspec.structs.fields(cls)}
    return cls(**{k: v for k, v in fields.items() if k in names})  # type: ignore[no-any-return]


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    slide=st.builds(
        make_slide,
        id=st.just("h"),
        kind=st.sampled_from(["text", "image", "coupon", "qr"]),
        title=st.text(max_size=120),
        body=st.text(max_size=400),
        code=st.text(max_size=40),
        qr_url=st.just(URL),
        image=st.just("x.png"),
    ),
    size=st.tuples(st.integers(1, 400), st.integers(1, 400)),
)
def test_any_text_at_any_size_paints(slide: Slide, size: tuple[int, int]) -> None:
    paint(pygame.Surface(size), slide, no_images, badge=slide.title or None)


@pytest.mark.parametrize("invisible", ["\xad", "\u200b", "\xad\u200b\xad"])
@pytest.mark.parametrize("size", [(1, 2), (960, 540)])
def test_text_with_no_width_paints_nothing_and_does_not_crash(
    invisible: str, size: tuple[int, int]
) -> None:
    """Found by the test above: a body of only a soft hyphen has no width, which pygame
    refuses to render."""
    surface = pygame.Surface(size)
    slide = make_slide(id="h", kind="text", title="", body=invisible)
    paint(surface, slide, no_images, badge=invisible)
    assert surface.get_at((0, 0)) == surface.get_at((size[0] - 1, size[1] - 1))


# -- fonts and Japanese --------------------------------------------------------------


def glyph(f: pygame.font.Font, ch: str) -> np.ndarray:
    return pygame.surfarray.array3d(f.render(ch, True, (255, 255, 255), (0, 0, 0)))


def test_the_shipped_font_is_a_small_japanese_subset_with_its_licence() -> None:
    fonts = CONTENT / "fonts"
    assert text.FONT_PATH.parent == fonts
    assert text.FONT_PATH.stat().st_size < 2_000_000
    assert (fonts / "OFL.txt").read_text().startswith("Copyright")
    assert "SIL Open Font License" in (fonts / "OFL.txt").read_text()


def test_japanese_renders_glyphs_not_boxes() -> None:
    f = text.font(120)
    tofu = glyph(f, "\ue000")  # a private-use code point: no font has it, .notdef is drawn
    chars = sorted(set("あなたにおすすめ 特別クーポン".replace(" ", "")))
    drawn = {ch: glyph(f, ch) for ch in chars}
    for ch, image in drawn.items():
        assert image.max() == 255, ch  # ink
        assert image.shape != tofu.shape or not np.array_equal(image, tofu), ch
    for a, b in itertools.combinations(chars, 2):
        assert not np.array_equal(drawn[a], drawn[b]), (a, b)


def test_a_japanese_slide_on_screen(tmp_path: Path) -> None:
    slide = make_slide(id="jp", kind="text", title="あなたにおすすめ 特別クーポン", body="本日限り")
    with Screen(1920, 1080, headless=True, screenshot_dir=tmp_path) as screen:
        shot = pixels(shoot(screen, slide))
    ink = np.abs(shot.astype(int) - (0x10, 0x18, 0x20)).max(axis=2) > 100
    rows = np.flatnonzero(ink.any(axis=1))
    assert 0.01 < ink.mean() < 0.3 and rows.size > 100


def test_japanese_wraps_between_characters_but_not_before_closing_marks() -> None:
    f = text.font(60)
    sentence = "本日限り、レジでこの画面をお見せください。会員様は全品オフ\uff01"
    width = f.size(sentence[:9])[0]
    lines = text.wrap(sentence, f, width)
    assert "".join(lines) == sentence
    assert all(f.size(line)[0] <= width for line in lines)
    assert not any(line[0] in text.NO_LINE_START for line in lines)


def test_phrases_between_spaces_stay_whole_when_that_costs_little() -> None:
    fitted = text.fit("あなたにおすすめ 特別クーポン", 700, 400, max_size=250, min_size=20)
    assert fitted.lines == ("あなたにおすすめ", "特別クーポン")


# -- pictures: fit and fill ----------------------------------------------------------


def striped(size: tuple[int, int]) -> pygame.Surface:
    """Left half red, right half blue, a white dot in the middle."""
    image = pygame.Surface(size)
    image.fill((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    image.fill((0, 0, 255), (size[0] // 2, 0, size[0] - size[0] // 2, size[1]))
    image.fill((255, 255, 255), pygame.Rect(0, 0, 10, 10).move(size[0] // 2 - 5, size[1] // 2 - 5))
    return image


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920)])
@pytest.mark.parametrize("fit", ["fit", "fill"])
def test_image_fit_and_fill(size: tuple[int, int], fit: str) -> None:
    slide = make_slide(id="p", kind="image", image="x", fit=fit, background="#00ff00")  # type: ignore[arg-type]
    surface = pygame.Surface(size)
    paint(surface, slide, lambda _name: striped((400, 400)))
    a = pygame.surfarray.array3d(surface)
    w, h = size
    assert tuple(a[w // 2, h // 2]) == (255, 255, 255)
    green = (a == (0, 255, 0)).all(axis=2).mean()
    if fit == "fill":
        assert green == 0
        assert tuple(a[2, h // 2]) == (255, 0, 0) and tuple(a[w - 3, h // 2]) == (0, 0, 255)
    else:  # a square letterboxed in the title-safe area: the background on every side
        assert 0.5 < green < 0.6
        assert tuple(a[2, h // 2]) == (0, 255, 0) and tuple(a[w // 2, 2]) == (0, 255, 0)


def test_fitted_rect_and_video_sizes() -> None:
    area = pygame.Rect(0, 0, 1920, 1080)
    assert painter.fitted_rect((640, 480), area, "fit") == pygame.Rect(240, 0, 1440, 1080)
    assert painter.fitted_rect((640, 480), area, "fill") == pygame.Rect(0, -180, 1920, 1440)
    assert video.scaled_size((1280, 720), (1920, 1080), "fit") == (1920, 1080)
    w, h = video.scaled_size((640, 480), (1080, 1920), "fit")
    assert w % video.ROW_ALIGN_PX == 0 and w <= 1080 and abs(w / h - 4 / 3) < 0.01
    w, h = video.scaled_size((640, 480), (1080, 1920), "fill")
    assert w % video.ROW_ALIGN_PX == 0 and w >= 1080 and h >= 1920


def test_a_body_is_never_set_larger_than_its_title() -> None:
    """The type scale holds when text is shrunk: a title squeezed to its four lines (and
    ellipsised) leaves its body no larger than its own lines."""
    title = "Fresh from the market, every morning, for every family on the street " * 4
    slide = make_slide(id="t", kind="text", title=title, body="Baked this morning.")
    surface = pygame.Surface((1080, 1920))
    done = paint(surface, slide, lambda _name: None)
    head, body = [rect for role, rect in done.placed if role == "text"]
    assert body.h <= head.h / 4 + 2, (head, body)
