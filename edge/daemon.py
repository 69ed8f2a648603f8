"""Wiring: presence → outbox → decide → screen → impressions → outbox → sync.

The renderer owns the main thread; one asyncio loop in a second thread owns
all I/O (radio, MQTT, SQLite). They meet only through `Stage.show` (a
thread-safe queue) and `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge import __version__
from edge.checkin.lan import LanCheckin, nonce_refusal
from edge.checkin.nonces import NonceBook, qr_url
from edge.checkin.tokens import VisitorToken
from edge.clock import clock_synced
from edge.commands import CommandRunner
from edge.config import Config
from edge.content.assets import AssetStore
from edge.content.fallback import image_path, load_playlist
from edge.content.manager import ContentManager, Resolver
from edge.content.player import Impression, Personal, Showing
from edge.content.slides import Slide
from edge.errors import ContentRejected, EdgeError, PayloadRejected
from edge.files import write_atomic
from edge.health import FrameRate, system_fields
from edge.ids import new_id, short_visitor
from edge.link.decide import Decider
from edge.link.schemas import Checkin, Decision, EventsAck, parse
from edge.link.session import BrokerSettings, Incoming, MqttLink
from edge.link.tls import refuse_exposed_keys
from edge.link.topics import Topics
from edge.lock import StateLock
from edge.notify import Notifier, render_alive
from edge.outbox.retention import corrupt_copies, keep_retention, remove
from edge.outbox.store import Outbox, StorageError
from edge.outbox.sync import Syncer
from edge.outbox.writer import EventWriter
from edge.personalize.service import Personalizer
from edge.presence.advert import AdvertSource
from edge.presence.decode import BeaconDecoder
from edge.presence.pipeline import PresencePipeline
from edge.presence.pseudonym import from_settings as pseudonymizer
from edge.presence.tracker import PresenceEvent
from edge.provision.announce import find_broker
from edge.provision.device import PAIRING_SLIDE_ID, Prepared, Provisioning, prepare
from edge.quiet import QuietLog
from edge.signage.screen import Screen
from edge.signage.stage import Stage
from edge.update import running
from edge.update.stage import Stager

log = logging.getLogger("edge.daemon")


@dataclass
class Stats:
    """What this run did; the demo's summary and the benchmark read it."""

    visitors: set[str] = field(default_factory=set)
    decisions: int = 0
    impressions: int = 0
    events_synced: int = 0
    events_pending: int = 0
    rejected_payloads: int = 0
    adverts: int = 0
    frames: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "visitors_seen": len(self.visitors),
            "decisions": self.decisions,
            "impressions": self.impressions,
            "events_synced": self.events_synced,
            "events_pending": self.events_pending,
        }


