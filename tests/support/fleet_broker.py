"""The fleet broker of docs/mosquitto/, rendered for a test: only paths, ports and user change."""

from __future__ import annotations

import os
import re
from pathlib import Path

from edge.sim.broker import BrokerError, Mosquitto, free_port
from tests.support.paths import ROOT
from tests.support.pki import FleetPkiFull

FLEET_DOCS = ROOT / "docs" / "mosquitto"
FLEET_CONF = FLEET_DOCS / "fleet.conf"
FLEET_ACL = FLEET_DOCS / "omo-fleet.acl"
FLEET_INVENTORY = FLEET_DOCS / "devices.example"


def render_fleet_conf(
    *, port: int, central_port: int, files: dict[str, Path], workdir: Path
) -> str:
    """docs/mosquitto/fleet.conf with its paths replaced by `files` (keyed by the documented
    path), its listeners moved to free loopback ports and, as root, the service user to root
    (mosquitto cannot read a private temp dir as 'mosquitto'). Anything else is kept."""
    text = FLEET_CONF.read_text()
    swaps = {
        **{documented: str(real) for documented, real in files.items()},
        "/var/lib/mosquitto/": f"{workdir}/",
        "/var/log/mosquitto/mosquitto.log": str(workdir / "mosquitto.log"),
        "listener 8883\n": f"listener {port} 127.0.0.1\n",
        "listener 8884\n": f"listener {central_port} 127.0.0.1\n",
    }
    if os.geteuid() == 0:
        swaps["user mosquitto\n"] = "user root\n"
    for old, new in swaps.items():
        if old not in text:
            raise AssertionError(f"docs/mosquitto/fleet.conf no longer mentions {old!r}")
        text = text.replace(old, new)
    left = re.findall(r"(?m)^[^#\n]*\s(/(?:etc|var)/\S+)", text)
    if left:
        raise AssertionError(f"fleet.conf paths the test does not provide: {left}")
    return text


class FleetBroker(Mosquitto):
    """docs/mosquitto/fleet.conf and omo-fleet.acl, on free loopback ports."""

    def __init__(
        self,
        pki: FleetPkiFull,
        workdir: Path,
        server_cert: Path | None = None,
        acl: Path | None = None,
    ) -> None:
        """`acl`: an ACL made by `omo-ops fleet acl` instead of the documented example's."""
        port, self.central_port = free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self._files = {
            "/etc/mosquitto/certs/fleet-ca.crt": pki.ca_cert,
            "/etc/mosquitto/certs/broker.crt": server_cert or pki.server_cert,
            "/etc/mosquitto/certs/broker.key": pki.server_key,
            "/etc/mosquitto/certs/fleet.crl": pki.crl,
            "/etc/mosquitto/certs/service-ca.crt": pki.service_ca_cert,
            "/etc/mosquitto/omo-fleet.acl": acl or FLEET_ACL,
        }
        self._started = False
        conf = self._render(port, workdir)
        super().__init__(port=port, workdir=workdir, conf=conf, other_ports=(self.central_port,))

    def _render(self, port: int, workdir: Path) -> str:
        return render_fleet_conf(
            port=port, central_port=self.central_port, workdir=workdir, files=self._files
        )

    def start(self, timeout_s: float = 10.0) -> None:
        """As Mosquitto's; at the first start, both ports are picked again if another
        process took one between `free_port` and the broker's bind (a restart keeps them:
        devices know them by then)."""
        for tries_left in (2, 1, 0):
            try:
                super().start(timeout_s)
                self._started = True
                return
            except BrokerError as exc:
                if self._started or not tries_left or "Address already in use" not in str(exc):
                    raise
            self.port, self.central_port = free_port(), free_port()
            self.other_ports = (self.central_port,)
            self.config.write_text(self._render(self.port, self.dir))
