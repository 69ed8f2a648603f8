"""The one way omo-edge makes an MQTT client: paho-mqtt 2, MQTT 5, TCP_NODELAY, TLS >= 1.2.

The daemon's link, `omo-edge doctor`, the `omo-ops` tools and the simulators all
call `new_client`, so every connection gets the same TLS rules (1.2 or newer,
the broker's certificate and host name checked, our own certificate for mutual
TLS) and the same latency fix (paho never sets TCP_NODELAY; without it a
request/response round trip costs 40-90 ms of Nagle delay instead of ~0.5 ms).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.link import paho_shim
from edge.link.tls import TlsFiles, client_context


def set_nodelay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """paho `on_socket_open`: send small packets at once (no Nagle delay)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _zero_copy_socket(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    set_nodelay(client, userdata, sock)
    paho_shim.opt_in_this_thread()  # on the network thread that reads this socket


def new_client(
    client_id: str,
    *,
    tls: TlsFiles | ssl.SSLContext | None = None,
    username: str = "",
    password: str = "",
    manual_ack: bool = False,
    zero_copy: bool = False,
) -> mqtt.Client:
    """A paho MQTT 5 client, not yet connected.

    `tls`: the CA (and for mutual TLS our certificate and key) as files, or a
    context from `edge.link.tls.client_context` the caller keeps (to reload a
    renewed certificate). `zero_copy`: big payloads arrive as memoryviews of paho's
    buffer, not copies (edge/link/paho_shim.py; the daemon's link). Raises OSError
    (ssl.SSLError included) when the files cannot be used.
    """
    paho_shim.install()  # a big payload arrives without a copy (edge/link/paho_shim.py)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    client.on_socket_open = _zero_copy_socket if zero_copy else set_nodelay
    if username:
        client.username_pw_set(username, password or None)
    if tls is not None:
        client.tls_set_context(tls if isinstance(tls, ssl.SSLContext) else client_context(tls))
    return client
