"""Slides as docs/protocol.md defines them: one struct per kind, validated where they enter.

A slide is a tagged union on `kind`; each kind's struct says which fields it
needs and their limits, so the JSON Schemas in docs/schemas/ are generated from
these very types. Unknown fields are ignored; a kind this device does not know
is refused as `unknown_slide_kind` (the `capabilities` in `P/state` list the
kinds it shows). A slide that breaks its type's limits is refused as
`malformed` with the reason in plain words ("a recommendations slide needs 2
to 4 items; it has 1"). Whether its text can be drawn and its code fits the
screen is checked next, by `edge.content.legible`.
"""

from __future__ import annotations

import re
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
ItemImage = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        pattern=r"^[^./\\][^/\\]*$",
        description="in a manifest, a key of its `assets`; in a decision, the SHA-256 of an "
        "asset (already cached, or fetched on demand; drawn without it until it arrives)",
    ),
]
Text = Annotated[str, Meta(max_length=500)]
Url = Annotated[str, Meta(min_length=1, max_length=1024, description="what the QR code holds")]
Fit = Literal["fit", "fill"]
Layout = Literal["default", "sidebar"]
Stock = Literal["in_stock", "low", "sold_out"]
Price = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=24,
        description="the price as shown, currency included (¥1,280, $12.99); never shortened",
    ),
]
ProductName = Annotated[str, Meta(min_length=1, max_length=120)]
Label = Annotated[str, Meta(max_length=60)]

LAYOUTS: tuple[str, ...] = ("default", "sidebar")
STOCK_WORDS = {"in_stock": "In stock", "low": "Only a few left", "sold_out": "Sold out here"}
"""What a product's stock says unless the slide's `stock_label` says otherwise."""
STOCK_SHORT = {"in_stock": "In stock", "low": "Few left", "sold_out": "Sold out"}
"""The same on a recommendations tile, where room is short."""


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
    layout: Annotated[
        Layout | None,
        Meta(
            description="the screen's zones for this slide: `default` (the main zone, a "
            "bottom band while a ticker plays, the check-in card's corner) or `sidebar` (a "
            "side column holding the ticker and the card); null: the manifest's `layout`"
        ),
    ] = None
    min_impression_ms: Annotated[
        int,
        Meta(
            ge=0,
            le=3_600_000,
            description="an impression is recorded only if the slide was fully on screen "
            "(its transition done) at least this long",
        ),
    ] = 2000

    @property
    def kind(self) -> str:
        return str(type(self).__struct_config__.tag)

    def assets(self) -> tuple[str, ...]:
        """The asset names this slide shows (each must be in the manifest's `assets`)."""
        return ()

    def own_qr(self) -> str | None:
        """The QR code this slide shows itself, if any: the check-in card then steps aside,
        so shoppers never have two codes to choose from."""
        return None

    def texts(self) -> dict[str, str]:
        """Every text this slide draws, by field (for the font and fit checks)."""
        return {"title": self.title, "body": self.body}


class TextSlide(_Slide, frozen=True, tag="text"):
    """A title and a body on the slide's colours."""


class ImageSlide(_Slide, frozen=True, tag="image"):
    """A picture (letterboxed whole with `fit`, or filling the main zone with `fill`); the
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

    code: Annotated[
        str, Meta(max_length=64, description="shown whole, never shortened: it must fit")
    ] = ""
    qr_url: Url | None = None
    image: AssetName | None = None

    def assets(self) -> tuple[str, ...]:
        return (self.image,) if self.image else ()

    def own_qr(self) -> str | None:
        return self.qr_url

    def texts(self) -> dict[str, str]:
        return {**super().texts(), "code": self.code}


class QrSlide(_Slide, frozen=True, tag="qr"):
    """A big QR code (the slide's only call to action: no check-in card beside it)."""

    qr_url: Url

    def own_qr(self) -> str | None:
        return self.qr_url


class ProductSlide(_Slide, frozen=True, tag="product"):
    """One product: its name, price, picture and stock. Sold out here, it shows a QR code
    of `app_url` ("buy it in the app") instead of hiding the product."""

    name: ProductName
    price: Price
    image: AssetName | None = None
    stock: Stock = "in_stock"
    app_url: Annotated[
        Url | None, Meta(description="a deep link to the product in the store's app")
    ] = None
    stock_label: Annotated[Label, Meta(description="instead of In stock, Only a few left…")] = ""
    app_label: Annotated[Label, Meta(description='under the QR code; "Buy it in the app"')] = ""

    def assets(self) -> tuple[str, ...]:
        return (self.image,) if self.image else ()

    def own_qr(self) -> str | None:
        return self.app_url if self.stock == "sold_out" else None

    def texts(self) -> dict[str, str]:
        return {
            **super().texts(),
            "name": self.name,
            "price": self.price,
            "stock_label": self.stock_label,
            "app_label": self.app_label,
        }


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """One product of a recommendations slide."""

    name: Annotated[str, Meta(min_length=1, max_length=80)]
    price: Price
    image: ItemImage | None = None
    stock: Stock = "in_stock"


class RecommendationsSlide(_Slide, frozen=True, tag="recommendations"):
    """Two to four products in a row ("あなたにおすすめ", recommended for you), usually the
    answer to a decision; `title` heads the row."""

    items: Annotated[list[Item], Meta(min_length=2, max_length=4)]

    def assets(self) -> tuple[str, ...]:
        return tuple(item.image for item in self.items if item.image)

    def texts(self) -> dict[str, str]:
        found = super().texts()
        for n, item in enumerate(self.items):
            found[f"items[{n}].name"] = item.name
            found[f"items[{n}].price"] = item.price
        return found


class TickerSlide(_Slide, frozen=True, tag="ticker"):
    """Short store messages for the bottom band (or the sidebar): a ticker takes no turn of
    its own, its messages run beside the other slides of the playlist, one per slide."""

    messages: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=140)]],
        Meta(min_length=1, max_length=12),
    ]

    def texts(self) -> dict[str, str]:
        return {
            **super().texts(),
            **{f"messages[{n}]": m for n, m in enumerate(self.messages)},
        }


