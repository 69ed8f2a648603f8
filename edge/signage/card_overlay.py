"""The check-in card laid over the slides: on each scene as it is built, and on the canvas.

The slide's own pixels under the card are kept (`Scene.under`, and
`canvas_under()` for the canvas), so the card can be replaced or taken away
without repainting the slide; video frames that reach the corner update them
and get the card laid over them again. Render thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygame

from edge.signage.checkin_card import checkin_card, checkin_corner
from edge.signage.qr import Matrix
from edge.signage.scenes import Scene
from edge.signage.screen import Screen

CARDLESS_KINDS = frozenset({"qr"})
"""Slide kinds shown without the check-in card: their own big QR code is the call to
action, and a second code next to it would leave shoppers guessing which to scan.
(A coupon keeps the card: its QR code and picture are laid out clear of the corner.)"""


@dataclass(frozen=True, slots=True)
class Checkin:
    """What the card shows; `url` None: no card."""

    url: str | None
    label: str
    code: Matrix | None


def carries_card(scene: Scene) -> bool:
    return scene.slide.kind not in CARDLESS_KINDS


class CardOverlay:
    """The card (None: none), where it goes on `screen`'s canvas, and what lies under it.

    `on_canvas` says whether the picture on the canvas carries the card.
    """

    def __init__(self, screen: Screen) -> None:
        self._screen = screen
        self._checkin = Checkin(None, "", None)
        self.card: pygame.Surface | None = None
        self._corner: pygame.Rect | None = None  # where it goes, once the canvas is known
        self._shadow: pygame.Surface | None = None  # the canvas's pixels under it, without it
        self.on_canvas = False

    def corner(self) -> pygame.Rect:
        if self._corner is None:
            self._corner = checkin_corner(self._screen.canvas.get_size())
        return self._corner

    def canvas_under(self) -> pygame.Surface:
        """The canvas's own pixels in the corner, without the card."""
        if self._shadow is None:
            self._shadow = self._screen.canvas.subsurface(self.corner()).copy()
        return self._shadow

    def replace(self, checkin: Checkin) -> bool:
        """Make the card for `checkin`; False (and nothing done) if it shows what is shown."""
        old = self._checkin
        if checkin.url == old.url and (checkin.url is None or checkin.label == old.label):
            return False
        self._checkin = checkin
        self.card = (
            None
            if checkin.code is None
            else checkin_card(self._screen.canvas.get_size(), checkin.code, checkin.label)
        )
        return True

    def stamp(self, scene: Scene) -> None:
        """Lay the card on a freshly built scene that carries one."""
        if scene.surface is not None and self.card is not None and carries_card(scene):
            scene.surface.blit(self.card, self.corner())

    def relay(self, scenes: Sequence[Scene | None], *, canvas: bool) -> None:
        """Lay the current card (or none) on `scenes` not yet wholly on the canvas, and on
        the canvas itself if `canvas`."""
        for scene in scenes:
            if scene is not None and scene.surface is not None and scene.under is not None:
                self.lay(scene.surface, scene.under, carries_card(scene))
        if canvas:
            self.lay(self._screen.canvas, self.canvas_under(), self.on_canvas)

    def lay(self, target: pygame.Surface, under: pygame.Surface, card: bool) -> None:
        """The corner of `target` as the slide has it (`under`), with the card on it if `card`."""
        corner = self.corner()
        target.blit(under, corner)
        if card and self.card is not None:
            target.blit(self.card, corner)

    def keep(self, scene: Scene, picture: pygame.Surface, changed: pygame.Rect) -> None:
        """After a video frame: keep what it drew in the corner, and lay the card over it."""
        corner = self.corner()
        clip = changed.clip(corner)
        if not clip.w or not clip.h or scene.under is None:
            return
        inside = clip.move(-corner.x, -corner.y)
        scene.under.blit(picture, inside, area=clip)
        if picture is self._screen.canvas:
            self.canvas_under().blit(picture, inside, area=clip)
        if self.card is not None and carries_card(scene):
            picture.blit(self.card, clip, area=inside)
