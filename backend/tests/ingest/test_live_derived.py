"""A swap's mark and index prices live from OKX's business stream (issue 36): its
`mark-price-candle<bar>` channel by the swap's instrument id and its `index-candle<bar>`
channel by the swap's family, rows of six strings with no volume. The generic live ingest
follows them as it follows candles: forming values streamed, closes committed then
published, and through the same faults (drops, refused reconnects, a stall, garbage,
closes that never come) the store ends equal to the venue's values, on both stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_exchange.server import FakeVenue
from local_exchange.ws import WsMarketServer
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.live_support import (
    assert_store_matches_exchange,
    clock_of,
    driven,
    jobs_of,
    live_settings,
    serving,
    start_fake,
    stored,
    wait_candles_close,
    wait_caught_up,
)
from tests.support import live_server, metric_value, poll, recv_json, send_json

MARK = "okx:mark:BTC/USDT:USDT:1m"
INDEX = "okx:index:BTC/USDT:USDT:1m"


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def okx() -> Iterator[FakeVenue]:
    fake = start_fake(venue="okx", stepped=True)
    try:
        yield fake
    finally:
        fake.stop()


async def test_mark_and_index_prices_stream_and_close_exactly(
    make_settings: SettingsFactory, okx: FakeVenue
) -> None:
    clock = clock_of(okx)
    settings = make_settings(**live_settings(okx, whitelist=[MARK, INDEX]))
    async with driven(clock), live_server(settings, clock) as s, s.ws() as ws:
        await send_json(ws, {"type": "subscribe", "series_id": MARK})
        assert (await recv_json(ws))["type"] == "catchup"
        forming, closed = 0, []
        while len(closed) < 2:
            msg = await recv_json(ws, 10)
            if msg["type"] == "candle_forming":
                forming += 1
            elif msg["type"] == "candle_closed":
                closed.append(msg["candle"])
                # Published after the commit: the HTTP read has it already.
                assert msg["candle"]["candle_time"] in [c[0] for c in await stored(s, MARK)]
        assert forming, "the forming mark price reached the client"
        assert all(c["volume"] == 0 for c in closed)
        for sid in (MARK, INDEX):
            await wait_caught_up(s, okx, sid)
            await assert_store_matches_exchange(s, okx, sid)
        status = (await s.http.get("/api/market/status", params={"series_id": MARK})).json()
        assert status["state"] == "streaming", status
        # The swap's mark by its instrument id, its index by its family.
        channels = okx.run("futures", lambda w: sorted(w._streams))
        assert {"mark-price-candle1m:BTC-USDT-SWAP", "index-candle1m:BTC-USDT"} <= set(channels)


def _drop(w: WsMarketServer) -> Any:
    return w.drop_all()


FAULTS: dict[str, tuple[Callable[[WsMarketServer], Any], str]] = {
    "dropped": (_drop, "trade_canvas_ingest_reconnects_total"),
    "stalled": (lambda w: w.stall(240), "trade_canvas_ingest_reconnects_total"),
    "refused": (lambda w: (w.refuse(180), w.drop_all()), "trade_canvas_ingest_reconnects_total"),
    "garbage": (lambda w: w.send_garbage(5), "trade_canvas_ingest_bad_frames_total"),
    "closes never come": (lambda w: w.omit_closes(3), "trade_canvas_ingest_backfilled_total"),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("series_id", [MARK, INDEX])
async def test_through_each_fault_the_store_equals_the_venue(
    make_settings: SettingsFactory, okx: FakeVenue, fault: str, series_id: str
) -> None:
    act, counter = FAULTS[fault]
    async with serving(make_settings(**live_settings(okx, whitelist=[series_id])), okx) as s:
        await wait_caught_up(s, okx, series_id)
        before = await metric_value(s, counter)
        okx.run("futures", act)

        async def seen() -> bool:
            return await metric_value(s, counter) > before

        await poll(seen, f"the {fault} fault to be seen ({counter})", timeout=30)
        await wait_candles_close(okx, 2)
        await wait_caught_up(s, okx, series_id)
        await assert_store_matches_exchange(s, okx, series_id)


async def test_a_catch_up_reaching_before_the_swaps_first_candle_reads_back_from_now(
    make_settings: SettingsFactory, okx: FakeVenue
) -> None:
    """An hourly mark price of a swap listed a day ago: its catch-up owes 1,000 hours,
    and OKX answers the first window asked (40 days back) empty. Read back from the
    present instead, the series owes nothing, equals OKX's, and costs OKX no request
    while nothing closes (it was asked again at every close grace before)."""
    hourly = "okx:mark:BTC/USDT:USDT:1h"
    async with serving(make_settings(**live_settings(okx, whitelist=[hourly])), okx) as s:

        async def owes_nothing() -> bool:
            return any(j["owed"] is None and j["head_time"] for j in await jobs_of(s, hourly))

        await poll(owes_nothing, "the catch-up to owe nothing", timeout=30)
        got = await assert_store_matches_exchange(s, okx, hourly)
        assert len(got) >= 20
        paths = ("/api/v5/market/mark-price-candles", "/api/v5/market/history-mark-price-candles")

        def asked() -> int:
            return sum(okx.exchange.rest_requests_by_path.get(p, 0) for p in paths)

        before = asked()
        await wait_candles_close(okx, 10)
        assert asked() - before <= 1
