"""Answering the devices' `P/asset/get`: the bytes on `P/asset/{sha256}`, or `P/asset/missing`.

Used by `content publish` (while it waits) and `content serve` (for devices that come
online later). An asset is read from its file when asked for and hashed again, so a
file edited since it was published is answered "missing" (the device would refuse
bytes that do not hash to the manifest's SHA-256 anyway) rather than sent in vain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from edge.errors import EdgeError
from edge.link.schemas import AssetGet, AssetMissing, encode, parse
from edge.ops.broker import Connection, Message

Say = Callable[[str], None]


def asset_get_topic(prefix: str, store_id: str, device_id: str | None) -> str:
    """Where the devices in scope ask for assets (one device, or every device of a store)."""
    return f"{prefix}/{store_id}/{device_id or '+'}/asset/get"


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


class AssetServer:
    """Answers asset requests from `files` (SHA-256 -> file); `withheld` are answered
    missing even though a file exists (to rehearse how screens take a missing asset)."""

    def __init__(
        self,
        prefix: str,
        files: dict[str, Path],
        say: Say,
        withheld: frozenset[str] = frozenset(),
    ) -> None:
        self.prefix = prefix
        self.files = files
        self.withheld = withheld
        self.say = say
        self.sent = 0
        self.missing = 0

    def answer(self, conn: Connection, message: Message) -> bool:
        """Answer `message` if it is an asset request (True), else leave it (False)."""
        if not message.topic.endswith("/asset/get"):
            return False
        base = message.topic.removesuffix("/asset/get")
        device = base.removeprefix(f"{self.prefix}/")
        try:
            sha = parse(message.topic, message.payload, AssetGet).sha256
        except EdgeError as exc:
            self.say(f"{device}: unreadable asset request ignored ({exc})")
            return True
        data, why = self._bytes(sha)
        if data is None:
            self.missing += 1
            conn.send(f"{base}/asset/missing", encode(AssetMissing(sha256=sha, detail=why)))
            self.say(f"{device} asked for {sha[:12]}: {why}; answered P/asset/missing")
            return True
        self.sent += 1
        conn.send(f"{base}/asset/{sha}", data)
        self.say(f"sent {self.files[sha].name} ({_size(len(data))}) to {device}")
        return True

    def _bytes(self, sha: str) -> tuple[bytes | None, str]:
        path = self.files.get(sha)
        if path is None:
            return None, "not in the content this tool serves"
        if sha in self.withheld:
            return None, f"{path.name} withheld (--withhold)"
        try:
            data = path.read_bytes()
        except OSError as exc:
            return None, f"{path} cannot be read ({exc.strerror or exc})"
        if hashlib.sha256(data).hexdigest() != sha:
            return None, f"{path} has changed since it was published"
        return data, ""
