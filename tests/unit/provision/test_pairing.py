"""The pairing protocol's pure parts: both sides, the guard, frames, bundles, identity."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.files import write_atomic
from edge.provision import bundle as bundles
from edge.provision import pairing, pki
from edge.provision.identity import load_or_create, new_device_id
from tests.support.examples import examples

DEVICE = "omo-abcdefghijklmnop"


def _exchange(device_code: str, ops_code: str) -> tuple[pairing.DeviceSession, pairing.Message]:
    """Run hello/pake/confirm; returns the device session and the device's last answer."""
    device = pairing.DeviceSession(DEVICE, device_code)
    ops = pairing.OpsSession(DEVICE, ops_code)
    answer = device.hello(ops.hello())
    assert isinstance(answer, pairing.Pake)
    confirm = ops.pake(answer)
    csr = device.confirm(confirm, b"CSR")
    assert csr is not None
    return device, csr


def test_right_code_moves_the_csr_and_the_bundle_sealed() -> None:
    device = pairing.DeviceSession(DEVICE, "123456")
    ops = pairing.OpsSession(DEVICE, "123456")
    answer = device.hello(ops.hello())
    assert isinstance(answer, pairing.Pake)
    csr = device.confirm(ops.pake(answer), b"-----BEGIN CERTIFICATE REQUEST-----")
    assert csr is not None and device.confirmed
    assert b"CERTIFICATE REQUEST" not in pairing.frame(csr)  # sealed, not in clear
    assert ops.open_csr(csr) == b"-----BEGIN CERTIFICATE REQUEST-----"
    box = ops.seal_bundle(b'{"store_id": "s1"}')
    assert b"store_id" not in pairing.frame(box)
    assert device.open_bundle(box) == b'{"store_id": "s1"}'


def test_a_wrong_code_is_caught_by_ops_before_anything_is_sent() -> None:
    device = pairing.DeviceSession(DEVICE, "123456")
    ops = pairing.OpsSession(DEVICE, "654321")
    answer = device.hello(ops.hello())
    assert isinstance(answer, pairing.Pake)
    with pytest.raises(pairing.PairingFailed) as err:
        ops.pake(answer)
    assert err.value.reason == "wrong_code"
    with pytest.raises(pairing.PairingFailed):
        ops.seal_bundle(b"{}")  # the bundle never leaves


def test_a_fake_ops_tool_gets_no_csr() -> None:
    """An attacker who does not know the code cannot produce the ops confirmation."""
    device = pairing.DeviceSession(DEVICE, "123456")
    attacker = pairing.OpsSession(DEVICE, "000000")
    device.hello(attacker.hello())
    forged = pairing.Confirm(pairing._b64(b"\0" * 32))
    assert device.confirm(forged, b"CSR") is None
    assert not device.confirmed
    with pytest.raises(pairing.FrameError):
        device.open_bundle(pairing.BundleBox(pairing._b64(b"\0" * 64)))


def test_a_recorded_exchange_replayed_is_refused() -> None:
    device = pairing.DeviceSession(DEVICE, "123456")
    ops = pairing.OpsSession(DEVICE, "123456")
    hello = ops.hello()
    answer = device.hello(hello)
    assert isinstance(answer, pairing.Pake)
    confirm = ops.pake(answer)
    assert device.confirm(confirm, b"CSR") is not None
    replay = pairing.DeviceSession(DEVICE, "123456")  # even with the same code
    again = replay.hello(hello)
    assert isinstance(again, pairing.Pake) and again.pake != answer.pake
    assert replay.confirm(confirm, b"CSR") is None
    assert replay.started and not replay.confirmed  # the service counts this as a wrong attempt


def test_identities_bind_the_device_id() -> None:
    device = pairing.DeviceSession(DEVICE, "123456")
    refused = device.hello(pairing.OpsSession("omo-other", "123456").hello())
    assert isinstance(refused, pairing.Refused) and refused.reason == "protocol"


def test_a_malformed_spake_element_is_just_a_wrong_code() -> None:
    device = pairing.DeviceSession(DEVICE, "123456")
    answer = device.hello(pairing.Hello(1, DEVICE, pairing._b64(b"\x01" * 33)))
    assert isinstance(answer, pairing.Pake)
    assert device.confirm(pairing.Confirm(pairing._b64(b"x" * 32)), b"CSR") is None


