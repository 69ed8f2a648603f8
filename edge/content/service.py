"""Content in the daemon: manifests and assets from central, the schedule, the playlist.

The ContentManager does the work (verify, fetch, store, evaluate); this
service feeds it from MQTT and runs it off the event loop: a manifest is
verified and saved, and an asset of up to hundreds of MB hashed and written,
on a worker thread, one operation at a time, so a big download never delays a
decide answer. An asset message is acknowledged at once (if the device
restarts meanwhile it simply asks again). What should play goes to the screen
through the bridge; every rejection becomes a `content.rejected` event.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from edge.clock import clock_synced
from edge.config import Config
from edge.content.assets import AssetStore
from edge.content.fallback import image_path, load_playlist
from edge.content.manager import ContentManager, Resolver
from edge.content.manifest import Manifest, is_sha256
from edge.content.slides import Slide
from edge.errors import ContentRejected
from edge.link.router import Route
from edge.link.schemas import AssetGet, AssetMissing, encode, parse
from edge.link.schemas.device import ContentLive, ContentRefused, ScopeContent
from edge.link.session import Incoming, MqttLink, Payload
from edge.link.topics import Topics
from edge.runtime.jobs import Jobs
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
SetPlaylist = Callable[[Sequence[Slide], Resolver, bool], None]
Record = Callable[[str, dict[str, Any]], None]


def asset_requester(link: MqttLink) -> Callable[[str], None]:
    """Ask central for the asset with this SHA-256 (`P/asset/get`)."""

    def request(sha256: str) -> None:
        link.publish(link.topics.asset_get, encode(AssetGet(sha256=sha256)))

    return request


def fallback_playlist(config: Config) -> tuple[Sequence[Slide], Resolver]:
    """The device's own content (`signage_content/` unless configured)."""
    folder = config.content_dir
    return load_playlist(folder), lambda name: image_path(folder, name)


