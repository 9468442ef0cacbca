"""`LiveSeries` completeness: a hole before the newest close is still a hole."""

from __future__ import annotations

from app.ingest.live import LiveSeries
from app.series import parse_series_id


def live(head: int | None) -> LiveSeries:
    s = LiveSeries(parse_series_id("binance:futures:BTC/USDT:USDT:1m"), "btcusdt@kline_1m", 60)
    if head is not None:
        s.complete(head)
    return s


def test_contiguous_closes_move_completeness() -> None:
    s = live(600)
    for t in (660, 720, 780):
        s.newest_seen = t
        s.closed_seen(t)
    assert s.complete_through == 780
    assert not s.has_hole()


def test_a_close_after_a_lost_one_leaves_a_hole_until_it_is_filled() -> None:
    s = live(600)
    s.newest_seen = 720
    s.closed_seen(720)  # the close of 660 never came
    assert s.complete_through == 600
    assert s.has_hole()
    s.complete(660)  # fetched over REST
    assert s.complete_through == 720
    assert not s.has_hole()


def test_a_forming_candle_past_the_next_close_is_a_hole() -> None:
    s = live(600)
    s.newest_seen = 660  # forming 660: nothing missing
    assert not s.has_hole()
    s.newest_seen = 720  # forming 720 while 660 is not closed yet
    assert s.has_hole()
    s.closed_seen(660)
    assert not s.has_hole()


def test_an_empty_store_is_complete_from_the_first_close_or_page() -> None:
    s = live(None)
    assert not s.has_hole()
    s.newest_seen = 720
    assert s.has_hole()
    s.complete(660)
    assert not s.has_hole()
