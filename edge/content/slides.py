"""Slides as docs/protocol.md defines them, validated where they enter."""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from edge.errors import ContentRejected

SlideKind = Literal["text", "image", "coupon", "qr", "video"]
KINDS = ("text", "image", "coupon", "qr", "video")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")  # what pygame.Color reads when painting


class Slide(msgspec.Struct, frozen=True, kw_only=True):
    """One thing on screen for `duration_ms`. Unknown fields are ignored.

    `image` names an asset (a key of the manifest's `assets`, or a file of the
    default content folder), never a path.
    """

    id: str
    kind: SlideKind
    duration_ms: int = 8000
    title: str = ""
    body: str = ""
    code: str = ""
    qr_url: str | None = None
    image: str | None = None
    video: str | None = None  # an asset name, like image
    fit: Literal["fit", "fill"] = "fit"  # image/video: letterbox whole, or fill and crop
    transition: Literal["cut", "crossfade"] = "crossfade"  # how this slide comes on screen
    background: str = "#101820"
    foreground: str = "#f5f5f0"
    accent: str = "#f2aa4c"

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("slide id is empty")
        if not 500 <= self.duration_ms <= 3_600_000:
            raise ValueError(f"duration_ms {self.duration_ms} outside 500..3600000")
        if self.kind == "image" and not self.image:
            raise ValueError("image slide without image")
        if self.kind == "video" and not self.video:
            raise ValueError("video slide without video")
        if self.kind == "qr" and not self.qr_url:
            raise ValueError("qr slide without qr_url")
        for name in ("background", "foreground", "accent"):
            value = getattr(self, name)
            if not _COLOUR.fullmatch(value):  # int(x, 16) would let " f2aa4" and "1_234" by
                raise ValueError(f"{name} {value!r} is not #rrggbb")


def parse_slide(obj: Any) -> Slide:
    """A Slide from decoded JSON, or ContentRejected saying what is wrong."""
    if isinstance(obj, dict) and isinstance(obj.get("kind"), str) and obj["kind"] not in KINDS:
        raise ContentRejected(
            "unknown_slide_kind",
            f"slide {obj.get('id')!r} has kind {obj['kind']!r}; "
            f"this device shows {', '.join(KINDS)}",
        )
    try:
        return msgspec.convert(obj, Slide)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ContentRejected("malformed", f"bad slide: {exc}") from exc
