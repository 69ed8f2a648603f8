"""Doctor lines for renewal, the CA bundle and remote config, on a fleet PKI of
`omo-ops ca init` (root, device intermediate) and real overlay files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from edge.config.load import from_mapping
from edge.config.remote import save, verify
from edge.doctor.tls import tls_verdict
from edge.doctor.trust import ca_bundle_verdict, remote_config_verdict, renewal_verdict
from edge.ops import ca
from edge.provision import pki
from tests.support.overlays import CONFIG_PUB, overlay

NOW = dt.datetime.now(dt.UTC)


def _fleet(tmp_path: Path) -> tuple[bytes, bytes, bytes]:
    """(device tls_ca, certificate + device CA, key) as `ca init` and pairing leave them."""
    ca.init(tmp_path, ["127.0.0.1"])
    device_ca = pki.Issued(
        (tmp_path / "device-ca.crt").read_bytes(), (tmp_path / "device-ca.key").read_bytes()
    )
    key = pki.new_key()
    cert = pki.sign_csr(pki.make_csr(key, "screen-1"), device_ca, expected_cn="screen-1", days=90)
    return (tmp_path / "device-trust.crt").read_bytes(), cert + device_ca.cert_pem, pki.key_pem(key)


def test_a_certificate_from_the_device_intermediate_passes_the_tls_line(tmp_path: Path) -> None:
    trust, cert, key = _fleet(tmp_path)
    [finding] = tls_verdict(trust, cert, key, "screen-1", NOW)
    assert finding.status == "OK", finding.line()
    alone = pki.load_certs(cert)[0]  # without its intermediate nothing links it to the root
    from cryptography.hazmat.primitives import serialization

    pem = alone.public_bytes(serialization.Encoding.PEM)
    assert any("not issued" in f.found for f in tls_verdict(trust, pem, key, "screen-1", NOW))


def test_renewal_lines(tmp_path: Path) -> None:
    _trust, cert, _key = _fleet(tmp_path)
    day = 86400
    assert renewal_verdict(cert, 30 * day, True, NOW).status == "OK"
    window = renewal_verdict(cert, 100 * day, True, NOW)
    assert window.status == "WARN" and "P/csr" in window.found
    assert renewal_verdict(cert, 30 * day, False, NOW).status == "FAIL"


def test_ca_bundle_line_counts_the_cas_of_a_rotation(tmp_path: Path) -> None:
    trust, _cert, _key = _fleet(tmp_path)
    old = pki.new_ca("old root").cert_pem
    finding = ca_bundle_verdict(old + trust, NOW)
    assert finding.status == "OK" and "2 CA(s)" in finding.found


def test_remote_config_line_names_the_overlay_in_force_or_why_not(tmp_path: Path) -> None:
    cfg = from_mapping(
        {
            "device": {"store_id": "store-1", "device_id": "screen-1"},
            "storage": {"path": str(tmp_path / "outbox.sqlite3")},
            "config": {"public_keys": {"config-1": CONFIG_PUB}},
        }
    )
    now_ms = int(NOW.timestamp() * 1000)
    assert "none in force" in remote_config_verdict(cfg, now_ms).found
    payload = overlay({"log": {"level": "debug"}}, version=3)
    checked = verify(
        payload,
        scope="device",
        public_keys={"config-1": CONFIG_PUB},
        store_id="store-1",
        device_id="screen-1",
        now_ms=now_ms,
        highest=None,
    )
    save(cfg.state_dir, checked, {"device": 3})
    assert "device v3 (log.level)" in remote_config_verdict(cfg, now_ms).found
    later = remote_config_verdict(cfg, now_ms + 2 * 3_600_000)
    assert later.status == "WARN" and "expired" in later.found
