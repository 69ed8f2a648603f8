"""Reading the devices' retained `P/state`: what publish waits for and fleet status shows."""

from __future__ import annotations

from typing import Any

import msgspec

from edge.link.capabilities import capabilities
from edge.link.schemas import State, encode
from edge.ops import fleet_view as view
from edge.ops.fleet_view import DeviceId

NOW = 1_800_000_000_000
DAY = 86_400_000
TOPIC = "omo/v1/store-1/screen-1/state"


def state(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "state": "online",
        "version": "0.1.0",
        "protocol": 1,
        "capabilities": capabilities(),
        "clock_synced": True,
        "ts": NOW,
        "display": "on",
    }
    return encode(msgspec.convert({**base, **fields}, State))


def seen(payload: bytes, topic: str = TOPIC) -> view.Seen:
    found = view.seen("omo/v1", topic, payload)
    assert found is not None
    return found


def live(version: int, expires_ts: int = NOW + 30 * DAY) -> dict[str, Any]:
    return {"live": {"version": version, "expires_ts": expires_ts, "digest": "ab" * 32}}


def refused(version: int, reason: str = "missing_asset") -> dict[str, Any]:
    return {"rejected": {"version": version, "reason": reason, "detail": "no", "ts": NOW}}


def test_only_device_state_topics_are_read() -> None:
    assert view.who("omo/v1", TOPIC) == DeviceId("store-1", "screen-1")
    for other in ("omo/v1/store-1/_store/state", "omo/v1/store-1/screen-1/events", "x/s/d/state"):
        assert view.who("omo/v1", other) is None
    assert seen(b"").problem and seen(b"{").problem  # cleared, garbled: said, not raised


def test_an_outcome_is_read_from_the_scope_and_version_published() -> None:
    assert view.outcome(seen(state(content={"store": live(3)})), "store", 3).word == "live"
    assert view.outcome(seen(state(content={"device": live(3)})), "store", 3).word == "waiting"
    rejected = view.outcome(seen(state(content={"store": {**live(2), **refused(3)}})), "store", 3)
    assert rejected.word == "rejected" and "missing_asset" in rejected.detail
    older = view.outcome(seen(state(content={"store": refused(2)})), "store", 3)
    assert older.word == "waiting"  # an earlier refusal says nothing about this version
    assert view.outcome(seen(state(state="offline")), "store", 3).word == "offline"
    went_live_then_away = seen(state(state="offline", content={"store": live(3)}))
    assert view.outcome(went_live_then_away, "store", 3).word == "live"
    assert view.outcome(None, "store", 3).word == "offline"
    older_device = [c for c in capabilities() if c != "content-live"]
    unknown = view.outcome(seen(state(capabilities=older_device)), "store", 3)
    assert (unknown.word, unknown.settled) == ("unknown", True)  # it never says: do not wait


def test_the_next_version_is_above_everything_seen() -> None:
    states = [
        seen(state(content={"store": live(4)})),
        seen(state(content={"store": refused(6), "device": live(9)}), "omo/v1/s/d2/state"),
    ]
    assert view.next_version(states, "store", None) == 7
    assert view.next_version(states, "store", 11) == 12  # the retained manifest's version
    assert view.next_version(states, "device", None) == 10
    assert view.next_version([], "store", None) == 1


def test_devices_lacking_a_slide_kind_are_named() -> None:
    old = [c for c in capabilities() if c != "slide:video"]
    states = [seen(state()), seen(state(capabilities=old), "omo/v1/store-1/old/state")]
    assert view.lacking(states, ["text", "video"]) == {DeviceId("store-1", "old"): ["video"]}
    assert view.lacking(states, ["text", "image"]) == {}


def test_status_warns_when_content_expires_within_three_days() -> None:
    soon = seen(state(content={"store": live(2, NOW + 2 * DAY + 3_600_000)}))
    row = view.status_row(soon, NOW)
    assert row["content"]["store"]["version"] == 2
    assert row["warnings"] == [
        "store manifest v2 expires in 2 d 1 h (then the screen plays its built-in content)"
    ]
    both = seen(state(content={"store": live(2), "device": live(5, NOW - 1)}))
    assert view.status_row(both, NOW)["warnings"] == [
        "device manifest v5 has expired (then the store manifest v2 plays)"
    ]
    assert view.status_row(seen(state(content={"store": live(2)})), NOW)["warnings"] == []


def test_status_rows_and_table() -> None:
    found = seen(state(health={"ts": NOW - 42_000, "outbox_pending": 12}, clock_synced=False))
    row = view.status_row(found, NOW)
    assert (row["online"], row["outbox_pending"], row["health_age_s"]) == (True, 12, 42)
    assert (row["clock_synced"], row["display"], row["version"]) == (False, "on", "0.1.0")
    text = view.table([row, view.status_row(seen(b"", "omo/v1/store-1/gone/state"), NOW)])
    lines = text.splitlines()
    assert lines[0].split() == [
        "DEVICE", "STORE", "ONLINE", "VERSION", "CONTENT", "EXPIRES", "OUTBOX", "HEALTH",
        "CLOCK", "DISPLAY",
    ]  # fmt: skip
    assert lines[1].split()[:5] == ["screen-1", "store-1", "yes", "0.1.0", "built-in"]
    assert "42 s ago" in lines[1] and "NOT synced" in lines[1]
    assert lines[2].split()[:3] == ["gone", "store-1", "no"]
    assert lines[3].startswith("WARN store-1/gone: no state")


def test_the_table_shows_what_plays_now() -> None:
    def cell(content: dict[str, Any]) -> list[str]:
        row = view.status_row(seen(state(content=content)), NOW)
        return view.table([row]).splitlines()[1].split()[4:6]

    assert cell({"store": live(2), "device": live(5)}) == ["device", "v5"]
    assert cell({"store": live(2), "device": live(5, NOW - 1)}) == ["store", "v2"]
    assert cell({"store": live(2, NOW - 1)}) == ["built-in", "-"]
