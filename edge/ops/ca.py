"""The fleet's certificate authority on disk: `omo-ops ca init|sign-csr|revoke|serve|crl`.

A CA folder (`omo-ops ca init --out DIR`) holds:

    root.crt root.key           the root; move root.key OFF this machine (kept offline)
    device-ca.crt device-ca.key issues device certificates, EKU clientAuth only (online)
    server-ca.crt server-ca.key issues broker certificates, EKU serverAuth only
    device-trust.crt            the devices' `tls_ca`: the root alone
    fleet-ca.crt                the broker's `cafile` (devices' listener): root + device CA
    broker.crt broker.key       the broker's certificate, followed by the server CA
    service-ca.crt/.key         a CA of its own for the service listener (central, CA service)
    omo-central.crt/.key        central's identity there; omo-ca.crt/.key the CA service's
    fleet.crl                   revocations, signed by the device CA
    state.json                  what the device CA issued and revoked, the CRL number
    retired/                    device CAs replaced by `ca rotate` (until they expire)

Every change of state.json happens under a file lock, so `ca serve` and a `ca revoke`
run by hand never lose each other's writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.files import write_atomic
from edge.ops.errors import OpsError
from edge.ops.fleet_acl import CA_USER, CENTRAL_USER, Device, parse_inventory
from edge.provision import crl, pki

ROOT, DEVICE_CA, SERVER_CA, SERVICE_CA = "root", "device-ca", "server-ca", "service-ca"
RETIRED = "retired"
STATE = "state.json"
CRL_FILE = "fleet.crl"
RENEW_INTERVAL_S = 3600.0
"""At most one renewal per device in this long (a stolen key cannot mint a stream)."""


class Refused(OpsError):
    """A signing request the CA will not sign; `reason` is the code sent on `P/cert`."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def _issued(folder: Path, name: str) -> pki.Issued:
    try:
        return pki.Issued(
            (folder / f"{name}.crt").read_bytes(), (folder / f"{name}.key").read_bytes()
        )
    except OSError as exc:
        raise OpsError(f"{folder}/{name}.crt and .key: cannot read them ({exc})") from exc


def _write(folder: Path, name: str, data: bytes, mode: int = 0o644) -> Path:
    path = folder / name
    write_atomic(path, data, mode)
    return path


