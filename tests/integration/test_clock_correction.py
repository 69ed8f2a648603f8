"""Honest timestamps on the real outbox: a Pi boots in 1970, records and sends events, then
NTP answers and the wall clock jumps. Events still waiting are corrected, a batch already
sent is resent unchanged, and `clock.corrected` tells central how to fix what it holds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from edge import config as config_mod
from edge.outbox.clockfix import Clocks
from edge.outbox.service import OutboxService
from edge.outbox.store import Outbox
from edge.outbox.worker import OutboxThread
from tests.support.config import write_config

BOOT = "64a42c6d-b3ed-4212-bac4-a337ff4f84d3"
WRONG_WALL_MS = 86_400_000  # 2 January 1970: what a Pi without RTC believes
TRUE_WALL_MS = 1_796_000_000_000  # December 2026
START_BOOT_MS = 20_000


class FakeClocks:
    """The Pi's clocks: the boot clock moves steadily; the wall clock is wrong until synced."""

    def __init__(self) -> None:
        self.boot_ms = START_BOOT_MS
        self.synced = False

    def advance(self, ms: int) -> None:
        self.boot_ms += ms

    def __call__(self) -> Clocks:
        base = TRUE_WALL_MS if self.synced else WRONG_WALL_MS
        return Clocks(base + self.boot_ms - START_BOOT_MS, self.synced, BOOT, self.boot_ms)


def visit(n: int) -> dict[str, Any]:
    return {"visitor": None, "visit_id": f"visit-{n}", "zone": "near", "rssi": -60}


def test_clock_jump_corrects_waiting_events_and_leaves_sent_batch_alone(tmp_path: Path) -> None:
    cfg = config_mod.load(
        write_config(tmp_path / "edge.toml", {"storage": {"path": str(tmp_path / "o.sqlite3")}})
    )
    clocks = FakeClocks()

    async def scenario() -> tuple[bytes, bytes, list[dict[str, Any]], int]:
        async with OutboxThread(cfg.outbox_path) as box:
            service = OutboxService(cfg, box, clock_synced=lambda: clocks.synced, clocks=clocks)
            for n in range(3):
                service.record("visit.enter", visit(n))
                clocks.advance(1_000)
            await service.writer.flush()
            sent = await box.run(Outbox.next_batch, "screen-1")  # goes out unsynced
            assert sent is not None
            for n in range(3, 5):
                service.record("visit.enter", visit(n))
                clocks.advance(1_000)
            await service.writer.flush()
            service.record("visit.enter", visit(5))  # held in memory at the moment of sync
            assert not await service.check_clock()  # still 1970: nothing changes
            clocks.synced = True
            assert await service.check_clock()
            await service.writer.flush()
            resent = await box.run(Outbox.next_batch, "screen-1")
            assert resent is not None
            stored = [json.loads(b) for b in await box.run(lambda o: list(o.events()))]
            return sent.payload, resent.payload, stored, service.clock_corrected

    sent, resent, stored, count = asyncio.run(scenario())
    assert resent == sent, "a batch sent before the jump is resent byte for byte"
    in_batch = {e["id"] for e in json.loads(sent)["events"]}
    assert len(in_batch) == 3
    waiting = [e for e in stored if e["id"] not in in_batch and e["type"] == "visit.enter"]
    assert [e["visit_id"] for e in waiting] == ["visit-3", "visit-4", "visit-5"]
    assert count == 3  # the one held in memory was committed first, then corrected
    for e, at_boot_ms in zip(waiting, (23_000, 24_000, 25_000), strict=True):
        assert e["clock_corrected"] is True and e["clock_synced"] is False
        assert e["mono_ms"] == at_boot_ms and e["boot_id"] == BOOT
        assert e["ts"] == TRUE_WALL_MS + at_boot_ms - START_BOOT_MS  # the true time
    for e in json.loads(sent)["events"]:
        assert "clock_corrected" not in e and e["ts"] < TRUE_WALL_MS
    (notice,) = [e for e in stored if e["type"] == "clock.corrected"]
    assert notice["boot_id"] == BOOT and notice["corrected"] == 3
    assert notice["offset_ms"] == TRUE_WALL_MS - START_BOOT_MS
    assert notice["step_ms"] == TRUE_WALL_MS - WRONG_WALL_MS
    assert notice["clock_synced"] is True
    # central fixes the batch it holds with the notice: mono_ms + offset_ms
    fixed = [e["mono_ms"] + notice["offset_ms"] for e in json.loads(sent)["events"]]
    assert fixed == [TRUE_WALL_MS, TRUE_WALL_MS + 1_000, TRUE_WALL_MS + 2_000]
