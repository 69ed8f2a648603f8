"""`omo-ops cmd`: one command to one device, its result read back from `P/cmd/result`.

The command is built through the device's own `Command` struct, so a bad argument
(a visitor id too long, a log level it does not know) is refused here, in the same
words the device would use, before anything is sent.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from edge.errors import EdgeError, plain
from edge.link.schemas import CmdResult, Command, encode, parse
from edge.ops import fleet_view as view
from edge.ops.broker import Broker, Connection
from edge.ops.errors import OpsError
from edge.ops.fleet_view import Seen


class NoResult(OpsError):
    """The command was sent, but no result came in time (exit 1: sent, not carried out)."""


def build(name: str, args: dict[str, Any], now_ms: int, expires_in_ms: int) -> Command:
    """A command with a fresh `cmd_id` (the device refuses a repeated one forever)."""
    doc = {
        "cmd": name,
        "cmd_id": f"ops-{uuid.uuid4().hex}",
        "ts": now_ms,
        "expires_ts": now_ms + expires_in_ms,
        "args": args,
    }
    try:
        return msgspec.convert(doc, Command)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise OpsError(f"{name}: {plain(exc)}") from exc


def send(
    broker: Broker, store_id: str, device_id: str, command: Command, timeout_s: float
) -> CmdResult:
    """Send `command` to the device and wait for its result; NoResult if none comes."""
    return send_all(broker, store_id, device_id, command, timeout_s)[0]


def send_all(
    broker: Broker, store_id: str, device_id: str, command: Command, timeout_s: float
) -> list[CmdResult]:
    """Send `command` and wait for every part of its result (`logs` answers in several,
    `part` of `parts`), in order; NoResult if none comes or parts are missing."""
    base = f"{broker.prefix}/{store_id}/{device_id}"
    state: Seen | None = None
    parts: dict[int, CmdResult] = {}
    with Connection(broker, [f"{base}/cmd/result", f"{base}/state"], "omo-ops-cmd") as conn:
        conn.publish(f"{base}/cmd", encode(command))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = conn.get(min(0.2, max(0.0, deadline - time.monotonic())))
            if message is None:
                continue
            if message.topic.endswith("/state"):
                state = view.seen(broker.prefix, message.topic, message.payload) or state
                continue
            try:
                result = parse(message.topic, message.payload, CmdResult)
            except EdgeError:
                continue  # not ours to judge: another tool's or a garbled result
            if result.cmd_id != command.cmd_id:
                continue
            parts[result.part or 1] = result
            if len(parts) >= (result.parts or 1):
                return [parts[n] for n in sorted(parts)]
    if parts:
        first = next(iter(parts.values()))
        raise NoResult(
            f"only {len(parts)} of {first.parts} parts of the result came within {timeout_s:g} s"
        )
    if state is None:
        where = "no retained state: has it ever connected?"
    elif view.online(state):
        where = "its state says online"
    else:
        where = "its retained state says offline"
    raise NoResult(
        f"no result from {store_id}/{device_id} within {timeout_s:g} s ({where}); the command "
        "waits at the broker until it expires"
    )
