"""Fuzz: signed manifests and assets. A manifest is never accepted unless validly signed;
an asset is never stored under a hash its bytes do not have; every refusal is a
ContentRejected with a known reason, never another exception.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import fuzz_targets as ft
from tests.support.examples import examples

FUZZ = settings(max_examples=examples(200), deadline=None)
STORE = settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ft.AssetTarget]:
    yield ft.AssetTarget(tmp_path_factory.mktemp("assets"))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_signed_manifests_verify_or_are_rejected(rng: random.Random) -> None:
    ft.manifest_target(ft.gen_manifest(rng))


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_are_rejected_as_manifests(payload: bytes) -> None:
    assert ft.manifest_target(payload) == ft.REJECTED


@FUZZ
@given(st.randoms(use_true_random=False))
def test_a_manifest_changed_after_signing_is_never_accepted(rng: random.Random) -> None:
    signed = json.loads(ft.sign(ft.manifest_doc(), ft.SEED_B64, ft.KID))
    changed = ft.mutate_json(signed["manifest"], rng)
    if changed == signed["manifest"]:
        return
    payload = json.dumps({**signed, "manifest": changed}).encode()
    assert ft.manifest_target(payload) == ft.REJECTED


def test_the_real_manifest_is_accepted() -> None:
    """The generators start from a manifest the device takes (else the fuzzing is blind)."""
    assert ft.manifest_target(ft.sign(ft.manifest_doc(asset=ft.PNG), ft.SEED_B64, ft.KID)) == (
        ft.ACCEPTED
    )


@STORE
@given(st.randoms(use_true_random=False))
def test_mutated_assets_are_stored_under_their_own_hash_or_rejected(
    assets: ft.AssetTarget, rng: random.Random
) -> None:
    assets(*ft.gen_asset(rng))


@STORE
@given(st.sampled_from(ft.IMAGES), st.binary(min_size=1, max_size=64), st.integers(0, 60))
def test_changed_bytes_are_never_stored_under_the_announced_hash(
    assets: ft.AssetTarget, original: bytes, junk: bytes, at: int
) -> None:
    sha = hashlib.sha256(original).hexdigest()
    changed = original[:at] + junk + original[at + len(junk) :]
    expected = ft.ACCEPTED if changed == original else ft.REJECTED
    assert assets(sha, changed) == expected