class Daemon:
    """One device. `run()` blocks the calling (main) thread until stopped."""

    def __init__(
        self,
        config: Config,
        source: AdvertSource,
        *,
        source_done: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self._base_config = config  # the config file's own values, before any bundle
        self._prepared: Prepared | None = None
        self._provisioning: Provisioning | None = None
        self._online_tasks: list[asyncio.Task[None]] = []
        self.source = source
        self.stats = Stats()
        self.stop = threading.Event()
        self._source_done = source_done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._io_stop: asyncio.Event | None = None
        self._syncer: Syncer | None = None
        self._outbox: Outbox | None = None
        self._writer: EventWriter | None = None
        self._content: tuple[Sequence[Slide], Resolver] | None = None
        self._manager: ContentManager | None = None
        self._commands: CommandRunner | None = None
        self._link: MqttLink | None = None
        self._decider: Decider | None = None
        self._stage: Stage | None = None
        self._updates: Stager | None = None
        self._pipeline: PresencePipeline | None = None
        # Visitor ids leave memory (outbox, MQTT, logs) only through this (PROTOCOL.md).
        self._pseudonyms = pseudonymizer(config.privacy)
        log.info(
            "visitor ids %s",
            f"pseudonymised with key {self._pseudonyms.kid}"
            if self._pseudonyms.active
            else "as issued (no [privacy] visitor_keys, or pseudonymize = false)",
        )
        ck = config.checkin
        self._nonces = NonceBook(accept_s=ck.accept_s, rotate_s=ck.rotate_s)
        self._nonce_file = config.state_dir / "nonces.json"
        self._load_nonces()
        self._checkin_url: str | None = None
        self._personalizer = Personalizer(
            None,
            show=self._show_personal,
            offer=self._offer,
            cooldown_s=config.personalize.cooldown_s,
            max_in_flight=config.personalize.max_in_flight,
        )
        self._quiet = QuietLog(log)
        self._io_ready = threading.Event()
        self._io_error: BaseException | None = None
        d = config.device
        self.topics = Topics(config.mqtt.prefix, d.store_id or "_", d.device_id or "_")

    # -- main thread --------------------------------------------------------------
    def run(self, duration_s: float | None = None, stop_when_drained: bool = False) -> Stats:
        """Render on this thread, I/O on another, until stopped (or `duration_s` passes)."""
        refuse_exposed_keys(self.config.mqtt.tls_key, self.config.state_dir)
        with StateLock(self.config.state_dir, "daemon"):
            return self._run(duration_s, stop_when_drained)

    def _run(self, duration_s: float | None, stop_when_drained: bool) -> Stats:
        self._prepared = prepare(self._base_config)
        self.config = self._prepared.config
        disp = self.config.display
        if disp.headless:
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        io_thread = threading.Thread(target=self._io_thread, name="edge-io", daemon=True)
        io_thread.start()
        self._io_ready.wait(30)
        if self._io_error is not None:
            raise self._io_error
        shots = disp.screenshot_dir
        screen = Screen(
            disp.width,
            disp.height,
            rotation=disp.rotation,
            headless=disp.headless,
            fullscreen=disp.fullscreen,
            screenshot_dir=Path(shots) if shots else None,
        )
        watchers = []
        if duration_s is not None:
            timer = threading.Timer(duration_s, self.stop.set)
            timer.daemon = True
            timer.start()
            watchers.append(timer)
        try:
            with screen:
                log.info(
                    "screen ready: %dx%d, video driver %s", *screen.canvas.get_size(), screen.driver
                )
                slides, resolve = self._content or self._fallback()
                self._stage = Stage(
                    screen,
                    slides,
                    resolve,
                    on_impression=self._impression_from_render,
                    on_shown=self._shown,
                    fps=disp.fps,
                )
                if self._checkin_url is not None:
                    self._stage.set_checkin(self._checkin_url)
                if stop_when_drained and self._loop is not None:
                    asyncio.run_coroutine_threadsafe(self._stop_when_drained(), self._loop)
                self._stage.run(self.stop)
                self.stats.frames = self._stage.frames
        finally:
            Notifier().send("STOPPING=1")
            self.stop.set()
            for w in watchers:
                w.cancel()
            self._call_io(self._request_io_stop)
            io_thread.join(30)
        return self.stats

    def _fallback(self) -> tuple[Sequence[Slide], Resolver]:
        folder = self.config.content_dir
        return load_playlist(folder), lambda name: image_path(folder, name)

    def _content_changed(self, slides: Sequence[Slide], resolve: Resolver) -> None:
        """Called on the I/O thread when what should play changes (empty: our own content)."""
        fallback = not slides
        if fallback:
            slides, resolve = self._fallback()
        if self._stage is None:
            self._content = (slides, resolve)
        else:
            self._stage.set_playlist(slides, resolve, fallback=fallback)
        log.info(
            "now playing %s",
            "the device's own content"
            if fallback
            else f"{len(slides)} slides of the central manifest",
        )

    def _call_io(self, fn: Callable[[], Any]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(fn)

    def _impression_from_render(self, impression: Impression) -> None:
        self._call_io(lambda: self._record_impression(impression))

    def _shown(self, showing: Showing, shot: Path | None) -> None:
        p = showing.personal
        if p is not None:
            log.info(
                "slide shown: %s (personal for %s, %d ms)%s",
                showing.slide.id,
                short_visitor(p.visitor),
                p.show_ms,
                f" -> {shot}" if shot else "",
            )
        else:
            log.info(
                "slide shown: %s (playlist)%s", showing.slide.id, f" -> {shot}" if shot else ""
            )

    # -- I/O thread ---------------------------------------------------------------
    def _io_thread(self) -> None:
        try:
            asyncio.run(self._io_main())
        except BaseException as exc:  # reported to the main thread, which re-raises or logs
            self._io_error = exc
            log.exception("I/O loop failed")
            self.stop.set()
        finally:
            self._io_ready.set()

    async def _io_main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._io_stop = asyncio.Event()
        cfg = self.config
        store = cfg.storage
        with Outbox(Path(store.path), store.max_events, store.max_bytes) as outbox:
            self._outbox = outbox
            self._writer = EventWriter(
                outbox,
                group_s=store.group_ms / 1000,
                group_max=store.group_max,
                memory_max=store.memory_max,
                on_written=self._written,
            )
            pipeline = PresencePipeline(cfg.tracker_params, new_id, BeaconDecoder(cfg.allow_list))
            assert self._prepared is not None
            self._provisioning = Provisioning(
                self._base_config, self._prepared, show=self._show_pairing, online=self._go_online
            )
            await self._provisioning.start()
            self._pipeline = pipeline
            if cfg.provisioned:
                await self._go_online(cfg)
            else:
                log.warning(
                    "device %s is not provisioned: pairing mode; events wait in the outbox",
                    cfg.device.device_id,
                )
                self._provisioning.enter_pairing()
            self._io_ready.set()
            inputs = [
                asyncio.create_task(self._presence(pipeline), name="presence"),
                asyncio.create_task(self._ticks(pipeline), name="ticks"),
            ]
            if cfg.health.interval_s:
                inputs.append(asyncio.create_task(self._health(pipeline), name="health"))
            inputs.append(asyncio.create_task(self._nonce_clock(), name="nonces"))
            inputs.append(asyncio.create_task(self._systemd(), name="systemd"))
            inputs.append(asyncio.create_task(self._announce_running(), name="running"))
            retention = keep_retention(
                outbox,
                retention_days=cfg.privacy.event_retention_days,
                clock_synced=clock_synced,
                prune_memory=self._prune_memory,
            )
            inputs.append(asyncio.create_task(retention, name="retention"))
            lan = await self._start_lan()
            try:
                await self._io_stop.wait()
            finally:
                await _cancel(inputs)
                await self._provisioning.aclose()
                if lan is not None:
                    await lan.aclose()
                self._record_presence(pipeline.close(self.source.now()))
                self._writer.flush()  # flush() on clean shutdown: nothing left in memory
                if self._syncer is not None:
                    await self._syncer.drain(budget_s=3.0)  # the inbox still takes acks
                    self.stats.events_synced = self._syncer.synced
                await _cancel(self._online_tasks)
                self._writer.flush()
                if self._link is not None:
                    await asyncio.to_thread(self._link.stop)
                status = outbox.status()
                self.stats.events_pending = status["pending"] + status["inflight"]

    async def _go_online(self, cfg: Config) -> None:
        """Talk to central: at start when provisioned, or as soon as a bundle arrives."""
        assert self._loop is not None and self._outbox is not None
        self.config = cfg
        self._pseudonyms = pseudonymizer(cfg.privacy)  # a bundle may bring the keys
        d, m = cfg.device, cfg.mqtt
        self.topics = Topics(m.prefix, d.store_id, d.device_id)
        broker = BrokerSettings.from_config(m)
        if broker.host == "auto":  # looked for in the background: the screen comes up anyway
            self._online_tasks = [asyncio.create_task(self._auto_broker(cfg, broker))]
            return
        self._start_link(cfg, broker)

    async def _auto_broker(self, cfg: Config, broker: BrokerSettings) -> None:
        """`mqtt.host = "auto"`: the store broker from mDNS, verified by its certificate
        against the host name it announced (the config allows "auto" only with TLS)."""
        while True:
            try:
                server, _address, port = await find_broker(cfg.provision.interfaces, timeout_s=10.0)
                break
            except TimeoutError:
                self._quiet.problem("auto-broker", "no _mqtt._tcp broker announced yet; looking")
        self._quiet.resolved("auto-broker", "found broker %s:%d by mDNS", server, port)
        self._start_link(cfg, replace(broker, host=server, port=port))

    def _start_link(self, cfg: Config, broker: BrokerSettings) -> None:
        assert self._loop is not None and self._outbox is not None
        m = cfg.mqtt
        self._link = MqttLink(self.topics, broker, self._loop, clock_synced)
        self._decider = Decider(self._link, m.decide_timeout_ms / 1000)
        self._personalizer = Personalizer(
            self._decider,
            show=self._show_personal,
            offer=self._offer,
            cooldown_s=cfg.personalize.cooldown_s,
            max_in_flight=cfg.personalize.max_in_flight,
        )
        self._syncer = Syncer(
            self._outbox,
            self._link,
            batch_max_events=cfg.sync.batch_max_events,
            batch_max_bytes=cfg.sync.batch_max_bytes,
            ack_timeout_s=float(cfg.sync.ack_timeout_s),
        )
        self._manager = self._content_manager(self._link)
        self._commands = CommandRunner(
            self._outbox,
            self._link,
            clock_synced=clock_synced,
            screenshot=self._screenshot,
            reload=self._reload,
            purge=self._purge_visitor,
            reprovision=self._reprovision,
            update=self._stager(self._link).stage,
        )
        self._link.start()
        self._online_tasks += [
            asyncio.create_task(self._content_clock(self._manager), name="content"),
            asyncio.create_task(self._inbox(self._link), name="inbox"),
            asyncio.create_task(self._syncer.run(), name="sync"),
        ]

    def _reprovision(self) -> None:
        """The `reprovision` command: answered first, then offline, bundle gone, pairing."""
        if self._provisioning is None or not self._provisioning.interfaces:
            raise EdgeError("pairing is off on this device ([provision] interfaces is empty)")
        assert self._loop is not None
        loop = self._loop
        loop.call_later(0.5, lambda: self._online_tasks.append(loop.create_task(self._unpair())))

    async def _unpair(self) -> None:
        assert self._provisioning is not None
        if self._syncer is not None:  # what this store's device recorded goes to it first
            await self._syncer.drain(budget_s=5.0)
        me = asyncio.current_task()
        await _cancel([t for t in self._online_tasks if t is not me])
        self._online_tasks = []
        link, self._link = self._link, None
        if link is not None:
            await asyncio.to_thread(link.stop)
        self._syncer = self._manager = self._commands = self._decider = self._updates = None
        self._personalizer = Personalizer(
            None,
            show=self._show_personal,
            offer=self._offer,
            cooldown_s=self.config.personalize.cooldown_s,
            max_in_flight=self.config.personalize.max_in_flight,
        )
        await self._provisioning.reprovision()
        self.config = self._provisioning.config
        self._checkin_url = None
        if self._stage is not None:
            self._stage.set_checkin(None)

    def _show_pairing(self, slide: Slide | None) -> None:
        """The pairing slide (None: take it down and play the device's own content)."""
        content = ([slide], lambda _name: None) if slide is not None else self._fallback()
        if self._stage is None:
            self._content = content if slide is not None else None
        else:
            self._stage.set_playlist(content[0], content[1], fallback=True)

    def _request_io_stop(self) -> None:
        if self._io_stop is not None:
            self._io_stop.set()

    async def _stop_when_drained(self) -> None:
        assert self._outbox is not None
        while not self.stop.is_set():
            idle = self._personalizer.in_flight == 0 and (
                self._writer is None or self._writer.held == 0
            )
            if self._source_done() and idle and self._outbox.pending() == 0:
                self.stop.set()
                return
            await asyncio.sleep(0.05)

    # content ---------------------------------------------------------------------
    def _content_manager(self, link: MqttLink) -> ContentManager:
        """Manifests and assets from central; the last good ones played from disk at once."""
        cfg, state = self.config, self.config.state_dir
        c = cfg.content
        assets = AssetStore(
            state / "assets",
            max_bytes=c.cache_bytes,
            max_asset_bytes=c.max_asset_bytes,
            max_image_pixels=c.max_image_pixels,
        )
        manager = ContentManager(
            state / "content",
            assets,
            public_keys=c.public_keys,
            store_id=cfg.device.store_id,
            device_id=cfg.device.device_id,
            clock_synced=clock_synced,
            on_rejected=self._content_rejected,
            request_asset=lambda sha: link.publish(
                link.topics.asset_get, json.dumps({"sha256": sha}).encode()
            ),
            on_content=self._content_changed,
        )
        manager.load(int(time.time() * 1000))
        manager.evaluate(datetime.now(UTC))
        return manager

    async def _start_lan(self) -> LanCheckin | None:
        """The LAN check-in endpoint, when `[checkin] lan_address` names an interface."""
        c = self.config.checkin
        if not c.lan_address:
            return None
        lan = LanCheckin(
            host=c.lan_address,
            port=c.lan_port,
            device_id=self.config.device.device_id or "unprovisioned",
            public_keys=c.public_keys,
            on_checkin=self._lan_checkin,
        )
        try:
            await lan.start()
        except EdgeError as exc:
            log.error("LAN check-in endpoint not started: %s", exc)
            return None
        log.info("LAN check-in on %s:%d (advertised as _omo-checkin._tcp)", c.lan_address, lan.port)
        self.lan_port = lan.port
        return lan

    async def _content_clock(self, manager: ContentManager) -> None:
        """Re-evaluate the schedule when it next changes (and ask again for late assets)."""
        while True:
            wake = manager.evaluate(datetime.now(UTC))
            manager.tick(time.monotonic())
            delay = 30.0 if wake is None else (wake - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(min(30.0, max(0.05, delay)))

    def _show_personal(self, personal: Personal) -> None:
        if self._stage is not None:
            self._stage.show(personal)
        self.stats.decisions += 1

    def _offer(self, segment: str) -> Slide | None:
        return self._manager.offer(segment) if self._manager is not None else None

    def _content_rejected(self, exc: ContentRejected) -> None:
        fields: dict[str, Any] = {"reason": exc.reason, "detail": exc.detail}
        if exc.sha256 is not None:
            fields["sha256"] = exc.sha256
        else:
            fields["manifest_version"] = exc.manifest_version
        self._commit([self._event("content.rejected", fields)])

    def _screenshot(self) -> asyncio.Future[bytes]:
        if self._stage is None:
            raise EdgeError("the screen is not up yet")
        return asyncio.wrap_future(self._stage.request_screenshot())

    def _prune_memory(self) -> None:
        # Not a bound method of the personalizer: pairing replaces it.
        self._personalizer.prune()

    def _reload(self) -> None:
        if self._manager is not None:
            self._manager.force_refresh()
            self._manager.evaluate(datetime.now(UTC))
        if self._stage is not None:
            self._stage.reload()

    # presence --------------------------------------------------------------------
    async def _presence(self, pipeline: PresencePipeline) -> None:
        try:
            async for advert in self.source.adverts():
                self.stats.adverts += 1
                _beacon, events = pipeline.feed(advert)
                if events:
                    self._record_presence(events)
        except (OSError, EdgeError) as exc:
            log.error("advert source stopped: %s; the screen keeps playing", exc)

    async def _systemd(self) -> None:
        """READY once a frame is on screen; WATCHDOG only while frames keep coming (and this
        loop runs). Disk, broker or radio trouble never stops the pings: a restart would not
        fix them, and a restart loop would black out the screen."""
        notifier = Notifier()
        if not notifier.enabled:
            return
        while self._stage is None or self._stage.frames == 0:
            await asyncio.sleep(0.05)
        notifier.send("READY=1", "STATUS=content on screen")
        log.info("told systemd we are ready (first frame on screen)")
        if notifier.watchdog_s is None:
            return
        stall_s = float(self.config.display.stall_s)
        stalled = False
        while True:
            await asyncio.sleep(notifier.watchdog_s / 3)
            alive = render_alive(time.monotonic(), self._stage.last_frame_monotonic, stall_s)
            if alive:
                notifier.send("WATCHDOG=1")
            elif not stalled:
                log.error("no frame for %.0f s: not confirming liveness to the watchdog", stall_s)
            stalled = not alive

    def _stager(self, link: MqttLink) -> Stager:
        """Update wheels: fetched (by URL or as an asset), verified, staged for the apply unit."""
        u = self.config.update
        self._updates = Stager(
            self.config.state_dir / "update",
            u.release_public_key,
            request_asset=lambda sha: link.publish(
                link.topics.asset_get, json.dumps({"sha256": sha}).encode()
            ),
            allow_file_urls=u.allow_file_urls,
            max_bytes=u.max_bytes,
        )
        return self._updates

    async def _announce_running(self) -> None:
        """running.json once content is on screen: the update unit's sign of health."""
        await running.announce(
            self.config.state_dir,
            __version__,
            lambda: self._stage is not None and self._stage.frames > 0,
        )

    async def _health(self, pipeline: PresencePipeline) -> None:
        """A `device.health` event every `[health] interval_s`: what ops need to see trouble."""
        started = time.monotonic()
        rate = FrameRate(0, started)
        while True:
            await asyncio.sleep(float(self.config.health.interval_s))
            frames = self._stage.frames if self._stage else 0
            fields: dict[str, Any] = {
                "uptime_s": round(time.monotonic() - started),
                "fps": rate.update(frames, time.monotonic()),
                **system_fields(self.config.state_dir),
                "adverts": self.stats.adverts,
                "visitors_present": pipeline.tracker.visitors_present,
                "frames": frames,
                "rejected_payloads": self.stats.rejected_payloads,
                "broker_connected": int(bool(self._link and self._link.connected.is_set())),
                "incoming_dropped": self._link.dropped_incoming if self._link else 0,
            }
            fields.update({f"decode_{k}": v for k, v in pipeline.decoder.counters.items()})
            fields.update({f"scanner_{k}": v for k, v in self.source.health().items()})
            if self._outbox is not None:  # cheap figures only: status() scans for the oldest
                fields.update(
                    outbox_pending=self._outbox.pending(), outbox_bytes=self._outbox.file_bytes()
                )
                dropped = self._outbox.dropped()
                fields.update({f"dropped_{k}": v for k, v in dropped.items()})
                fields["dropped_total"] = sum(dropped.values())
            if self._writer is not None:
                fields.update(
                    storage_ok=int(self._writer.storage_ok), events_in_memory=self._writer.held
                )
            self._commit([self._event("device.health", fields)])

    async def _ticks(self, pipeline: PresencePipeline) -> None:
        while True:
            await asyncio.sleep(pipeline.tick_s)
            events = pipeline.tick(self.source.now())
            if events:
                self._record_presence(events)

    def _record_presence(self, events: list[PresenceEvent]) -> None:
        records = []
        for ev in events:
            visitor = self._pseudonyms.public(ev.visitor)
            fields: dict[str, Any] = {
                "visitor": visitor,
                "visit_id": ev.visit_id,
                "zone": ev.zone,
                "rssi": ev.rssi,
            }
            if ev.dwell_ms is not None:
                fields["dwell_ms"] = ev.dwell_ms
            records.append(self._event(ev.type, fields))
            if ev.type == "visit.enter":
                self.stats.visitors.add(visitor)
                log.info("visitor entered: %s (%s)", short_visitor(visitor), ev.zone)
                self._personalizer.visit(visitor, ev.visit_id, ev.zone)
            elif ev.type == "visit.exit":
                log.info(
                    "visitor left: %s after %.0f s",
                    short_visitor(visitor),
                    (ev.dwell_ms or 0) / 1000,
                )
        self._commit(records)

    # events ----------------------------------------------------------------------
    def _event(self, type_: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": new_id(),
            "type": type_,
            "ts": int(time.time() * 1000),
            "clock_synced": clock_synced(),
            **fields,
        }

    def _record_impression(self, impression: Impression) -> None:
        if impression.shown_ms <= 0 or impression.showing.slide.id == PAIRING_SLIDE_ID:
            return
        self.stats.impressions += 1
        self._commit([self._event("impression", impression.event_fields())])

    def _commit(self, records: list[dict[str, Any]]) -> None:
        if self._writer is not None:
            for record in records:
                self._writer.add(record)

    def _written(self) -> None:
        if self._syncer is not None:
            self._syncer.wake()

    # link ------------------------------------------------------------------------
    async def _inbox(self, link: MqttLink) -> None:
        while True:
            item = await link.incoming.get()
            try:
                done = self._handle(item)
            except PayloadRejected as exc:
                self.stats.rejected_payloads += 1
                self._quiet.problem(f"payload:{item.topic}", "%s (counted; ignored)", exc)
                done = True  # bad input is not redelivered: it would be just as bad again
            if done:
                link.ack(item)

    def _handle(self, item: Incoming) -> bool:
        """Act on one message; False leaves it unacknowledged, so the broker redelivers it."""
        if item.topic == self.topics.decision:
            assert self._decider is not None
            self._decider.answer(parse(item.topic, item.payload, Decision), item.correlation)
        elif item.topic == self.topics.events_ack:
            assert self._syncer is not None
            self._syncer.ack(parse(item.topic, item.payload, EventsAck).batch_id)
        elif item.topic == self.topics.checkin:
            return self._checkin(parse(item.topic, item.payload, Checkin))
        elif item.topic == self.topics.cmd:
            assert self._commands is not None
            return self._commands.receive_payload(item.topic, item.payload)
        elif item.topic in (self.topics.manifest, self.topics.store_manifest):
            assert self._manager is not None
            scope = "device" if item.topic == self.topics.manifest else "store"
            self._manager.receive_manifest(scope, item.payload, int(time.time() * 1000))
            self._manager.evaluate(datetime.now(UTC))
        elif (sha := self.topics.asset_sha(item.topic)) is not None:
            if self._updates is not None and self._updates.receive_asset(sha, item.payload):
                return True  # an update wheel, not content
            assert self._manager is not None
            self._manager.receive_asset(sha, item.payload)
            self._manager.evaluate(datetime.now(UTC))
        else:
            log.debug("message on unexpected topic %s ignored", item.topic)
        return True

    def _checkin(self, checkin: Checkin) -> bool:
        """A phone scanned this screen's code (via central): nonce checked, committed, then
        acknowledged; a refused nonce is acknowledged too (it will not get better)."""
        return (
            self._check_in(checkin.visitor, checkin.nonce, tuple(checkin.consent), "central", None)
            != "storage"
        )

    def _check_in(
        self, visitor: str, nonce: str, consent: tuple[str, ...], via: str, segment: str | None
    ) -> str:
        """One check-in, either way in: "ok", a refused nonce's verdict, or "storage"."""
        verdict = self._nonces.use(nonce, time.monotonic())
        self._save_nonces()
        self._show_checkin_code()
        if verdict != "ok":
            log.warning("check-in via %s refused: %s nonce", via, verdict)
            return verdict
        visitor = self._pseudonyms.public(visitor)
        recorded = visitor if "analytics" in consent else None
        visit_id = new_id()
        event = self._event(
            "checkin", {"visitor": recorded, "visit_id": visit_id, "nonce": nonce, "via": via}
        )
        assert self._writer is not None
        if not self._writer.commit_now([event]):
            return "storage"
        log.info("check-in via %s committed for %s", via, short_visitor(recorded))
        self._personalizer.checkin(visitor, visit_id, consent, segment)
        return "ok"

    def _purge_visitor(self, visitor: str) -> str:
        """Everything about `visitor` (as issued, or a pseudonym) leaves this device: events
        (held, stored, in an unacknowledged batch), its check-in nonces, cached decisions,
        presence state, corrupt outbox copies (they cannot be edited safely)."""
        assert self._writer is not None and self._outbox is not None
        forms = self._pseudonyms.forms(visitor)
        if not self._writer.flush():  # answered as failed; central sends a new command
            raise StorageError("the outbox cannot write now; nothing was purged")
        purged = self._outbox.purge_visitor(forms)
        if self._nonces.discard(purged.nonces):
            self._save_nonces()
        for form in forms:
            self._personalizer.forget(form)
        self.stats.visitors -= forms
        tracked = 0
        if self._pipeline is not None:
            named = self._pseudonyms.forms
            tracked = self._pipeline.tracker.forget(lambda i: bool(forms & named(i)))
        copies = remove(corrupt_copies(self._outbox.path))
        log.info(
            "purged a visitor: %d events (%d others re-queued), %d nonces, %d tracked, "
            "%d corrupt copies",
            purged.events,
            purged.released,
            len(purged.nonces),
            tracked,
            copies,
        )
        return (
            f"{purged.events} events about this visitor deleted ({purged.released} other events "
            f"re-queued from an unacknowledged batch), {len(purged.nonces)} check-in nonces, "
            f"{tracked} presence states, {copies} corrupt outbox copies"
        )

    async def _lan_checkin(self, token: VisitorToken, nonce: str) -> tuple[int, dict[str, Any]]:
        verdict = self._check_in(token.visitor, nonce, token.consent, "lan", token.segment)
        if verdict == "ok":
            return 200, {"ok": True}
        if verdict == "storage":
            return 503, {"error": "unavailable", "detail": "try again in a moment"}
        return nonce_refusal(verdict)  # type: ignore[arg-type]

    def _show_checkin_code(self) -> None:
        """Put the current nonce's QR on screen (a new one after each use and every minute)."""
        if not self.config.provisioned:
            return  # nobody could check in: central does not know this device yet
        c, d = self.config.checkin, self.config.device
        version = self._nonces.version
        url = qr_url(c.base_url, d.device_id, self._nonces.current(time.monotonic()))
        if self._nonces.version != version:
            self._save_nonces()
        if url != self._checkin_url:
            self._checkin_url = url
            if self._stage is not None:
                self._stage.set_checkin(url)

    def _load_nonces(self) -> None:
        """Nonces shown before a restart: a scan made just before it still counts once."""
        try:
            saved = json.loads(self._nonce_file.read_text())
            now_ms, mono = time.time() * 1000, time.monotonic()
            self._nonces.restore(
                [(str(n), (now_ms - float(at)) / 1000, bool(used)) for n, at, used in saved], mono
            )
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:
            log.warning("saved check-in nonces unreadable (%s); starting afresh", exc)

    def _save_nonces(self) -> None:
        now_ms, mono = time.time() * 1000, time.monotonic()
        rows = [
            [n, round(now_ms - age * 1000), used] for n, age, used in self._nonces.snapshot(mono)
        ]
        try:
            write_atomic(self._nonce_file, json.dumps(rows).encode())
        except OSError as exc:
            self._quiet.problem("nonces", "cannot save check-in nonces: %s", exc)

    async def _nonce_clock(self) -> None:
        while True:
            self._show_checkin_code()
            due = self._nonces.rotates_at()
            wait = 1.0 if due is None else due - time.monotonic()
            await asyncio.sleep(min(5.0, max(0.05, wait)))


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
