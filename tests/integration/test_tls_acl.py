"""The fleet broker of docs/mosquitto/ (mutual TLS, CRL, per-device ACL) against real clients.

Every "nothing arrives" check is ordered after a positive control that does
arrive over the same path, so a broken broker or a broken test cannot pass.
Devices (docs/mosquitto/devices.example): screen-1 and screen-2 in store-1,
screen-3 in store-2.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.link.tls import TlsFiles, client_context
from edge.provision import pki
from tests.support.fleet_broker import FleetBroker
from tests.support.mqtt_probe import Probe
from tests.support.pki import FleetPkiFull

NOT_AUTHORIZED = 135
P1 = "omo/v1/store-1/screen-1"
P2 = "omo/v1/store-1/screen-2"
S1 = "omo/v1/store-1/_store"
S2 = "omo/v1/store-2/_store"

ProbeFactory = Callable[..., Probe]


@pytest.fixture
def probes(fleet_broker: FleetBroker, fleet_pki_full: FleetPkiFull) -> Iterator[ProbeFactory]:
    """`probes(device_id)`: a connected device; `probes("omo-central")`: the central service."""
    made: list[Probe] = []
    pki_ = fleet_pki_full

    def make(who: str) -> Probe:
        if who == "omo-central":
            ctx = client_context(
                TlsFiles(str(pki_.ca_cert), str(pki_.central_cert), str(pki_.central_key))
            )
            probe = Probe(fleet_broker.central_port, ctx, "central-probe")
        else:
            cert, key = pki_.client(who)
            probe = Probe(
                fleet_broker.port,
                client_context(TlsFiles(str(pki_.ca_cert), str(cert), str(key))),
                who,
            )
        made.append(probe)
        assert probe.connect() == "connected"
        return probe

    yield make
    for probe in made:
        probe.close()


def attempt(port: int, ctx: ssl.SSLContext, client_id: str = "screen-1") -> str:
    probe = Probe(port, ctx, client_id)
    try:
        return probe.connect()
    finally:
        probe.close()


def test_a_device_cannot_read_another_devices_topics(probes: ProbeFactory) -> None:
    central, a = probes("omo-central"), probes("screen-1")
    downlinks = ("events/ack", "decision", "checkin", "cmd", "asset/abc", "manifest")
    a.subscribe(*(f"{P2}/{t}" for t in downlinks), f"{P2}/#", "omo/v1/#", f"{P1}/decision")
    for t in downlinks:
        assert central.publish(f"{P2}/{t}", b"for screen-2").value == 0
    central.publish(f"{P1}/decision", b"for screen-1")
    a.wait_message(f"{P1}/decision", b"for screen-1")  # positive control: delivery works
    assert b"for screen-2" not in a.payloads()


def test_a_device_cannot_publish_on_another_devices_topics(probes: ProbeFactory) -> None:
    central, a, b = probes("omo-central"), probes("screen-1"), probes("screen-2")
    central.subscribe("omo/v1/+/+/events", "omo/v1/+/+/state", "omo/v1/+/+/decide")
    b.subscribe(f"{P2}/decision", f"{P2}/cmd", f"{P2}/events/ack", f"{P2}/checkin")
    # Uplinks in screen-2's name: central must not see them.
    for t in ("events", "state", "decide"):
        assert a.publish(f"{P2}/{t}", b"forged by screen-1").value == NOT_AUTHORIZED
    assert a.publish(f"{P1}/events", b"genuine from screen-1").value == 0
    central.wait_message(f"{P1}/events", b"genuine from screen-1")
    assert b"forged by screen-1" not in central.payloads()
    # Downlinks to screen-2 as if from central: screen-2 must not get them.
    for t in ("decision", "cmd", "events/ack", "checkin"):
        assert a.publish(f"{P2}/{t}", b"forged by screen-1").value == NOT_AUTHORIZED
    central.publish(f"{P2}/cmd", b"genuine from central")
    b.wait_message(f"{P2}/cmd", b"genuine from central")
    assert b"forged by screen-1" not in b.payloads()


def test_a_device_cannot_publish_to_its_own_commands_or_acks(probes: ProbeFactory) -> None:
    central, a = probes("omo-central"), probes("screen-1")
    a.subscribe(f"{P1}/cmd", f"{P1}/events/ack")
    assert a.publish(f"{P1}/cmd", b"self-issued command").value == NOT_AUTHORIZED
    assert a.publish(f"{P1}/events/ack", b"self-issued ack").value == NOT_AUTHORIZED
    central.publish(f"{P1}/cmd", b"real command")
    central.publish(f"{P1}/events/ack", b"real ack")
    a.wait_message(f"{P1}/cmd", b"real command")
    a.wait_message(f"{P1}/events/ack", b"real ack")
    assert b"self-issued command" not in a.payloads()
    assert b"self-issued ack" not in a.payloads()


def test_a_device_reads_only_its_own_stores_manifest(probes: ProbeFactory) -> None:
    central = probes("omo-central")
    central.publish(f"{S1}/manifest", b"store-1 manifest", retain=True)
    central.publish(f"{S2}/manifest", b"store-2 manifest", retain=True)
    screen3 = probes("screen-3")
    screen3.subscribe(f"{S1}/manifest", f"{S2}/manifest")
    screen3.wait_message(f"{S2}/manifest", b"store-2 manifest")
    screen1 = probes("screen-1")
    screen1.subscribe(f"{S1}/manifest")
    screen1.wait_message(f"{S1}/manifest", b"store-1 manifest")
    # Retained messages come with the SUBACK, in order: store-1's would be there by now.
    central.publish(f"{S2}/manifest", b"store-2 manifest, again", retain=True)
    screen3.wait_message(f"{S2}/manifest", b"store-2 manifest, again")
    assert b"store-1 manifest" not in screen3.payloads()
    # And a device cannot forge a manifest for its store.
    assert screen1.publish(f"{S1}/manifest", b"forged").value == NOT_AUTHORIZED


def test_a_device_not_in_the_inventory_can_do_nothing(probes: ProbeFactory) -> None:
    central, stranger = probes("omo-central"), probes("screen-99")
    central.subscribe("omo/v1/+/+/events")
    assert stranger.publish("omo/v1/store-1/screen-99/events", b"x").value == NOT_AUTHORIZED
    probes("screen-1").publish(f"{P1}/events", b"control")
    central.wait_message(f"{P1}/events", b"control")
    assert b"x" not in central.payloads()


def _ctx(pki_: FleetPkiFull, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    return client_context(TlsFiles(str(pki_.ca_cert), str(cert or ""), str(key or "")))


def test_a_client_without_a_certificate_is_refused(
    fleet_broker: FleetBroker, fleet_pki_full: FleetPkiFull
) -> None:
    assert attempt(fleet_broker.port, _ctx(fleet_pki_full)) != "connected"
    assert attempt(fleet_broker.central_port, _ctx(fleet_pki_full), "central") != "connected"
    cert, key = fleet_pki_full.client("screen-1")
    assert attempt(fleet_broker.port, _ctx(fleet_pki_full, cert, key)) == "connected"


def test_expired_wrongly_signed_and_revoked_certificates_are_refused(
    fleet_broker: FleetBroker, fleet_pki_full: FleetPkiFull
) -> None:
    f = fleet_pki_full
    expired = f.client("screen-1", days=-0.001)  # valid until about 90 s ago
    assert pki.expires(expired[0].read_bytes()) < pki.expires(f.client("screen-2")[0].read_bytes())
    assert attempt(fleet_broker.port, _ctx(f, *expired)) != "connected"

    other_ca = pki.new_ca("somebody else's CA")
    key = pki.new_key()
    foreign = f.dir / "foreign.crt"
    foreign.write_bytes(
        pki.sign_csr(pki.make_csr(key, "screen-1"), other_ca, expected_cn="screen-1")
    )
    foreign_key = f.dir / "foreign.key"
    foreign_key.write_bytes(pki.key_pem(key))
    assert attempt(fleet_broker.port, _ctx(f, foreign, foreign_key)) != "connected"

    # The central service's certificate (service CA) is no good on the device listener,
    # and a device's certificate is no good on the service listener.
    assert attempt(fleet_broker.port, _ctx(f, f.central_cert, f.central_key)) != "connected"
    good = f.client("screen-1")
    assert attempt(fleet_broker.central_port, _ctx(f, *good), "x") != "connected"

    assert attempt(fleet_broker.port, _ctx(f, *good)) == "connected"  # control
    f.revoke(good[0])
    fleet_broker.stop()
    fleet_broker.start()
    assert attempt(fleet_broker.port, _ctx(f, *good)) != "connected"
    assert attempt(fleet_broker.port, _ctx(f, *f.client("screen-1"))) == "connected"


def test_a_broker_certificate_for_another_host_is_refused(
    tmp_path: Path, fleet_pki_full: FleetPkiFull, fleet_broker: FleetBroker
) -> None:
    f = fleet_pki_full
    other = pki.server_cert(f.ca, ["otherhost"])
    other_cert = f.dir / "otherhost.crt"
    other_cert.write_bytes(other.cert_pem)
    f.server_key.write_bytes(other.key_pem)  # the fixture broker has read its key already
    cert, key = f.client("screen-1")
    with FleetBroker(f, tmp_path / "otherhost-broker", server_cert=other_cert) as wrong:
        outcome = attempt(wrong.port, _ctx(f, cert, key))
    assert "mismatch, certificate is not valid for '127.0.0.1'" in outcome, outcome
    assert attempt(fleet_broker.port, _ctx(f, cert, key)) == "connected"  # control


def test_the_client_context_insists_on_tls_1_2_and_the_host_name(
    fleet_pki_full: FleetPkiFull,
) -> None:
    ctx = _ctx(fleet_pki_full)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
