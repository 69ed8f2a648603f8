"""Commands from central (`P/cmd`): checked, remembered, carried out, answered.

A command is carried out at most once: its `cmd_id` is committed to the
outbox's `commands` table before anything happens (and before the broker is
told we have it), so a redelivery or a replay is refused. An expired command
is refused; before the clock is synchronised expiry cannot be judged, so
only the once-only rule applies. Every command gets a `P/cmd/result`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.link.schemas import Command
from edge.link.session import MqttLink
from edge.outbox.store import Outbox, StorageError

log = logging.getLogger(__name__)
LOG_LEVELS = ("debug", "info", "warning", "error")


class CommandRunner:
    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        *,
        clock_synced: Callable[[], bool],
        screenshot: Callable[[], asyncio.Future[bytes]] | None,
        reload: Callable[[], None],
        purge: Callable[[str], str] | None = None,
    ) -> None:
        self._outbox = outbox
        self._link = link
        self._clock_synced = clock_synced
        self._screenshot = screenshot
        self._reload = reload
        self._purge = purge
        self.refused = 0

    def receive(self, cmd: Command) -> bool:
        """Accept `cmd`; False (not acknowledged, so redelivered) only if storage failed."""
        now_ms = int(time.time() * 1000)
        if self._clock_synced() and cmd.expires_ts <= now_ms:
            self._refuse(cmd, f"expired at {cmd.expires_ts}, now {now_ms}")
            return True
        try:
            fresh = self._outbox.remember_command(cmd.cmd_id, now_ms, cmd.expires_ts)
        except StorageError as exc:
            log.warning("command %s not taken yet: %s", cmd.cmd_id, exc)
            return False
        if not fresh:
            self._refuse(cmd, "this cmd_id was already carried out")
            return True
        asyncio.get_running_loop().create_task(self._run(cmd))
        return True

    def _refuse(self, cmd: Command, why: str) -> None:
        self.refused += 1
        log.warning("refused command %s (%s): %s", cmd.cmd_id, cmd.cmd, why)
        self._answer(cmd, False, why)

    async def _run(self, cmd: Command) -> None:
        log.info("command %s: %s", cmd.cmd_id, cmd.cmd)
        try:
            ok, detail, extra = await self._carry_out(cmd)
        except Exception as exc:  # a command must never take the daemon down
            log.exception("command %s failed", cmd.cmd_id)
            ok, detail, extra = False, f"failed: {exc}", {}
        self._answer(cmd, ok, detail, extra)

    async def _carry_out(self, cmd: Command) -> tuple[bool, str, dict[str, Any]]:
        if cmd.cmd == "screenshot":
            if self._screenshot is None:
                return False, "no screen yet", {}
            png = await asyncio.wait_for(self._screenshot(), 10.0)
            return True, f"{len(png)} bytes PNG", {"png_b64": base64.b64encode(png).decode()}
        if cmd.cmd == "reload":
            self._reload()
            return True, "content reloaded", {}
        if cmd.cmd == "purge_visitor":
            visitor = cmd.args.get("visitor")
            if not isinstance(visitor, str) or not visitor:
                return False, "args.visitor (a visitor id) is required", {}
            if self._purge is None:
                purged = self._outbox.purge_visitor({visitor})
                return True, f"{purged.events} pending events about this visitor deleted", {}
            return True, self._purge(visitor), {}  # the id as issued, or its pseudonym
        if cmd.cmd == "set_log_level":
            level = cmd.args.get("level")
            if level not in LOG_LEVELS:
                return False, f"args.level must be one of {', '.join(LOG_LEVELS)}", {}
            logging.getLogger().setLevel(str(level).upper())
            return True, f"log level {level}", {}
        return False, f"{cmd.cmd} is not available on this device yet", {}

    def _answer(
        self, cmd: Command, ok: bool, detail: str, extra: dict[str, Any] | None = None
    ) -> None:
        body = {"cmd_id": cmd.cmd_id, "ok": ok, "detail": detail, **(extra or {})}
        self._link.publish(self._link.topics.cmd_result, json.dumps(body).encode())
