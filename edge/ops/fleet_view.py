"""What the devices' retained `P/state` say, read for `fleet status` and `content publish`.

Pure: states in (decoded with the device's own `State` struct), rows, outcomes and
refusals out, `now_ms` passed in. The retained state is the one source: it carries
what each device plays per scope (`content.{scope}.live`), what it last refused
(`content.{scope}.rejected`) and a summary of its latest health report, so no tool
ever has to consume `P/events`, which central's ingest acknowledges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.errors import EdgeError
from edge.link.schemas import State, parse
from edge.link.schemas.common import Scope

EXPIRY_WARNING_MS = 3 * 24 * 3600 * 1000
"""Warn this long before a live manifest expires: expired content leaves the screen."""


@dataclass(frozen=True, slots=True, order=True)
class DeviceId:
    store_id: str
    device_id: str

    def __str__(self) -> str:
        return f"{self.store_id}/{self.device_id}"


@dataclass(frozen=True, slots=True)
class Seen:
    """One device's retained state: decoded, or why it could not be."""

    who: DeviceId
    state: State | None
    problem: str | None = None


def state_topic(prefix: str, store_id: str | None, device_id: str | None = None) -> str:
    """`P/state` of one device, every device of a store, or every device (wildcards)."""
    return f"{prefix}/{store_id or '+'}/{device_id or '+'}/state"


def who(prefix: str, topic: str) -> DeviceId | None:
    """The device whose `P/state` `topic` is, or None for any other topic."""
    parts = topic.removeprefix(f"{prefix}/").split("/")
    if not topic.startswith(f"{prefix}/") or len(parts) != 3 or parts[2] != "state":
        return None
    if parts[1] == "_store":
        return None
    return DeviceId(parts[0], parts[1])


def seen(prefix: str, topic: str, payload: bytes) -> Seen | None:
    """A `P/state` message read with the device's own struct (None: not a state topic).

    An empty payload is a cleared retained state: the device is gone."""
    device = who(prefix, topic)
    if device is None:
        return None
    if not payload:
        return Seen(device, None, "no state (its retained state was cleared)")
    try:
        return Seen(device, parse(topic, payload, State))
    except EdgeError as exc:
        return Seen(device, None, f"unreadable state: {exc}")


def latest(prefix: str, messages: Iterable[tuple[str, bytes]]) -> dict[DeviceId, Seen]:
    """The newest state of each device among `messages` (other topics are skipped)."""
    out: dict[DeviceId, Seen] = {}
    for topic, payload in messages:
        found = seen(prefix, topic, payload)
        if found is not None:
            out[found.who] = found
    return out


def online(found: Seen) -> bool:
    return found.state is not None and found.state.state == "online"


# -- content publish ---------------------------------------------------------------------


def lacking(seen_states: Iterable[Seen], kinds: Iterable[str]) -> dict[DeviceId, list[str]]:
    """Devices that do not list some slide kind among their capabilities, and those kinds.

    A screen refuses a whole manifest with a kind it does not know, so a manifest is
    never sent where some device in scope would refuse it."""
    needed = sorted(set(kinds))
    out = {}
    for found in seen_states:
        if found.state is None:
            continue
        have = set(found.state.capabilities)
        missing = [k for k in needed if f"slide:{k}" not in have]
        if missing:
            out[found.who] = missing
    return out


