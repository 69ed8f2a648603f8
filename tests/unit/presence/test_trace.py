"""The JSON Lines trace format of docs/traces.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import TraceLineError
from edge.presence.advert import Advert
from edge.presence.decode import EDDYSTONE_UUID
from edge.presence.trace import format_advert, parse_line, read_trace
from tests.support.examples import examples
from tests.support.paths import DEMO_TRACE

SAMPLE = (
    '{"t": 12.345, "address": "5C:F3:70:8B:11:02", "rssi": -67, "tx_power": null,\n'
    ' "local_name": null, "service_uuids": [],\n'
    ' "manufacturer_data": {"76": "0215f7826da64fa24e988024bc5b71e0893e00010002c5"},\n'
    ' "service_data": {"0000feaa-0000-1000-8000-00805f9b34fb": "00e8"}}'
).replace("\n", "")


def good(**overrides: object) -> str:
    obj: dict[str, object] = json.loads(SAMPLE)
    obj.update(overrides)
    return json.dumps(obj)


def test_sample_line_from_adverts_md() -> None:
    advert = parse_line(SAMPLE, 1)
    assert advert is not None
    assert advert.t == 12.345
    assert advert.address == "5C:F3:70:8B:11:02"
    assert advert.rssi == -67
    assert advert.tx_power is None
    assert advert.local_name is None
    assert advert.service_uuids == ()
    assert advert.manufacturer_data == {
        76: bytes.fromhex("0215f7826da64fa24e988024bc5b71e0893e00010002c5")
    }
    assert advert.service_data == {EDDYSTONE_UUID: b"\x00\xe8"}


def test_optional_fields_may_be_missing_and_unknown_fields_are_ignored() -> None:
    advert = parse_line('{"t": 0, "rssi": -80, "extra": [1, 2], "phy": "1M"}', 3)
    assert advert is not None
    assert advert.t == 0.0
    assert advert.rssi == -80
    assert advert.manufacturer_data == {}
    assert advert.service_data == {}


def test_service_keys_and_uuids_are_lowercased() -> None:
    upper = EDDYSTONE_UUID.upper()
    advert = parse_line(good(service_data={upper: "00"}, service_uuids=[upper]), 1)
    assert advert is not None
    assert advert.service_data == {EDDYSTONE_UUID: b"\x00"}
    assert advert.service_uuids == (EDDYSTONE_UUID,)


@pytest.mark.parametrize("line", ["", "\n", "   \t  \n", "\r\n"])
def test_blank_lines_are_none(line: str) -> None:
    assert parse_line(line, 5) is None


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{not json", "JSON"),
        ('{"t": 1, "rssi": -60', "JSON"),
        ("[1, 2, 3]", "object"),
        ('"a string"', "object"),
        ("42", "object"),
        ("null", "object"),
        (good(t=None), "t"),
        ('{"rssi": -60}', "t"),
        (good(t=-0.001), "t"),
        (good(t="12.3"), "t"),
        (good(t=True), "t"),
        (good(rssi=True), "rssi"),
        (good(rssi=False), "rssi"),
        (good(rssi=-60.5), "rssi"),
        (good(rssi="-60"), "rssi"),
        ('{"t": 1}', "rssi"),
        (good(tx_power="high"), "tx_power"),
        (good(tx_power=True), "tx_power"),
        (good(manufacturer_data={"76": "zz"}), "manufacturer_data"),
        (good(manufacturer_data={"76": "abc"}), "manufacturer_data"),
        (good(manufacturer_data={"76": 12}), "manufacturer_data"),
        (good(manufacturer_data=["0215"]), "manufacturer_data"),
        (good(service_data={EDDYSTONE_UUID: "not hex"}), "service_data"),
        (good(service_data="00"), "service_data"),
        (good(service_uuids="0000feaa-0000-1000-8000-00805f9b34fb"), "service_uuids"),
        (good(service_uuids={"a": 1}), "service_uuids"),
    ],
)
def test_malformed_lines_raise_with_line_number(line: str, words: str) -> None:
    with pytest.raises(TraceLineError) as info:
        parse_line(line, 17)
    assert info.value.line_no == 17
    assert "line 17" in str(info.value)
    assert words in info.value.reason


@pytest.mark.parametrize("bad_t", ["NaN", "Infinity"])
def test_non_finite_t_is_malformed(bad_t: str) -> None:
    with pytest.raises(TraceLineError):
        parse_line('{"t": ' + bad_t + ', "rssi": -60}', 2)


# -- round trip ----------------------------------------------------------------------

hex_uuids = st.uuids().map(str)
adverts = st.builds(
    Advert,
    t=st.integers(0, 10**8).map(lambda ms: ms / 1000),
    address=st.just(""),
    rssi=st.integers(-127, 20),
    tx_power=st.one_of(st.none(), st.integers(-128, 127)),
    local_name=st.one_of(st.none(), st.text(max_size=30)),
    service_uuids=st.lists(hex_uuids, max_size=3).map(tuple),
    manufacturer_data=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=31), max_size=3),
    service_data=st.dictionaries(
        st.one_of(st.just(EDDYSTONE_UUID), hex_uuids), st.binary(max_size=31), max_size=3
    ),
)


@settings(max_examples=examples(200), deadline=None)
@given(advert=adverts, address=st.text(max_size=40), line_no=st.integers(1, 10**6))
def test_format_then_parse_round_trips(advert: Advert, address: str, line_no: int) -> None:
    line = format_advert(advert, address)
    assert "\n" not in line  # one advert, one line
    parsed = parse_line(line, line_no)
    assert parsed is not None
    assert parsed.t == advert.t
    assert parsed.address == address
    assert parsed.rssi == advert.rssi
    assert parsed.tx_power == advert.tx_power
    assert parsed.local_name == advert.local_name
    assert parsed.service_uuids == advert.service_uuids
    assert dict(parsed.manufacturer_data) == dict(advert.manufacturer_data)
    assert dict(parsed.service_data) == dict(advert.service_data)


def test_format_rounds_t_to_milliseconds() -> None:
    parsed = parse_line(format_advert(Advert(t=1.23456789, address="x", rssi=-50), "h"), 1)
    assert parsed is not None
    assert parsed.t == pytest.approx(1.235, abs=1e-9)


# -- whole files -----------------------------------------------------------------------


def test_read_trace_yields_errors_in_place_and_keeps_going(tmp_path: Path) -> None:
    lines = [
        good(t=1.0, rssi=-60),  # 1
        "",  # 2: blank, skipped silently
        "garbage",  # 3
        good(t=2.0, rssi=-61),  # 4
        good(t=3.0, rssi=True),  # 5
        "[]",  # 6
        good(t=4.0, rssi=-62),  # 7
    ]
    path = tmp_path / "trace.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    items = list(read_trace(path))

    kinds = [
        ("error", item.line_no) if isinstance(item, TraceLineError) else ("advert", item.t)
        for item in items
    ]
    assert kinds == [
        ("advert", 1.0),
        ("error", 3),
        ("advert", 2.0),
        ("error", 5),
        ("error", 6),
        ("advert", 4.0),
    ]


def test_read_trace_survives_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(
        good(t=1.0).encode()
        + b"\n"
        + b'{"t": 2, "rssi": -60, "local_name": "\xff\xfe"}\n'
        + good(t=3.0).encode()
        + b"\n"
    )
    items = list(read_trace(path))
    assert [type(i) for i in items] == [Advert, Advert, Advert]
    assert [i.t for i in items if isinstance(i, Advert)] == [1.0, 2.0, 3.0]


def test_read_trace_of_the_bundled_demo_has_no_errors() -> None:
    demo = DEMO_TRACE
    items = list(read_trace(demo))
    assert items, "demo trace is empty"
    assert not [i for i in items if isinstance(i, TraceLineError)]
    times = [i.t for i in items if isinstance(i, Advert)]
    assert times == sorted(times)  # docs/traces.md: t is never decreasing
