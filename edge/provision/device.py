"""The daemon's provisioning shell: identity and saved bundle at start, pairing mode,
the pairing slide, applying a new bundle, and going back (reprovision, factory reset).

Kept out of the composition root (edge/app/), which only calls `prepare`, `start`,
`enter_pairing`, `provisioned` and `aclose`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.config import Config
from edge.content.slides import Slide, make_slide
from edge.errors import EdgeError
from edge.lock import StateBusy, StateLock
from edge.provision import bundle as bundles
from edge.provision.announce import Announcer, addresses
from edge.provision.identity import ID_FILE, KEY_FILE, Identity, load_or_create
from edge.provision.pairing import Guard
from edge.provision.service import PairingService

log = logging.getLogger(__name__)

PAIRING_SLIDE_ID = "omo-pairing"


def pairing_url(device_id: str, code: str, port: int) -> str:
    """What the pairing slide's QR code holds, for the ops app."""
    return f"omo-pair:{device_id}?code={code}&port={port}"


def pairing_slide(device_id: str, code: str, port: int) -> Slide:
    """Full screen: "Pair this screen", the id, the code large, and a QR for the ops app.

    The coupon layout already puts a big code, text and a QR code side by side in
    either orientation, so the pairing screen needs no layout of its own.
    """
    return make_slide(
        id=PAIRING_SLIDE_ID,
        kind="coupon",
        duration_ms=3_600_000,
        transition="cut",
        title="Pair this screen",
        body=f"Device {device_id}\nOps: omo-ops provision pair, with this code",
        code=f"{code[:3]} {code[3:]}",
        qr_url=pairing_url(device_id, code, port),
        background="#0b1d2a",
        foreground="#ffffff",
        accent="#7fd1ae",
    )


@dataclass(frozen=True)
class Prepared:
    config: Config  # with the device id, and the saved bundle laid on if there is one
    identity: Identity
    from_bundle: bool  # False: provisioned (or not) by the config file alone


def prepare(base: Config) -> Prepared:
    """At start (state lock held): make or load the identity, lay a saved bundle on."""
    state = base.state_dir
    identity = load_or_create(state, base.device.device_id)
    config = base.with_overrides({"device": {"device_id": identity.device_id}})
    try:
        saved = bundles.load(state)
        if saved is not None:
            bundles.check(saved, identity.device_id, identity.key)
            return Prepared(bundles.overlay(config, saved, state, state / KEY_FILE), identity, True)
    except bundles.BundleRejected as exc:
        log.error("saved bundle not used (%s): back to pairing", exc)
    return Prepared(config, identity, False)


class Provisioning:
    """Pairing service and mDNS announcer for one device; callbacks run on the I/O loop."""

    def __init__(
        self,
        base: Config,
        prepared: Prepared,
        *,
        show: Callable[[Slide | None], None],
        online: Callable[[Config], Awaitable[None]],
        guard: Guard | None = None,
        poll_s: float = 3.0,
        find_addresses: Callable[[Sequence[str]], list[str]] = addresses,
    ) -> None:
        self.base = base  # the config file's values, without any bundle
        self.identity = prepared.identity
        self.config = prepared.config
        self._show = show
        self._online = online
        p = base.provision
        self.interfaces: list[str] = list(p.interfaces)
        self.service = PairingService(
            self.identity.device_id,
            self.identity.csr(),
            hosts=[],
            port=p.pair_port,
            on_bundle=self._bundle,
            on_code=self._code,
            guard=guard or Guard(max_attempts=p.max_attempts, lock_s=float(p.lock_s)),
            message_timeout_s=float(p.message_timeout_s),
            bundle_timeout_s=float(p.bundle_timeout_s),
        )
        self.service.provisioned = self.config.provisioned
        self.announcer: Announcer | None = None
        self.pairing = False
        self._poll_s = poll_s
        self._find_addresses = find_addresses

    async def start(self) -> None:
        """Serve pairing and announce on the configured interfaces (none: stay quiet),
        following their addresses as they come, change or go."""
        if not self.interfaces:
            if not self.config.provisioned:
                log.warning(
                    "not provisioned, and no [provision] interfaces: pairing is off "
                    "(set interfaces to the store LAN's interface to pair this device)"
                )
            return
        self.announcer = Announcer(
            self.identity.device_id,
            self.interfaces,
            self.service.want_port,
            poll_s=self._poll_s,
            on_addresses=self._serve_on,
            find_addresses=self._find_addresses,
        )
        self.announcer.provisioned = self.config.provisioned
        self.announcer.store = self.config.device.store_id
        await self.announcer.start()

    async def _serve_on(self, hosts: list[str]) -> int:
        """Move the pairing service to `hosts`; the port it listens on (to announce)."""
        await self.service.aclose()
        self.service.hosts = hosts
        if hosts:
            try:
                await self.service.start()
            except EdgeError as exc:
                self.service.hosts = []
                log.error("%s; pairing waits for the next address change", exc)
            else:
                log.info("pairing service on %s port %d", ", ".join(hosts), self.service.port)
        return self.service.port

    async def aclose(self) -> None:
        if self.announcer is not None:
            await self.announcer.aclose()
        await self.service.aclose()

    def enter_pairing(self) -> None:
        """Show the pairing slide with a fresh code (at start, or after a reprovision)."""
        self.pairing = True
        self.service.provisioned = False
        if self.service.hosts:
            self.service.new_code()
        log.info("pairing mode: device %s waits for ops", self.identity.device_id)

    async def reprovision(self) -> None:
        """Forget the bundle (the identity stays) and go back to pairing."""
        bundles.remove(self.base.state_dir)
        self.config = self.base.with_overrides({"device": {"device_id": self.identity.device_id}})
        self.enter_pairing()
        if self.announcer is not None:
            await self.announcer.update(provisioned=False, store="")

    def _code(self, code: str) -> None:
        if self.pairing:
            self._show(pairing_slide(self.identity.device_id, code, self.service.port))

    async def _bundle(self, data: bytes) -> None:
        received = bundles.parse(data)
        bundles.check(received, self.identity.device_id, self.identity.key)
        state = self.base.state_dir
        bundles.save(state, received)
        self.config = bundles.overlay(self.config, received, state, state / KEY_FILE)
        log.info(
            "provisioned: store %s, broker %s:%d",
            received.store_id,
            received.broker.host,
            received.broker.port,
        )
        self.pairing = False
        self._show(None)
        await self._online(self.config)
        if self.announcer is not None:
            await self.announcer.update(provisioned=True, store=received.store_id)


WIPED = (
    bundles.BUNDLE_FILE,
    bundles.CERT_FILE,
    bundles.CA_FILE,
    ID_FILE,
    KEY_FILE,
    "nonces.json",
)
WIPED_DIRS = ("content", "assets")


def factory_reset(config: Config) -> list[Path]:
    """Wipe bundle, identity, key, outbox, nonces and content cache; refuse while the
    daemon runs (it holds the state lock). Returns what was removed."""
    state = config.state_dir
    outbox = Path(config.storage.path)
    try:
        with StateLock(state, "factory-reset"):
            removed: list[Path] = []
            for name in WIPED:
                path = state / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = outbox.with_name(outbox.name + suffix)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
            for name in WIPED_DIRS:
                path = state / name
                if path.is_dir():
                    shutil.rmtree(path)
                    removed.append(path)
            return removed
    except StateBusy as exc:
        raise EdgeError(
            f"{exc} (sudo systemctl stop omo-edge), then run factory-reset again"
        ) from exc
