"""The I/O thread's half of the device: every service, one supervisor, one event loop.

Built from the typed config in one place, in the order the data flows: the
outbox first (everything else records into it), then presence, check-ins and
personalisation, health; online (provisioned, or once a pairing bundle
arrives) the link, sync, content and commands join, and leave again when the
device is unpaired. Services hand over their routes and tasks; the root puts
the routes on the router and runs the tasks under the supervisor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from edge.app.bridge import RenderBridge
from edge.app.health import HealthService
from edge.app.online import Online, auto_broker, connect
from edge.app.stats import Stats
from edge.checkin.service import CheckinService
from edge.clock import clock_synced
from edge.config import Config
from edge.config.service import RemoteConfigService
from edge.content.player import Impression, Personal
from edge.content.service import fallback_playlist
from edge.content.slides import Slide
from edge.errors import EdgeError
from edge.link.router import TopicRouter
from edge.link.session import BrokerSettings
from edge.logring import LogRing
from edge.outbox.service import OutboxService
from edge.outbox.worker import OutboxThread
from edge.panel.service import PanelService
from edge.personalize.service import PersonalizeService
from edge.presence.advert import AdvertSource
from edge.presence.pseudonym import Pseudonymizer
from edge.presence.pseudonym import from_settings as pseudonymizer
from edge.presence.service import PresenceService
from edge.provision.device import PAIRING_SLIDE_ID, Provisioning, prepare
from edge.quiet import QuietLog
from edge.runtime.service import Service
from edge.runtime.supervisor import Supervisor, Task

log = logging.getLogger("edge.daemon")


class IoSide:
    def __init__(
        self,
        base: Config,
        source: AdvertSource,
        bridge: RenderBridge,
        stats: Stats,
        *,
        source_done: Callable[[], bool] = lambda: False,
    ) -> None:
        self.base = base  # the config file's own values, before any bundle
        self.config = base
        self.source = source
        self.bridge = bridge
        self.stats = stats
        self._source_done = source_done
        self.router = TopicRouter()
        self.supervisor = Supervisor()
        self.pseudonyms: Pseudonymizer = pseudonymizer(base.privacy)
        self.online: Online | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quiet = QuietLog(log)
        self._log_level_set = False  # the file's level is set by the CLI; an overlay's here
        self.remote_config = RemoteConfigService(
            base.state_dir, apply=self._apply_config, clock_synced=clock_synced
        )
        self.log_ring = LogRing()  # recent log lines for the `logs` command
        self.panel = PanelService(  # before the threads: the panel starts as it should be
            base,
            bridge,
            record=self._record,
            on_state=self.state_changed,
        )

    # -- the thread's entry ---------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The I/O loop, once running (tools and tests submit coroutines to it)."""
        return self._loop

    def request_stop(self) -> None:
        """Any thread: begin the orderly shutdown."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)

    async def main(self, ready: Callable[[], None], stop_when_drained: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.bridge.bind_loop(self._loop)
        prepared = await asyncio.to_thread(prepare, self.base)
        self.config = cfg = await asyncio.to_thread(self.remote_config.startup, prepared.config)
        self._set_log_level(cfg)
        self.panel.set_config(cfg)  # store hours from a saved overlay
        async with OutboxThread.for_config(cfg) as box, self.supervisor as tasks:
            self._build(cfg, box)
            self.remote_config.set_record(self.outbox.record)
            self.provisioning = Provisioning(
                self.base, prepared, show=self._show_pairing, online=self._go_online
            )
            for service in self._always():
                tasks.start(*service.tasks(), group="inputs")
            tasks.start(Task("provisioning", self._provision), group="inputs")
            if stop_when_drained:
                tasks.start(Task("stop-when-drained", self._stop_when_drained), group="inputs")
            if cfg.provisioned:
                await self._go_online(cfg)
            else:
                log.warning(
                    "device %s is not provisioned: pairing mode; events wait in the outbox",
                    cfg.device.device_id,
                )
                self.provisioning.enter_pairing()
            # Start-up objects leave the collector's sight: a full collection then scans only
            # what came since, so it never stalls this loop for tens of ms (loop_stall.py).
            gc.freeze()
            ready()
            await self._stop.wait()
            await self._shut_down()

    def _build(self, cfg: Config, box: OutboxThread) -> None:
        self.outbox = OutboxService(
            cfg, box, clock_synced=clock_synced, prune_memory=self._prune_memory
        )
        self.personalize = PersonalizeService(cfg, show=self._show_personal, offer=self._offer)
        p = self.personalize.personalizer
        self.presence = PresenceService(
            self.source,
            cfg.tracker_params,
            cfg.allow_list,
            record=self.outbox.record,
            on_approach=self._while_lit(p.visit),
            on_exit=self.bridge.depart,  # a personal slide waiting for them is skipped
            pseudonyms=lambda: self.pseudonyms,
        )
        self.checkin = CheckinService(
            cfg,
            show_code=self.bridge.set_checkin,
            event=self.outbox.event,
            commit_now=self.outbox.commit_now,
            on_checkin=self._while_lit(p.checkin),
            pseudonyms=lambda: self.pseudonyms,
        )
        self.health = HealthService(
            cfg,
            self.bridge,
            services=self._services,
            extra=self._own_figures,
            before=self.outbox.refresh_figures,
            record=self.outbox.record,
            on_summary=self.state_changed,
        )
        log.info(
            "visitor ids %s",
            f"pseudonymised with key {self.pseudonyms.kid}"
            if self.pseudonyms.active
            else "as issued (no [privacy] visitor_keys, or pseudonymize = false)",
        )

    def _record(self, type_: str, fields: dict[str, Any]) -> None:
        """Record through the outbox, which is built once the I/O loop runs."""
        self.outbox.record(type_, fields)

    def _while_lit(self, ask: Callable[..., None]) -> Callable[..., None]:
        """`ask` (a decide request) only while the panel is on: nobody sees the answer when
        it is in standby. Presence and check-ins are still recorded."""

        def gated(*args: Any, **kwargs: Any) -> None:
            if self.bridge.panel_wanted:
                ask(*args, **kwargs)

        return gated

    def _always(self) -> list[Service]:
        return [
            self.outbox,
            self.presence,
            self.checkin,
            self.personalize,
            self.health,
            self.remote_config,
            self.panel,
        ]

    def _services(self) -> Iterable[Service]:
        yield from self._always()
        if self.online is not None:
            yield self.online.content

    def _own_figures(self) -> dict[str, int | float | str]:
        figures: dict[str, int | float | str] = {
            "broker_connected": 0,
            "incoming_dropped": 0,
            **(self.online.figures() if self.online is not None else {}),
            **self.router.health(),
            "task_restarts": sum(self.supervisor.restarts.values()),
        }
        figures.update({f"task_restarts_{k}": v for k, v in self.supervisor.restarts.items()})
        return figures

    async def _provision(self) -> None:
        """Pairing service and mDNS announcer, for as long as the daemon runs."""
        await self.provisioning.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.provisioning.aclose()

    # -- online and offline -----------------------------------------------------------------
    async def _go_online(self, cfg: Config) -> None:
        """Talk to central: at start when provisioned, or as soon as a bundle arrives."""
        self.config = cfg = self.remote_config.config_for(cfg)  # a bundle may move the store
        self.pseudonyms = pseudonymizer(cfg.privacy)  # a bundle may bring the keys
        self.checkin.set_config(cfg)
        broker = BrokerSettings.from_config(cfg.mqtt)
        if broker.host == "auto":  # looked for in the background: the screen comes up anyway
            self.supervisor.start(Task("auto-broker", self._auto_broker), group="online")
            return
        await self._start_link(cfg, broker)

    async def _auto_broker(self) -> None:
        await self._start_link(self.config, await auto_broker(self.config, self._quiet))

    async def _start_link(self, cfg: Config, broker: BrokerSettings) -> None:
        online = await connect(self, cfg, broker)
        self.router.add(*online.routes)
        self.online = online
        online.start()
        self.supervisor.start(*online.tasks(self.router, self.outbox), group="online")

    def state_fields(self) -> dict[str, Any]:
        """What `P/state` says beyond the link's own fields (read at each publication)."""
        fields: dict[str, Any] = {
            "display": self.panel.display(self.bridge.display),
            "panel": self.panel.state(),
        }
        if self.online is not None:
            fields["content"] = self.online.content.content_state()
        if self.health.summary is not None:
            fields["health"] = self.health.summary
        if live := self.remote_config.live():
            fields["config"] = live
        return fields

    def _apply_config(self, config: Config) -> None:
        """A remote config overlay came, or went: its settings take effect now (presence
        allow-lists and parameters, health interval, log level; edge/config/remote.py)."""
        self.config = config
        self.presence.reconfigure(config.tracker_params, config.allow_list)
        self.health.set_config(config)
        self.panel.set_config(config)
        self._set_log_level(config)
        self.state_changed()

    def _set_log_level(self, config: Config) -> None:
        if config.log.level != self.base.log.level or self._log_level_set:
            logging.getLogger().setLevel(config.log.level.upper())
            self._log_level_set = True

    def state_changed(self) -> None:
        """Something `P/state` says changed (the screen, content, health): publish it again."""
        if self.online is not None:
            self.online.link.publish_state()

    def reprovision(self) -> None:
        """The `reprovision` command: answered first, then offline, bundle gone, pairing."""
        if not self.provisioning.interfaces:
            raise EdgeError("pairing is off on this device ([provision] interfaces is empty)")
        if "unpair" not in self.supervisor.running():
            self.supervisor.start(Task("unpair", self._unpair), group="control")

    async def _unpair(self) -> None:
        await asyncio.sleep(0.5)  # the command's answer goes out first
        await self.outbox.drain(5.0)  # what this store's device recorded goes to it first
        await self._go_offline()
        await self.provisioning.reprovision()
        self.config = self.remote_config.config_for(self.provisioning.config)
        self.checkin.set_config(self.config)

    async def _go_offline(self) -> None:
        online, self.online = self.online, None
        await self.supervisor.stop("online")
        if online is None:
            return
        self.router.remove({r.name for r in online.routes})
        self.outbox.offline()
        self.personalize.offline()
        await online.stop()

    # -- what the services ask of the root ----------------------------------------------------
    def _show_personal(self, personal: Personal) -> None:
        if self.online is not None and personal.slide.assets():
            # a decision's images are named by SHA-256: from the cache, or asked for now
            resolve = self.online.content.decision_assets(personal.slide, personal.wait_ms)
            personal = dataclasses.replace(personal, resolve=resolve)
        self.bridge.show(personal)
        self.stats.decisions += 1

    def _offer(self, segment: str) -> Slide | None:
        return self.online.content.offer(segment) if self.online is not None else None

    def _show_pairing(self, slide: Slide | None) -> None:
        """The pairing slide (None: take it down and play the device's own content)."""
        if slide is not None:
            self.bridge.set_playlist([slide], lambda _name: None, fallback=True)
        else:
            self.bridge.set_playlist(*fallback_playlist(self.config), fallback=True)

    def record_impression(self, impression: Impression) -> None:
        """From the render thread, via the bridge: one slide left the screen."""
        if impression.showing.slide.id == PAIRING_SLIDE_ID:
            return
        if not impression.counts:  # on screen, but not long enough to count
            self.stats.too_short += 1
            return
        self.stats.impressions += 1
        self.outbox.record("impression", impression.event_fields())

    async def reload(self) -> None:
        if self.online is not None:
            await self.online.content.reload()
        self.bridge.reload()

    def _prune_memory(self) -> None:
        self.personalize.personalizer.prune()

    async def purge_visitor(self, visitor: str) -> str:
        """Everything about `visitor` (as issued, or a pseudonym) leaves this device: events
        (held, stored, in an unacknowledged batch), its check-in nonces, cached decisions,
        presence state, corrupt outbox copies (they cannot be edited safely)."""
        forms = self.pseudonyms.forms(visitor)
        events, released, nonces, copies = await self.outbox.purge(forms)
        discarded = await self.checkin.discard(nonces)
        for form in forms:
            self.personalize.personalizer.forget(form)
        tracked = self.presence.forget(forms)
        log.info(
            "purged a visitor: %d events (%d others re-queued), %d nonces, %d tracked, "
            "%d corrupt copies",
            events,
            released,
            discarded,
            tracked,
            copies,
        )
        return (
            f"{events} events about this visitor deleted ({released} other events "
            f"re-queued from an unacknowledged batch), {len(nonces)} check-in nonces, "
            f"{tracked} presence states, {copies} corrupt outbox copies"
        )

    # -- the end ---------------------------------------------------------------------------------
    async def _stop_when_drained(self) -> None:
        """Demo and benchmarks: stop once the replay is over and everything is synced."""
        assert self._stop is not None
        while True:
            if self._source_done() and self.personalize.personalizer.in_flight == 0:
                if self.outbox.writer.held:  # about to stop: no waiting out [storage] hold_s
                    await self.outbox.writer.flush()
                if self.outbox.writer.held == 0 and await self.outbox.pending() == 0:
                    self._stop.set()
                    return
            await asyncio.sleep(0.05)

    async def _shut_down(self) -> None:
        """Inputs stop, open visits end, what is held is committed and (briefly) sent."""
        await self.supervisor.stop("inputs")
        await self.supervisor.stop("control")
        self.presence.close()
        await self.outbox.drain(3.0)  # the inbox still takes acks meanwhile
        online = self.online
        if online is not None and self.outbox.syncer is not None:
            self.stats.events_synced = self.outbox.syncer.synced
        await self.supervisor.stop("online")
        await self.outbox.writer.flush()
        if online is not None:
            await online.stop()
        self.stats.visitors = set(self.presence.visitors)
        self.stats.adverts = self.presence.adverts
        status = await self.outbox.status()
        self.stats.events_pending = status["pending"] + status["inflight"]


def run_io(io: IoSide, ready: threading.Event, errors: list[BaseException], **kw: Any) -> None:
    """The I/O thread's body: run the loop; an error is handed to the main thread."""
    try:
        asyncio.run(io.main(ready.set, **kw))
    except BaseException as exc:  # reported to the main thread, which re-raises or logs
        errors.append(exc)
        log.exception("I/O loop failed")
    finally:
        ready.set()
