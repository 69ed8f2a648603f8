"""`omo-edge demo`: the whole store loop on this machine.

A private Mosquitto on a free loopback port, the central-platform simulator,
and the daemon replaying a recorded trace. Prints what happens as it goes and
ends with a summary whose last line is one JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from edge import config as config_mod
from edge.app import Device
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from edge.sim.replay import ReplaySource

DEMO_TRACE = Path(__file__).resolve().parent / "traces" / "demo.jsonl"
log = logging.getLogger("edge.demo")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_demo(
    duration_s: float | None,
    headless: bool | None,
    screenshots: Path,
    *,
    trace: Path = DEMO_TRACE,
    speed: float = 5.0,
    state_dir: Path | None = None,
    window: bool = False,
) -> dict[str, Any]:
    """Run the demo; returns the summary (also printed, JSON last).

    Full screen at the screen's own size, as in a store, unless `window` (1280x720);
    headless keeps 1280x720 for its screenshots.
    """
    headless = (not has_display()) if headless is None else headless
    fullscreen = not (headless or window)
    screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="omo-demo-") as tmp:
        state = state_dir or Path(tmp)
        with Mosquitto() as broker, CentralSim("127.0.0.1", broker.port) as central:
            print(f"mosquitto on 127.0.0.1:{broker.port}; central simulator connected")
            print(f"replaying {trace} at {speed:g}x; screenshots in {screenshots}")
            cfg = config_mod.from_mapping(
                {
                    "device": {"store_id": "demo-store", "device_id": "demo-screen-1"},
                    "mqtt": {"host": "127.0.0.1", "port": broker.port},
                    "presence": {"source": f"replay:{trace}", "replay_speed": speed},
                    "display": {
                        "headless": headless,
                        "fullscreen": fullscreen,
                        "width": 0 if fullscreen else 1280,
                        "height": 0 if fullscreen else 720,
                        "screenshot_dir": str(screenshots),
                    },
                    "storage": {"path": str(state / "outbox.sqlite3"), "hold_s": 0},
                    "sync": {"ack_timeout_s": 2.0},
                }
            )
            source = ReplaySource(trace, speed)
            stats = Device(cfg, source).run(duration_s)
            totals = central.totals()
    summary = {
        **stats.summary(),
        "central_events": totals["events"],
        "central_duplicates": totals["duplicates"],
        "screenshots": str(screenshots),
    }
    print(
        f"visitors seen {summary['visitors_seen']}, decisions {summary['decisions']}, "
        f"impressions {summary['impressions']}, events synced {summary['events_synced']}, "
        f"events pending {summary['events_pending']}"
    )
    print(
        f"slides shown {summary['slides_shown']} (the 'slide shown' lines) = impressions "
        f"{summary['impressions']} (fully on screen, crossfade done, for at least the slide's "
        f"min_impression_ms) + too short to count {summary['shown_too_short']}"
    )
    print(
        "personal slides kept to their share of airtime: "
        f"shortened {summary['personal_shortened']}, deferred {summary['personal_deferred']}, "
        f"dropped after waiting their ttl {summary['personal_expired']}, "
        f"skipped as their visitor left {summary['personal_departed']}"
    )
    print(json.dumps(summary, sort_keys=True))
    return summary
