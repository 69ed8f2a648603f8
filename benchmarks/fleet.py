"""A fleet on one broker: N simulated screens running the device's own link, outbox and sync.

Measures, with mutual TLS off and on (the fleet ACL either way): devices connected and
broker RSS per device; decide round trip p50/p95 under the steady load (a visit every
1-3 min per screen, health every 60 s); the backlog drain (every device with 500
events pending) into SQLite and PostgreSQL with 1 and 2 ingest workers; a reconnect
storm (the broker stopped 10 s); and, by event id, events lost, duplicated in the
database and resends absorbed. Baseline, same run: the same backlog drained into
central-sim (in memory, no database), so the ratio is what a real database costs.
How the devices share the machine: edge/sim/fleet.py. Last line: one JSON object.

    python benchmarks/fleet.py [--devices 1000] [--backlog 500] [--tls off,on]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fleet_parts import DecideOnly, FleetBrokerSetup, IngestPool
from edge.ops.ingest.database import Database
from edge.sim.central import CentralSim
from edge.sim.fleet import Fleet, FleetPlan
from tests.support.postgres import ThrowawayPostgres

GOALS = {"devices": 1000, "back_online_100_s": 60, "decide_p95_ms": 50, "sqlite_eps": 5000}


def wait_until(check: Any, seconds: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return False


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run:
    """One TLS mode: a broker, a fleet, the phases in order."""

    def __init__(self, args: argparse.Namespace, tls: bool, work: Path, pg: ThrowawayPostgres):
        self.args, self.tls, self.work, self.pg = args, tls, work, pg
        self.stored: list[str] = []  # ids in every database and the baseline (dupes kept)
        self.absorbed = 0
        self.reacked = 0  # resent batches a worker recognised and acked without the database
        identities = FleetPlan(args.devices, None, work).identities()  # type: ignore[arg-type]
        self.setup = FleetBrokerSetup(work / "broker", identities, tls)
        self.plan = FleetPlan(
            args.devices,
            self.setup.device_broker,
            work / "devices",
            shards=args.shards,
            certs_dir=self.setup.certs_dir,
        )
        self.out: dict[str, Any] = {}

    def status(self) -> dict[str, Any]:
        return self.fleet.status()

    def phases(self) -> dict[str, Any]:
        self.setup.mosquitto.start()
        try:
            with Fleet(self.plan) as fleet:
                self.fleet = fleet
                self.connect()
                self.steady_and_storm()
                for kind, workers in self.args.drains:
                    self.drain(kind, workers)
                if self.args.baseline:
                    self.drain("central-sim", 0)
                committed = fleet.committed()
        finally:
            self.setup.mosquitto.stop()
        unique = set(self.stored)
        self.out["events_committed"] = len(committed)
        self.out["events_lost"] = len(set(committed) - unique)
        self.out["events_duplicated_in_db"] = len(self.stored) - len(unique)
        self.out["duplicates_absorbed"] = self.absorbed
        self.out["batches_reacked"] = self.reacked
        return self.out

    def connect(self) -> None:
        fleet = self.fleet
        fleet.open(0)
        rss_before = self.setup.rss_bytes()
        started = time.monotonic()
        fleet.connect()
        wait_until(lambda: self.status()["connected"] >= self.args.devices, 300, 1.0)
        connected = self.status()["connected"]
        self.out["devices"] = connected
        self.out["connect_all_s"] = round(time.monotonic() - started, 1)
        grown = self.setup.rss_bytes() - rss_before
        self.out["broker_rss_mb"] = round(self.setup.rss_bytes() / 2**20, 1)
        self.out["broker_rss_per_device_kb"] = round(grown / max(1, connected) / 1024, 1)
        print(
            f"  {connected} devices connected in {self.out['connect_all_s']} s; broker RSS "
            f"{self.out['broker_rss_mb']} MB, {self.out['broker_rss_per_device_kb']} KB/device"
        )

    def steady_and_storm(self) -> None:
        url = f"sqlite:///{self.work}/steady.sqlite3"
        pool = IngestPool(self.setup.ops_broker, url, 1)
        decide = DecideOnly("127.0.0.1", self.setup.central_port, tls=self.setup.central_tls)
        decide.start()
        try:
            self.fleet.traffic(True)
            cpu_before = self.setup.cpu_s()
            time.sleep(self.args.steady_s)
            cpu = self.setup.cpu_s() - cpu_before
            figures = self.fleet.traffic(False)
            self.out["broker_cpu_pct_steady"] = round(100 * cpu / self.args.steady_s, 2)
            ms = figures["decide_ms"]
            self.out["decide_requests"] = len(ms) + figures["decide_failed"]
            self.out["decide_failed"] = figures["decide_failed"]
            self.out["decide_p50_ms"] = round(pct(ms, 0.50), 2)
            self.out["decide_p95_ms"] = round(pct(ms, 0.95), 2)
            print(
                f"  steady {self.args.steady_s:.0f} s: {len(ms)} decides, p50 "
                f"{self.out['decide_p50_ms']} ms, p95 {self.out['decide_p95_ms']} ms, "
                f"{figures['decide_failed']} failed"
            )
            self.fleet.traffic(True)  # events pile up while the broker is away
            self.storm()
            assert wait_until(lambda: self.status()["pending"] == 0, 300), "steady not drained"
        finally:
            decide.stop()
            self.absorb(pool.close())
        self.stored += self.ids(url)

    def storm(self) -> None:
        stopped = time.time()
        self.setup.mosquitto.stop()
        time.sleep(self.args.outage_s)
        back = time.time()  # before start(): a device may be in before start() returns
        self.setup.mosquitto.start()
        # From here on the outage's backlog must drain; new visits would keep some outbox
        # non-empty forever, so the traffic stops as the broker returns.
        self.fleet.traffic(False)
        marks: dict[str, float] = {}
        n = self.args.devices
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = self.status()
            online = sum(1 for t in status["last_connect"] if t > stopped)
            now = time.time() - back
            for name, share in (("50", 0.5), ("95", 0.95), ("100", 1.0)):
                if name not in marks and online >= share * n:
                    marks[name] = round(now, 1)
            if "100" in marks and status["pending"] == 0:
                marks["drained"] = round(now, 1)
                break
            time.sleep(0.5)
        self.out["storm_outage_s"] = self.args.outage_s
        for name in ("50", "95", "100"):
            self.out[f"back_online_{name}_s"] = marks.get(name)
        self.out["storm_drained_s"] = marks.get("drained")
        print(
            f"  reconnect storm: 50 % back {marks.get('50')} s, 95 % {marks.get('95')} s, "
            f"100 % {marks.get('100')} s, outboxes drained {marks.get('drained')} s"
        )

    def drain(self, kind: str, workers: int) -> None:
        fleet, backlog = self.fleet, self.args.backlog
        name = f"{kind}_{workers}w" if workers else kind
        fleet.open(backlog)  # devices off, then 500 more pending each
        if kind == "sqlite":
            url = f"sqlite:///{self.work}/{name}.sqlite3"
        elif kind == "postgresql":
            url = self.fresh_pg_database(name)
        sim = None
        pool = None
        if kind == "central-sim":
            sim = CentralSim("127.0.0.1", self.setup.central_port, tls=self.setup.central_tls)
            sim.start()
        else:
            pool = IngestPool(self.setup.ops_broker, url, workers)
        started = time.monotonic()
        fleet.connect()
        ok = wait_until(lambda: self.status()["pending"] == 0, 900, 1.0)
        wall = time.monotonic() - started
        total = backlog * self.args.devices
        if sim is not None:
            sim.stop()
            self.stored += list(sim.events)
            self.absorbed += sim.duplicates
            eps = total / wall
        else:
            assert pool is not None
            self.absorb(pool.close())
            ids = self.ids(url)
            self.stored += ids
            eps = total / wall
            self.out[f"drain_{name}_commit_span_eps"] = round(self.rate(url) or 0)
        self.out[f"drain_{name}_eps"] = round(eps)
        print(
            f"  backlog drain into {name}: {total} events, {eps:,.0f} events/s "
            f"({wall:.1f} s wall{'' if ok else ', NOT drained'})"
        )

    def absorb(self, figures: dict[str, int]) -> None:
        self.absorbed += figures.get("duplicates", 0)
        self.reacked += figures.get("reacked", 0)

    def fresh_pg_database(self, name: str) -> str:
        admin = Database.open(self.pg.url)
        admin.close()
        import psycopg

        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            db = f"{name}_{'tls' if self.tls else 'plain'}"
            conn.execute(f"DROP DATABASE IF EXISTS {db}")
            conn.execute(f"CREATE DATABASE {db}")
        return self.pg.url.rsplit("/", 1)[0] + "/" + db

    @staticmethod
    def ids(url: str) -> list[str]:
        db = Database.open(url)
        try:
            return [str(r[0]) for r in db.query("SELECT id FROM events")]
        finally:
            db.close()

    @staticmethod
    def rate(url: str) -> float | None:
        """Events per second from the first commit to the last (received_ts per transaction)."""
        db = Database.open(url)
        try:
            sql = "SELECT COUNT(*), MIN(received_ts), MAX(received_ts) FROM events"
            count, first, last = db.query(sql)[0]
        finally:
            db.close()
        if not count or last <= first:
            return None
        return float(count) / ((last - first) / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=500)
    parser.add_argument("--shards", type=int, default=0, help="device processes (0: auto)")
    parser.add_argument("--steady-s", type=float, default=90.0)
    parser.add_argument("--outage-s", type=float, default=10.0)
    parser.add_argument("--tls", default="off,on", help="off, on or off,on")
    parser.add_argument(
        "--drains",
        default="sqlite:1,sqlite:2,postgresql:1,postgresql:2",
        help="backlog drains, KIND:WORKERS, comma-separated",
    )
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    args = parser.parse_args()
    args.drains = [(k, int(w)) for k, w in (d.split(":") for d in args.drains.split(",") if d)]
    work = Path(tempfile.mkdtemp(prefix="omo-fleet-bench-"))
    results: dict[str, Any] = {"devices_planned": args.devices, "backlog": args.backlog}
    try:
        with ThrowawayPostgres(durable=True) as pg:
            for mode in args.tls.split(","):
                tls = mode == "on"
                run = Run(args, tls, work / f"tls-{mode}", pg)
                shards = run.plan.shards
                print(f"== mutual TLS {mode}: {args.devices} devices in {shards} processes")
                results[f"tls_{mode}"] = run.phases()
                if args.baseline and "drain_central-sim_eps" in results[f"tls_{mode}"]:
                    r = results[f"tls_{mode}"]
                    base = r["drain_central-sim_eps"]
                    r["sqlite_vs_central_sim"] = round(r.get("drain_sqlite_1w_eps", 0) / base, 2)
                    args.baseline = False  # once is enough
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["goals"] = GOALS
    print(json.dumps(results))


if __name__ == "__main__":
    main()
