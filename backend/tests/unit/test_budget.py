"""The upstream budget on a stepped clock: who may spend what of a venue's pools, and when
room comes back (a calendar minute turning, a rolling window's oldest requests leaving),
without a venue: the facade tests show the same over sockets against the local Binance."""

from __future__ import annotations

import math

import pytest

from app.errors import UpstreamRateLimited
from app.exchanges import binance, bybit, okx  # noqa: F401 (the venues' tables)
from app.exchanges.binance.limits import cost_of as binance_cost
from app.exchanges.budget import HISTORY, LIVE, Caller, Cost, Pool, Shares, UpstreamBudget
from app.exchanges.bybit.limits import cost_of as bybit_cost
from app.exchanges.okx.limits import cost_of as okx_cost
from local_exchange.clock import SteppedClock

SHARES = Shares(reserve=0.2, history=0.25, client=0.5, client_inflight=2, client_wait_s=2.0)
MINUTE = Pool("spot", 1_000, 60.0, aligned=True)
ROLLING = Pool("ip", 10, 5.0)
A, B = Caller("client", "10.0.0.1"), Caller("client", "10.0.0.2")


def budget(*pools: Pool, at: float = 1_800_000_010.0) -> tuple[UpstreamBudget, SteppedClock]:
    clock = SteppedClock(start=at)
    return UpstreamBudget(pools, SHARES, clock), clock


def spend(b: UpstreamBudget, cost: Cost, caller: Caller) -> bool:
    if b.room_in(cost, caller) > 0:
        return False
    b.spend(cost, caller)
    return True


def test_each_client_has_its_share_and_live_ingest_its_reserve() -> None:
    b, clock = budget(MINUTE)
    depth = Cost("spot", 250)
    assert [spend(b, depth, A) for _ in range(3)] == [True, True, False]  # 500 of 1,000
    assert b.room_in(depth, A) == pytest.approx(50.0)  # until the calendar minute turns
    assert spend(b, depth, B)  # 750: the clients' 800 (the reserve kept) has room for it
    assert not spend(b, depth, B)  # 1,000 would take the reserve
    assert spend(b, depth, LIVE)  # live ingest may
    assert not spend(b, Cost("spot", 1), LIVE)  # and no more than the pool
    clock.advance(50.0)  # the next minute
    assert spend(b, depth, A)


def test_history_keeps_to_its_share() -> None:
    b, _ = budget(MINUTE)
    assert [spend(b, Cost("spot", 100), HISTORY) for _ in range(3)] == [True, True, False]
    assert spend(b, Cost("spot", 100), A)  # what history leaves, clients have


def test_a_rolling_window_frees_each_request_as_it_leaves() -> None:
    b, clock = budget(ROLLING)
    one = Cost("ip", 1)
    for _ in range(5):  # a client's half of 10
        assert spend(b, one, A)
        clock.advance(0.5)
    assert not spend(b, one, A)
    assert b.room_in(one, A) == pytest.approx(2.5)  # the first leaves 5 s after it went
    clock.advance(2.5)
    assert spend(b, one, A)
    assert b.room_in(Cost("ip", 11), LIVE) == math.inf  # never fits


def test_the_venues_count_corrects_ours_in_the_same_window_only() -> None:
    b, clock = budget(MINUTE)
    window = b.spend(Cost("spot", 10), LIVE)
    b.reported("spot", 900, window)  # another program on this IP spent the rest
    assert b.room_in(Cost("spot", 101), LIVE) > 0
    clock.advance(50.0)
    b.reported("spot", 990, window)  # an answer of the minute gone: not this one's
    assert b.room_in(Cost("spot", 900), LIVE) == 0


def test_a_client_has_a_bounded_number_of_requests_under_way() -> None:
    b, _ = budget(MINUTE)
    with b.holding(A), b.holding(A):
        with pytest.raises(UpstreamRateLimited), b.holding(A):
            pass
        with b.holding(B):  # another client is not held back
            pass
    with b.holding(A):  # given back
        pass


@pytest.mark.parametrize(
    ("cost_of", "url", "expected"),
    [
        (binance_cost, "http://h/api/v3/depth?symbol=BTCUSDT&limit=1001", Cost("spot", 250)),
        (binance_cost, "http://h/api/v3/depth?symbol=BTCUSDT", Cost("spot", 5)),
        (binance_cost, "http://h/api/v3/klines?symbol=X&interval=1m&limit=1000", Cost("spot", 2)),
        (binance_cost, "http://h/fapi/v1/klines?symbol=X&interval=1m&limit=1500",
         Cost("futures", 10)),
        (binance_cost, "http://h/fapi/v1/klines?symbol=X&interval=1m&limit=99",
         Cost("futures", 1)),
        (binance_cost, "http://h/api/v3/ticker/24hr", Cost("spot", 80)),
        (binance_cost, "http://h/api/v3/exchangeInfo", Cost("spot", 20)),
        (binance_cost, "http://proxy/binance/fapi/v1/depth?symbol=X&limit=5",
         Cost("futures", 2)),
        (bybit_cost, "http://h/v5/market/kline?category=spot&symbol=X", Cost("ip", 1)),
        (okx_cost, "http://h/api/v5/market/history-candles?instId=X",
         Cost("/api/v5/market/history-candles", 1)),
    ],
)  # fmt: skip
def test_every_request_is_costed_as_its_venue_documents(
    cost_of: object, url: str, expected: Cost
) -> None:
    assert callable(cost_of)
    assert cost_of(url) == expected


def test_room_comes_back_when_the_calendar_minute_turns() -> None:
    b, clock = budget(MINUTE, at=1_800_000_059.0)  # a second before the minute turns
    assert spend(b, Cost("spot", 500), A)
    wait = b.room_in(Cost("spot", 1), A)
    assert wait == pytest.approx(1.0)  # within a client's wait: it waits, no 429
    clock.advance(wait)
    assert spend(b, Cost("spot", 1), A)
