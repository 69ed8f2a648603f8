"""Slides as docs/protocol.md defines them: one struct per kind, validated where they enter.

A slide is a tagged union on `kind`; each kind's struct says which fields it
needs and their limits, so the JSON Schemas in docs/schemas/ are generated from
these very types. Unknown fields are ignored; a kind this device does not know
is refused as `unknown_slide_kind` (the `capabilities` in `P/state` list the
kinds it shows).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from edge.errors import ContentRejected, plain

Colour = Annotated[
    str, Meta(pattern="^#[0-9a-fA-F]{6}$", description="#rrggbb (what the painter reads)")
]
AssetName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        pattern=r"^[^./\\][^/\\]*$",
        description="a key of the manifest's `assets` (a name, never a path)",
    ),
]
Text = Annotated[str, Meta(max_length=500)]
Url = Annotated[str, Meta(min_length=1, max_length=1024, description="what the QR code holds")]
Fit = Literal["fit", "fill"]


class _Slide(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """What every kind has: an id, how long it stays, how it comes on, its colours."""

    id: Annotated[str, Meta(min_length=1, max_length=128)]
    duration_ms: Annotated[int, Meta(ge=500, le=3_600_000)] = 8000
    transition: Literal["cut", "crossfade"] = "crossfade"
    title: Text = ""
    body: Annotated[str, Meta(max_length=2000)] = ""
    background: Colour = "#101820"
    foreground: Colour = "#f5f5f0"
    accent: Colour = "#f2aa4c"

    @property
    def kind(self) -> str:
        return str(type(self).__struct_config__.tag)

    def assets(self) -> tuple[str, ...]:
        """The asset names this slide shows (each must be in the manifest's `assets`)."""
        return ()


class TextSlide(_Slide, frozen=True, tag="text"):
    """A title and a body on the slide's colours."""


class ImageSlide(_Slide, frozen=True, tag="image"):
    """A picture (letterboxed whole with `fit`, or filling the screen with `fill`); the
    title, if any, is its caption."""

    image: AssetName
    fit: Fit = "fit"

    def assets(self) -> tuple[str, ...]:
        return (self.image,)


class VideoSlide(_Slide, frozen=True, tag="video"):
    """A video asset, played for `duration_ms` (looped if shorter)."""

    video: AssetName
    fit: Fit = "fit"

    def assets(self) -> tuple[str, ...]:
        return (self.video,)


class CouponSlide(_Slide, frozen=True, tag="coupon"):
    """An offer: title, body, a code to show at the till, optionally its QR code and a
    picture."""

    code: Annotated[str, Meta(max_length=64)] = ""
    qr_url: Url | None = None
    image: AssetName | None = None

    def assets(self) -> tuple[str, ...]:
        return (self.image,) if self.image else ()


class QrSlide(_Slide, frozen=True, tag="qr"):
    """A big QR code (the slide's only call to action: no check-in card beside it)."""

    qr_url: Url


Slide = TextSlide | ImageSlide | VideoSlide | CouponSlide | QrSlide
"""One thing on screen for `duration_ms`."""

SlideKind = Literal["text", "image", "coupon", "qr", "video"]
KINDS: tuple[str, ...] = tuple(s.__struct_config__.tag for s in Slide.__args__)


def make_slide(**fields: Any) -> Slide:
    """A slide from keyword fields (`kind` chooses the struct), validated as if decoded."""
    return parse_slide(fields)


def parse_slide(obj: Any) -> Slide:
    """A Slide from decoded JSON, or ContentRejected saying what is wrong."""
    if isinstance(obj, dict) and isinstance(obj.get("kind"), str) and obj["kind"] not in KINDS:
        raise ContentRejected(
            "unknown_slide_kind",
            f"slide {obj.get('id')!r} has kind {obj['kind']!r}; "
            f"this device shows {', '.join(KINDS)}",
        )
    try:
        return msgspec.convert(obj, Slide)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, ValueError) as exc:
        raise ContentRejected("malformed", f"bad slide: {plain(exc)}") from exc
