"""`omo-ops provision pair` refuses bad arguments in plain words, before it touches the LAN."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.provision import pki


def pair(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.ops.cli",
            "provision",
            "pair",
            "omo-aaaaaaaaaaaaaaaa",
            "--code",
            "123456",
            "--store",
            "store-1",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def ca(tmp_path: Path) -> tuple[Path, Path]:
    issued = pki.new_ca("ops test CA")
    (tmp_path / "ca.crt").write_bytes(issued.cert_pem)
    (tmp_path / "ca.key").write_bytes(issued.key_pem)
    return tmp_path / "ca.crt", tmp_path / "ca.key"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--broker", "mqtt://broker:1883"], "give mqtts://HOST[:PORT] (devices always use TLS)"),
        (["--broker", "mqtts://broker:99999"], "--broker 'mqtts://broker:99999'"),
        (["--broker", "mqtts://b", "--content-key", "k1"], "--content-key 'k1': give KID=BASE64"),
        (["--broker", "mqtts://b", "--address", "nohost"], "--address 'nohost': give HOST:PORT"),
        (["--broker", "mqtts://b", "--address", "h:port"], "--address 'h:port': give HOST:PORT"),
    ],
)
def test_bad_arguments_are_refused_in_plain_words(
    ca: tuple[Path, Path], args: list[str], said: str
) -> None:
    done = pair("--ca", str(ca[0]), "--signing-ca-key", str(ca[1]), *args)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def test_exactly_one_way_of_signing_and_readable_files(
    tmp_path: Path, ca: tuple[Path, Path]
) -> None:
    neither = pair("--broker", "mqtts://b", "--ca", str(ca[0]))
    both = pair(
        "--broker",
        "mqtts://b",
        "--ca",
        str(ca[0]),
        "--signing-ca-key",
        str(ca[1]),
        "--csr-out",
        str(tmp_path),
    )
    for done in (neither, both):
        assert done.returncode == 2
        assert "give exactly one of --signing-ca-key FILE or --csr-out DIR" in done.stderr
    missing = pair(
        "--broker", "mqtts://b", "--ca", str(tmp_path / "nope.crt"), "--signing-ca-key", str(ca[1])
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "nope.crt" in missing.stderr