def test_guard_locks_after_five_wrong_codes_with_a_new_code_and_doubling_backoff() -> None:
    guard = pairing.Guard(max_attempts=5, lock_s=30)
    first = guard.code
    assert re.fullmatch(r"\d{6}", first)
    for left in (4, 3, 2, 1):
        assert not guard.failed(100.0)
        assert guard.attempts_left == left
    assert guard.failed(100.0)
    assert guard.code != first  # a new code (the same one again: one chance in a million)
    assert guard.locked(100.0) == 30 and guard.locked(131.0) == 0
    for _ in range(5):
        guard.failed(200.0)
    assert guard.locked(200.0) == 60  # doubled
    code = guard.code
    guard.used()
    assert guard.code != code  # single use: replaced


def test_codes_are_six_random_digits() -> None:
    codes = {pairing.new_code() for _ in range(200)}
    assert all(re.fullmatch(r"\d{6}", c) for c in codes)
    assert len(codes) > 190


@given(st.binary(max_size=300))
@settings(max_examples=examples(400), deadline=None)
def test_any_bytes_are_rejected_cleanly_or_parsed(data: bytes) -> None:
    try:
        for msg in pairing.parse_frames(data):
            assert isinstance(
                msg,
                pairing.Hello
                | pairing.Pake
                | pairing.Confirm
                | pairing.Csr
                | pairing.BundleBox
                | pairing.Done
                | pairing.Refused,
            )
    except pairing.FrameError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "t",
                "v",
                "device_id",
                "pake",
                "confirm",
                "box",
                "reason",
                "detail",
                "retry_s",
                "attempts_left",
                "x",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=20),
            st.sampled_from(
                ["hello", "pake", "confirm", "csr", "bundle", "done", "refused", "locked"]
            ),
        ),
    )
)
@settings(max_examples=examples(400), deadline=None)
def test_json_shaped_junk_is_rejected_cleanly(obj: dict[str, object]) -> None:
    with contextlib.suppress(pairing.FrameError):  # anything else would fail the test
        pairing.parse(json.dumps(obj).encode())


