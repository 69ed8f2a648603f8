"""`omo-edge run`: the daemon, on the advert source the config names."""

from __future__ import annotations

import argparse
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.cli.common import Subcommands, add_config, positive_number, setup_logging
from edge.errors import ConfigError

if TYPE_CHECKING:
    from edge.config import Config
    from edge.presence.advert import AdvertSource

log = logging.getLogger("edge")


def make_source(cfg: Config) -> tuple[AdvertSource, Any]:
    """The advert source the config names; the second item tells when a replay is done."""
    p = cfg.presence
    spec: str = p.source
    if spec.startswith("replay:"):
        from edge.sim.replay import ReplaySource

        path = Path(spec.removeprefix("replay:"))
        if not path.is_file():
            raise ConfigError("presence.source", spec, "replay:PATH of an existing trace file")
        replay = ReplaySource(path, float(p.replay_speed), bool(p.replay_loop))
        return replay, lambda: replay.done
    from edge.presence.bleak_source import BleakSource

    return BleakSource(adapter=p.adapter or None, scanning_mode=p.scanning_mode), lambda: False


def cmd_run(args: argparse.Namespace) -> int:
    from edge import __version__
    from edge import config as config_mod
    from edge.app import Device

    setup_logging("info")  # before loading, so config warnings are seen
    cfg = config_mod.load(args.config)
    logging.getLogger().setLevel(cfg.log.level.upper())
    source, _done = make_source(cfg)
    device = Device(cfg, source)
    signal.signal(signal.SIGTERM, lambda *_: device.stop.set())
    signal.signal(signal.SIGINT, lambda *_: device.stop.set())
    log.info(
        "omo-edge %s starting (%s; %s)",
        __version__,
        "provisioned" if cfg.provisioned else "not provisioned",
        cfg.describe(),
    )
    device.run(args.duration)
    log.info("stopped: %s", json.dumps(device.stats.summary()))
    return 0


def register(sub: Subcommands) -> None:
    run = add_config(sub.add_parser("run", help="run the daemon"))
    run.add_argument("--duration", type=positive_number, default=None, help="stop after SECONDS")
    run.set_defaults(fn=cmd_run)