class ContentService(Service):
    name = "content"

    def __init__(
        self,
        config: Config,
        assets_link: MqttLink,
        *,
        set_playlist: SetPlaylist,
        record: Record,
        loop: asyncio.AbstractEventLoop,
        take_asset: Callable[[str, Payload], bool] = lambda _sha, _data: False,
        on_state: Callable[[], None] = lambda: None,
        on_decision_asset: Callable[[], None] = lambda: None,
    ) -> None:
        """`assets_link`: the asset connection, where assets are asked for and arrive;
        `take_asset`: offered every asset first (an update wheel is not content);
        `on_state`: what `content_state()` says has changed (publish `P/state` again);
        `on_decision_asset`: a decision's image is stored (paint its slide again)."""
        self._config = config
        self._set_playlist = set_playlist
        self._record = record
        self._loop = loop
        self._take_asset = take_asset
        self._on_state = on_state
        self._on_decision_asset = on_decision_asset
        self._refused: dict[str, ContentRefused] = {}
        self._playing: dict[str, ContentLive] = {}  # replaced whole, read from any thread
        self._lock = threading.Lock()  # the manager, one operation at a time
        self.jobs = Jobs("assets")
        c, state = config.content, config.state_dir
        self.assets = AssetStore(
            state / "assets",
            max_bytes=c.cache_bytes,
            max_asset_bytes=c.max_asset_bytes,
            max_image_pixels=c.max_image_pixels,
        )
        self._request_asset = asset_requester(assets_link)
        self._on_demand: dict[str, float] = {}  # decision assets asked for -> until (monotonic)
        self.manager = ContentManager(
            state / "content",
            self.assets,
            public_keys=c.public_keys,
            store_id=config.device.store_id,
            device_id=config.device.device_id,
            clock_synced=clock_synced,
            on_rejected=self._rejected,
            request_asset=asset_requester(assets_link),
            on_content=self._content_changed,
            on_live=self._live,
        )
        self.rejected = 0

    async def start(self) -> None:
        """The last good manifests from disk, played at once (before the broker answers)."""
        await self._off_loop(self._load)

    def _load(self) -> None:
        self.manager.load(int(time.time() * 1000))
        self.manager.evaluate(datetime.now(UTC))
        self._playing = {
            scope: ContentLive(version=m.version, expires_ts=m.expires_ts, digest=digest)
            for scope, (m, digest) in self.manager.live().items()
        }

    # -- MQTT ------------------------------------------------------------------------------
    def routes(self, topics: Topics) -> list[Route]:
        return [
            Route("manifest", self._device_manifest, topic=topics.manifest),
            Route("store_manifest", self._store_manifest, topic=topics.store_manifest),
            Route("asset_missing", self._asset_missing, topic=topics.asset_missing),
            Route(
                "asset",
                self._asset,
                prefix=f"{topics.base}/asset/",
                exclude=frozenset({topics.asset_get, topics.asset_missing}),
            ),
        ]

    async def _asset_missing(self, item: Incoming) -> bool:
        missing = parse(item.topic, item.payload, AssetMissing)
        await self._off_loop(self._missing, missing.sha256, missing.detail)
        return True

    def _missing(self, sha256: str, detail: str) -> None:
        self.manager.asset_missing(sha256, detail)
        self.manager.evaluate(datetime.now(UTC))

    async def _device_manifest(self, item: Incoming) -> bool:
        await self._off_loop(self._manifest, "device", bytes(item.payload))  # at most 256 KB
        return True

    async def _store_manifest(self, item: Incoming) -> bool:
        await self._off_loop(self._manifest, "store", bytes(item.payload))
        return True

    def _manifest(self, scope: str, payload: bytes) -> None:
        self.manager.receive_manifest(scope, payload, int(time.time() * 1000))
        self.manager.evaluate(datetime.now(UTC))

    async def _asset(self, item: Incoming) -> bool:
        sha = item.topic.rsplit("/", 1)[1]
        if self._take_asset(sha, item.payload):
            return True
        payload = item.payload
        if self._on_demand.pop(sha, 0.0) > time.monotonic():  # a decision's image
            self.jobs.submit(lambda: self._off_loop(self._store_on_demand, sha, payload))
            return True
        self.jobs.submit(lambda: self._off_loop(self._store_asset, sha, payload))
        return True

    def _ask_missing(self, names: list[str]) -> None:
        for name in self.assets.missing(names):
            self._request_asset(name)

    def _store_on_demand(self, sha: str, data: Payload) -> None:
        try:
            self.assets.put(sha, data)
        except ContentRejected as exc:
            log.warning("decision asset %s refused: %s", sha[:12], exc)
            return
        self._on_decision_asset()  # its slide may be up already: drawn without it so far

    def decision_assets(self, slide: Slide, wait_ms: int) -> Resolver:
        """On the loop: where a decision's assets are. Names that are a SHA-256 come from the
        asset cache (put there by a manifest, or asked for now, `P/asset/get`, and taken if
        they arrive within `wait_ms`); until then the slide is drawn without them."""
        now = time.monotonic()
        self._on_demand = {s: t for s, t in self._on_demand.items() if t > now}
        wanted = [n for n in slide.assets() if is_sha256(n) and n not in self._on_demand]
        until = now + max(wait_ms, 10_000) / 1000
        for name in wanted:
            self._on_demand[name] = until  # before asking: the answer may come at once
        if wanted:  # which are cached is a look at the disk: not on the loop
            self.jobs.submit(lambda: self._off_loop(self._ask_missing, wanted))
        assets = self.assets

        def resolve(name: str) -> Path | None:
            return assets.path(name) if is_sha256(name) else None

        return resolve

    def _store_asset(self, sha: str, data: Payload) -> None:
        self.manager.receive_asset(sha, data)
        self.manager.evaluate(datetime.now(UTC))

    # -- the schedule ------------------------------------------------------------------------
    def tasks(self) -> list[Task]:
        return [Task("content", self._clock), self.jobs.task()]

    async def _clock(self) -> None:
        """Re-evaluate when the schedule next changes (and ask again for late assets)."""
        while True:
            wake = await self._off_loop(self._tick)
            delay = 30.0 if wake is None else (wake - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(min(30.0, max(0.05, delay)))

    def _tick(self) -> datetime | None:
        wake = self.manager.evaluate(datetime.now(UTC))
        self.manager.tick(time.monotonic())
        return wake

    async def reload(self) -> None:
        """`reload`: push the current slides again (the screen reads its assets again)."""
        await self._off_loop(self._refresh)

    def _refresh(self) -> None:
        self.manager.force_refresh()
        self.manager.evaluate(datetime.now(UTC))

    def offer(self, segment: str) -> Slide | None:
        return self.manager.offer(segment)

    def health(self) -> Figures:
        return {"content_rejected": self.rejected, "asset_jobs_failed": self.jobs.failed}

    # -- manager callbacks (on the worker thread) ---------------------------------------------
    def _content_changed(self, slides: Sequence[Slide], resolve: Resolver) -> None:
        fallback = not slides
        if fallback:
            slides, resolve = fallback_playlist(self._config)
        self._set_playlist(slides, resolve, fallback)
        log.info(
            "now playing %s",
            "the device's own content"
            if fallback
            else f"{len(slides)} slides of the central manifest",
        )

    def _rejected(self, exc: ContentRejected) -> None:
        fields: dict[str, Any] = {"reason": exc.reason, "detail": exc.detail}
        if exc.scope is not None:
            fields["scope"] = exc.scope
        if exc.sha256 is not None:
            fields["sha256"] = exc.sha256
        if exc.manifest_version is not None:
            fields["manifest_version"] = exc.manifest_version
        self._loop.call_soon_threadsafe(self._count_rejection, fields)

    def _count_rejection(self, fields: dict[str, Any]) -> None:
        self.rejected += 1
        self._record("content.rejected", fields)
        scope = fields.get("scope")
        if scope is not None:  # the latest refusal per scope, for P/state
            refusal = ContentRefused(
                version=fields.get("manifest_version"),
                reason=fields["reason"],
                detail=fields["detail"],
                ts=int(time.time() * 1000),
            )
            self._refused = {**self._refused, scope: refusal}
            self._on_state()

    def _live(self, scope: str, manifest: Manifest, digest: str) -> None:
        fields = {
            "scope": scope,
            "version": manifest.version,
            "expires_ts": manifest.expires_ts,
            "digest": digest,
        }
        self._loop.call_soon_threadsafe(self._went_live, fields)

    def _went_live(self, fields: dict[str, Any]) -> None:
        self._record("content.live", fields)
        scope = fields.pop("scope")
        self._playing = {**self._playing, scope: ContentLive(**fields)}
        self._on_state()

    def content_state(self) -> dict[str, ScopeContent]:
        """Per scope: the manifest live now and the latest one refused (`P/state`).

        Read from any thread (paho's, when it connects): built from dicts that are only
        ever replaced whole, never from the manager a worker may be changing."""
        live, refused = self._playing, self._refused
        return {
            scope: ScopeContent(live=live.get(scope), rejected=refused.get(scope))
            for scope in sorted(set(live) | set(refused))
        }

    async def _off_loop(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn` on a worker thread, holding the manager's lock."""

        def locked() -> T:
            with self._lock:
                return fn(*args, **kwargs)

        return await asyncio.to_thread(locked)
