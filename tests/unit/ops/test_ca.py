"""The PKI of `omo-ops ca init`, `ca sign-csr` by hand, and pairing with a CA folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from edge.ops import ca
from edge.ops.cli import main as omo_ops
from edge.ops.pairing import Signer
from edge.provision import crl, pki
from edge.provision.bundle import Broker, Bundle, check

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ca") / "ca"
    assert omo_ops(["ca", "init", "--out", str(out), "--broker-host", "127.0.0.1"]) == 0
    (out.parent / "devices").write_text("store-1 screen-1\nstore-1 screen-2\n")
    return out


def _cert(folder: Path, name: str) -> x509.Certificate:
    return pki.load_cert((folder / name).read_bytes())


def test_each_intermediate_issues_one_kind_of_certificate(folder: Path) -> None:
    assert pki.usages(_cert(folder, "device-ca.crt")) == {"client"}
    assert pki.usages(_cert(folder, "server-ca.crt")) == {"server"}
    assert (folder / "root.key").stat().st_mode & 0o077 == 0
    trust = pki.load_certs((folder / "device-trust.crt").read_bytes())
    broker = pki.load_certs((folder / "broker.crt").read_bytes())
    assert pki.chain_problem(broker[0], trust, broker[1:], "server", NOW) is None
    # The online signer's key (device CA) mints a "broker" certificate: no device takes it.
    device_ca = pki.Issued(
        (folder / "device-ca.crt").read_bytes(), (folder / "device-ca.key").read_bytes()
    )
    forged = pki.load_cert(pki.server_cert(device_ca, ["127.0.0.1"]).cert_pem)
    problem = pki.chain_problem(forged, trust, [_cert(folder, "device-ca.crt")], "server", NOW)
    assert problem is not None and "may not issue server" in problem


def test_sign_csr_by_hand_applies_the_ca_serve_checks(folder: Path, tmp_path: Path) -> None:
    key = pki.new_key()
    csr = tmp_path / "screen-2.csr"
    csr.write_bytes(pki.make_csr(key, "screen-2"))
    out = tmp_path / "screen-2.crt"
    args = ["ca", "sign-csr", "--ca", str(folder), "--csr", str(csr), "--device", "screen-2"]
    args += ["--inventory", str(folder.parent / "devices"), "--out", str(out)]
    assert omo_ops(args) == 0
    chain = pki.load_certs(out.read_bytes())
    assert pki.common_name(chain[0]) == "screen-2" and pki.matches_key(out.read_bytes(), key)
    trust = (folder / "device-trust.crt").read_bytes()
    pki.check_device_cert(
        out.read_bytes(), device_id="screen-2", key=key.public_key(), trust_pem=trust,
        chain_pem=out.read_bytes(),
    )  # fmt: skip
    assert omo_ops(args) == 2  # within the hour
    assert omo_ops([*args, "--force"]) == 0
    wrong = [*args[:7], "screen-1", *args[8:], "--force"]  # the CSR names screen-2
    assert omo_ops(wrong) == 2


def test_pairing_with_a_ca_folder_records_the_certificate_for_revocation(
    folder: Path, tmp_path: Path
) -> None:
    key = pki.new_key()
    signer = Signer(
        (folder / "fleet-ca.crt").read_bytes(),
        (folder / "device-ca.key").read_bytes(),
        record_in=folder,
    )
    cert = signer.sign(pki.make_csr(key, "screen-1"), "screen-1", lambda _line: None)
    bundle = Bundle(
        device_id="screen-1",
        store_id="store-1",
        broker=Broker(host="127.0.0.1"),
        ca_pem=(folder / "fleet-ca.crt").read_text(),
        cert_pem=cert.decode(),
    )
    check(bundle, "screen-1", key)  # the device takes it
    serials = ca.revoke(folder, "screen-1", [], crl_days=1)
    assert crl.serial(cert) in serials
    assert crl.serial(cert) in crl.revoked_serials((folder / ca.CRL_FILE).read_bytes())
    assert "screen-1" in ca.revoked_devices(folder)


def test_revoke_off_the_broker_host_updates_crl_and_acl_and_prints_the_reload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ca"
    ca.init(folder, ["127.0.0.1"])
    inventory = tmp_path / "devices"
    inventory.write_text("store-1 screen-1\nstore-1 screen-2\n")
    key = pki.new_key()
    device_ca = pki.Issued(
        (folder / "device-ca.crt").read_bytes(), (folder / "device-ca.key").read_bytes()
    )
    cert = pki.sign_csr(pki.make_csr(key, "screen-1"), device_ca, expected_cn="screen-1")
    ca.record_issued(folder, "screen-1", cert)
    crl_out, acl_out = tmp_path / "fleet.crl", tmp_path / "omo-fleet.acl"
    code = omo_ops(
        [
            "ca", "revoke", "screen-1", "--ca", str(folder), "--crl-out", str(crl_out),
            "--inventory", str(inventory), "--acl-out", str(acl_out),
            "--mosquitto-pid-file", str(tmp_path / "no-mosquitto-here.pid"),
        ]
    )  # fmt: skip
    assert code == 0
    assert crl.serial(cert) in crl.revoked_serials(crl_out.read_bytes())
    assert "user screen-1" not in acl_out.read_text()
    assert "user screen-2" in acl_out.read_text()
    out = capsys.readouterr().out
    assert "sudo systemctl reload mosquitto" in out  # no broker here to signal: the command
    assert "give --broker" in out
