"""The check-in card laid over the slides: on each scene as it is built, and on the canvas.

The card has a zone of its own that layouts keep clear (`zone()`); scenes are
painted with it reserved while a card is shown. The slide's own pixels under the
card are kept (`Scene.under`, and `canvas_under()` for the canvas), so the card
can be replaced or taken away without repainting the slide; video frames that
reach the corner update them and get the card laid over them again. A slide with
a QR code of its own goes without the card (`carries_card`). Render thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygame

from edge.signage import painter
from edge.signage.checkin_card import REFERENCE_MODULES, card_geometry, checkin_card
from edge.signage.qr import Matrix
from edge.signage.scenes import Scene
from edge.signage.screen import Screen

CARDLESS_KINDS = frozenset({"qr"})
"""Slide kinds always shown without the check-in card: their own big QR code is the call
to action. A coupon with `qr_url` and a sold-out product with `app_url` go without it
too (`painter.carries_card`): one QR code on screen at a time."""


@dataclass(frozen=True, slots=True)
class Checkin:
    """What the card shows; `url` None: no card."""

    url: str | None
    label: str
    code: Matrix | None


def carries_card(scene: Scene) -> bool:
    """Whether `scene` shows the card: painted with the card's zone kept clear, and no QR
    code of its own."""
    return scene.spec.zone is not None and painter.carries_card(scene.slide)


class CardOverlay:
    """The card (None: none), where it goes on `screen`'s canvas, and what lies under it.

    `on_canvas` says whether the picture on the canvas carries the card.
    """

    def __init__(self, screen: Screen) -> None:
        self._screen = screen
        self._checkin = Checkin(None, "", None)
        self.card: pygame.Surface | None = None
        self._modules = REFERENCE_MODULES
        self._corner: pygame.Rect | None = None  # where it goes, once the canvas is known
        self._zone: pygame.Rect | None = None
        self._shadow: pygame.Surface | None = None  # the canvas's pixels under it, without it
        self.on_canvas = False

    def _geometry(self) -> None:
        geo = card_geometry(self._screen.canvas.get_size(), self._modules)
        canvas = self._screen.canvas.get_rect()
        self._corner, self._zone = geo.card.clip(canvas), geo.zone

    def corner(self) -> pygame.Rect:
        """Where the card itself goes."""
        if self._corner is None:
            self._geometry()
        assert self._corner is not None
        return self._corner

    def zone(self) -> tuple[int, int, int, int] | None:
        """The card's zone, kept clear by every layout, while a card is shown; else None."""
        if self.card is None:
            return None
        if self._zone is None:
            self._geometry()
        assert self._zone is not None
        return (self._zone.x, self._zone.y, self._zone.w, self._zone.h)

    def canvas_under(self) -> pygame.Surface:
        """The canvas's own pixels in the corner, without the card."""
        if self._shadow is None:
            self._shadow = self._screen.canvas.subsurface(self.corner()).copy()
        return self._shadow

    def replace(self, checkin: Checkin) -> tuple[bool, bool]:
        """Make the card for `checkin`: (changed at all, its zone changed). Nothing is done
        if it shows what is shown; a new zone (a card appears or goes, or a code of another
        size) means the slides must be painted again."""
        old = self._checkin
        if checkin.url == old.url and (checkin.url is None or checkin.label == old.label):
            return False, False
        before = self.zone()
        self._checkin = checkin
        modules = REFERENCE_MODULES if checkin.code is None else len(checkin.code)
        if max(modules, REFERENCE_MODULES) != max(self._modules, REFERENCE_MODULES):
            self._modules = modules
            self._corner = self._zone = self._shadow = None
        self.card = (
            None
            if checkin.code is None
            else checkin_card(self._screen.canvas.get_size(), checkin.code, checkin.label)
        )
        return True, self.zone() != before

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