Slide = (
    TextSlide
    | ImageSlide
    | VideoSlide
    | CouponSlide
    | QrSlide
    | ProductSlide
    | RecommendationsSlide
    | TickerSlide
)
"""One thing on screen for `duration_ms` (a ticker: beside the others)."""

SlideKind = Literal[
    "text", "image", "coupon", "qr", "video", "product", "recommendations", "ticker"
]
KINDS: tuple[str, ...] = tuple(s.__struct_config__.tag for s in Slide.__args__)


def make_slide(**fields: Any) -> Slide:
    """A slide from keyword fields (`kind` chooses the struct), validated as if decoded."""
    return parse_slide(fields)


def parse_slide(obj: Any) -> Slide:
    """A Slide from decoded JSON, or ContentRejected saying what is wrong in plain words."""
    if isinstance(obj, dict) and isinstance(obj.get("kind"), str) and obj["kind"] not in KINDS:
        raise ContentRejected(
            "unknown_slide_kind",
            f"slide {obj.get('id')!r} has kind {obj['kind']!r}; "
            f"this device shows {', '.join(KINDS)}",
        )
    try:
        return msgspec.convert(obj, Slide)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, ValueError) as exc:
        who = f"slide {obj.get('id')!r}" if isinstance(obj, dict) and obj.get("id") else "a slide"
        kind = obj.get("kind") if isinstance(obj, dict) else None
        what = f"{who} ({kind})" if isinstance(kind, str) else who
        raise ContentRejected("malformed", f"{what}: {in_words(exc, kind)}") from exc


# -- msgspec's messages in plain words -----------------------------------------------

_MESSAGE = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_ALLOWED = {
    "stock": "in_stock, low or sold_out",
    "fit": "fit or fill",
    "transition": "cut or crossfade",
    "layout": "default or sidebar",
}
_COUNTS = {"items": ("item", "items"), "messages": ("message", "messages")}


def in_words(exc: Exception, kind: object = None) -> str:
    """A msgspec validation error about a slide, said the way a content editor would."""
    found = _MESSAGE.match(str(exc))
    if found is None:  # pragma: no cover - the pattern matches any text
        return plain(exc)
    what, path = found["what"], (found["path"] or "").lstrip(".")
    name = path or "the slide"
    field = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if m := re.fullmatch(r"Object missing required field `(\w+)`", what):
        where = f"{path}." if path else ""
        article = "an" if str(kind)[:1] in "aeiou" else "a"
        owner = f"{article} {kind} slide" if isinstance(kind, str) and not path else "it"
        return f"{owner} needs `{where}{m[1]}`"
    if m := re.fullmatch(r"Expected `array` of length ([<>]=) (\d+)", what):
        one, many = _COUNTS.get(field, ("entry", "entries"))
        if isinstance(kind, str) and field == "items":
            return f"a {kind} slide needs 2 to 4 {many}"
        bound = "at least" if m[1] == ">=" else "at most"
        owner = f"a {kind} slide" if isinstance(kind, str) and field in _COUNTS else name
        verb = "needs" if m[1] == ">=" else "holds"
        return f"{owner} {verb} {bound} {m[2]} {one if m[2] == '1' else many}"
    if m := re.fullmatch(r"Expected `str` of length ([<>]=) (\d+)", what):
        if m[1] == ">=" and m[2] == "1":
            return f"{name} is empty"
        longer = "longer" if m[1] == "<=" else "shorter"
        return f"{name} is {longer} than {'the ' if m[1] == '<=' else ''}{m[2]} characters allowed"
    if m := re.fullmatch(r"Invalid enum value (.*)", what):
        allowed = _ALLOWED.get(field)
        return f"{name} is {m[1]}" + (f"; it can be {allowed}" if allowed else "; not allowed")
    if what.startswith("Expected `str` matching regex"):
        if field in ("background", "foreground", "accent"):
            return f"{name} is not a colour written #rrggbb"
        return f"{name} is not a plain asset name (no '/', '\\', or leading '.')"
    if m := re.fullmatch(r"Expected `int` ([<>]=) (-?\d+)", what):
        bound = "at least" if m[1] == ">=" else "at most"
        return f"{name} must be {bound} {m[2]}"
    if m := re.fullmatch(r"Expected `(\w+)`(?: \| `\w+`)*, got `(\w+)`", what):
        return f"{name} should be {_TYPE_WORDS.get(m[1], m[1])}, not {_TYPE_WORDS.get(m[2], m[2])}"
    return plain(exc)


_TYPE_WORDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "array": "a list",
    "object": "an object",
    "null": "null",
    "bool": "true or false",
}
