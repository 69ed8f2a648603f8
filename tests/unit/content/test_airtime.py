"""Fair airtime: personal slides within their share, the playlist never crowded out, departed
visitors skipped, and impressions counted only for what was wholly on screen long enough."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.content.player import WINDOW_S, Impression, Personal, Player
from edge.content.slides import Slide, make_slide

STORE = [
    make_slide(id=f"store-{n}", kind="text", title=f"Store {n}", duration_ms=8000) for n in range(3)
]
COUPON = make_slide(id="coupon", kind="coupon", title="10% off", code="TEN", duration_ms=6000)


def personal(
    n: int, *, show_ms: int = 6000, wait_ms: int = 120_000, slide: Slide = COUPON
) -> Personal:
    return Personal(
        slide=slide,
        show_ms=show_ms,
        request_id=f"req-{n}",
        visitor=f"v:{n}",
        content_id=f"coupon-{n}",
        campaign_id="welcome",
        variant="A",
        wait_ms=wait_ms,
        visit_id=f"visit-{n}",
    )


def run(player: Player, until: float, step: float = 0.1, start: float = 0.0) -> list[Impression]:
    done: list[Impression] = []
    t = start
    while t < until:
        t = round(t + step, 6)
        done += player.advance(t)
    return done


def personal_time(stints: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in stints)


def stints(impressions: list[Impression]) -> list[tuple[float, float, bool]]:
    """(start, end, personal) of every stint, from its impression."""
    return [
        (i.showing.started, i.showing.started + i.shown_ms / 1000, i.showing.personal is not None)
        for i in impressions
    ]


@settings(max_examples=40, deadline=None)
@given(
    arrivals=st.lists(st.floats(min_value=0, max_value=170), min_size=1, max_size=25),
    shows=st.lists(st.integers(min_value=2000, max_value=40_000), min_size=25, max_size=25),
    share=st.sampled_from([0.25, 0.5, 0.75]),
)
def test_personal_slides_never_exceed_their_share_of_any_rolling_minute(
    arrivals: list[float], shows: list[int], share: float
) -> None:
    player = Player(STORE, 0.0, share_max=share)
    done: list[Impression] = []
    t = 0.0
    pending = sorted(arrivals)
    while t < 240:
        t = round(t + 0.1, 6)
        while pending and pending[0] <= t:
            n = len(arrivals) - len(pending)
            done += player.offer(personal(n, show_ms=shows[n]), pending.pop(0))
        done += player.advance(t)
    done.append(player.finish(t))
    mine = [(s, e) for s, e, p in stints(done) if p]
    for k in range(0, int(t * 10)):
        end = k / 10
        assert personal_time(mine, end - WINDOW_S, end) <= share * WINDOW_S + 0.11, end


def test_a_queue_of_visitors_leaves_the_playlist_its_turns() -> None:
    player = Player(STORE, 0.0)
    done: list[Impression] = []
    for n in range(5):  # five visitors arrive at once
        done += player.offer(personal(n), 0.5)
    done += run(player, 60.0, start=0.5)
    shown = [i.showing for i in done if i.shown_ms > 0]
    kinds = ["p" if s.personal else "s" for s in shown]
    assert "pp" not in "".join(kinds)  # never two personal slides back to back
    store = {s.slide.id for s in shown if s.personal is None}
    assert len(store) >= 2  # the playlist moved on between them
    assert sum(s.personal is not None for s in shown) >= 3  # and every visitor got a turn


def test_a_deferred_slide_waits_at_most_its_ttl_then_is_dropped_and_counted() -> None:
    player = Player(STORE, 0.0, share_max=0.1)  # 6 s of personal time a minute
    player.offer(personal(1, show_ms=6000), 0.0)
    assert player.showing.personal is not None
    player.offer(personal(2, show_ms=6000, wait_ms=5000), 1.0)
    assert player.waiting == 1  # its turn comes after the first and a playlist slide
    done = run(player, 30.0, start=1.0)
    assert player.waiting == 0 and player.counters["expired"] == 1
    assert [i.showing.personal.request_id for i in done if i.showing.personal] == ["req-1"]


def test_a_slide_is_shortened_to_what_the_share_leaves() -> None:
    player = Player(STORE, 0.0, share_max=0.5)
    player.offer(personal(1, show_ms=24_000), 0.0)
    run(player, 24.0)
    run(player, 40.0, start=24.0)
    player.offer(personal(2, show_ms=20_000), 40.0)  # 30 s a minute: 6 s are left of it
    assert player.showing.personal is not None
    assert round(player.showing.until - player.showing.started) == 6
    assert player.counters["shortened"] == 1


def test_a_departed_visitors_slide_is_skipped_and_not_counted() -> None:
    player = Player(STORE, 0.0)
    player.offer(personal(1), 0.0)  # on screen
    player.offer(personal(2), 0.1)  # waits for its turn
    assert player.waiting == 1
    assert player.depart("visit-2", 3.0) == 1
    player.offer(personal(2), 3.5)  # a late decision for the same visit: skipped too
    done = run(player, 40.0, start=3.5)
    assert all(i.showing.personal is None or i.showing.personal.visit_id == "visit-1" for i in done)
    assert player.counters["departed"] == 2


def test_impressions_count_only_what_was_wholly_on_screen_long_enough() -> None:
    slide = make_slide(id="s", kind="text", title="S", duration_ms=5000, min_impression_ms=2000)
    player = Player([slide, *STORE], 0.0, awaits_full=True)
    player.fully_shown(0.6)  # the crossfade took 0.6 s
    [first] = player.advance(5.0)
    assert first.seen and first.shown_ms == 4400 and first.counts
    # the next one is interrupted 1.5 s after its crossfade ended: shown, but not counted
    player.fully_shown(5.5)
    done = player.offer(personal(1), 7.0)
    assert [(i.shown_ms, i.counts) for i in done] == [(1500, False)]
    # and a stint that never came wholly on screen is not seen at all
    done = player.advance(13.0)
    assert [(i.seen, i.counts) for i in done] == [(False, False)]
