"""What content plays: signed manifests in, assets fetched, the schedule evaluated.

Two scopes can hold a manifest: the store-wide one (`S/manifest`) and the
device's own (`P/manifest`); the device's wins while it is valid. A new
manifest goes live only when every asset it names is on disk and verified,
so no slide ever shows a missing image; until then the current content keeps
playing. The last good manifest of each scope is kept in the state dir, so
after a power cut with no network the screen shows it within seconds; if it
has expired meanwhile, the device's own `signage_content/` plays instead.

Every rejection becomes a `content.rejected` event through `on_rejected`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.clock import trusted_now_ms
from edge.content import reasons
from edge.content.assets import AssetStore
from edge.content.manifest import Manifest, manifest_digest, verify
from edge.content.schedule import next_change, playing
from edge.content.slides import Slide
from edge.errors import ContentRejected
from edge.files import write_atomic

log = logging.getLogger(__name__)
SCOPES = ("store", "device")
ASSET_RETRY_S = 30.0
Resolver = Callable[[str], Path | None]


@dataclass
class _Held:
    manifest: Manifest
    payload: bytes

    @property
    def digest(self) -> str:
        return manifest_digest(self.payload)


class ContentManager:
    def __init__(
        self,
        folder: Path,
        assets: AssetStore,
        *,
        public_keys: Mapping[str, str],
        store_id: str,
        device_id: str,
        clock_synced: Callable[[], bool],
        on_rejected: Callable[[ContentRejected], None],
        request_asset: Callable[[str], None],
        on_content: Callable[[Sequence[Slide], Resolver], None],
        on_live: Callable[[str, Manifest, str], None] = lambda _s, _m, _d: None,
    ) -> None:
        """`on_live(scope, manifest, digest)`: a manifest went live (all assets verified)."""
        self.folder = folder
        self.assets = assets
        self._keys = public_keys
        self._store_id, self._device_id = store_id, device_id
        self._clock_synced = clock_synced
        self._on_rejected = on_rejected
        self._request_asset = request_asset
        self._on_content = on_content
        self._on_live = on_live
        self._live: dict[str, _Held] = {}
        self._pending: dict[str, _Held] = {}
        self._asked: dict[str, float] = {}
        self._showing: tuple[Slide, ...] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    # -- start-up --------------------------------------------------------------
    def load(self, now_ms: int) -> None:
        """The last good manifests from disk (re-verified: keys may have changed)."""
        for scope in SCOPES:
            path = self._saved(scope)
            if not path.is_file():
                continue
            payload = path.read_bytes()
            try:
                manifest = self._verify(payload, now_ms, None)
            except ContentRejected as exc:
                log.warning("saved %s manifest no longer usable (%s); not playing it", scope, exc)
                continue
            if self.assets.missing(set(manifest.assets.values())):
                log.warning("saved %s manifest has assets missing on disk; waiting for them", scope)
                self._pending[scope] = _Held(manifest, payload)
                continue
            self._live[scope] = _Held(manifest, payload)
            log.info("playing the saved %s manifest version %d", scope, manifest.version)

    # -- input -----------------------------------------------------------------
    def receive_manifest(self, scope: str, payload: bytes, now_ms: int) -> None:
        live = self._live.get(scope)
        if live is not None and live.payload == payload:
            return  # the retained copy again, after a reconnect
        pending = self._pending.get(scope)
        if pending is not None and pending.payload == payload:
            return
        current = max((h.manifest.version for h in (live, pending) if h is not None), default=None)
        try:
            manifest = self._verify(payload, now_ms, current)
            expected = "device" if manifest.scope.device_id else "store"
            if expected != scope:
                raise ContentRejected(
                    "wrong_scope",
                    f"a {expected} manifest on the {scope} topic",
                    manifest_version=manifest.version,
                )
        except ContentRejected as exc:
            log.warning("%s manifest rejected: %s", scope, exc)
            exc.scope = scope
            self._on_rejected(exc)
            return
        log.info("%s manifest version %d accepted; fetching its assets", scope, manifest.version)
        self._pending[scope] = _Held(manifest, payload)
        self._fetch_missing(time.monotonic())
        self._promote()

    def receive_asset(self, sha256: str, data: bytes | memoryview) -> None:
        wanted = {sha for held in self._pending.values() for sha in held.manifest.assets.values()}
        if sha256 not in wanted:
            log.debug("asset %s nobody waits for; ignored", sha256[:12])
            return
        try:
            self.assets.put(sha256, data)
        except ContentRejected as exc:
            log.warning("asset %s rejected: %s", sha256[:12], exc)
            self._drop_waiting_for(sha256, exc.reason, exc.detail)
            return
        self._asked.pop(sha256, None)
        self._promote()

    def asset_missing(self, sha256: str, detail: str = "") -> None:
        """Central has no such asset: a manifest waiting for it is refused (`missing_asset`),
        what plays keeps playing, and nobody asks for it again."""
        self._asked.pop(sha256, None)
        why = f"central has no asset {sha256[:12]}" + (f": {detail}" if detail else "")
        self._drop_waiting_for(sha256, reasons.MISSING_ASSET, why)

    def _drop_waiting_for(self, sha256: str, reason: str, detail: str) -> None:
        for scope, held in list(self._pending.items()):
            if sha256 in held.manifest.assets.values():
                del self._pending[scope]
                log.warning("%s manifest %d dropped: %s", scope, held.manifest.version, detail)
                self._on_rejected(
                    ContentRejected(
                        reason,
                        f"{detail} (manifest {held.manifest.version} dropped)",
                        manifest_version=held.manifest.version,
                        sha256=sha256,
                        scope=scope,
                    )
                )

    def tick(self, monotonic_now: float) -> None:
        """Ask again for assets that did not come."""
        self._fetch_missing(monotonic_now)

    # -- output ----------------------------------------------------------------
    def resolve(self, name: str) -> Path | None:
        """The file of asset `name` of the manifest now playing (None if unknown)."""
        held = self._current()
        sha = held.manifest.assets.get(name) if held else None
        return self.assets.path(sha) if sha else None

    def evaluate(self, now: datetime) -> datetime | None:
        """Push the slides that should play now (if changed); returns when to look again."""
        held = self._current(int(now.timestamp() * 1000))
        if held is None:
            if self._showing is not None:
                self._showing = None
                self._on_content((), self.resolve)  # back to the device's own content
            return None
        m = held.manifest
        zone = ZoneInfo(m.timezone)
        slides = playing(m.playlist, m.schedule, zone, now, self._clock_synced())
        if slides != self._showing:
            self._showing = slides
            self._on_content(slides, self.resolve)
        changes = [t for t in (next_change(m.schedule, zone, now),) if t is not None]
        changes.append(datetime.fromtimestamp(m.expires_ts / 1000, UTC))
        return min(changes)

    def live(self) -> dict[str, tuple[Manifest, str]]:
        """The manifest live for each scope, with its digest (for `P/state`)."""
        return {scope: (held.manifest, held.digest) for scope, held in self._live.items()}

    def offer(self, segment: str) -> Slide | None:
        """The current manifest's slide for `segment` (offline personalization), if any."""
        held = self._current()
        return held.manifest.offers.get(segment) if held else None

    def force_refresh(self) -> None:
        """`reload`: push the current slides again on the next evaluation."""
        self._showing = None

    # -- internals -------------------------------------------------------------
    def _verify(self, payload: bytes, now_ms: int, current: int | None) -> Manifest:
        return verify(
            payload,
            public_keys=self._keys,
            store_id=self._store_id,
            device_id=self._device_id,
            now_ms=trusted_now_ms(now_ms, self._clock_synced()),
            current_version=current,
        )

    def _current(self, now_ms: int | None = None) -> _Held | None:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        for scope in ("device", "store"):
            held = self._live.get(scope)
            if held and (not self._clock_synced() or held.manifest.expires_ts > now_ms):
                return held
        return None

    def _fetch_missing(self, monotonic_now: float) -> None:
        for held in self._pending.values():
            for sha in self.assets.missing(set(held.manifest.assets.values())):
                if monotonic_now - self._asked.get(sha, -ASSET_RETRY_S) >= ASSET_RETRY_S:
                    self._asked[sha] = monotonic_now
                    self._request_asset(sha)

    def _promote(self) -> None:
        for scope, held in list(self._pending.items()):
            if self.assets.missing(set(held.manifest.assets.values())):
                continue
            del self._pending[scope]
            self._live[scope] = held
            self._save(scope, held.payload)
            keep = {sha for h in self._live.values() for sha in h.manifest.assets.values()}
            keep |= {sha for h in self._pending.values() for sha in h.manifest.assets.values()}
            self.assets.evict(keep)
            log.info("%s manifest version %d is live", scope, held.manifest.version)
            self._showing = None  # re-evaluate on the next look
            self._on_live(scope, held.manifest, held.digest)

    def _saved(self, scope: str) -> Path:
        return self.folder / f"manifest-{scope}.json"

    def _save(self, scope: str, payload: bytes) -> None:
        write_atomic(self._saved(scope), payload)