def test_frames_have_a_size_limit() -> None:
    with pytest.raises(pairing.FrameError):
        pairing.frame_length((pairing.MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(pairing.FrameError):
        pairing.frame_length(b"\0\0\0\0")
    with pytest.raises(pairing.FrameError):
        pairing.parse_frames(b"\0\0\0\x10{}")  # truncated


@given(st.text(max_size=40), st.integers(0, 100))
def test_messages_round_trip(detail: str, left: int) -> None:
    msg = pairing.Refused("wrong_code", detail, 0.0, left)
    assert pairing.parse_frames(pairing.frame(msg)) == [msg]


# -- bundles and identity ---------------------------------------------------------------


def _bundle(ca: pki.Issued, key: pki.PrivateKey, device_id: str = DEVICE, **kw: object) -> bytes:
    cert = pki.sign_csr(pki.make_csr(key, device_id), ca, expected_cn=device_id)
    fields: dict[str, object] = {
        "store_id": "store-1",
        "device_id": DEVICE,
        "broker": {"host": "broker.example", "port": 8883},
        "ca_pem": ca.cert_pem.decode(),
        "cert_pem": cert.decode(),
    }
    fields.update(kw)
    return json.dumps(fields).encode()


def test_a_good_bundle_is_accepted_and_saved_privately(tmp_path: Path) -> None:
    ca, key = pki.new_ca("ca"), pki.new_key()
    b = bundles.parse(_bundle(ca, key))
    bundles.check(b, DEVICE, key)
    bundles.save(tmp_path, b)
    for name in ("bundle.json", "client.crt", "ca.pem"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert bundles.load(tmp_path) == b


@pytest.mark.parametrize("problem", ["other key", "other cn", "other ca", "not for us"])
def test_a_mismatching_bundle_is_refused_in_plain_words(problem: str) -> None:
    ca, key = pki.new_ca("ca"), pki.new_key()
    if problem == "other key":
        data = _bundle(ca, pki.new_key())
    elif problem == "other cn":
        data = _bundle(ca, key, device_id="omo-someoneelse")
    elif problem == "other ca":
        data = _bundle(ca, key, ca_pem=pki.new_ca("other").cert_pem.decode())
    else:  # a whole, valid bundle for another device
        data = _bundle(ca, key).replace(DEVICE.encode(), b"omo-someoneelse", 1)
    with pytest.raises(bundles.BundleRejected, match=r"mismatch|is for"):
        bundles.check(bundles.parse(data), DEVICE, key)


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"store_id": "s"}', b'{"store_id": "a/b", "device_id": "x", "broker": {}}'],
)
def test_a_malformed_bundle_is_refused(data: bytes) -> None:
    with pytest.raises(bundles.BundleRejected, match="malformed"):
        bundles.parse(data)


def test_bad_keys_in_a_bundle_are_refused() -> None:
    ca, key = pki.new_ca("ca"), pki.new_key()
    with pytest.raises(bundles.BundleRejected, match="content key"):
        bundles.parse(_bundle(ca, key, content_keys={"k1": "bm90IGEga2V5"}))


def test_a_bundles_visitor_keys_turn_pseudonymisation_on(tmp_path: Path) -> None:
    from edge.config import from_mapping
    from edge.presence.pseudonym import from_settings

    ca, key = pki.new_ca("ca"), pki.new_key()
    keys = {
        "old": base64.b64encode(b"o" * 32).decode(),
        "new": base64.b64encode(b"n" * 32).decode(),
    }
    b = bundles.parse(_bundle(ca, key, visitor_keys=keys))
    bundles.save(tmp_path, b)
    write_atomic(tmp_path / "device.key", pki.key_pem(key))
    config = bundles.overlay(from_mapping({}), b, tmp_path, tmp_path / "device.key")
    pseudonyms = from_settings(config.privacy)
    assert pseudonyms.active and pseudonyms.kid == "new"  # the last key given
    with pytest.raises(bundles.BundleRejected, match="visitor keys"):
        bundles.parse(_bundle(ca, key, visitor_keys={"k/1": keys["new"]}))
    with pytest.raises(bundles.BundleRejected, match="visitor keys"):
        bundles.parse(_bundle(ca, key, visitor_keys={"k1": "c2hvcnQ="}))


def test_identity_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    assert re.fullmatch(r"omo-[a-z2-7]{16}", first.device_id)
    assert stat.S_IMODE((tmp_path / "device.key").stat().st_mode) == 0o600
    again = load_or_create(tmp_path)
    assert again.device_id == first.device_id
    assert pki.key_pem(again.key) == pki.key_pem(first.key)
    assert load_or_create(tmp_path, "dev-screen").device_id == "dev-screen"  # config wins
    assert new_device_id() != new_device_id()


@given(st.lists(st.tuples(st.sampled_from(["fail", "used"]), st.floats(0, 50)), max_size=40))
def test_guard_locks_exactly_after_max_attempts_consecutive_failures(
    steps: list[tuple[str, float]],
) -> None:
    guard = pairing.Guard(max_attempts=5, lock_s=30, max_lock_s=240)
    now, streak, locks = 0.0, 0, 0
    for action, dt in steps:
        now += dt
        if action == "used":
            guard.used()
            streak = 0
            assert len(guard.code) == 6
            continue
        locked = guard.failed(now)
        streak += 1
        assert locked == (streak == 5)
        if locked:
            assert guard.locked(now) == pytest.approx(min(240, 30 * 2**locks))
            locks, streak = locks + 1, 0
        assert guard.attempts_left == 5 - streak


def test_csr_out_waits_for_the_platforms_certificate(tmp_path: Path) -> None:
    """--csr-out: the request is written for the platform's CA; its answer is picked up."""
    import threading

    from edge.ops.pairing import Signer, check_cert

    ca, key = pki.new_ca("platform"), pki.new_key()
    csr = pki.make_csr(key, DEVICE)
    signer = Signer(ca.cert_pem, csr_out=tmp_path / "csr", wait_s=20)
    said: list[str] = []
    got: list[bytes] = []
    worker = threading.Thread(target=lambda: got.append(signer.sign(csr, DEVICE, said.append)))
    worker.start()
    request = tmp_path / "csr" / f"{DEVICE}.csr"
    for _ in range(200):
        if request.exists():
            break
        worker.join(0.05)
    cert = pki.sign_csr(request.read_bytes(), ca, expected_cn=DEVICE)  # the platform's part
    (tmp_path / "csr" / f"{DEVICE}.crt").write_bytes(cert)
    worker.join(20)
    assert got == [cert] and any(".crt" in line for line in said)
    check_cert(cert, csr, ca.cert_pem, DEVICE)
