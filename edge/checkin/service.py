"""Check-ins in the daemon: the QR code on screen, check-ins from central and the LAN.

The screen shows a single-use nonce; a phone that scans it checks in through
central (`P/checkin`) or, offline, through the LAN endpoint with a
platform-signed visitor token. Either way the nonce is checked and the
`checkin` event committed before anything else happens (central's message is
acknowledged only then), and personalisation hears of the visitor. The nonces
shown survive a restart (a scan made just before it still counts once); they
are saved off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from edge.checkin.lan import LanCheckin, nonce_refusal
from edge.checkin.nonces import NonceBook, Verdict, qr_url
from edge.checkin.tokens import VisitorToken
from edge.config import Config
from edge.errors import ContentRejected, EdgeError
from edge.files import write_atomic
from edge.ids import new_id, short_visitor
from edge.link.router import Route
from edge.link.schemas import Checkin, parse
from edge.link.session import Incoming
from edge.link.topics import Topics
from edge.presence.pseudonym import Pseudonymizer
from edge.quiet import QuietLog
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task

log = logging.getLogger(__name__)

Event = dict[str, Any]
OnCheckin = Callable[[str, str, tuple[str, ...], str | None], None]


class CheckinService(Service):
    name = "checkin"

    def __init__(
        self,
        config: Config,
        *,
        show_code: Callable[[str | None], None],
        event: Callable[[str, dict[str, Any]], Event],
        commit_now: Callable[[list[Event]], Awaitable[bool]],
        on_checkin: OnCheckin,
        pseudonyms: Callable[[], Pseudonymizer],
    ) -> None:
        self.config = config
        ck = config.checkin
        self.nonces = NonceBook(accept_s=ck.accept_s, rotate_s=ck.rotate_s)
        self._file = config.state_dir / "nonces.json"
        self._show_code = show_code
        self._event = event
        self._commit_now = commit_now
        self._on_checkin = on_checkin
        self._pseudonyms = pseudonyms
        self._shown_url: str | None = None
        self._save_lock = asyncio.Lock()
        self._quiet = QuietLog(log)
        self.lan: LanCheckin | None = None
        self.lan_port: int | None = None
        self.code_refused = 0
        self._load()

    # -- the code on screen ------------------------------------------------------------
    def set_config(self, config: Config) -> None:
        """A bundle arrived (or was taken away): the code names the device's new id."""
        self.config = config
        self._shown_url = None
        if not config.provisioned:
            self._show_code(None)

    def tasks(self) -> list[Task]:
        tasks = [Task("nonces", self._clock)]
        if self.config.checkin.lan_address:
            tasks.append(Task("lan-checkin", self._serve_lan))
        return tasks

    async def _clock(self) -> None:
        while True:
            await self.refresh_code()
            due = self.nonces.rotates_at()
            wait = 1.0 if due is None else due - time.monotonic()
            await asyncio.sleep(min(5.0, max(0.05, wait)))

    async def refresh_code(self) -> None:
        """Put the current nonce's QR on screen (a new one after each use, every minute)."""
        if not self.config.provisioned:
            return  # nobody could check in: central does not know this device yet
        version = self.nonces.version
        url = qr_url(
            self.config.checkin.base_url,
            self.config.device.device_id,
            self.nonces.current(time.monotonic()),
        )
        if self.nonces.version != version:
            await self._save()
        if url != self._shown_url:
            self._shown_url = url
            try:
                self._show_code(url)
            except ContentRejected as exc:  # e.g. a base_url too long for a QR code
                self.code_refused += 1
                self._quiet.problem("code", "the check-in code cannot be shown: %s", exc)

    # -- check-ins -----------------------------------------------------------------------
    def routes(self, topics: Topics) -> list[Route]:
        return [Route("checkin", self._central, topic=topics.checkin)]

    async def _central(self, item: Incoming) -> bool:
        """Via central: committed, then acknowledged; a refused nonce is acknowledged too."""
        checkin = parse(item.topic, item.payload, Checkin)
        verdict = await self.check_in(
            checkin.visitor, checkin.nonce, tuple(checkin.consent), "central", None
        )
        return verdict != "storage"

    async def check_in(
        self, visitor: str, nonce: str, consent: tuple[str, ...], via: str, segment: str | None
    ) -> Verdict | str:
        """One check-in, either way in: "ok", a refused nonce's verdict, or "storage"."""
        verdict = self.nonces.use(nonce, time.monotonic())
        await self._save()
        await self.refresh_code()
        if verdict != "ok":
            log.warning("check-in via %s refused: %s nonce", via, verdict)
            return verdict
        visitor = self._pseudonyms().public(visitor)
        recorded = visitor if "analytics" in consent else None
        visit_id = new_id()
        fields = {"visitor": recorded, "visit_id": visit_id, "nonce": nonce, "via": via}
        if not await self._commit_now([self._event("checkin", fields)]):
            return "storage"
        log.info("check-in via %s committed for %s", via, short_visitor(recorded))
        self._on_checkin(visitor, visit_id, consent, segment)
        return "ok"

    async def _lan_checkin(self, token: VisitorToken, nonce: str) -> tuple[int, dict[str, Any]]:
        verdict = await self.check_in(token.visitor, nonce, token.consent, "lan", token.segment)
        if verdict == "ok":
            return 200, {"ok": True}
        if verdict == "storage":
            return 503, {"error": "unavailable", "detail": "try again in a moment"}
        return nonce_refusal(verdict)  # type: ignore[arg-type]

    async def _serve_lan(self) -> None:
        """The LAN check-in endpoint on `[checkin] lan_address`, for as long as the daemon runs."""
        c = self.config.checkin
        lan = LanCheckin(
            host=c.lan_address,
            port=c.lan_port,
            device_id=self.config.device.device_id or "unprovisioned",
            public_keys=c.public_keys,
            on_checkin=self._lan_checkin,
        )
        try:
            await lan.start()
        except EdgeError as exc:
            log.error("LAN check-in endpoint not started: %s", exc)
            return
        self.lan, self.lan_port = lan, lan.port
        log.info("LAN check-in on %s:%d (advertised as _omo-checkin._tcp)", c.lan_address, lan.port)
        try:
            await asyncio.Event().wait()  # serve until cancelled
        finally:
            self.lan = None
            await lan.aclose()

    # -- erasure and figures ---------------------------------------------------------------
    async def discard(self, nonces: tuple[str, ...]) -> int:
        """Forget nonces a purged visitor used; how many."""
        count = self.nonces.discard(nonces)
        if count:
            await self._save()
        return count

    def health(self) -> Figures:
        figures: dict[str, int | float | str] = {
            f"checkin_{k}": v for k, v in self.nonces.counts().items()
        }
        figures["checkin_code_refused"] = self.code_refused
        if self.lan is not None:
            figures.update({f"lan_{k}": v for k, v in self.lan.counts().items()})
        return figures

    # -- persistence -------------------------------------------------------------------------
    def _load(self) -> None:
        """Nonces shown before a restart (read once, at start, before the loop is busy)."""
        try:
            saved = json.loads(self._file.read_text())
            now_ms, mono = time.time() * 1000, time.monotonic()
            self.nonces.restore(
                [(str(n), (now_ms - float(at)) / 1000, bool(used)) for n, at, used in saved], mono
            )
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:
            log.warning("saved check-in nonces unreadable (%s); starting afresh", exc)

    async def _save(self) -> None:
        now_ms, mono = time.time() * 1000, time.monotonic()
        rows = [
            [n, round(now_ms - age * 1000), used] for n, age, used in self.nonces.snapshot(mono)
        ]
        data = json.dumps(rows).encode()
        async with self._save_lock:  # one write at a time, the newest last
            try:
                await asyncio.to_thread(write_atomic, self._file, data)
            except OSError as exc:
                self._quiet.problem("nonces", "cannot save check-in nonces: %s", exc)
