"""`omo-ops content publish` and `content serve`: signed content out, assets served, each
screen's verdict read back from its retained `P/state`.

Publishing, in order: the folder is checked as a screen would check it; the retained
state of every device in scope is read (and the manifest retained on the topic, where
the ACL lets the tool read it); a slide kind some device does not list refuses the
whole publication, naming the devices; the manifest is built at a version above
everything they show, signed, checked once more with the device's own `verify`, and
published retained; then asset requests are answered while each online device's state
is watched until it shows the version live or refused, or the time is up. The verdict
is never read from `P/events`: central's ingest consumes and acknowledges those.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.content.manifest import verify
from edge.errors import ContentRejected
from edge.link.schemas.common import Scope
from edge.ops import fleet_view as view
from edge.ops.asset_server import AssetServer, asset_get_topic
from edge.ops.broker import Broker, Connection, Message
from edge.ops.content_rules import Content, manifest, signed
from edge.ops.errors import OpsError
from edge.ops.fleet_view import DeviceId, Outcome, Seen
from edge.ops.signing_key import ContentKey

Say = Callable[[str], None]
POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Target:
    """Whose content: a store's (`S/manifest`) or one device's (`P/manifest`)."""

    prefix: str
    store_id: str
    device_id: str | None = None

    @property
    def scope(self) -> Scope:
        return "store" if self.device_id is None else "device"

    @property
    def manifest_topic(self) -> str:
        return f"{self.prefix}/{self.store_id}/{self.device_id or '_store'}/manifest"

    def covers(self, device: DeviceId) -> bool:
        return device.store_id == self.store_id and self.device_id in (None, device.device_id)

    def subscriptions(self) -> list[str]:
        return [
            view.state_topic(self.prefix, self.store_id, self.device_id),
            asset_get_topic(self.prefix, self.store_id, self.device_id),
            self.manifest_topic,  # read back only where the ACL allows; optional
        ]


@dataclass
class Report:
    """What each device in scope did with the published version."""

    version: int
    outcomes: dict[DeviceId, Outcome] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every device that was online went live (offline ones get it when they return)."""
        return all(o.word in ("live", "offline") for o in self.outcomes.values())

    @property
    def offline(self) -> list[DeviceId]:
        return [d for d, o in self.outcomes.items() if o.word == "offline"]

    def lines(self) -> list[str]:
        width = max((len(str(d)) for d in self.outcomes), default=0)
        return [
            f"{str(d).ljust(width)}  {o.word:<8}  {o.detail}".rstrip()
            for d, o in sorted(self.outcomes.items())
        ]


def _retained_version(messages: list[Message], topic: str) -> int | None:
    """The version of the manifest retained on `topic`, if the broker showed it to us."""
    for message in messages:
        if message.topic == topic and message.payload:
            try:
                version = json.loads(message.payload)["manifest"]["version"]
            except (ValueError, KeyError, TypeError):
                return None
            return version if isinstance(version, int) else None
    return None


def _refuse_unknown_kinds(states: list[Seen], content: Content) -> None:
    kinds = [s.kind for s in [*content.playlist, *content.offers.values()]]
    lacking = view.lacking(states, kinds)
    if lacking:
        versions = {s.who: s.state.version for s in states if s.state is not None}
        named = "; ".join(
            f"{device} (omo-edge {versions[device]}) does not show {', '.join(kinds)}"
            for device, kinds in sorted(lacking.items())
        )
        raise OpsError(
            f"nothing published: {named}. A screen refuses a whole manifest with a slide kind "
            "it does not know; update those devices or leave those slides out"
        )


def _self_check(payload: bytes, key: ContentKey, kid: str, target: Target, now_ms: int) -> None:
    """The device's own `verify` on the very bytes about to go out."""
    try:
        verify(
            payload,
            public_keys={kid: key.public_b64},
            store_id=target.store_id,
            device_id=target.device_id or "",
            now_ms=now_ms,
            current_version=None,
        )
    except ContentRejected as exc:  # a bug here, not in the folder: say it plainly
        raise OpsError(f"the signed manifest fails the device's own check: {exc}") from exc


def publish(
    broker: Broker,
    target: Target,
    content: Content,
    *,
    key: ContentKey,
    kid: str,
    expires_in_ms: int,
    timeout_s: float,
    withheld: frozenset[str],
    say: Say,
    version: int | None = None,
) -> Report:
    """Publish `content` to `target` and wait for each online device's verdict.

    `version` None: one above anything the devices in scope show (live or refused) and
    the manifest retained on the topic."""
    files = {a.sha256: a.path for a in content.assets.values()}
    server = AssetServer(target.prefix, files, say, withheld)
    with Connection(broker, target.subscriptions(), "omo-ops-publish") as conn:
        first = conn.settle()
        states = view.latest(target.prefix, ((m.topic, m.payload) for m in first))
        in_scope = {d: s for d, s in states.items() if target.covers(d)}
        _refuse_unknown_kinds(list(in_scope.values()), content)
        if version is None:
            retained = _retained_version(first, target.manifest_topic)
            version = view.next_version(in_scope.values(), target.scope, retained)
        now_ms = int(time.time() * 1000)
        body = manifest(
            content,
            store_id=target.store_id,
            device_id=target.device_id,
            version=version,
            issued_ts=now_ms,
            expires_ts=now_ms + expires_in_ms,
        )
        payload = signed(body, key.key, kid)
        _self_check(payload, key, kid, target, now_ms)
        for message in first:
            server.answer(conn, message)
        conn.publish(target.manifest_topic, payload, retain=True)
        online = sum(view.online(s) for s in in_scope.values())
        say(
            f"published {target.scope} manifest v{version} ({len(content.playlist)} slides, "
            f"{len(content.assets)} assets) retained on {target.manifest_topic}; "
            f"waiting for {online} online device(s) of {len(in_scope)}"
        )
        report = _watch(conn, server, target, in_scope, version=version, timeout_s=timeout_s)
    return report


def _watch(
    conn: Connection,
    server: AssetServer,
    target: Target,
    states: dict[DeviceId, Seen],
    *,
    version: int,
    timeout_s: float,
) -> Report:
    """Serve assets and read states until every device in scope is settled or time is up."""
    deadline = time.monotonic() + timeout_s

    def outcomes() -> dict[DeviceId, Outcome]:
        return {d: view.outcome(s, target.scope, version) for d, s in states.items()}

    while any(not o.settled for o in outcomes().values()) and time.monotonic() < deadline:
        message = conn.get(min(POLL_S, max(0.0, deadline - time.monotonic())))
        if message is None or server.answer(conn, message):
            continue
        found = view.seen(target.prefix, message.topic, message.payload)
        if found is not None and target.covers(found.who):
            states[found.who] = found
    report = Report(version)
    for device, result in outcomes().items():
        report.outcomes[device] = (
            result
            if result.settled
            else Outcome("timeout", f"no verdict within {timeout_s:g} s (still fetching assets?)")
        )
    return report


def serve(
    broker: Broker,
    target: Target,
    files: dict[str, Path],
    *,
    say: Say,
    stop: Callable[[], bool],
) -> AssetServer:
    """Answer asset requests from the devices in scope until `stop()` says so."""
    server = AssetServer(target.prefix, files, say)
    topic = asset_get_topic(target.prefix, target.store_id, target.device_id)
    with Connection(broker, [topic], "omo-ops-serve") as conn:
        say(f"serving {len(files)} asset(s) to {topic} until stopped (Ctrl-C)")
        while not stop():
            message = conn.get(POLL_S)
            if message is not None:
                server.answer(conn, message)
    return server
