"""The Stage's scenes: the one on screen and the one painted ahead for the next slide.

Painting the next slide before the current one ends keeps cuts and fades on
time; a prepared scene is used only while it is still right (the same slide
and assets, no reload since). Render thread only, except `video_counters`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.signage.card_overlay import CardOverlay
from edge.signage.scenes import Images, Resolve, Scene, Spec, VideoScene
from edge.signage.screen import Screen


@dataclass(slots=True)
class Prepared:
    """The slide expected next, painted (or known to need no painting) ahead of time."""

    spec: Spec
    resolve: Resolve
    generation: int
    scene: Scene | None  # None: it is the slide on screen again, a still picture


class SceneDeck:
    """Builds scenes for `screen` (with the check-in card of `overlay` laid in) and
    keeps `current` and `prepared`; `on_video_error(name, why)` hears of unplayable videos."""

    def __init__(
        self,
        screen: Screen,
        images: Images,
        overlay: CardOverlay,
        *,
        frame_s: float,
        on_video_error: Callable[[str, str], None],
    ) -> None:
        self._screen = screen
        self._images = images
        self._overlay = overlay
        self._frame_s = frame_s
        self._on_video_error = on_video_error
        self.current: Scene | None = None
        self.prepared: Prepared | None = None
        self._generation = 0  # bumped by a reload: older prepared scenes are stale
        self._video_totals = {"decoded": 0, "dropped": 0}  # of closed video scenes

    def build(self, spec: Spec, resolve: Resolve) -> Scene:
        size = self._screen.canvas.get_size()
        corner = self._overlay.corner()
        scene: Scene
        if spec.slide.kind == "video":
            scene = VideoScene(
                spec,
                size,
                resolve,
                self._images,
                on_error=self._on_video_error,
                poll_s=self._frame_s / 2,
                corner=corner,
            )
        else:
            scene = Scene(spec, size, resolve, self._images, corner)
        self._overlay.stamp(scene)
        return scene

    def enter(self, spec: Spec, resolve: Resolve) -> bool:
        """Make `spec` current: the prepared scene if it fits, else a new one.

        False, and nothing changed, when it is the same still picture again.
        """
        prepared, self.prepared = self.prepared, None
        old = self.current
        matches = (
            prepared is not None
            and prepared.spec == spec
            and prepared.resolve is resolve
            and prepared.generation == self._generation
        )
        if matches and prepared is not None and prepared.scene is None and old is not None:
            return False
        if prepared is not None and prepared.scene is not None and not matches:
            prepared.scene.close()
        scene = prepared.scene if matches and prepared is not None else None
        if scene is None:
            scene = self.build(spec, resolve)
        if old is not None:
            self._retire(old)
        self.current = scene
        return True

    def prepare(self, spec: Spec, resolve: Resolve) -> None:
        """Paint `spec`, expected next, unless it is the current still picture again."""
        scene = self.current
        still = (
            scene is not None
            and spec == scene.spec
            and resolve is scene.resolve
            and not scene.moving
        )
        self.prepared = Prepared(
            spec, resolve, self._generation, None if still else self.build(spec, resolve)
        )

    def drop_prepared(self) -> None:
        if self.prepared is not None and self.prepared.scene is not None:
            self.prepared.scene.close()
        self.prepared = None

    def reload(self, showing: tuple[Spec, Resolve] | None, *, images: bool = True) -> bool:
        """Forget loaded images and prepared work; repaint the current scene as `showing`.

        True if the current scene was replaced. `images=False` keeps the loaded images
        (a repaint for a new check-in card zone, not a reload).
        """
        if images:
            self._images.clear()
        self._generation += 1
        self.drop_prepared()
        if showing is None or self.current is None:
            return False
        self._retire(self.current)
        self.current = self.build(*showing)
        return True

    def pending(self) -> list[Scene | None]:
        """Scenes whose pictures are not (or not yet wholly) on the canvas."""
        return [self.current, self.prepared.scene if self.prepared else None]

    def video_counters(self) -> dict[str, int]:
        """Video frames decoded and dropped (decoded too late to show) since the start."""
        counts = dict(self._video_totals)
        scene = self.current
        if isinstance(scene, VideoScene):
            counts["decoded"] += scene.feed.decoded
            counts["dropped"] += scene.feed.dropped
        return counts

    def close(self) -> None:
        """Close both scenes and wait (briefly) for their video decoders to end."""
        scenes = self.pending()
        for scene in scenes:
            if scene is not None:
                scene.close()
        for scene in scenes:
            if isinstance(scene, VideoScene):
                scene.feed.join(timeout=2)
        self.current = self.prepared = None

    def _retire(self, scene: Scene) -> None:
        """Close the scene that was on screen, keeping its video counters."""
        scene.close()
        if isinstance(scene, VideoScene):
            self._video_totals["decoded"] += scene.feed.decoded
            self._video_totals["dropped"] += scene.feed.dropped
