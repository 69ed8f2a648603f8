"""The zero-copy PUBLISH decoder decodes exactly what paho's own decoder does, and paho
still has the internals it replaces (this fails first when a paho release moves them)."""

from __future__ import annotations

import contextlib
import inspect

import paho.mqtt.client as mqtt_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.link import paho_shim
from tests.support.examples import examples

paho_shim.opt_in_this_thread()  # the equivalence tests decode as the daemon's link does


def test_paho_still_has_what_the_shim_replaces() -> None:
    assert callable(paho_shim.ORIGINAL_DECODE), "paho.mqtt._packet.decode_publish is gone"
    params = list(inspect.signature(paho_shim.ORIGINAL_DECODE).parameters)
    assert params == ["header", "packet", "protocol"], params
    assert _packet.PublishPacket._fields == paho_shim.PUBLISH_FIELDS
    handle = inspect.getsource(mqtt_client.Client._handle_publish)
    assert "_packet.decode_publish(" in handle, "the client no longer decodes through _packet"
    fresh = inspect.getsource(mqtt_client.Client._packet_read)
    assert '"packet": bytearray(b"")' in fresh or "'packet': bytearray(b'')" in fresh, (
        "paho no longer starts a fresh receive buffer per packet; a view would be unsafe"
    )


def publish_packet(
    topic: bytes, qos: int, mid: int, props: Properties | None, payload: bytes
) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    if props is not None:
        body += props.pack()
    return body + payload


@settings(max_examples=examples(300), deadline=None)
@given(
    topic=st.text(min_size=1, max_size=40).map(str.encode),
    qos=st.integers(0, 2),
    dup=st.booleans(),
    retain=st.booleans(),
    mid=st.integers(1, 65535),
    v5=st.booleans(),
    correlation=st.none() | st.binary(max_size=20),
    response=st.none() | st.text(min_size=1, max_size=30),
    payload=st.binary(max_size=3000),
)
def test_the_shim_decodes_exactly_like_paho(
    topic: bytes,
    qos: int,
    dup: bool,
    retain: bool,
    mid: int,
    v5: bool,
    correlation: bytes | None,
    response: str | None,
    payload: bytes,
) -> None:
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    props = None
    if v5:
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        if response is not None:
            props.ResponseTopic = response
    header = 0x30 | (dup << 3) | (qos << 1) | int(retain)
    packet = bytearray(publish_packet(topic, qos, mid, props, payload))
    try:
        theirs = paho_shim.ORIGINAL_DECODE(header, bytes(packet), protocol)
    except MalformedPacket:  # e.g. a NUL in a property string: refused alike
        with pytest.raises(MalformedPacket):
            paho_shim.decode_publish(header, packet, protocol)
        return
    ours = paho_shim.decode_publish(header, packet, protocol)
    for name in ("dup", "qos", "retain", "topic", "mid"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert bytes(ours.payload) == theirs.payload
    assert isinstance(ours.payload, memoryview)  # no copy of the payload
    if v5:
        assert ours.properties.json() == theirs.properties.json()


@given(st.binary(max_size=8), st.integers(0, 2))
def test_a_truncated_packet_is_malformed_not_a_crash(packet: bytes, qos: int) -> None:
    header = 0x30 | (qos << 1)
    with contextlib.suppress(MalformedPacket):
        paho_shim.decode_publish(header, bytearray(packet), MQTTProtocolVersion.MQTTv311)


def test_a_thread_that_did_not_opt_in_decodes_exactly_as_paho() -> None:
    """The simulators and ops tools in the same process keep getting bytes."""
    import threading

    packet = bytearray(publish_packet(b"t/x", 1, 7, None, b"payload " * 20_000))
    seen: list[object] = []
    thread = threading.Thread(
        target=lambda: seen.append(
            paho_shim.decode_publish(0x32, packet, MQTTProtocolVersion.MQTTv311).payload
        )
    )
    thread.start()
    thread.join()
    assert seen == [bytes(packet[7:])] and isinstance(seen[0], bytes)
