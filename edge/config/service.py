"""Remote config in the daemon: overlays from `P/config` and `S/config`, kept and applied.

The composition root hands over the device's local config (the file, plus a
pairing bundle) and a function that applies a config live; this service checks
each overlay (edge/config/remote.py), works out the settings with both overlays
laid on, keeps the overlay on disk, applies it and records `config.applied`, or
records `config.rejected` and changes nothing. An overlay that expires while in
force is dropped the same way, and the settings go back to what they were before it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.clock import trusted_now_ms
from edge.config import remote
from edge.config.load import Config
from edge.config.remote import Overlay, OverlayRejected, ScopeName
from edge.link.router import Route
from edge.link.schemas.device import ConfigLive
from edge.link.session import Incoming
from edge.link.topics import Topics
from edge.quiet import QuietLog
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task

log = logging.getLogger(__name__)

Record = Callable[[str, dict[str, Any]], None]


class RemoteConfigService(Service):
    name = "config"

    def __init__(
        self,
        state_dir: Path,
        *,
        apply: Callable[[Config], None],
        clock_synced: Callable[[], bool],
        now: Callable[[], float] = time.time,
    ) -> None:
        """`apply(config)`: put the settings in force (the root knows every service)."""
        self._state_dir = state_dir
        self._apply = apply
        self._clock_synced = clock_synced
        self._now = now
        self._record: Record | None = None
        self._held: list[tuple[str, dict[str, Any]]] = []  # events before the outbox exists
        self._quiet = QuietLog(log)
        self.local = Config()
        self.overlays: dict[ScopeName, Overlay] = {}
        self.highest: dict[str, int] = {}
        self.rejected = 0
        self._changed = asyncio.Event()

    # -- start -------------------------------------------------------------------------------
    def startup(self, local: Config) -> Config:
        """The saved overlays checked again and laid on `local`: the config to start with."""
        self.local = local
        payloads, self.highest = remote.load(self._state_dir)
        for scope, payload in payloads.items():
            try:
                overlay = self._verify(scope, payload, None)
                if overlay.version < self.highest.get(scope, 0):
                    raise OverlayRejected("stale_version", "older than one taken before")
                remote.effective(local, *self._ordered({**self.overlays, scope: overlay}))
            except OverlayRejected as exc:
                self._refused(scope, exc, where="saved")
                remote.drop(self._state_dir, scope)
                continue
            self.overlays[scope] = overlay
        return self.config_for(local)

    def set_record(self, record: Record) -> None:
        """Events from now on go to `record` (the outbox), those held first."""
        self._record = record
        held, self._held = self._held, []
        for kind, fields in held:
            record(kind, fields)

    def config_for(self, local: Config) -> Config:
        """`local` (a new bundle, say) with the overlays in force that still fit it."""
        self.local = local
        for scope, overlay in list(self.overlays.items()):
            if not self._fits(overlay, local):
                log.info(
                    "%s config overlay %d is for another scope now; dropped", scope, overlay.version
                )
                del self.overlays[scope]
                remote.drop(self._state_dir, scope)
        try:
            return remote.effective(local, *self._ordered(self.overlays))
        except OverlayRejected as exc:  # the local file changed under the overlays
            log.error("config overlays no longer fit the local config (%s); not used", exc)
            self.overlays.clear()
            return local

    # -- the service's parts ---------------------------------------------------------------
    def routes(self, topics: Topics) -> list[Route]:
        return [
            Route("config", lambda item: self._receive("device", item), topic=topics.config),
            Route(
                "store-config", lambda item: self._receive("store", item), topic=topics.store_config
            ),
        ]

    def tasks(self) -> list[Task]:
        return [Task("config-expiry", self._expiry)]

    def live(self) -> dict[ScopeName, ConfigLive]:
        """For `P/state`: the overlay in force per scope."""
        return {
            s: ConfigLive(version=o.version, expires_ts=o.expires_ts, digest=o.digest)
            for s, o in self.overlays.items()
        }

    def health(self) -> Figures:
        return {"config_rejected": self.rejected}

    # -- overlays arriving -------------------------------------------------------------------
    async def _receive(self, scope: ScopeName, item: Incoming) -> bool:
        if not item.payload:
            # A retained message cleared: unsigned, so it changes nothing. Central
            # withdraws settings with a newer overlay that leaves them out.
            log.debug("empty %s config message ignored", scope)
            return True
        payload = bytes(item.payload)
        current = self.overlays.get(scope)
        try:
            overlay = self._verify(scope, payload, None)
            if current is not None and overlay.digest == current.digest:
                return True  # the retained overlay again, after a reconnect
            highest = self.highest.get(scope)
            if highest is not None and overlay.version <= highest:
                raise OverlayRejected(
                    "stale_version",
                    f"version {overlay.version} is not above {highest}, the last taken "
                    f"for the {scope}",
                    version=overlay.version,
                )
            config = remote.effective(self.local, *self._ordered({**self.overlays, scope: overlay}))
        except OverlayRejected as exc:
            self._refused(scope, exc)
            return True
        self.overlays[scope] = overlay
        self.highest[scope] = overlay.version
        await asyncio.to_thread(remote.save, self._state_dir, overlay, dict(self.highest))
        self._apply(config)
        self._changed.set()
        log.info(
            "%s config overlay %d applied: %s", scope, overlay.version, ", ".join(overlay.keys())
        )
        self._event(
            "config.applied",
            {
                "scope": scope,
                "version": overlay.version,
                "digest": overlay.digest,
                "keys": overlay.keys(),
            },
        )
        return True

    def _verify(self, scope: ScopeName, payload: bytes, highest: int | None) -> Overlay:
        local = self.local
        now_ms = trusted_now_ms(int(self._now() * 1000), self._clock_synced())
        return remote.verify(
            payload,
            scope=scope,
            public_keys=local.config.public_keys,
            store_id=local.device.store_id,
            device_id=local.device.device_id,
            now_ms=now_ms,
            highest=highest,
        )

    def _refused(self, scope: ScopeName, exc: OverlayRejected, where: str = "received") -> None:
        self.rejected += 1
        self._quiet.problem(
            f"config:{scope}:{exc.reason}",
            "%s %s config overlay refused (%s); the settings stay as they were",
            where,
            scope,
            exc,
        )
        self._event(
            "config.rejected",
            {
                "scope": scope,
                "version": exc.version,
                "reason": exc.reason,
                "key": exc.key,
                "value": exc.value_text(),
                "detail": exc.detail,
            },
        )

    def _event(self, kind: str, fields: dict[str, Any]) -> None:
        if self._record is None:
            self._held.append((kind, fields))
        else:
            self._record(kind, fields)

    # -- expiry ------------------------------------------------------------------------------
    async def _expiry(self) -> None:
        """Drop an overlay when it expires; its settings go back to what was before it."""
        while True:
            self._changed.clear()
            soonest = min((o.expires_ts for o in self.overlays.values()), default=None)
            wait_s = 3600.0
            if soonest is not None:
                wait_s = min(wait_s, max(0.0, soonest / 1000 - self._now()) + 0.01)
            try:
                await asyncio.wait_for(self._changed.wait(), wait_s)
                continue
            except TimeoutError:
                pass
            if not self._clock_synced():
                continue  # expiry is judged only by a clock we trust
            now_ms = int(self._now() * 1000)
            for scope, overlay in list(self.overlays.items()):
                if overlay.expires_ts <= now_ms:
                    del self.overlays[scope]
                    remote.drop(self._state_dir, scope)
                    self._apply(self.config_for(self.local))
                    self._refused(
                        scope,
                        OverlayRejected(
                            "expired",
                            f"it expired at {overlay.expires_ts} (ms) while in force; the "
                            "settings before it are back",
                            version=overlay.version,
                        ),
                    )

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _ordered(overlays: dict[ScopeName, Overlay]) -> list[Overlay | None]:
        """Store first, then device: the device's own overlay wins."""
        return [overlays.get(s) for s in typing.get_args(ScopeName)]

    @staticmethod
    def _fits(overlay: Overlay, local: Config) -> bool:
        want_device = local.device.device_id if overlay.scope == "device" else None
        return (overlay.store_id, overlay.device_id) == (local.device.store_id, want_device)
