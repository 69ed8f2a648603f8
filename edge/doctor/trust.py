"""Doctor lines for trust that keeps itself up: certificate renewal, the CA bundle, and
remote config overlays. Verdicts are pure; `check_trust` reads the files."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from pathlib import Path

from edge import config as config_mod
from edge.config import remote
from edge.config.keys import duration_s
from edge.doctor.findings import Finding
from edge.link.renewal import staged
from edge.provision import pki


def _date(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def renewal_verdict(
    cert_pem: bytes, renew_before_s: float, writable: bool, now: dt.datetime
) -> Finding:
    """When the client certificate renews, and whether the device can store the new pair."""
    end = pki.expires(cert_pem)
    start = end - dt.timedelta(seconds=renew_before_s)
    if not writable:
        return Finding(
            "FAIL",
            "renewal",
            "the folder of tls_cert/tls_key is not writable by this user: a renewed pair "
            "cannot be stored",
            "let the service user write there (the state dir is the usual place)",
        )
    if now >= start:
        return Finding(
            "WARN",
            "renewal",
            f"the certificate expires {_date(end)}: within renew_before, the device asks "
            "for a new one on P/csr",
            "if this lasts, check that omo-ops ca serve runs and lists this device "
            "(cert.rejected events say why not)",
        )
    return Finding(
        "OK", "renewal", f"certificate valid until {_date(end)}; renewal from {_date(start)}"
    )


def ca_bundle_verdict(ca_pem: bytes, now: dt.datetime) -> Finding:
    """How many CAs `tls_ca` trusts (two during a rotation) and when the first one ends."""
    try:
        cas = pki.load_certs(ca_pem)
    except pki.PkiError as exc:
        return Finding("FAIL", "ca-bundle", f"tls_ca is unusable: {exc}", "replace it")
    ends = sorted(c.not_valid_after_utc for c in cas)
    if ends[0] <= now:
        return Finding(
            "WARN",
            "ca-bundle",
            f"tls_ca holds {len(cas)} CA(s); one expired {_date(ends[0])}",
            "drop it from the bundle once the rotation is done (taken up without a restart)",
        )
    return Finding(
        "OK",
        "ca-bundle",
        f"tls_ca holds {len(cas)} CA(s), the first to expire on {_date(ends[0])}; "
        "a changed file is taken up at the next reconnect",
    )


def remote_config_verdict(cfg: config_mod.Config, now_ms: int) -> Finding:
    """Config signing keys, and the overlays kept on disk: in force, or why not."""
    keys = cfg.config.public_keys
    if not keys:
        return Finding("OK", "config", "no [config] public_keys: remote config overlays refused")
    payloads, _highest = remote.load(cfg.state_dir)
    parts = []
    for scope, payload in sorted(payloads.items()):
        try:
            overlay = remote.verify(
                payload,
                scope=scope,
                public_keys=keys,
                store_id=cfg.device.store_id,
                device_id=cfg.device.device_id,
                now_ms=now_ms,
                highest=None,
            )
            remote.effective(cfg, overlay)
        except remote.OverlayRejected as exc:
            return Finding(
                "WARN",
                "config",
                f"the saved {scope} overlay is not used: {exc}",
                "central should publish a current overlay (omo-ops config push)",
            )
        parts.append(f"{scope} v{overlay.version} ({', '.join(overlay.keys())})")
    in_force = "; ".join(parts) or "none in force"
    return Finding(
        "OK", "config", f"{len(keys)} config key(s) ({', '.join(sorted(keys))}); {in_force}"
    )


def check_trust(cfg: config_mod.Config) -> list[Finding]:
    m = cfg.mqtt
    found: list[Finding] = []
    now = dt.datetime.now(dt.UTC)
    if cfg.provisioned and m.tls_ca:
        with contextlib.suppress(OSError):  # the tls line says so
            found.append(ca_bundle_verdict(Path(m.tls_ca).read_bytes(), now))
    if cfg.provisioned and m.tls_cert and m.tls_key:
        cert = Path(m.tls_cert)
        try:
            pem = cert.read_bytes()
            writable = os.access(cert.parent, os.W_OK)
            found.append(renewal_verdict(pem, duration_s(m.renew_before), writable, now))
        except (OSError, pki.PkiError):
            pass  # the tls line said so
        if staged(cert).exists():
            found.append(
                Finding(
                    "WARN",
                    "renewal",
                    f"a renewed pair waits in {staged(cert)}: it is tried at the next start",
                )
            )
    found.append(remote_config_verdict(cfg, int(time.time() * 1000)))
    return found
