"""Config keys declared on typed sections: each field says its default and what is allowed.

A section is a frozen dataclass whose fields are made with `key(...)`; the
loader reads the type from the annotation, the default, the words that tell a
user what is allowed, and an optional check. So the section class is the one
place a key is defined: mypy sees every use (`cfg.mqtt.port: int`), and the
error for a bad value names the key, the value and the allowed words.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.errors import ConfigError

Check = Callable[[Any], bool]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_WORDS = "a duration: a number and s, m, h or d (90s, 2m, 12h, 30d)"


def duration_s(text: str) -> float:
    """Seconds in a duration such as `30d`, `12h`, `2m`, `90s` or `0.5s`; ValueError else."""
    value, unit = text.strip()[:-1], text.strip()[-1:]
    if unit not in _UNITS or not value or not value.replace(".", "", 1).isdigit():
        raise ValueError(f"{text!r} is not {DURATION_WORDS}")
    return float(value) * _UNITS[unit]


def positive_duration(text: str) -> bool:
    """A config check: a duration above zero."""
    return duration_s(text) > 0


@dataclass(frozen=True, slots=True)
class Key:
    """One config key: its type, default, a check and the words that say what is allowed."""

    type: type
    default: Any
    allowed: str
    check: Check | None = None


def key(default: Any, allowed: str, check: Check | None = None, *, secret: bool = False) -> Any:
    """A section field: `port: int = key(1883, "an integer 1-65535", lambda v: 0 < v < 65536)`.

    `secret`: left out of the section's repr, so it never reaches a log line.
    """
    meta = {"allowed": allowed, "check": check}
    repr_ = not secret
    if isinstance(default, dict):  # read-only; a fresh one each time (dataclass rule)
        table = dict(default)
        return dataclasses.field(
            default_factory=lambda: types.MappingProxyType(table), metadata=meta, repr=repr_
        )
    if isinstance(default, list):
        return dataclasses.field(default=tuple(default), metadata=meta, repr=repr_)
    return dataclasses.field(default=default, metadata=meta, repr=repr_)


@functools.cache
def hints_of(section: type) -> dict[str, Any]:
    """A section's field types, evaluated once: get_type_hints parses every annotation."""
    return typing.get_type_hints(section)


@functools.cache
def keys_of(section: type) -> Mapping[str, Key]:
    """The keys of a section class, in declaration order (flattened sub-sections included)."""
    hints = hints_of(section)
    out: dict[str, Key] = {}
    for f in dataclasses.fields(section):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out.update(keys_of(kind))  # type: ignore[arg-type]
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        out[f.name] = Key(_base(kind), _plain(default), f.metadata["allowed"], f.metadata["check"])
    return out


def _base(kind: Any) -> type:
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return type(typing.get_args(kind)[0])
    if origin is tuple:
        return list
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return dict
    return kind if isinstance(kind, type) else object


def _plain(default: Any) -> Any:
    """A default as TOML would give it (for the example-config check)."""
    if isinstance(default, tuple):
        return list(default)
    if isinstance(default, Mapping):
        return dict(default)
    return default


def build(section: type, table: Mapping[str, Any], name: str) -> Any:
    """An instance of `section` from a TOML table (missing keys take their defaults).

    Raises ConfigError for a value of the wrong type or one its check refuses.
    Unknown keys are the caller's business (warnings).
    """
    hints = hints_of(section)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            values[f.name] = _build_flat(kind, table, name)  # type: ignore[arg-type]
        elif f.name in table:
            values[f.name] = _checked(f"{name}.{f.name}", keys_of(section)[f.name], table[f.name])
    return section(**values)


def _build_flat(sub: type, table: Mapping[str, Any], name: str) -> Any:
    """A sub-section whose keys sit in the same table (e.g. the tracker's in [presence])."""
    keys = keys_of(sub)
    values = {k: _checked(f"{name}.{k}", keys[k], table[k]) for k in keys if k in table}
    return sub(**values)


def _checked(name: str, spec: Key, value: Any) -> Any:
    kind = spec.type
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(name, value, spec.allowed)
    if kind is float:
        if not isinstance(value, int | float):
            raise ConfigError(name, value, spec.allowed)
    elif not isinstance(value, kind):
        raise ConfigError(name, value, spec.allowed)
    if spec.check is not None:
        try:
            ok = spec.check(value)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(name, value, spec.allowed)
    if kind is float:
        return float(value)
    if kind is list:
        return tuple(value)
    if kind is dict:
        return types.MappingProxyType(dict(value))
    return value


def as_table(section: Any) -> dict[str, Any]:
    """A section instance back as a plain TOML-like table (flattened, lists and dicts plain)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            out.update(as_table(value))
        else:
            out[f.name] = _plain(value)
    return out
