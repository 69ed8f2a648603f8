"""Renewal over MQTT on the documented fleet broker (mutual TLS, fleet ACL, CRL), with
the PKI of `omo-ops ca init` and `omo-ops ca serve` answering.

The certificate lives seconds, not years, and `renew_before` is seconds too: the
timeline is the one a screen goes through in a year, compressed (15 s and 12s rather
than 3 minutes and 2m, to keep the suite in its time budget). The renewal test prints
that timeline (`pytest -s`), from the device's, its link's and `ca serve`'s own log
lines, and checks its steps came in order.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from edge.link.schemas import encode
from edge.link.schemas.central import CertIssued
from edge.link.tls import client_context
from edge.outbox.store import Outbox
from edge.provision import pki
from edge.sim.central import CentralSim
from tests.support.config import write_config
from tests.support.device import running_device
from tests.support.mqtt_probe import Probe
from tests.support.paths import DEMO_TRACE
from tests.support.pki import leaf_cert
from tests.support.trust import TrustBroker, TrustFleet, ca_serving
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(120)]


def device_config(
    tmp_path: Path, fleet: TrustFleet, broker: TrustBroker, cert: Path, key: Path, **mqtt: Any
) -> Path:
    return write_config(
        tmp_path / "edge.toml",
        {
            "device": {"store_id": "store-1", "device_id": "screen-1"},
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker.port,
                "tls_ca": str(fleet.trust),
                "tls_cert": str(cert),
                "tls_key": str(key),
                **mqtt,
            },
            "presence": {"source": f"replay:{DEMO_TRACE}", "replay_speed": 20.0},
            "display": {"headless": True, "width": 480, "height": 270},
            "storage": {"path": str(tmp_path / "state" / "outbox.sqlite3"), "hold_s": 0},
            "sync": {"ack_timeout_s": 1.0},
        },
    )


class Timeline(logging.Handler):
    """Seconds from the test's start to each log line of the device, its link and `ca
    serve`, and to the test's own marks: the renewal's story in the order it happened."""

    def __init__(self, start: float) -> None:
        super().__init__(logging.INFO)
        self.start = start
        self.entries: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("edge.link", "omo-ops")):
            with self.lock:
                self.entries.append((record.created - self.start, record.getMessage()))

    def mark(self, what: str, at: float | None = None) -> None:
        with self.lock:
            self.entries.append(((time.time() if at is None else at) - self.start, what))

    def first(self, words: str, after: float = -1e9) -> float:
        """When a line holding `words` was first seen after `after` (seconds)."""
        with self.lock:
            found = [t for t, line in self.entries if words in line and t > after]
        assert found, f"no {words!r} after {after:.1f} s:\n{self}"
        return min(found)

    def __str__(self) -> str:
        with self.lock:
            return "\n".join(f"{t:6.2f} s  {line}" for t, line in sorted(self.entries))


def test_a_device_renews_through_ca_serve_and_connects_after_the_old_certificate_expired(
    tmp_path: Path,
) -> None:
    fleet = TrustFleet(tmp_path / "fleet")
    start = time.time()
    cert, key = fleet.device("screen-1", lifetime_s=15)
    old = pki.load_cert(cert.read_bytes())
    timeline = Timeline(start)
    expires = old.not_valid_after_utc.timestamp()  # whole seconds: up to 1 s before +15 s
    timeline.mark(
        f"certificate issued, serial {old.serial_number:x}, not after +{expires - start:.2f} s"
    )
    timeline.mark("renewal window entered (renew_before 12s)", at=expires - 12)
    timeline.mark("old certificate expires", at=expires)
    logging.getLogger().addHandler(timeline)
    try:
        with (
            TrustBroker(fleet, tmp_path / "broker") as broker,
            CentralSim(
                "127.0.0.1", broker.central_port, tls=fleet.identity("omo-central")
            ) as central,
            ca_serving(fleet, broker, days=1) as ca_service,
        ):
            config = device_config(
                tmp_path, fleet, broker, cert, key, renew_before="12s", renew_retry="2s"
            )
            with running_device(config) as device:
                timeline.mark("device running and connected")
                assert wait_for(lambda: bool(central.events_of("cert.renewed")), 30), timeline
                timeline.mark("cert.renewed event at central")
                new = pki.load_cert(cert.read_bytes())
                assert new.serial_number != old.serial_number
                assert new.not_valid_after_utc > old.not_valid_after_utc
                assert pki.matches_key(cert.read_bytes(), pki.load_key(key.read_bytes()))
                assert ca_service.signed == 1
                assert wait_for(lambda: time.time() > expires + 1, 20)
                # Mosquitto checks a certificate at the handshake only: the device is still
                # on the connection it made with the old one. End every connection.
                broker.stop()
                timeline.mark("broker stopped: forced reconnect")
                at_central = len(central.events)
                broker.start()
                timeline.mark("broker started again")
                link = device.io.online.link if device.io.online else None
                assert link is not None
                assert wait_for(link.connected.is_set, 30), timeline
                timeline.mark("device link connected")
                assert wait_for(lambda: len(central.events) > at_central, 30), timeline
                timeline.mark(f"events arriving again ({len(central.events)} at central)")
            timeline.mark("device stopped")
            assert device.stats.events_pending == 0, "events left undelivered"
            with Outbox(tmp_path / "state" / "outbox.sqlite3") as outbox:
                status = outbox.status()
            # Every event the device accepted is at central, once: none left, none dropped.
            assert status["pending"] == status["inflight"] == 0
            assert status["dropped"] == {}
            assert len(central.events) == status["acked_total"] > at_central
            timeline.mark(
                f"{status['acked_total']} events accepted by the device, "
                f"{len(central.events)} at central, 0 pending, 0 dropped"
            )
            assert not central.events_of("cert.rejected")
    finally:
        logging.getLogger().removeHandler(timeline)
    # The story in order (no timings asserted; the machine may be slow).
    asked = timeline.first("asked for a new one on omo/v1/store-1/screen-1/csr")
    signed = timeline.first("screen-1: renewed, serial", asked)
    stored = timeline.first("passed the checks", signed)
    tried = timeline.first("trying the new pair on a connection of its own", stored)
    switched = timeline.first("client certificate renewed", tried)
    assert asked >= timeline.first("renewal window entered")
    expired = timeline.first("old certificate expires")
    assert switched < expired
    forced = timeline.first("broker stopped: forced reconnect", expired)
    reloaded = timeline.first("changed on disk; using the new one", forced)
    timeline.first("connected to broker", reloaded)
    print(f"\n{timeline}")


@pytest.mark.parametrize(
    ("flaw", "reason"),
    [
        ("other_key", "wrong_key"),
        ("other_cn", "wrong_cn"),
        ("no_client_auth", "no_client_auth"),
        ("foreign_ca", "bad_chain"),
        ("not_at_the_broker", "trial_failed"),
    ],
)
def test_a_bad_renewal_is_refused_and_the_old_pair_kept(
    tmp_path: Path, flaw: str, reason: str
) -> None:
    """`not_at_the_broker`: a root the device already trusts (a rotation under way) but
    the broker not yet; the certificate passes the device's checks and fails on the
    trial connection, so the device never switches to it."""
    fleet = TrustFleet(tmp_path / "fleet")
    new_root = pki.new_ca("next root CA", path_length=1)
    new_device_ca = pki.new_intermediate(new_root, "next device CA", "client")
    cert, key = fleet.device("screen-1", lifetime_s=3600)
    before = cert.read_bytes(), key.read_bytes()
    device_ca = pki.Issued(
        (fleet.ca / "device-ca.crt").read_bytes(), (fleet.ca / "device-ca.key").read_bytes()
    )
    server_ca = pki.Issued(
        (fleet.ca / "server-ca.crt").read_bytes(), (fleet.ca / "server-ca.key").read_bytes()
    )
    with (
        TrustBroker(fleet, tmp_path / "broker") as broker,
        CentralSim("127.0.0.1", broker.central_port, tls=fleet.identity("omo-central")) as central,
    ):
        # An impostor with the real CA's key and the CA service's identity: its answers
        # pass the ACL, so only the device's own checks stand between them and its keys.
        rogue = Probe(broker.central_port, client_context(fleet.identity("omo-ca")), "rogue-ca")
        assert rogue.connect() == "connected"
        rogue.subscribe("omo/v1/+/+/csr")
        config = device_config(
            tmp_path, fleet, broker, cert, key, renew_before="2h", renew_retry="1h"
        )
        if flaw == "not_at_the_broker":
            bundle = tmp_path / "tls-ca.crt"
            bundle.write_bytes(fleet.trust.read_bytes() + new_root.cert_pem)
            config.write_text(config.read_text().replace(str(fleet.trust), str(bundle)))
        chain = device_ca.cert_pem
        with running_device(config):
            assert wait_for(lambda: bool(rogue.messages), 20)
            request = _json(rogue.messages[0][1])
            csr = pki.load_csr(request["csr_pem"].encode())
            if flaw == "other_key":
                answer = pki.sign_csr(
                    pki.make_csr(pki.new_key(), "screen-1"), device_ca, expected_cn="screen-1"
                )
            elif flaw == "other_cn":
                answer = leaf_cert(device_ca, csr.public_key(), "screen-2", days=30)
            elif flaw == "no_client_auth":  # serverAuth, for the device's own key and name
                answer = leaf_cert(server_ca, csr.public_key(), "screen-1", server=True, days=30)
            elif flaw == "foreign_ca":
                answer = leaf_cert(
                    pki.new_ca("a CA of nobody's"), csr.public_key(), "screen-1", days=30
                )
            else:
                answer = pki.sign_csr(
                    request["csr_pem"].encode(), new_device_ca, expected_cn="screen-1"
                )
                chain = new_device_ca.cert_pem
            reply = CertIssued(
                request_id=request["request_id"], cert_pem=answer.decode(), chain_pem=chain.decode()
            )
            rogue.publish("omo/v1/store-1/screen-1/cert", encode(reply))
            assert wait_for(lambda: bool(central.events_of("cert.rejected")), 20)
            rejected = central.events_of("cert.rejected")[0]
            assert rejected["reason"] == reason
            if flaw == "not_at_the_broker":  # refused at once, not after the trial's timeout
                assert "closed the connection" in rejected["detail"], rejected
            assert (cert.read_bytes(), key.read_bytes()) == before
            assert not list(cert.parent.glob("*.next.*")), "a refused pair was left staged"
        rogue.close()


def _json(payload: bytes) -> dict[str, Any]:
    import json

    value = json.loads(payload)
    assert isinstance(value, dict)
    return value
