"""Check-in QR nonces (docs/checkin.md): single use, 120 s, rotation, bounded memory."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.checkin.nonces import VERDICTS, NonceBook, qr_url
from tests.support.examples import examples

URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


def test_a_nonce_is_96_random_bits_in_base64url() -> None:
    book = NonceBook()
    nonce = book.current(0.0)
    assert URLSAFE.fullmatch(nonce)
    assert len(base64.urlsafe_b64decode(nonce + "==")) == 12  # 96 bits
    assert len(nonce) == 16
    seen = {NonceBook().current(0.0) for _ in range(2000)}
    assert len(seen) == 2000


def test_the_random_source_is_the_one_given() -> None:
    calls: list[int] = []

    def fixed(n: int) -> bytes:
        calls.append(n)
        return bytes([len(calls)]) * n

    book = NonceBook(bits=64, random_bytes=fixed)
    assert book.current(0.0) == base64.urlsafe_b64encode(b"\x01" * 8).rstrip(b"=").decode()
    assert calls == [8]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bits": 56},
        {"bits": 100},
        {"accept_s": 0},
        {"rotate_s": 0},
        {"rotate_s": 121},
        {"max_kept": 1},
        {"remember_s": -1},
    ],
)
def test_unsafe_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        NonceBook(**kwargs)  # type: ignore[arg-type]


def test_a_broken_random_source_is_refused() -> None:
    book = NonceBook(random_bytes=lambda n: b"\x00" * n)
    book.current(0.0)
    with pytest.raises(ValueError, match="repeated"):
        book.current(61.0)
    with pytest.raises(ValueError, match="bytes"):
        NonceBook(random_bytes=lambda n: b"short").current(0.0)


def test_single_use() -> None:
    book = NonceBook()
    nonce = book.current(0.0)
    assert book.use(nonce, 1.0) == "ok"
    assert book.use(nonce, 2.0) == "reused"
    assert book.use(nonce, 3.0) == "reused"
    assert book.counts() == {"ok": 1, "unknown": 0, "expired": 0, "reused": 2}


def test_accepted_for_120_s_after_issue_then_expired() -> None:
    book = NonceBook()
    early = book.current(10.0)
    late = book.current(10.0)
    assert early == late
    assert book.use(early, 130.0) == "ok"  # exactly 120 s: still accepted
    other = NonceBook()
    nonce = other.current(10.0)
    assert other.use(nonce, 130.001) == "expired"
    assert other.use(nonce, 131.0) == "expired"  # an expired nonce stays refused
    assert other.counts()["expired"] == 2


def test_rotates_every_60_s_and_old_ones_stay_valid_until_their_own_expiry() -> None:
    book = NonceBook()
    first = book.current(0.0)
    assert book.rotates_at() == 60.0
    assert book.current(59.9) == first
    second = book.current(60.0)
    assert second != first
    assert book.version == 2
    assert book.current(100.0) == second
    # a phone that scanned the first code just before it was replaced still checks in
    assert book.use(first, 119.0) == "ok"
    assert book.use(second, 121.0) == "ok"


def test_a_used_nonce_is_replaced_at_once() -> None:
    book = NonceBook()
    shown = book.current(0.0)
    version = book.version
    assert book.use(shown, 1.0) == "ok"
    replacement = book.current(1.0)
    assert replacement != shown
    assert book.version == version + 1
    assert book.rotates_at() == 61.0


def test_two_shoppers_in_turn_are_both_served() -> None:
    book = NonceBook()
    first = book.current(0.0)
    assert book.use(first, 2.0) == "ok"
    second = book.current(2.1)  # the screen redraws before the next shopper scans
    assert book.use(second, 4.0) == "ok"
    assert book.use(first, 4.5) == "reused"  # the first phone retrying is refused


def test_using_an_older_nonce_does_not_replace_the_shown_one() -> None:
    book = NonceBook()
    old = book.current(0.0)
    shown = book.current(60.0)
    assert book.use(old, 70.0) == "ok"
    assert book.current(70.0) == shown


def test_unknown_nonces_are_refused_and_counted() -> None:
    book = NonceBook()
    book.current(0.0)
    for fake in ("", "AAAAAAAAAAAAAAAA", "x" * 5000, "../../etc", "\x00"):
        assert book.use(fake, 1.0) == "unknown"
    assert book.counts()["unknown"] == 5
    assert len(book) == 1  # refusals are not remembered


def test_forgotten_after_acceptance_plus_remembering_then_unknown() -> None:
    book = NonceBook(remember_s=30.0)
    nonce = book.current(0.0)
    assert book.use(nonce, 149.0) == "expired"
    book.current(151.0)
    assert book.use(nonce, 151.0) == "unknown"
    assert len(book) == 1


def test_memory_is_bounded_under_10000_rapid_uses() -> None:
    book = NonceBook()
    now = 0.0
    for _ in range(10_000):
        now += 0.001
        assert book.use(book.current(now), now) == "ok"
        assert len(book) <= book.max_kept
    assert book.counts()["ok"] == 10_000
    assert len(book) == book.max_kept
    # the shown one is never the one forgotten
    assert book.use(book.current(now), now) == "ok"


def test_memory_is_bounded_over_time_on_an_idle_screen() -> None:
    book = NonceBook()
    for second in range(0, 24 * 3600, 5):
        book.current(float(second))
    assert len(book) <= 1 + (120 + 120) // 60


def test_qr_url_encodes_its_parameters() -> None:
    url = qr_url("https://omo.example/c", "screen-1", "abc_-DEF")
    assert url == "https://omo.example/c?d=screen-1&n=abc_-DEF"
    odd = qr_url("https://omo.example/c?src=qr", "a&b=c", "n n/?#")
    parts = urlsplit(odd)
    assert parse_qs(parts.query) == {"src": ["qr"], "d": ["a&b=c"], "n": ["n n/?#"]}
    assert qr_url("https://omo.example/c?", "d1", "n1") == "https://omo.example/c?d=d1&n=n1"
    for bad in ("ftp://x/y", "/relative", "https://x/y#frag"):
        with pytest.raises(ValueError):
            qr_url(bad, "d", "n")


@st.composite
def actions(draw: st.DrawFn) -> list[tuple[str, float, int]]:
    """Steps of (kind, time advance, which issued nonce) for the screen and the phones."""
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(["show", "use", "fake"]),
                st.floats(min_value=0, max_value=90, allow_nan=False),
                st.integers(min_value=0, max_value=50),
            ),
            max_size=60,
        )
    )


@settings(max_examples=examples(200), deadline=None)
@given(actions())
def test_property_ok_at_most_once_and_only_within_acceptance(
    steps: list[tuple[str, float, int]],
) -> None:
    book = NonceBook(max_kept=8)
    now = 0.0
    issued: dict[str, float] = {}
    oks: list[str] = []
    uses = 0
    for kind, advance, pick in steps:
        now += advance
        if kind == "show":
            nonce = book.current(now)
            issued.setdefault(nonce, now)
        elif kind == "use" and issued:
            nonce = list(issued)[pick % len(issued)]
            verdict = book.use(nonce, now)
            uses += 1
            assert verdict in VERDICTS
            if verdict == "ok":
                assert nonce not in oks
                assert now - issued[nonce] <= 120.0
                oks.append(nonce)
        elif kind == "fake":
            assert book.use(f"fake{pick:012d}", now) == "unknown"
            uses += 1
        assert len(book) <= 8
    assert book.counts()["ok"] == len(oks)
    assert sum(book.counts().values()) == uses


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=200, allow_nan=False), min_size=1, max_size=40))
def test_property_the_shown_nonce_is_always_fresh_and_usable(advances: list[float]) -> None:
    book = NonceBook()
    now = 0.0
    for advance in advances:
        now += advance
        nonce = book.current(now)
        at = book.rotates_at()
        assert at is not None and now < at <= now + 60.0
        assert URLSAFE.fullmatch(nonce) and len(nonce) == 16
    assert book.use(book.current(now), now) == "ok"
