"""A renewal a crash cut short: `recover` (run before the link is built) leaves a pair
that matches, whichever moment the power went."""

from __future__ import annotations

from pathlib import Path

from edge.config.sections import MqttConfig
from edge.files import write_atomic
from edge.link.renewal import recover, staged
from edge.provision import pki

CA = pki.new_ca("test CA")


def _pair(folder: Path) -> tuple[Path, Path, pki.PrivateKey]:
    key = pki.new_key()
    cert, key_file = folder / "device.crt", folder / "device.key"
    write_atomic(cert, pki.sign_csr(pki.make_csr(key, "screen-1"), CA, expected_cn="screen-1"))
    write_atomic(key_file, pki.key_pem(key))
    return cert, key_file, key


def _config(cert: Path, key: Path) -> MqttConfig:
    return MqttConfig(tls_ca=str(cert), tls_cert=str(cert), tls_key=str(key))


def test_a_crash_between_the_two_renames_is_completed(tmp_path: Path) -> None:
    cert, key_file, _old = _pair(tmp_path)
    new_key = pki.new_key()
    new_cert = pki.sign_csr(pki.make_csr(new_key, "screen-1"), CA, expected_cn="screen-1")
    write_atomic(key_file, pki.key_pem(new_key))  # the key was moved over...
    write_atomic(staged(cert), new_cert)  # ...its certificate not yet
    recover(_config(cert, key_file))
    assert cert.read_bytes() == new_cert and not staged(cert).exists()
    assert pki.matches_key(cert.read_bytes(), pki.load_key(key_file.read_bytes()))


def test_a_staged_half_that_does_not_fit_is_dropped_and_the_pair_kept(tmp_path: Path) -> None:
    cert, key_file, key = _pair(tmp_path)
    before = cert.read_bytes(), key_file.read_bytes()
    other = pki.sign_csr(pki.make_csr(pki.new_key(), "screen-1"), CA, expected_cn="screen-1")
    write_atomic(staged(cert), other)  # a certificate for a key that never got in place
    recover(_config(cert, key_file))
    assert not staged(cert).exists()
    write_atomic(staged(key_file), pki.key_pem(pki.new_key()))  # a key whose answer never came
    recover(_config(cert, key_file))
    assert not staged(key_file).exists()
    assert (cert.read_bytes(), key_file.read_bytes()) == before
    assert pki.matches_key(cert.read_bytes(), key)
