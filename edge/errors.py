"""One family of exceptions, each carrying what a user needs to act on it."""

from __future__ import annotations

import re

_MISSING = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$\.?([^`]*)`)?")
_AT = re.compile(r" - at `\$\.?([^`]*)`")


def plain(exc: Exception) -> str:
    """A msgspec validation message with JSON paths as dotted names (`args.visitor`)."""
    text = str(exc)
    found = _MISSING.fullmatch(text)
    if found:
        field, where = found.group(1), found.group(2)
        return f"missing field {where + '.' if where else ''}{field}"
    return _AT.sub(lambda m: f" (at {m.group(1) or 'the top'})", text)


class EdgeError(Exception):
    """Root of every error omo-edge raises on purpose."""


class ConfigError(EdgeError):
    """A config value is present but not allowed; names the key, the value and what is."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"config key {key!r} has value {value!r}; allowed: {allowed}")


class ConfigFileError(EdgeError):
    """The config file cannot be read or parsed at all."""


class TraceLineError(EdgeError):
    """One line of an advertisement trace is malformed."""

    def __init__(self, line_no: int, reason: str) -> None:
        self.line_no = line_no
        self.reason = reason
        super().__init__(f"line {line_no}: {reason}")


class PayloadRejected(EdgeError):
    """An MQTT payload from the central platform does not match the contract."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"rejected payload on {topic}: {reason}")


class ContentRejected(EdgeError):
    """Content (a slide, manifest or asset) cannot be shown.

    `reason` is a stable code for the `content.rejected` event (see
    edge/content/reasons.py); `detail` says in words what was wrong.
    """

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        manifest_version: int | None = None,
        sha256: str | None = None,
        scope: str | None = None,
    ) -> None:
        self.reason = reason
        self.detail = detail or reason
        self.manifest_version = manifest_version
        self.sha256 = sha256
        self.scope = scope  # "store" or "device": whose manifest it was, where known
        super().__init__(f"{reason}: {detail}" if detail else reason)
