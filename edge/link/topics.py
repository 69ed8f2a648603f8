"""Topic names of docs/protocol.md, built once from prefix, store and device."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    store_id: str
    device_id: str

    @property
    def base(self) -> str:
        """`P` in docs/protocol.md."""
        return f"{self.prefix}/{self.store_id}/{self.device_id}"

    @property
    def store(self) -> str:
        """`S` in docs/protocol.md."""
        return f"{self.prefix}/{self.store_id}/_store"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def events_ack(self) -> str:
        return f"{self.base}/events/ack"

    @property
    def decide(self) -> str:
        return f"{self.base}/decide"

    @property
    def decision(self) -> str:
        return f"{self.base}/decision"

    @property
    def checkin(self) -> str:
        return f"{self.base}/checkin"

    @property
    def manifest(self) -> str:
        return f"{self.base}/manifest"

    @property
    def store_manifest(self) -> str:
        return f"{self.store}/manifest"

    @property
    def asset_get(self) -> str:
        return f"{self.base}/asset/get"

    @property
    def asset_missing(self) -> str:
        """Central: no asset with that SHA-256 (`{"sha256": ...}`)."""
        return f"{self.base}/asset/missing"

    def asset_sha(self, topic: str) -> str | None:
        """The sha256 of an `P/asset/{sha256}` topic, or None for any other topic."""
        prefix = f"{self.base}/asset/"
        if not topic.startswith(prefix) or topic in (self.asset_get, self.asset_missing):
            return None
        return topic.removeprefix(prefix)

    @property
    def cmd(self) -> str:
        return f"{self.base}/cmd"

    @property
    def cmd_result(self) -> str:
        return f"{self.base}/cmd/result"

    @property
    def csr(self) -> str:
        """Device: a certificate signing request for a renewal (edge/link/renewal.py)."""
        return f"{self.base}/csr"

    @property
    def cert(self) -> str:
        """The CA service: the renewed certificate, or why not."""
        return f"{self.base}/cert"

    @property
    def config(self) -> str:
        """Central: this device's signed config overlay (retained; edge/config/remote.py)."""
        return f"{self.base}/config"

    @property
    def store_config(self) -> str:
        """Central: the store's signed config overlay (retained)."""
        return f"{self.store}/config"

    @property
    def assets(self) -> str:
        """`P/asset/+`: asset replies (the device's asset connection subscribes to it)."""
        return f"{self.base}/asset/+"

    def subscriptions(self) -> list[str]:
        """What the device's main connection subscribes to (assets come on their own)."""
        return [
            self.events_ack,
            self.decision,
            self.checkin,
            self.cmd,
            self.manifest,
            self.store_manifest,
            self.cert,
            self.config,
            self.store_config,
        ]
