"""Doctor check of the broker: reachable over TCP, then a real MQTT 5 login.

Imperative by nature (it is the network); every wait is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import uuid
from typing import Any

from edge import config as config_mod
from edge.config.sections import MqttConfig
from edge.doctor.findings import TIMEOUT_S, Finding


def check_broker(cfg: config_mod.Config, timeout_s: float = TIMEOUT_S) -> Finding:
    """A TCP connect, then a real MQTT 5 login with the device's credentials.

    The login uses a client id of its own (device id + "-doctor-..."): the device's
    id would take over, and so disconnect, a running daemon's session.
    """
    m = cfg.mqtt
    if not cfg.provisioned:
        return Finding(
            "WARN",
            "broker",
            "the device is not provisioned (store id, device id or broker missing): it plays "
            "its own content and keeps its events",
            "pair it with `omo-ops provision pair` from the ops laptop",
        )
    nodes = m.hosts or (m.host,)  # a clustered broker: every node the device may fail over to
    findings = [_check_node(m, cfg.device.device_id, node, timeout_s) for node in nodes]
    if len(findings) == 1:
        return findings[0]
    failed = [f for f in findings if f.status == "FAIL"]
    every = "; ".join(f.found for f in failed or findings)
    if not failed:
        return Finding("OK", "broker", f"every node accepts this device: {every}")
    if len(failed) == len(findings):
        return Finding("FAIL", "broker", f"no node accepts this device: {every}", failed[0].todo)
    good = len(findings) - len(failed)
    return Finding(
        "WARN",
        "broker",
        f"{good} of {len(findings)} nodes accept this device; {every}",
        f"the device fails over to the nodes that answer; {failed[0].todo}",
    )


def _check_node(m: MqttConfig, device_id: str, host: str, timeout_s: float) -> Finding:
    """A TCP connect to one broker node, then the login."""
    port = m.port
    where = f"{host}:{port}"
    unreachable = (
        "check [mqtt] host and port, that the broker runs, and that the network "
        "(firewall, VLAN) lets this device reach it"
    )
    try:
        socket.create_connection((host, port), timeout_s).close()
    except socket.gaierror as exc:
        return Finding("FAIL", "broker", f"the name {host} does not resolve ({exc})", unreachable)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout_s:g} s"
        return Finding("FAIL", "broker", f"cannot reach {where}: {reason}", unreachable)
    return _mqtt_login(m, device_id, where, timeout_s)


def _mqtt_login(m: MqttConfig, device_id: str, where: str, timeout_s: float) -> Finding:
    from edge.link.client import new_client
    from edge.link.tls import TlsFiles

    tls = bool(m.tls_ca)
    answer: list[Any] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answer.append(reason)
        done.set()

    login = "check [mqtt] username/password or the client certificate, and the broker's ACL"
    try:
        client = new_client(
            f"{device_id}-doctor-{uuid.uuid4().hex[:6]}",
            tls=TlsFiles(m.tls_ca, m.tls_cert, m.tls_key) if tls else None,
            username=m.username,
            password=m.password,
        )
        client.connect_timeout = timeout_s
        client.on_connect = on_connect
        client.connect(where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1]), keepalive=10)
    except ssl.SSLCertVerificationError as exc:
        return Finding(
            "FAIL",
            "broker",
            f"{where} presents a certificate this device does not trust: {exc.verify_message}",
            "check that [mqtt] tls_ca is the CA that signed the broker's certificate and that "
            "the certificate names the host in [mqtt] host",
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        return Finding("FAIL", "broker", f"TLS or connection to {where} failed: {exc}", login)
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
    if not answer:
        return Finding(
            "FAIL",
            "broker",
            f"{where} accepts connections but gave no MQTT answer within {timeout_s:g} s",
            "check that the port is the broker's MQTT port (TLS or not, as configured)",
        )
    if answer[0].is_failure:
        return Finding("FAIL", "broker", f"{where} refused the login: {answer[0]}", login)
    return Finding(
        "OK", "broker", f"{where} accepts this device's MQTT 5 login ({'TLS' if tls else 'no TLS'})"
    )
