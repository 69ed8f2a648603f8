"""Fuzz: the beacon decoder takes whatever the radio hears and never raises.

Targets and generators: tests/support/fuzz_targets.py (the benchmark runs them a million times).
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.presence.formats import APPLE
from tests.support import fuzz_targets as ft
from tests.support.examples import examples

FUZZ = settings(max_examples=examples(300), deadline=None)

company_ids = st.sampled_from([APPLE, 0x0118]) | st.integers(0, 0xFFFF)
service_uuids = st.sampled_from(ft.SERVICE_KEYS) | st.text(max_size=40)
manufacturer_data = st.dictionaries(company_ids, st.binary(max_size=40), max_size=3)
service_data = st.dictionaries(service_uuids, st.binary(max_size=30), max_size=3)


@FUZZ
@given(manufacturer_data, service_data)
def test_random_advert_data_decodes_to_a_well_formed_frame_or_nothing(
    mfr: dict[int, bytes], svc: dict[str, bytes]
) -> None:
    ft.AdvertTarget()(mfr, svc)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_real_frames_decode_to_a_well_formed_frame_or_nothing(rng: random.Random) -> None:
    target = ft.AdvertTarget()
    for _ in range(5):  # the same decoder again: its cache must give the same answers
        target(*ft.gen_advert(rng))


def test_every_real_frame_is_accepted_or_recognised() -> None:
    """The generators start from frames the decoder must know (else the fuzzing is blind)."""
    rng = random.Random(1)
    target = ft.AdvertTarget()
    visitors = 0
    for where, key, payload in ft.real_frames(rng):
        mfr = {key: payload} if where == "mfr" else {}
        svc = {key: payload} if where == "svc" else {}
        visitors += target(mfr, svc) == ft.ACCEPTED
    assert visitors == 5  # iBeacon, AltBeacon, Eddystone UID, EID and LINE; not LINE's iBeacon
