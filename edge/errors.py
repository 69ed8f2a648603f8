"""One family of exceptions, each carrying what a user needs to act on it."""

from __future__ import annotations


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
    """Content (a slide, manifest or asset) cannot be shown."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