def next_version(seen_states: Iterable[Seen], scope: Scope, published: int | None) -> int:
    """Above every version a device in scope shows live or refused, and above the manifest
    retained on the topic (when the broker lets us read it): the device takes only higher
    versions, and a fresh number tells this publication's outcome from any earlier one."""
    versions = [published or 0]
    for found in seen_states:
        content = found.state.content.get(scope) if found.state else None
        if content is not None and content.live is not None:
            versions.append(content.live.version)
        if content is not None and content.rejected is not None:
            versions.append(content.rejected.version or 0)
    return max(versions) + 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a device stands with one published version: live, rejected, offline, waiting."""

    word: str
    detail: str = ""

    @property
    def settled(self) -> bool:
        return self.word != "waiting"


def outcome(found: Seen | None, scope: Scope, version: int) -> Outcome:
    """What `found` says about manifest `version` of `scope`."""
    state = found.state if found is not None else None
    if state is None:
        return Outcome("offline", found.problem if found and found.problem else "never seen")
    if "content-live" not in state.capabilities:
        return Outcome("unknown", f"omo-edge {state.version} does not say what it plays")
    content = state.content.get(scope)
    if content is not None and content.live is not None and content.live.version == version:
        return Outcome("live", f"v{version}, digest {content.live.digest[:12]}")
    if content is not None and content.rejected is not None:
        refused = content.rejected
        if refused.version == version:
            return Outcome("rejected", f"v{version}: {refused.reason}: {refused.detail}")
    if state.state == "offline":
        return Outcome("offline", "its retained state says offline")
    return Outcome("waiting")


# -- fleet status ------------------------------------------------------------------------


def _span(ms: int) -> str:
    s = abs(ms) // 1000
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 60} min" if s >= 60 else f"{s} s"


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def status_row(found: Seen, now_ms: int) -> dict[str, Any]:
    """One device's row (also the `--json` object): what `fleet status` shows, and warnings."""
    state = found.state
    row: dict[str, Any] = {
        "device_id": found.who.device_id,
        "store_id": found.who.store_id,
        "online": state is not None and state.state == "online",
        "version": state.version if state else None,
        "content": {},
        "outbox_pending": None,
        "health_age_s": None,
        "clock_synced": state.clock_synced if state else None,
        "display": state.display if state else None,
        "warnings": [] if found.problem is None else [found.problem],
    }
    if state is None:
        return row
    if state.health is not None:
        row["outbox_pending"] = state.health.outbox_pending
        row["health_age_s"] = max(0, (now_ms - state.health.ts) // 1000)
    live = {s: c.live for s, c in state.content.items() if c.live is not None}
    for scope, manifest in sorted(live.items()):
        left = manifest.expires_ts - now_ms
        row["content"][scope] = {
            "version": manifest.version,
            "expires_ts": manifest.expires_ts,
            "expires_in_s": left // 1000,
        }
        other = live.get("store") if scope == "device" else None
        then = (
            f"then the store manifest v{other.version} plays"
            if other is not None and other.expires_ts > manifest.expires_ts
            else "then the screen plays its built-in content"
        )
        if left <= 0:
            row["warnings"].append(f"{scope} manifest v{manifest.version} has expired ({then})")
        elif left <= EXPIRY_WARNING_MS:
            row["warnings"].append(
                f"{scope} manifest v{manifest.version} expires in {_span(left)} ({then})"
            )
    return row


def _content_cell(content: Mapping[str, Mapping[str, int]]) -> tuple[str, str]:
    """What plays: the device's own manifest while valid, else the store's, else built-in."""
    for scope in ("device", "store"):
        live = content.get(scope)
        if live is not None and live["expires_in_s"] > 0:
            return f"{scope} v{live['version']}", _when(live["expires_ts"])
    return "built-in", "-"


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as aligned text, one line per device, then one line per warning."""
    header = ("DEVICE", "STORE", "ONLINE", "VERSION", "CONTENT", "EXPIRES", "OUTBOX",
              "HEALTH", "CLOCK", "DISPLAY")  # fmt: skip
    lines: list[tuple[str, ...]] = [header]
    notes = []
    for row in rows:
        content, expires = _content_cell(row["content"])
        age = row["health_age_s"]
        lines.append(
            (
                row["device_id"],
                row["store_id"],
                "yes" if row["online"] else "no",
                row["version"] or "-",
                content,
                expires + (" !" if row["warnings"] and expires != "-" else ""),
                "-" if row["outbox_pending"] is None else str(row["outbox_pending"]),
                "-" if age is None else f"{_span(age * 1000)} ago",
                {True: "synced", False: "NOT synced", None: "-"}[row["clock_synced"]],
                row["display"] or "-",
            )
        )
        notes += [f"WARN {row['store_id']}/{row['device_id']}: {w}" for w in row["warnings"]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    return "\n".join(text + notes)
