"""Rotating the device intermediate (`omo-ops ca rotate`) on a fleet in service: devices
still on the old CA's certificates keep connecting, new and renewed ones come from the
new CA, and revocation holds for both, through one CRL file per broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.link.tls import TlsFiles, client_context
from edge.ops import ca
from edge.ops.cli import main as omo_ops
from edge.provision import crl, pki
from tests.support.mqtt_probe import Probe
from tests.support.trust import TrustBroker, TrustFleet
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(60)]


def _connect(
    broker: TrustBroker, fleet: TrustFleet, device_id: str, pair: tuple[Path, Path]
) -> str:
    files = TlsFiles(str(fleet.trust), str(pair[0]), str(pair[1]))
    probe = Probe(broker.port, client_context(files), device_id)
    try:
        return probe.connect()
    finally:
        probe.close()


def test_a_rotated_device_ca_keeps_the_old_certificates_working_until_revoked(
    tmp_path: Path,
) -> None:
    fleet = TrustFleet(tmp_path / "fleet")
    old_pair = fleet.device("screen-1")  # issued by the device CA about to be retired
    old_ca = (fleet.ca / "device-ca.crt").read_bytes()
    root_key = tmp_path / "offline" / "root.key"  # where the operator keeps it
    root_key.parent.mkdir()
    (fleet.ca / "root.key").rename(root_key)
    assert omo_ops(["ca", "rotate", "--ca", str(fleet.ca), "--root-key", str(root_key)]) == 0
    new_ca = (fleet.ca / "device-ca.crt").read_bytes()
    assert new_ca != old_ca
    assert pki.usages(pki.load_cert(new_ca)) == {"client"}
    # The broker's files as the command says: cafile with both device CAs, a CRL for each.
    assert old_ca in (fleet.ca / "fleet-ca.crt").read_bytes()
    ca.copy_crl(fleet.ca, fleet.crl)
    assert len(crl.split(fleet.crl.read_bytes())) == 2
    new_pair = fleet.device("screen-2")  # issued by the new device CA
    assert pki.issued_by(new_pair[0].read_bytes(), new_ca)
    with TrustBroker(fleet, tmp_path / "broker") as broker:
        assert _connect(broker, fleet, "screen-1", old_pair) == "connected"
        assert _connect(broker, fleet, "screen-2", new_pair) == "connected"
    # Why the old CA's CRL must stay: without it OpenSSL refuses its certificates outright.
    fleet.crl.write_bytes(crl.split(fleet.crl.read_bytes())[0])
    with TrustBroker(fleet, tmp_path / "broker-new-crl-only") as broker:
        assert _connect(broker, fleet, "screen-1", old_pair).startswith(("failed", "disc"))
        assert _connect(broker, fleet, "screen-2", new_pair) == "connected"
    # Revoking a device still on the old CA: the old CA's CRL lists it.
    ca.revoke(fleet.ca, "screen-1", [], crl_days=30)
    ca.copy_crl(fleet.ca, fleet.crl)
    with TrustBroker(fleet, tmp_path / "broker-2") as broker:
        assert _connect(broker, fleet, "screen-1", old_pair).startswith(("failed", "disc"))
        assert _connect(broker, fleet, "screen-2", new_pair) == "connected"
    assert "certificate verify failed" in broker.log_path.read_text()


def test_rotate_refuses_a_key_that_is_not_the_roots(tmp_path: Path) -> None:
    fleet = TrustFleet(tmp_path / "fleet")
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(pki.key_pem(pki.new_key()))
    before = (fleet.ca / "device-ca.crt").read_bytes()
    assert omo_ops(["ca", "rotate", "--ca", str(fleet.ca), "--root-key", str(wrong)]) == 2
    assert (fleet.ca / "device-ca.crt").read_bytes() == before


def test_a_reload_of_the_broker_takes_up_a_rotation(tmp_path: Path) -> None:
    """What docs/tls.md and `ca rotate` tell operators: reload Mosquitto (SIGHUP), no
    restart. It re-reads the CA certificates with the CRL: devices of the new CA get in,
    the old CA's keep connecting, and a device revoked meanwhile is out."""
    fleet = TrustFleet(tmp_path / "fleet")
    old_pair, lost_pair = fleet.device("screen-1"), fleet.device("screen-3")
    with TrustBroker(fleet, tmp_path / "broker") as broker:
        assert _connect(broker, fleet, "screen-3", lost_pair) == "connected"
        root_key = fleet.ca / "root.key"
        assert omo_ops(["ca", "rotate", "--ca", str(fleet.ca), "--root-key", str(root_key)]) == 0
        new_pair = fleet.device("screen-2")
        assert _connect(broker, fleet, "screen-2", new_pair) != "connected"  # not yet
        ca.revoke(fleet.ca, "screen-3", [], crl_days=30)
        ca.copy_crl(fleet.ca, fleet.crl)
        assert ca.sighup(broker.pid_file).startswith("sent SIGHUP")
        joined = lambda: _connect(broker, fleet, "screen-2", new_pair) == "connected"  # noqa: E731
        assert wait_for(joined, 10), "the reload did not take up the new device CA"
        assert _connect(broker, fleet, "screen-1", old_pair) == "connected"
        assert _connect(broker, fleet, "screen-3", lost_pair) != "connected"
