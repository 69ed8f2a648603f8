"""Daemon side of an update: fetch the wheel, verify it, stage it for the apply unit.

The daemon has no privileges: it only writes the verified wheel and then a small
manifest into `state_dir/update/`. The manifest appearing is what starts
omo-edge-update.path, so it is written last and atomically.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edge.content.manifest import is_sha256
from edge.files import write_atomic
from edge.update.verify import UpdateRefused, Wheel, verify

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
ASK_AGAIN_S = 15.0


class Stager:
    def __init__(
        self,
        update_dir: Path,
        public_key: str,
        *,
        request_asset: Callable[[str], None],
        allow_file_urls: bool = False,
        max_bytes: int = 64 << 20,
        fetch_timeout_s: float = 120.0,
    ) -> None:
        self.update_dir = update_dir
        self._key = public_key
        self._request_asset = request_asset
        self._allow_file_urls = allow_file_urls
        self._max_bytes = max_bytes
        self._timeout_s = fetch_timeout_s
        self._waiting: dict[str, asyncio.Future[bytes]] = {}

    def receive_asset(self, sha256: str, data: bytes | memoryview) -> bool:
        """True if an update was waiting for this asset (then it is ours, not content's)."""
        future = self._waiting.get(sha256)
        if future is None or future.done():
            return False
        future.set_result(bytes(data))  # a wheel, at most [update] max_bytes
        return True

    async def stage(self, args: Mapping[str, Any]) -> str:
        """Fetch, verify and stage the wheel `args` names; UpdateRefused says why not."""
        if not self._key:
            raise UpdateRefused("updates are off: no [update] release_public_key in the config")
        sig = args.get("sig")
        if not isinstance(sig, str) or not sig:
            raise UpdateRefused("the update is unsigned (args.sig is missing)")
        data = await self._fetch(args)
        wheel = await asyncio.to_thread(verify, data, sig, self._key)
        await asyncio.to_thread(write_staged, self.update_dir, data, wheel, sig)
        log.info("update staged", extra={"kv": {"version": wheel.version}})
        return f"update {wheel.version} verified and staged; omo-edge-update applies it"

    async def _fetch(self, args: Mapping[str, Any]) -> bytes:
        sha, url = args.get("sha256"), args.get("url")
        if sha is not None and not (isinstance(sha, str) and is_sha256(sha)):
            raise UpdateRefused("args.sha256 must be 64 lowercase hex digits")
        if isinstance(url, str) and url:
            data = await asyncio.to_thread(self._download, url)
        elif isinstance(sha, str):
            data = await self._asset(sha)
        else:
            raise UpdateRefused("args must name the wheel by url or by sha256")
        digest = await asyncio.to_thread(hashlib.sha256, data)  # up to max_bytes: off the loop
        if sha is not None and digest.hexdigest() != sha:
            raise UpdateRefused("the wheel's SHA-256 is not the one the command names")
        return data

    async def _asset(self, sha: str) -> bytes:
        """The wheel as an asset from central (P/asset/get), asked again if it does not come."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[sha] = future
        deadline = time.monotonic() + self._timeout_s
        try:
            while True:
                self._request_asset(sha)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise UpdateRefused(f"the wheel did not arrive within {self._timeout_s:g} s")
                try:
                    data = await asyncio.wait_for(asyncio.shield(future), min(ASK_AGAIN_S, left))
                except TimeoutError:
                    continue
                if len(data) > self._max_bytes:
                    raise UpdateRefused(f"the wheel is larger than {self._max_bytes} bytes")
                return data
        finally:
            self._waiting.pop(sha, None)

    def _download(self, url: str) -> bytes:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme == "file" and not self._allow_file_urls:
            raise UpdateRefused("file:// update URLs are off ([update] allow_file_urls)")
        if scheme not in ("https", "file"):
            raise UpdateRefused("an update URL must be https://")
        try:
            with urllib.request.urlopen(
                url, timeout=self._timeout_s
            ) as response:  # scheme checked above
                data: bytes = response.read(self._max_bytes + 1)
        except OSError as exc:
            raise UpdateRefused(f"cannot download the wheel: {exc}") from exc
        if len(data) > self._max_bytes:
            raise UpdateRefused(f"the wheel is larger than {self._max_bytes} bytes")
        return data


def write_staged(update_dir: Path, data: bytes, wheel: Wheel, sig: str) -> None:
    """The verified wheel, then the manifest that names it (whose arrival starts the apply unit)."""
    for old in update_dir.glob("*.whl"):
        if old.name != wheel.filename:
            old.unlink(missing_ok=True)
    write_atomic(update_dir / wheel.filename, data, mode=0o644)
    manifest = {
        "version": wheel.version,
        "wheel": wheel.filename,
        "sha256": hashlib.sha256(data).hexdigest(),
        "sig": sig,
        "staged_ts": time.time(),
    }
    write_atomic(update_dir / MANIFEST, json.dumps(manifest).encode(), mode=0o644)
