"""What one slide looks like on its way to the screen: a painted picture, maybe a video in it.

A scene is built off-screen (so the next slide is ready before the current one
ends), faded or cut in by the Stage, then `settle`d: from then on the canvas
holds its picture and the scene only draws what changes (video frames) there.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygame

from edge.content.slides import Slide, TickerSlide, VideoSlide
from edge.signage.painter import paint, picture_area, placeholder
from edge.signage.video import VideoFeed

Resolve = Callable[[str], Path | None]
"""Maps an asset name to its file, or None when there is no such asset."""


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything a scene's picture depends on besides its assets."""

    slide: Slide
    ticker: TickerSlide | None = None  # whose message runs in the band
    message: int = 0  # which one
    layout: str | None = None  # the playlist's layout, for slides that name none
    zone: tuple[int, int, int, int] | None = None  # the check-in card's zone, kept clear

    @property
    def keep_clear(self) -> pygame.Rect | None:
        return None if self.zone is None else pygame.Rect(self.zone)


class Images:
    """A small LRU of loaded images keyed by path, bounded in bytes of pixels and in entries.

    A file that cannot be loaded is remembered as missing (until `clear`), so a broken
    asset costs one attempt and one `on_error(file name, reason)`, not one per slide.
    """

    def __init__(
        self,
        max_bytes: int = 16 << 20,
        on_error: Callable[[str, str], None] = lambda _name, _why: None,
        max_items: int = 32,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._cache: OrderedDict[Path, pygame.Surface | None] = OrderedDict()
        self._bytes = 0
        self._on_error = on_error

    def get(self, path: Path | None) -> pygame.Surface | None:
        if path is None:
            return None
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        try:
            image = _display_format(pygame.image.load(str(path)))
        except (pygame.error, OSError) as exc:
            self._on_error(path.name, str(exc))
            image = None
        size = _bytes(image)
        if size <= self.max_bytes:
            self._cache[path] = image
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._cache) > self.max_items:
                _, old = self._cache.popitem(last=False)
                self._bytes -= _bytes(old)
        return image

    def clear(self) -> None:
        self._cache.clear()
        self._bytes = 0


def _display_format(image: pygame.Surface) -> pygame.Surface:
    """`image` in the display's pixel format (alpha kept), so it scales and blits fast."""
    if pygame.display.get_surface() is None:
        return image
    return image.convert_alpha() if image.get_alpha() is not None else image.convert()


def _bytes(image: pygame.Surface | None) -> int:
    return 0 if image is None else image.get_width() * image.get_height() * image.get_bytesize()


class Scene:
    """A static slide: painted once; nothing changes until the next slide.

    The layout keeps the check-in card's zone (`spec.zone`) clear of content;
    `corner` is where the Stage lays its card, and `under` keeps the slide's own
    pixels there, so the card can be changed or taken away without painting again.
    """

    def __init__(
        self,
        spec: Spec | Slide,
        size: tuple[int, int],
        resolve: Resolve,
        images: Images,
        corner: pygame.Rect | None = None,
    ):
        spec = spec if isinstance(spec, Spec) else Spec(spec)
        self.spec = spec
        self.slide = spec.slide
        self.resolve = resolve
        self.surface: pygame.Surface | None = _blank(size)
        paint(
            self.surface,
            spec.slide,
            lambda name: images.get(resolve(name)),
            keep_clear=spec.keep_clear,
            ticker=spec.ticker,
            turn=spec.message,
            layout=spec.layout,
        )
        self.corner = corner
        self.under = None if corner is None else self.surface.subsurface(corner).copy()

    @property
    def moving(self) -> bool:
        """True if the picture changes by itself (a video)."""
        return False

    def ready(self) -> bool:
        """True once the first picture is known (a video's first frame, or its failure)."""
        return True

    def begin(self, now: float) -> None:
        """The slide's clock starts: its first frame is being presented (called once)."""

    def draw(self, now: float, target: pygame.Surface) -> pygame.Rect | None:
        """Draw what changed by `now` onto `target`; the changed rectangle, or None."""
        return None

    def next_change(self) -> float:
        """Monotonic time the picture next changes by itself (inf: never)."""
        return math.inf

    def settle(self) -> None:
        """The canvas now shows this scene: the off-screen copy is no longer needed."""
        self.surface = None

    def close(self) -> None:
        self.surface = None


class VideoScene(Scene):
    """A video slide: the painted slide (background, caption) with decoded frames on it."""

    def __init__(
        self,
        spec: Spec | Slide,
        size: tuple[int, int],
        resolve: Resolve,
        images: Images,
        *,
        on_error: Callable[[str, str], None],
        poll_s: float,
        corner: pygame.Rect | None = None,
    ) -> None:
        super().__init__(spec, size, resolve, images, corner)
        slide = self.slide
        self.area = picture_area(
            size,
            slide,
            card=self.spec.keep_clear,
            ticker=self.spec.ticker,
            layout=self.spec.layout,
        )
        self._poll_s = poll_s
        self._placeholder_drawn = False
        self._shown_any = False
        name = slide.video if isinstance(slide, VideoSlide) else ""
        self.feed = VideoFeed(  # loops until closed: a personal slide may outlast duration_ms
            resolve(name) if name else None,
            self.area.size,
            slide.fit if isinstance(slide, VideoSlide) else "fit",
            length_s=math.inf,
            on_error=lambda message: on_error(name, message),
        )

    @property
    def moving(self) -> bool:
        return not self._placeholder_drawn

    def ready(self) -> bool:
        return self.feed.primed

    def begin(self, now: float) -> None:
        self.feed.start(now)

    def draw(self, now: float, target: pygame.Surface) -> pygame.Rect | None:
        frame = self.feed.take(now)
        if frame is not None:
            picture = pygame.image.frombuffer(frame.pixels, frame.size, "RGB")
            where = picture.get_rect(center=self.area.center)
            target.blit(picture, self.area, area=self.area.move(-where.x, -where.y))
            self._shown_any = True
            return self.area.copy()
        if self.feed.error is not None and not self._shown_any and not self._placeholder_drawn:
            placeholder(target, self.area, self.slide)
            self._placeholder_drawn = True
            return self.area.copy()
        return None

    def next_change(self) -> float:
        if self._placeholder_drawn or self.feed.finished:
            return math.inf
        due = self.feed.next_due()
        if due is None:  # the decoder is behind or still starting: look again soon
            return time.monotonic() + self._poll_s
        return due

    def settle(self) -> None:
        self.surface = None  # frames now go straight to the canvas

    def close(self) -> None:
        self.feed.close()  # returns at once: the decoder stops after its current frame
        self.surface = None


def _blank(size: tuple[int, int]) -> pygame.Surface:
    """An off-screen surface in the display's pixel format (fast to blit and blend)."""
    surface = pygame.Surface(size)
    return surface.convert() if pygame.display.get_surface() is not None else surface
