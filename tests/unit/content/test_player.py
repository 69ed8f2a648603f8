"""The player: what is on screen when, and the impressions that produces."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edge.content.player import Impression, Personal, Player
from edge.content.slides import Slide, make_slide
from tests.support.examples import examples

A = make_slide(id="a", kind="text", duration_ms=1000, title="A")
B = make_slide(id="b", kind="text", duration_ms=2000, title="B")
C = make_slide(id="c", kind="text", duration_ms=3000, title="C")
OFFER = make_slide(id="offer", kind="coupon", duration_ms=5000, title="10% off", code="TEN")
OTHER = make_slide(id="other", kind="text", duration_ms=5000, title="Other")


def personal(slide: Slide = OFFER, show_ms: int = 4000, request_id: str = "req-1") -> Personal:
    return Personal(
        slide=slide,
        show_ms=show_ms,
        request_id=request_id,
        visitor="ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2",
        content_id=f"content-{slide.id}",
        campaign_id="camp-7",
        variant="B",
    )


def ids(impressions: list[Impression]) -> list[tuple[str, int]]:
    return [(i.showing.slide.id, i.shown_ms) for i in impressions]


def test_empty_playlist_is_refused() -> None:
    with pytest.raises(ValueError):
        Player([], 0.0)


def test_playlist_loops_by_duration() -> None:
    player = Player([A, B, C], 100.0)
    assert player.showing.slide is A
    assert player.advance(100.5) == []
    assert ids(player.advance(101.0)) == [("a", 1000)]
    assert player.showing.slide is B
    assert ids(player.advance(102.9)) == []
    assert ids(player.advance(103.0)) == [("b", 2000)]
    assert player.showing.slide is C
    assert ids(player.advance(106.0)) == [("c", 3000)]
    assert player.showing.slide is A  # back to the start
    assert player.showing.started == 106.0


def test_slides_follow_back_to_back_when_a_frame_is_late() -> None:
    player = Player([A, B], 0.0)
    assert ids(player.advance(1.4)) == [("a", 1000)]
    assert player.showing.slide is B
    assert player.showing.started == 1.0  # not 1.4: no time is lost


def test_after_a_long_stall_the_next_slide_starts_fresh() -> None:
    player = Player([A, B], 0.0)
    # Nothing ran for 5 s: A is credited its full duration, B starts now, not in the past.
    assert ids(player.advance(5.0)) == [("a", 1000)]
    assert player.showing.slide is B
    assert player.showing.started == 5.0


def test_preempt_shows_personal_then_resumes_interrupted_slide() -> None:
    player = Player([A, B, C], 0.0)
    player.advance(1.0)  # B is up since 1.0
    cut = player.preempt(personal(show_ms=4000), 1.5)
    assert ids(cut) == [("b", 500)]
    assert player.showing.slide is OFFER
    assert player.showing.personal is not None

    assert player.advance(5.4) == []  # still the offer
    done = player.advance(5.5)
    assert ids(done) == [("offer", 4000)]
    # The interrupted playlist slide comes back, from its start.
    assert player.showing.slide is B
    assert player.showing.started == 5.5
    assert player.showing.until == 7.5
    assert player.showing.personal is None
    assert ids(player.advance(7.5)) == [("b", 2000)]
    assert player.showing.slide is C


def test_personal_slide_duration_is_show_ms_not_slide_duration() -> None:
    player = Player([A], 0.0)
    player.preempt(personal(OFFER, show_ms=1500), 0.2)
    assert ids(player.advance(1.7)) == [("offer", 1500)]


def test_newer_preempt_replaces_current_personal() -> None:
    player = Player([A, B], 0.0)
    player.preempt(personal(OFFER, 4000, "req-1"), 0.5)
    cut = player.preempt(personal(OTHER, 3000, "req-2"), 2.0)
    assert ids(cut) == [("offer", 1500)]
    assert cut[0].event_fields()["request_id"] == "req-1"
    assert player.showing.slide is OTHER
    done = player.advance(5.0)
    assert ids(done) == [("other", 3000)]
    assert done[0].event_fields()["request_id"] == "req-2"
    assert player.showing.slide is A  # the playlist slide cut at 0.5 resumes


def test_impression_fields_personal_and_playlist() -> None:
    player = Player([A, B], 0.0)
    [playlist_imp] = player.preempt(personal(OFFER, 2000, "req-9"), 0.25)
    [personal_imp] = player.advance(2.25)

    assert playlist_imp.event_fields() == {
        "content_id": "a",
        "campaign_id": None,
        "variant": None,
        "request_id": None,
        "visitor": None,
        "shown_ms": 250,
    }
    assert personal_imp.event_fields() == {
        "content_id": "content-offer",
        "campaign_id": "camp-7",
        "variant": "B",
        "request_id": "req-9",
        "visitor": "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2",
        "shown_ms": 2000,
    }


def test_finish_reports_what_is_on_screen() -> None:
    player = Player([A, B], 10.0)
    assert ids([player.finish(10.4)]) == [("a", 400)]


def test_replace_playlist_starts_new_content_at_once() -> None:
    player = Player([A, B], 0.0)
    cut = player.replace_playlist([C], 0.3)
    assert ids(cut) == [("a", 300)]
    assert player.showing.slide is C
    assert player.showing.started == 0.3


def test_replace_playlist_waits_for_personal_slide() -> None:
    player = Player([A, B], 0.0)
    player.preempt(personal(OFFER, 2000), 0.5)
    assert player.replace_playlist([C], 1.0) == []
    assert player.showing.slide is OFFER
    assert ids(player.advance(2.5)) == [("offer", 2000)]
    assert player.showing.slide is C


def test_preempt_after_slide_ended_resumes_with_the_next_slide() -> None:
    player = Player([A, B], 0.0)
    # A ran its full second; the frame that notices comes at 1.02 with a decision queued.
    cut = player.preempt(personal(OFFER, 2000), 1.02)
    done = player.advance(3.02)
    impressions = cut + done
    assert [i.shown_ms for i in impressions if i.showing.slide is A] == [1000]
    assert sum(i.shown_ms for i in impressions) == 3020  # no time lost
    assert player.showing.slide is B  # A had finished; it must not play again


# -- property: no time lost or counted twice ------------------------------------------------

slides = st.builds(
    make_slide,
    id=st.sampled_from(["s1", "s2", "s3", "s4"]),
    kind=st.just("text"),
    duration_ms=st.integers(500, 5000),
)
# Frames less than 1 s apart (a longer stall deliberately skips the gap).
gaps = st.integers(1, 999).map(lambda ms: ms / 1000)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), gaps, st.just(0)),
        st.tuples(st.just("preempt"), gaps, st.integers(0, 6000)),
    ),
    max_size=60,
)


def run_player(
    playlist: list[Slide], steps: list[tuple[str, float, int]], advance_first: bool
) -> tuple[list[Impression], float]:
    start = 1000.0
    player = Player(playlist, start)
    now = start
    impressions: list[Impression] = []
    for n, (kind, gap, show_ms) in enumerate(steps):
        now += gap
        if kind == "preempt":
            if advance_first:
                impressions += player.advance(now)
            impressions += player.preempt(personal(OFFER, show_ms, f"req-{n}"), now)
        else:
            impressions += player.advance(now)
    impressions.append(player.finish(now))
    return impressions, now - start


def check_accounting(impressions: list[Impression], elapsed: float) -> None:
    total = sum(i.shown_ms for i in impressions)
    assert abs(total - elapsed * 1000) <= len(impressions)  # rounding: < 1 ms each
    for i in impressions:
        assert i.shown_ms >= 0
        limit = i.showing.personal.show_ms if i.showing.personal else i.showing.slide.duration_ms
        assert i.shown_ms <= limit
    # Stints follow one another with no gap and no overlap.
    for before, after in itertools.pairwise(impressions):
        assert after.showing.started == pytest.approx(
            before.showing.started + before.shown_ms / 1000, abs=1e-3
        )


@settings(max_examples=examples(200), deadline=None)
@given(playlist=st.lists(slides, min_size=1, max_size=4), steps=actions)
def test_shown_time_adds_up_when_advanced_each_frame(
    playlist: list[Slide], steps: list[tuple[str, float, int]]
) -> None:
    impressions, elapsed = run_player(playlist, steps, advance_first=True)
    check_accounting(impressions, elapsed)


@settings(max_examples=examples(200), deadline=None)
@example(playlist=[A], steps=[("advance", 0.99, 0), ("preempt", 0.5, 1000)])
@given(playlist=st.lists(slides, min_size=1, max_size=4), steps=actions)
def test_shown_time_adds_up_for_any_advance_preempt_sequence(
    playlist: list[Slide], steps: list[tuple[str, float, int]]
) -> None:
    impressions, elapsed = run_player(playlist, steps, advance_first=False)
    check_accounting(impressions, elapsed)
