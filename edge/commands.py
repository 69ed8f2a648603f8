"""Commands from central (`P/cmd`): checked, remembered, carried out, answered.

A command is carried out at most once: its `cmd_id` is committed to the
outbox's `commands` table before anything happens (and before the broker is
told we have it), so a redelivery or a replay is refused. An expired command
is refused; before the clock is synchronised expiry is judged against the
release date (what expired before it has certainly expired). Every command
gets a `P/cmd/result`, a malformed one too when it names its `cmd_id`; one
that does not cannot be answered and is only logged and counted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from edge.clock import trusted_now_ms
from edge.errors import EdgeError, PayloadRejected
from edge.link.schemas import (
    COMMAND_NAMES,
    MAX_PAYLOAD,
    CmdResult,
    Command,
    encode,
    parse_command,
    tag,
)
from edge.link.schemas.central import (
    DisplayCmd,
    Logs,
    PurgeVisitor,
    Reload,
    Reprovision,
    Screenshot,
    SetLogLevel,
    Update,
)
from edge.link.session import Incoming, MqttLink
from edge.logring import Line, select, split
from edge.outbox.store import Outbox, StorageError
from edge.outbox.worker import OutboxThread
from edge.runtime.jobs import Job
from edge.update.verify import UpdateRefused

log = logging.getLogger(__name__)


class CommandRunner:
    def __init__(
        self,
        outbox: OutboxThread,
        link: MqttLink,
        *,
        clock_synced: Callable[[], bool],
        screenshot: Callable[[], Awaitable[bytes]] | None,
        reload: Callable[[], Awaitable[None]],
        purge: Callable[[str], Awaitable[str]] | None = None,
        update: Callable[[Mapping[str, Any]], Awaitable[str]] | None = None,
        reprovision: Callable[[], None] | None = None,
        logs: Callable[[], list[Line]] | None = None,
        display: Callable[[str, int | None], Awaitable[str]] | None = None,
        submit: Callable[[Job], None],
    ) -> None:
        """`submit` runs a command once accepted (in the daemon: its supervised Jobs)."""
        self._outbox = outbox
        self._link = link
        self._clock_synced = clock_synced
        self._screenshot = screenshot
        self._reload = reload
        self._purge = purge
        self._update = update
        self._reprovision = reprovision
        self._logs = logs
        self._display = display
        self._submit = submit
        self.refused = 0
        self.malformed = 0

    async def handle(self, item: Incoming) -> bool:
        """The `P/cmd` route."""
        return await self.receive_payload(item.topic, item.payload)

    async def receive_payload(self, topic: str, payload: bytes | memoryview) -> bool:
        """Parse and accept a `P/cmd` payload, as `receive`.

        A malformed command is answered (ok false, the reason) when it carries a
        usable `cmd_id`, then PayloadRejected is raised for the caller to log and count.
        """
        try:
            cmd = parse_command(topic, payload)
        except PayloadRejected as exc:
            self.malformed += 1
            doc = _json_object(payload)
            cmd_id = doc.get("cmd_id")
            if isinstance(cmd_id, str) and 1 <= len(cmd_id) <= 128:
                name = doc.get("cmd")
                why = (
                    f"unknown command {name!r}"
                    if isinstance(name, str) and name not in COMMAND_NAMES
                    else f"malformed command: {exc.reason}"
                )
                log.warning("refused command %s: %s", cmd_id, why)
                self._publish(CmdResult(cmd_id=cmd_id, ok=False, detail=why))
            raise
        return await self.receive(cmd)

    async def receive(self, cmd: Command) -> bool:
        """Accept `cmd`; False (not acknowledged, so redelivered) only if storage failed."""
        now_ms = int(time.time() * 1000)
        if cmd.expires_ts <= trusted_now_ms(now_ms, self._clock_synced()):
            self._refuse(cmd, f"expired at {cmd.expires_ts}, now {now_ms}")
            return True
        try:
            fresh = await self._outbox.run(
                Outbox.remember_command, cmd.cmd_id, now_ms, cmd.expires_ts
            )
        except StorageError as exc:
            log.warning("command %s not taken yet: %s", cmd.cmd_id, exc)
            return False
        if not fresh:
            self._refuse(cmd, "this cmd_id was already carried out")
            return True
        self._submit(lambda: self._run(cmd))
        return True

    def _refuse(self, cmd: Command, why: str) -> None:
        self.refused += 1
        log.warning("refused command %s (%s): %s", cmd.cmd_id, tag(cmd), why)
        self._answer(cmd, False, why)

    async def _run(self, cmd: Command) -> None:
        log.info("command %s: %s", cmd.cmd_id, tag(cmd))
        if isinstance(cmd, Logs) and self._logs is not None:
            self._send_logs(cmd, self._logs())
            return
        try:
            ok, detail, extra = await self._carry_out(cmd)
        except EdgeError as exc:  # a known reason (e.g. the screen is not up yet): plain words
            log.warning("command %s could not be carried out: %s", cmd.cmd_id, exc)
            ok, detail, extra = False, str(exc), {}
        except Exception as exc:  # a command must never take the daemon down
            log.exception("command %s failed", cmd.cmd_id)
            ok, detail, extra = False, f"failed: {exc}", {}
        self._answer(cmd, ok, detail, extra)

    async def _carry_out(self, cmd: Command) -> tuple[bool, str, dict[str, Any]]:
        if isinstance(cmd, Screenshot):
            if self._screenshot is None:
                return False, "no screen yet", {}
            png = await asyncio.wait_for(self._screenshot(), 10.0)
            return True, f"{len(png)} bytes PNG", {"png_b64": base64.b64encode(png).decode()}
        if isinstance(cmd, Reload):
            await self._reload()
            return True, "content reloaded", {}
        if isinstance(cmd, PurgeVisitor):
            visitor = cmd.args.visitor
            if self._purge is None:
                purged = await self._outbox.run(Outbox.purge_visitor, {visitor})
                return True, f"{purged.events} pending events about this visitor deleted", {}
            return True, await self._purge(visitor), {}  # the id as issued, or its pseudonym
        if isinstance(cmd, SetLogLevel):
            logging.getLogger().setLevel(cmd.args.level.upper())
            return True, f"log level {cmd.args.level}", {}
        if isinstance(cmd, Update) and self._update is not None:
            try:
                return True, await self._update(msgspec.to_builtins(cmd.args)), {}
            except UpdateRefused as exc:
                log.warning("update refused: %s", exc)
                return False, f"update refused: {exc}", {}
        if isinstance(cmd, DisplayCmd) and self._display is not None:
            return True, await self._display(cmd.args.power, cmd.args.until), {}
        if isinstance(cmd, Reprovision) and self._reprovision is not None:
            self._reprovision()  # acts after this answer is on its way
            return True, "back to pairing: bundle and certificate removed, identity kept", {}
        return False, f"{tag(cmd)} is not available on this device yet", {}

    def _send_logs(self, cmd: Logs, lines: list[Line]) -> None:
        """The chosen lines in as many results as their size needs (each under 64 KiB)."""
        chosen = select(lines, cmd.args.lines, cmd.args.since)
        parts = split(chosen)
        for n, part in enumerate(parts, start=1):
            detail = f"{len(chosen)} log lines, part {n} of {len(parts)}"
            self._publish(
                CmdResult(
                    cmd_id=cmd.cmd_id, ok=True, detail=detail, lines=part, part=n, parts=len(parts)
                )
            )

    def _answer(
        self, cmd: Command, ok: bool, detail: str, extra: dict[str, Any] | None = None
    ) -> None:
        self._publish(CmdResult(cmd_id=cmd.cmd_id, ok=ok, detail=detail, **(extra or {})))

    def _publish(self, result: CmdResult) -> None:
        self._link.publish(self._link.topics.cmd_result, encode(result))


def _json_object(payload: bytes | memoryview) -> dict[str, Any]:
    """`payload` as a JSON object, or {} (to find the `cmd_id` of a command that failed)."""
    if len(payload) > MAX_PAYLOAD:
        return {}
    try:
        doc = json.loads(bytes(payload))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}
