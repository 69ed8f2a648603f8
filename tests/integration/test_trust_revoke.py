"""Revocation that takes effect, requests for another device, and a CA bundle rotated
under a running device: the fleet broker of docs/mosquitto/, the PKI of `ca init`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from edge.files import write_atomic
from edge.link.schemas import encode
from edge.link.schemas.device import CertRequest
from edge.link.tls import TlsFiles, client_context
from edge.ops import ca
from edge.ops.cli import main as omo_ops
from edge.provision import pki
from tests.integration.test_trust_renewal import device_config
from tests.support.device import running_device
from tests.support.mqtt_probe import Probe
from tests.support.trust import TrustBroker, TrustFleet, ca_serving
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(90)]


def _probe(fleet: TrustFleet, broker: TrustBroker, device_id: str, cert: Path, key: Path) -> Probe:
    ctx = client_context(TlsFiles(str(fleet.trust), str(cert), str(key)))
    return Probe(broker.port, ctx, f"{device_id}-probe")


def test_a_revoked_device_is_disconnected_within_seconds_and_stays_out(tmp_path: Path) -> None:
    fleet = TrustFleet(tmp_path / "fleet")
    cert, key = fleet.device("screen-1")
    with TrustBroker(fleet, tmp_path / "broker") as broker:
        config = device_config(tmp_path, fleet, broker, cert, key)
        with running_device(config) as device:
            assert device.io.online is not None
            link = device.io.online.link
            code = omo_ops(
                [
                    "ca",
                    "revoke",
                    "screen-1",
                    "--ca",
                    str(fleet.ca),
                    "--crl-out",
                    str(fleet.crl),
                    "--inventory",
                    str(fleet.inventory),
                    "--acl-out",
                    str(fleet.acl),
                    "--mosquitto-pid-file",
                    str(broker.pid_file),
                    "--broker",
                    f"mqtts://127.0.0.1:{broker.central_port}",
                    "--tls-ca",
                    str(fleet.trust),
                    "--tls-cert",
                    str(fleet.ca / "omo-ca.crt"),
                    "--tls-key",
                    str(fleet.ca / "omo-ca.key"),
                ]
            )
            assert code == 0
            assert wait_for(lambda: not link.connected.is_set(), 10), "still connected"
            log = broker.log_path
            # The device keeps trying (1 s apart); the broker refuses each handshake.
            assert wait_for(lambda: log.read_text().count("certificate verify failed") >= 2, 20)
            assert not link.connected.is_set()
        assert "screen-1" not in fleet.acl.read_text().split("user omo-ca", 1)[1]
        assert crl_serial(cert) in ca_revoked(fleet)
        # A fresh connection with the same certificate: refused at the handshake.
        assert _probe(fleet, broker, "screen-1", cert, key).connect().startswith(("failed", "disc"))


def crl_serial(cert: Path) -> int:
    return pki.load_cert(cert.read_bytes()).serial_number


def ca_revoked(fleet: TrustFleet) -> set[int]:
    from edge.provision import crl

    return crl.revoked_serials(fleet.crl.read_bytes())


def test_a_csr_for_another_device_is_stopped_by_the_acl_and_refused_by_ca_serve(
    tmp_path: Path,
) -> None:
    fleet = TrustFleet(tmp_path / "fleet")
    cert_a, key_a = fleet.device("screen-1")
    request = CertRequest(
        request_id="r-1",
        csr_pem=pki.make_csr(pki.new_key(), "screen-2").decode(),
        not_after_ts=1,
        ts=1,
    )
    with TrustBroker(fleet, tmp_path / "broker") as broker, ca_serving(fleet, broker) as service:
        device_a = _probe(fleet, broker, "screen-1", cert_a, key_a)
        assert device_a.connect() == "connected"
        assert device_a.publish("omo/v1/store-1/screen-2/csr", encode(request)).value == 135
        # Nor does it read screen-2's answers: of two sent in order, only its own arrives.
        device_a.subscribe("omo/v1/store-1/screen-2/cert", "omo/v1/store-1/screen-1/cert")
        ca_probe = Probe(broker.central_port, client_context(fleet.identity("omo-ca")), "ca-probe")
        assert ca_probe.connect() == "connected"
        ca_probe.publish("omo/v1/store-1/screen-2/cert", b"for screen-2")
        ca_probe.publish("omo/v1/store-1/screen-1/cert", b"for screen-1")
        device_a.wait_message("omo/v1/store-1/screen-1/cert", b"for screen-1")
        assert b"for screen-2" not in device_a.payloads()
        ca_probe.close()
        device_a.close()
    assert service.signed == 0
    # Had it got through (a wrong ACL), the CA service itself refuses it by the topic.
    topic, answer = service.answer(
        "omo/v1/store-1/screen-1/csr", encode(request)
    )  # screen-1 asking for screen-2's name
    assert topic == "omo/v1/store-1/screen-1/cert"
    assert json.loads(answer)["reason"] == "wrong_cn"
    _topic, wrong_store = service.answer(
        "omo/v1/store-2/screen-2/csr", encode(request)
    )  # the right name under another store's prefix
    assert json.loads(wrong_store)["reason"] == "wrong_store"


def test_ca_serve_refuses_a_revoked_device_and_a_second_renewal_within_the_hour(
    tmp_path: Path,
) -> None:
    fleet = TrustFleet(tmp_path / "fleet")
    inventory = ca.inventory_from(fleet.inventory)

    def ask(device_id: str) -> str:
        try:
            ca.sign_renewal(
                fleet.ca,
                pki.make_csr(pki.new_key(), device_id),
                device_id=device_id,
                store_id="store-1",
                inventory=inventory,
                days=1,
            )
        except ca.Refused as exc:
            return exc.reason
        return "signed"

    assert ask("screen-1") == "signed"
    assert ask("screen-1") == "too_soon"
    assert ask("screen-7") == "unknown_device"
    ca.revoke(fleet.ca, "screen-2", [], crl_days=1)
    assert ask("screen-2") == "revoked"


def test_a_ca_bundle_changed_on_disk_is_taken_up_without_a_restart(tmp_path: Path) -> None:
    """A device whose tls_ca holds only a CA that is not (yet) the fleet's cannot connect;
    the rotated bundle (old and new CA) written over it lets it in at the next attempt."""
    fleet = TrustFleet(tmp_path / "fleet")
    cert, key = fleet.device("screen-1")
    bundle = tmp_path / "tls-ca.crt"
    old_ca = pki.new_ca("a CA being rotated out").cert_pem
    write_atomic(bundle, old_ca, 0o644)
    with TrustBroker(fleet, tmp_path / "broker") as broker:
        config = device_config(tmp_path, fleet, broker, cert, key)
        config.write_text(config.read_text().replace(str(fleet.trust), str(bundle)))
        with running_device(config, online=False) as device:
            assert wait_for(lambda: device.io.online is not None, 20)
            link = device.io.online.link  # type: ignore[union-attr]
            assert not link.connected.is_set()
            write_atomic(bundle, old_ca + fleet.trust.read_bytes(), 0o644)
            assert wait_for(link.connected.is_set, 40), "the new CA bundle was not taken up"


def test_ca_serve_reissues_the_crl_well_before_its_next_update(tmp_path: Path) -> None:
    """A CRL about to run out (seconds left) is replaced by `ca serve` with a new number and
    a month of validity, and the broker, told by SIGHUP, still lets devices in."""
    from edge.provision import crl

    fleet = TrustFleet(tmp_path / "fleet")
    cert, key = fleet.device("screen-1")
    with ca.locked(fleet.ca) as state:
        ca.reissue_crl(fleet.ca, state, days=60 / 86400)  # a minute left
        number = state["crl_number"]
    ca.copy_crl(fleet.ca, fleet.crl)
    with TrustBroker(fleet, tmp_path / "broker") as broker:
        with ca_serving(fleet, broker, crl_days=30, crl_check_s=0.2):

            def renewed() -> bool:
                pem = fleet.crl.read_bytes()
                left = crl.next_update(pem) - crl.last_update(pem)
                return left > dt.timedelta(days=29)

            assert wait_for(renewed, 10)
        with ca.locked(fleet.ca) as state:
            assert state["crl_number"] == number + 1
        assert _probe(fleet, broker, "screen-1", cert, key).connect() == "connected"
