"""The fleet broker of docs/mosquitto/, rendered for a test: only paths, ports and user change."""

from __future__ import annotations

import os
import re
from pathlib import Path

from edge.sim.broker import Mosquitto, free_port
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
        self.central_port = free_port()
        self._files = {
            "/etc/mosquitto/certs/fleet-ca.crt": pki.ca_cert,
            "/etc/mosquitto/certs/broker.crt": server_cert or pki.server_cert,
            "/etc/mosquitto/certs/broker.key": pki.server_key,
            "/etc/mosquitto/certs/fleet.crl": pki.crl,
            "/etc/mosquitto/certs/service-ca.crt": pki.service_ca_cert,
            "/etc/mosquitto/omo-fleet.acl": acl or FLEET_ACL,
        }
        super().__init__(workdir=workdir, other_ports=(self.central_port,))

    def _conf(self) -> str:
        return render_fleet_conf(
            port=self.port, central_port=self.central_port, workdir=self.dir, files=self._files
        )

    def _new_ports(self) -> None:
        """Both listeners' ports, when one was taken between the pick and the bind."""
        self.port, self.central_port = free_port(), free_port()
        self.other_ports = (self.central_port,)
