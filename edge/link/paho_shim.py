"""The one place omo-edge reaches into paho-mqtt's internals: a zero-copy PUBLISH decoder,
and a TLS context replaced between connections (`use_tls_context`).

Why: paho 2.2 decodes an incoming PUBLISH with `struct.unpack("!H{n}s", packet)`
and slices, each of which copies the whole remaining packet, and
`Properties.unpack` slices its buffer once per property. For a 200 MB asset that
is four or more 200 MB copies in a row, each holding the GIL, so the asyncio loop
that owns the decide deadline stalls for about 0.4 s (benchmarks/loop_stall.py).
This decoder reads the topic, packet id and properties from a memoryview and
hands the payload on as a memoryview of paho's own receive buffer: no copy.
Small payloads are turned into bytes by the link (edge/link/session.py); a big
one reaches the asset store as a memoryview, which hashing and writing take as is.

Only clients that opt in get views (`new_client(zero_copy=True)`, the daemon's
link): their network thread marks itself when it opens its socket. Every other
paho client in the process (the simulators, ops tools, tests) decodes exactly
as paho does, with bytes.

What it relies on (checked against paho-mqtt 2.2.0; tests/unit/link/test_paho_shim.py fails
when a paho release changes any of it):
- `paho.mqtt._packet.decode_publish(header, packet, protocol) -> PublishPacket`
  is looked up on the module at each call by `Client._handle_publish`;
- `PublishPacket` is a NamedTuple with the fields dup, qos, retain, topic, mid,
  properties, payload;
- paho starts a new receive buffer for every packet, so a view of the old one
  stays valid after the packet is handled;
- `Client._ssl_context` holds the context `tls_set_context` was given, and every
  (re)connect wraps its new socket with whatever it holds then.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers

PUBLISH_FIELDS = ("dup", "qos", "retain", "topic", "mid", "properties", "payload")
ORIGINAL_DECODE = _packet.decode_publish
_thread = threading.local()


def opt_in_this_thread() -> None:
    """Called on a client's network thread (`on_socket_open`): its payloads come as views."""
    _thread.zero_copy = True


def decode_publish(header: int, packet: bytes | bytearray, protocol: Any) -> Any:
    """`paho.mqtt._packet.decode_publish`; on an opted-in thread, the payload as a view."""
    if not getattr(_thread, "zero_copy", False):
        return ORIGINAL_DECODE(header, packet, protocol)
    view = memoryview(packet)
    if len(view) < 2:
        raise MalformedPacket("PUBLISH too short for its topic length")
    topic_len = int.from_bytes(view[:2], "big")
    pos = 2 + topic_len
    qos = (header & 0x06) >> 1
    if len(view) < pos + (2 if qos > 0 else 0):
        raise MalformedPacket("PUBLISH shorter than its topic and packet id")
    topic = bytes(view[2:pos])
    if protocol != MQTTProtocolVersion.MQTTv5 and not topic:
        raise MalformedPacket("topic can't be empty in MQTTv3")
    mid = 0
    if qos > 0:
        mid = int.from_bytes(view[pos : pos + 2], "big")
        pos += 2
    properties = None
    if protocol == MQTTProtocolVersion.MQTTv5:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        length, length_bytes = VariableByteIntegers.decode(bytes(view[pos : pos + 4]))  # type: ignore[no-untyped-call]
        end = pos + length_bytes + length
        properties.unpack(bytes(view[pos:end]))  # type: ignore[no-untyped-call]
        pos = end
    return _packet.PublishPacket(
        dup=((header & 0x08) >> 3) != 0,
        qos=qos,
        retain=(header & 0x01) != 0,
        topic=topic,
        mid=mid,
        properties=properties,
        payload=view[pos:],  # type: ignore[arg-type]  # a view where paho says bytes
    )


def install() -> None:
    """Use the zero-copy decoder in every paho client of this process (idempotent)."""
    _packet.decode_publish = decode_publish


def aim_next_attempt(client: Any, host: str) -> None:
    """Point a client's (re)connect attempt that is starting at `host`; from `on_pre_connect`.

    paho keeps one host and its public `host` setter refuses while an attempt is
    under way, which is exactly when `on_pre_connect` runs; `reconnect()` reads
    `_host` only after that callback returns, so setting it there aims this very
    attempt (edge/link/backoff.py: failover over `[mqtt] hosts`).
    """
    client._host = host


def use_tls_context(client: mqtt.Client, context: ssl.SSLContext) -> None:
    """The next (re)connect of `client` uses `context`: a new CA bundle or certificate
    without a restart. paho's `tls_set_context` refuses a second call, and an existing
    context can gain CA certificates but never lose one (a CA rotated out)."""
    if getattr(client, "_ssl_context", None) is None:
        raise RuntimeError("the client was made without TLS")
    client._ssl_context = context