def init(
    out: Path, broker_hosts: list[str], *, name: str = "omo fleet", crl_days: float = 30
) -> list[Path]:
    """A new fleet PKI in `out` (which must not hold one yet); the files written."""
    if (out / "root.key").exists() or (out / f"{DEVICE_CA}.crt").exists():
        raise OpsError(f"{out} already holds a CA; choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    root = pki.new_ca(f"{name} root CA", days=7300, path_length=1)
    device_ca = pki.new_intermediate(root, f"{name} device CA", "client", days=3650)
    server_ca = pki.new_intermediate(root, f"{name} server CA", "server", days=3650)
    service_ca = pki.new_ca(f"{name} service CA", days=3650)
    broker = pki.server_cert(server_ca, broker_hosts, days=825)
    written = [
        _write(out, "root.crt", root.cert_pem),
        _write(out, "root.key", root.key_pem, 0o600),
        _write(out, f"{DEVICE_CA}.crt", device_ca.cert_pem),
        _write(out, f"{DEVICE_CA}.key", device_ca.key_pem, 0o600),
        _write(out, f"{SERVER_CA}.crt", server_ca.cert_pem),
        _write(out, f"{SERVER_CA}.key", server_ca.key_pem, 0o600),
        _write(out, "device-trust.crt", root.cert_pem),
        _write(out, "fleet-ca.crt", device_ca.cert_pem + root.cert_pem),
        _write(out, "broker.crt", broker.cert_pem + server_ca.cert_pem),
        _write(out, "broker.key", broker.key_pem, 0o600),
        _write(out, f"{SERVICE_CA}.crt", service_ca.cert_pem),
        _write(out, f"{SERVICE_CA}.key", service_ca.key_pem, 0o600),
    ]
    for user in (CENTRAL_USER, CA_USER):
        key = pki.new_key()
        cert = pki.sign_csr(pki.make_csr(key, user), service_ca, expected_cn=user, days=825)
        written += [
            _write(out, f"{user}.crt", cert),
            _write(out, f"{user}.key", pki.key_pem(key), 0o600),
        ]
    with locked(out) as state:
        written.append(reissue_crl(out, state, crl_days))
    return written


# -- state ---------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[dict[str, Any]]:
    """state.json, read under an exclusive lock and written back when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = folder / STATE
        try:
            state: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            state = {}
        except ValueError as exc:
            raise OpsError(f"{path} is not JSON ({exc}); restore it from a backup") from exc
        state.setdefault("crl_number", 0)
        state.setdefault("issued", {})
        state.setdefault("revoked_devices", [])
        state.setdefault("revoked_serials", [])
        yield state
        write_atomic(path, json.dumps(state, indent=1, sort_keys=True).encode(), 0o600)


def revoked_devices(folder: Path) -> set[str]:
    with locked(folder) as state:
        return set(state["revoked_devices"])


def retired_device_cas(folder: Path, now: dt.datetime | None = None) -> list[pki.Issued]:
    """Device CAs `rotate` replaced that are still in date: certificates they issued are
    in use until their devices renew, so the broker trusts them and needs their CRL."""
    now = now or dt.datetime.now(dt.UTC)
    out = []
    for cert in sorted((folder / RETIRED).glob(f"{DEVICE_CA}-*.crt")):
        issued = _issued(folder / RETIRED, cert.stem)
        if pki.load_cert(issued.cert_pem).not_valid_after_utc > now:
            out.append(issued)
    return out


def reissue_crl(folder: Path, state: dict[str, Any], days: float) -> Path:
    """A new CRL (its number one up) listing every revoked serial, valid for `days`: one
    signed by the device CA, then one by each retired device CA still in date (OpenSSL
    refuses a certificate whose issuer has no CRL in the broker's `crlfile`)."""
    state["crl_number"] += 1
    serials = {int(s, 16) for s in state["revoked_serials"]}
    pem = b"".join(
        crl.revocation_list(issuer, serials, days=days, number=state["crl_number"])
        for issuer in [_issued(folder, DEVICE_CA), *retired_device_cas(folder)]
    )
    return _write(folder, CRL_FILE, pem)


def rotate_device_ca(
    folder: Path, root_key_pem: bytes, *, days: float = 3650, crl_days: float = 30
) -> list[Path]:
    """A new device CA made with the root (its key brought back from offline for this);
    the current one moves to `retired/`, still trusted by the broker (`fleet-ca.crt`)
    and listed in the CRL until it expires. Devices move over as they renew."""
    root_pem = (folder / "root.crt").read_bytes()
    try:
        if not pki.matches_key(root_pem, pki.load_key(root_key_pem)):
            raise OpsError(f"that key is not the key of {folder / 'root.crt'}")
    except pki.PkiError as exc:
        raise OpsError(f"the root key cannot be read: {exc}") from exc
    old = _issued(folder, DEVICE_CA)
    old_cert = pki.load_cert(old.cert_pem)
    name = pki.common_name(old_cert).split(" (", 1)[0]
    new = pki.new_intermediate(
        pki.Issued(root_pem, root_key_pem),
        f"{name} ({dt.datetime.now(dt.UTC):%Y-%m-%d})",
        "client",
        days=days,
    )
    retired = folder / RETIRED
    retired.mkdir(exist_ok=True)
    tag = f"{DEVICE_CA}-{old_cert.serial_number:x}"[:26]
    with locked(folder) as state:
        written = [
            _write(retired, f"{tag}.crt", old.cert_pem),
            _write(retired, f"{tag}.key", old.key_pem, 0o600),
            _write(folder, f"{DEVICE_CA}.key", new.key_pem, 0o600),
            _write(folder, f"{DEVICE_CA}.crt", new.cert_pem),
        ]
        trusted = b"".join(ca_.cert_pem for ca_ in retired_device_cas(folder))
        written.append(_write(folder, "fleet-ca.crt", new.cert_pem + trusted + root_pem))
        written.append(reissue_crl(folder, state, crl_days))
    return written


def copy_crl(folder: Path, out: Path) -> None:
    """The CRL where the broker reads it (its `crlfile`), replaced atomically."""
    write_atomic(out, (folder / CRL_FILE).read_bytes(), 0o644)


def crl_due(folder: Path, days: float, now: dt.datetime | None = None) -> bool:
    """The CRL is missing, or has less than half of `days` left before its next update
    (the broker refuses every device once it passes)."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        left = crl.next_update((folder / CRL_FILE).read_bytes()) - now
    except (OSError, pki.PkiError):
        return True
    return left.total_seconds() < days * 86400 / 2


# -- signing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signed:
    cert_pem: bytes
    chain_pem: bytes
    serial: int


def sign_renewal(
    folder: Path,
    csr_pem: bytes,
    *,
    device_id: str,
    store_id: str | None,
    inventory: list[Device],
    days: float,
    min_interval_s: float = RENEW_INTERVAL_S,
    now: float | None = None,
) -> Signed:
    """A device certificate for `csr_pem`, or Refused: the CSR's CN must be `device_id`
    (the id in the topic), a device of the inventory (in `store_id` when given), not
    revoked, and not signed for in the last `min_interval_s`."""
    now = time.time() if now is None else now
    try:
        cn = pki.common_name(pki.load_csr(csr_pem))
    except pki.PkiError as exc:
        raise Refused("malformed", str(exc)) from exc
    if cn != device_id:
        raise Refused("wrong_cn", f"the request is for {cn!r}, the topic is device {device_id!r}")
    known = {d.device_id: d.store_id for d in inventory}
    if cn not in known:
        raise Refused("unknown_device", f"{cn!r} is not in the device inventory")
    if store_id is not None and known[cn] != store_id:
        raise Refused("wrong_store", f"{cn!r} belongs to store {known[cn]!r}, not {store_id!r}")
    with locked(folder) as state:
        if cn in state["revoked_devices"]:
            raise Refused("revoked", f"{cn!r} is revoked")
        history = state["issued"].setdefault(cn, [])
        last = max((h["signed_ts"] for h in history if h.get("renewal")), default=0.0)
        if min_interval_s and now - last < min_interval_s:
            raise Refused(
                "too_soon",
                f"a certificate was signed for {cn!r} {now - last:.0f} s ago; "
                f"one per {min_interval_s:.0f} s",
            )
        device_ca = _issued(folder, DEVICE_CA)
        try:
            cert_pem = pki.sign_csr(csr_pem, device_ca, expected_cn=cn, days=days)
        except pki.PkiError as exc:
            raise Refused("malformed", str(exc)) from exc
        serial = crl.serial(cert_pem)
        history.append({"serial": f"{serial:x}", "signed_ts": now, "renewal": True})
    return Signed(cert_pem, device_ca.cert_pem, serial)


def record_issued(folder: Path, device_id: str, cert_pem: bytes) -> None:
    """A certificate made elsewhere (pairing, `provision pair`) for `device_id`, so
    `revoke` can list it; it does not count towards the one renewal an hour."""
    with locked(folder) as state:
        state["issued"].setdefault(device_id, []).append(
            {"serial": f"{crl.serial(cert_pem):x}", "signed_ts": time.time()}
        )


def revoke(folder: Path, device_id: str, extra_certs: list[bytes], crl_days: float) -> list[int]:
    """Every certificate issued to `device_id` (and `extra_certs`) into the CRL; the device
    refused further renewals. The serials listed."""
    with locked(folder) as state:
        serials = {int(h["serial"], 16) for h in state["issued"].get(device_id, [])}
        serials |= {crl.serial(pem) for pem in extra_certs}
        listed = {int(s, 16) for s in state["revoked_serials"]} | serials
        state["revoked_serials"] = sorted(f"{s:x}" for s in listed)
        if device_id not in state["revoked_devices"]:
            state["revoked_devices"].append(device_id)
        reissue_crl(folder, state, crl_days)
    return sorted(serials)


def inventory_from(path: Path) -> list[Device]:
    try:
        return parse_inventory(path.read_text())
    except OSError as exc:
        raise OpsError(f"cannot read the device inventory {path}: {exc}") from exc


def sighup(pid_file: Path) -> str:
    """SIGHUP to the Mosquitto whose pid is in `pid_file` (it re-reads CRL and ACL); what
    was done, or the command to run on the broker host."""
    import signal

    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError, IndexError) as exc:
        return (
            f"could not signal Mosquitto ({pid_file}: {exc}); on the broker host run: "
            "sudo systemctl reload mosquitto"
        )
    return f"sent SIGHUP to Mosquitto (pid {pid}): it re-reads the CRL and the ACL"
