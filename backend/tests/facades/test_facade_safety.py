"""A shared feed one client cannot take down, and that never answers wrong: the upstream
weight is spent before it is sent (the local Binance applies Binance's own weights and
bans), each client has its share, only documented parameters are forwarded, a window that
cannot be filled is the venue's error (never a 200 with fewer rows), and what is said to a
client names no upstream address. Real server, real clients over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.series import SeriesId, parse_series_id
from local_exchange.clock import SteppedClock
from local_exchange.exchange import FakeExchange
from local_exchange.rest import RestServer
from tests.conftest import SettingsFactory
from tests.live_support import (
    VENUES,
    OffsetClock,
    clock_of,
    driven,
    exchange_history,
    live_settings,
    serving,
    start_fake,
    wait_caught_up,
)
from tests.support import LiveServer, live_server, poll


async def test_an_upstream_failure_names_the_venue_not_its_address(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials in a venue's URL stay out of what a client reads and out of the log;
    the client learns which venue failed, not where this server reaches it."""
    secret_url = "http://trader:hunter2-pw@127.0.0.1:9"
    settings = make_settings(binance_spot_rest_url=secret_url, binance_futures_rest_url=secret_url)
    caplog.set_level(logging.INFO)
    async with live_server(settings) as s:
        for path in ("/binance/api/v3/depth?symbol=BTCUSDT", "/binance/api/v3/exchangeInfo",
                     "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m"):  # fmt: skip
            r = await s.http.get(path)
            assert r.status_code == 503, (path, r.text)
            body = r.text
            assert "binance" in body.lower(), body
            for leak in ("hunter2", "trader", "127.0.0.1:9"):
                assert leak not in body, (path, body)
    assert "hunter2" not in caplog.text


T_MINUTE = 1_796_000_050  # ten seconds into a minute: no budget window turns by itself


@contextlib.contextmanager
def local_binance(**exchange_kw: Any) -> Iterator[tuple[FakeExchange, str, SteppedClock]]:
    """The local Binance's REST face on a stepped clock that stands still until stepped,
    applying Binance's weights as Binance does (429 past the minute's limit, 418 after)."""
    clock = SteppedClock(start=T_MINUTE)
    exchange = FakeExchange(clock=clock, history_days=3, **exchange_kw)
    server = RestServer(exchange)
    server.start()
    try:
        yield exchange, f"http://127.0.0.1:{server.port}", clock
    finally:
        server.stop()


def binance_at(url: str, **kw: Any) -> dict[str, Any]:
    return {"binance_spot_rest_url": url, "binance_futures_rest_url": url, **kw}


@contextlib.asynccontextmanager
async def client_at(s: LiveServer, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the server from another loopback address (another client to it)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=s.base_url, transport=transport, timeout=60) as c:
        yield c


def depth(symbol: str, limit: int, path: str = "/binance/api/v3/depth") -> str:
    return f"{path}?symbol={symbol}&limit={limit}"


async def test_weight_is_spent_before_it_is_sent_and_each_client_has_its_share(
    make_settings: SettingsFactory,
) -> None:
    """Forty depth requests of Binance's 5,000-level book (weight 250 each) at once from
    one client: only what fits its share of the minute's budget goes out (2 of them: 500
    of 1,000), the others get Binance's 429 with Retry-After at once. The local Binance,
    whose limit is the server's budget here, is never pushed to a 429 or a ban. Another
    client still gets its share, but not the reserve kept for live ingest; the futures
    host has a budget of its own; and the next minute the first client is served again."""
    symbols = [f"C{i:02d}USDT" for i in range(44)]
    limits = {"spot": 1_000, "futures": 1_000}
    with local_binance(spot_symbols=symbols, binance_weight_limits=limits) as (ex, url, clock):
        settings = make_settings(**binance_at(url, binance_rest_weight_budget_per_min=1_000))
        async with live_server(settings, clock) as s:
            answers = await asyncio.gather(*(
                s.http.get(depth(symbols[i], 1001 + i)) for i in range(40)
            ))  # fmt: skip
            served = [r for r in answers if r.status_code == 200]
            refused = [r for r in answers if r.status_code != 200]
            assert len(served) == 2, [r.text for r in answers if r.status_code != 429]
            for r in refused:
                assert r.status_code == 429 and r.json()["code"] == -1003, r.text
                assert 1 <= int(r.headers["Retry-After"]) <= 50
            for r in served:  # each the size asked (5,000 were fetched: the same weight)
                i = symbols.index(r.request.url.params["symbol"])
                assert len(r.json()["bids"]) == len(r.json()["asks"]) == 1001 + i
            assert ex.binance_weights.weight_sent["spot"] == 500

            async with client_at(s, "127.0.0.2") as other:
                assert (await other.get(depth(symbols[40], 5000))).status_code == 200
                kept = await other.get(depth(symbols[41], 5000))  # 1,000 would leave no reserve
                assert kept.status_code == 429, kept.text
                futures = await other.get(depth("BTCUSDT", 1000, "/binance/fapi/v1/depth"))
                assert futures.status_code == 200 and len(futures.json()["bids"]) == 1000

            assert ex.binance_weights.answered[429] == ex.binance_weights.answered[418] == 0
            assert ex.binance_weights.weight_sent == {"spot": 750, "futures": 20}
            clock.advance(60)  # the next minute
            assert (await s.http.get(depth(symbols[42], 5000))).status_code == 200
            metrics = (await s.http.get("/metrics")).text
            assert 'trade_canvas_upstream_refused_total{reason="budget",venue="binance"}' in metrics


async def test_only_documented_parameters_are_forwarded_and_limits_share_a_key(
    make_settings: SettingsFactory,
) -> None:
    """A parameter the venue does not document (8 KB of junk), or one sent twice, is
    refused in Binance's shape and never forwarded; every `limit` up to 100 is Binance's
    weight-5 tier, one cached upstream request, each answer cut to the levels asked."""
    with local_binance() as (ex, url, clock):
        async with live_server(make_settings(**binance_at(url)), clock) as s:
            for path in (f"{depth('BTCUSDT', 5)}&junk={'x' * 8192}",
                         f"{depth('BTCUSDT', 5)}&limit=10",
                         "/binance/api/v3/ticker/price?symbol=BTCUSDT&timestamp=1",
                         "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&x=1"):  # fmt: skip
                r = await s.http.get(path)
                assert r.status_code == 400 and r.json()["code"] == -1104, (path[:80], r.text)
            assert ex.rest_requests == 0
            books = [await s.http.get(depth("BTCUSDT", n)) for n in (1, 5, 7, 50, 100, 0)]
            for n, r in zip((1, 5, 7, 50, 100, 100), books, strict=True):
                assert r.status_code == 200 and len(r.json()["bids"]) == len(r.json()["asks"]) == n
                assert r.json()["bids"][0] == books[-1].json()["bids"][0]
            assert ex.rest_requests_by_path == {"/api/v3/depth": 1}
            assert "Age" in books[-1].headers  # a cached answer says how old it is


# A window of klines through each venue's facade, as its own clients ask: (path, params)
# for `limit` candles from `start` (epoch seconds), or the newest when `start` is None.
def klines_request(venue: str, symbol: str, start: int | None, limit: int) -> str:
    base, quote = symbol.split("/")
    if venue == "binance":
        since = "" if start is None else f"&startTime={start * 1000}"
        return f"/binance/api/v3/klines?symbol={base}{quote}&interval=1m&limit={limit}{since}"
    if venue == "bybit":
        since = "" if start is None else f"&start={start * 1000}"
        return (f"/bybit/v5/market/kline?category=spot&symbol={base}{quote}&interval=1"
                f"&limit={limit}{since}")  # fmt: skip
    # OKX pages back: the `limit` candles older than `after`.
    since = "" if start is None else f"&after={(start + 60 * limit) * 1000}"
    return f"/okx/api/v5/market/history-candles?instId={base}-{quote}&bar=1m&limit={limit}{since}"


def rows_of(venue: str, answer: httpx.Response) -> list[int]:
    """The open times (s) a venue's kline answer holds, ascending."""
    body = answer.json()
    if venue == "binance":
        return [row[0] // 1000 for row in body]
    rows = body["result"]["list"] if venue == "bybit" else body["data"]
    return sorted(int(row[0]) // 1000 for row in rows)


def refusal_of(venue: str, answer: httpx.Response) -> object:
    body = answer.json()
    return {"binance": lambda: body["code"], "bybit": lambda: body["retCode"],
            "okx": lambda: body["code"]}[venue]()  # fmt: skip


REFUSED = {"binance": (429, -1003), "bybit": (429, 10006), "okx": (429, "50011")}
UNAVAILABLE = {"binance": (503, -1008), "bybit": (503, 10016), "okx": (503, "50001")}


@pytest.mark.parametrize("venue", VENUES)
async def test_a_window_that_cannot_be_filled_is_the_venues_error_never_fewer_rows(
    make_settings: SettingsFactory, venue: str
) -> None:
    """While the venue bans this server, a window the store does not hold whole is the
    venue's own 429 with Retry-After: ten days back when the store holds one, from 0, a
    pair or a timeframe not stored at all (a client would take a 200 as the truth, and its
    datadir would start days late or 'have no data'). A window the store holds is served.
    After the ban, the same windows are the venue's own, from its listing."""
    fake = start_fake(venue=venue, stepped=True)
    try:
        settings = make_settings(**live_settings(fake, live_ingest=False))
        clock = clock_of(fake)
        async with driven(clock) as driver, live_server(settings, clock) as s:
            with driver.paused():
                stored_request = klines_request(venue, "BTC/USDT", None, 100)
                assert (await s.http.get(stored_request)).status_code == 200  # now stored
                listing = fake.exchange.listing_time // 60 * 60 + 60
                asked = {
                    "ten days back": klines_request(venue, "BTC/USDT", listing - 9 * 86_400, 100),
                    "a pair not stored": klines_request(venue, "ETH/USDT", None, 100),
                }
                if venue != "okx":  # OKX pages back from the present only
                    asked["from 0"] = klines_request(venue, "BTC/USDT", 0, 100)
                fake.exchange.ban_rest(900)
                requests_before = fake.exchange.rest_requests
                for what, path in asked.items():
                    r = await s.http.get(path)
                    assert (r.status_code, refusal_of(venue, r)) == REFUSED[venue], (what, r.text)
                    assert int(r.headers["Retry-After"]) >= 1, what
                # The ban was met once; then nothing more was asked of the venue.
                assert fake.exchange.rest_requests - requests_before <= 2
                held = await s.http.get(stored_request)
                assert held.status_code == 200 and len(rows_of(venue, held)) >= 99
            await poll(lambda: fake.exchange.ban_left() == 0, "the ban to pass", timeout=30)
            with driver.paused():
                await poll(lambda: _asked_ok(s, asked["a pair not stored"]), "the venue again")
                for what in ("ten days back", "from 0"):
                    if what not in asked:
                        continue
                    r = await s.http.get(asked[what])
                    assert r.status_code == 200, (what, r.text)
                    times = rows_of(venue, r)
                    if venue == "okx":  # paging back from before its listing: OKX has none
                        assert times == [], times[:2]
                        continue
                    # History older than the venue's listing is empty only as the venue
                    # says: the answer starts at its first candle.
                    assert times[0] == listing, (what, times[:2])
                    assert times == [times[0] + 60 * i for i in range(len(times))]
    finally:
        fake.stop()


@pytest.mark.parametrize("venue", VENUES)
async def test_an_unreachable_venue_is_its_503_with_retry_after(
    make_settings: SettingsFactory, venue: str
) -> None:
    """Nothing listens where the venue should be: a window the store lacks is the venue's
    own 503 with Retry-After, not an empty list."""
    async with live_server(make_settings()) as s:
        r = await s.http.get(klines_request(venue, "SOL/USDT", None, 10))
        assert (r.status_code, refusal_of(venue, r)) == UNAVAILABLE[venue], r.text
        assert int(r.headers["Retry-After"]) >= 1


async def _asked_ok(s: LiveServer, path: str) -> bool:
    return (await s.http.get(path)).status_code == 200


async def test_a_late_close_costs_one_upstream_ask_and_is_never_skipped(
    make_settings: SettingsFactory,
) -> None:
    """The server's clock is 3 s ahead of the exchange's: a second after the server's
    boundary the exchange has not closed the candle, on its stream or over REST. Forty
    bots polling the newest klines meanwhile cost the exchange one kline request, and each
    answer ends with that candle as the forming one (the exchange's own state of it),
    never with a made-up candle of the next minute after a skipped close. Once the
    exchange closes it, the answer has it closed and the next forming."""
    fake = start_fake(venue="binance", stepped=True)
    try:
        live = "binance:spot:BTC/USDT:1m"
        settings = make_settings(**live_settings(fake, whitelist=[live], live_close_grace_s=0.5))
        exchange_clock = clock_of(fake)
        async with (
            driven(exchange_clock) as driver,
            live_server(settings, OffsetClock(exchange_clock, 3.0)) as s,
        ):
            await wait_caught_up(s, fake, live)
            # At the clock's pace (a jump past the stream's stale time would cut it) to 2 s
            # before the exchange's next-but-one boundary: the server's boundary + 1 s.
            boundary = (int(exchange_clock.now()) // 60 + 2) * 60
            await driver.run_to(boundary - 2)
            with driver.paused():
                # The stream has said what the exchange has: closes to the one before, and
                # the state of the candle it has not closed.
                await wait_caught_up(s, fake, live)
                series = parse_series_id(live)
                await poll(lambda: _forming_at(s, series) == boundary - 60, "its forming state")
                klines = fake.exchange.rest_requests_by_path.get("/api/v3/klines", 0)
                path = "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5"
                answers = list(await asyncio.gather(*(s.http.get(path) for _ in range(30))))
                answers += [await s.http.get(path) for _ in range(10)]
                assert fake.exchange.rest_requests_by_path.get("/api/v3/klines", 0) - klines <= 1
                model = fake.exchange.pair_model("spot", "BTC/USDT")
                for r in answers:
                    rows = r.json()
                    assert [row[0] // 1000 for row in rows] == [
                        boundary - 60 * (5 - i) for i in range(5)
                    ], rows  # ends with the candle the exchange has not closed
                    assert float(rows[-1][1]) == float(model.kline("1m", boundary - 60).open)
            await poll(lambda: _ends_at(s, path, boundary), "the close, then the next candle")
    finally:
        fake.stop()


def _forming_at(s: LiveServer, series: SeriesId) -> int | None:
    held = s.services.reads.query.forming(series)
    return None if held is None else held.candle.candle_time


async def _ends_at(s: LiveServer, path: str, opening: int) -> bool:
    rows = (await s.http.get(path)).json()
    return (
        bool(rows)
        and rows[-1][0] // 1000 >= opening
        and rows[-2][0] // 1000 == rows[-1][0] // 1000 - 60
    )


async def test_a_series_the_store_lacks_is_answered_from_one_page_while_its_history_downloads(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A bot's first request for a series neither stored nor in the datadir is answered at
    once from the venue (the window it asked for, exact), not after a whole download; the
    download runs meanwhile, through this server's own facade as history (within history's
    share of the budget), and its file lands in the datadir."""
    fake = start_fake(venue="binance", stepped=True)
    try:
        settings = make_settings(**live_settings(
            fake, live_ingest=False, market_history_source="freqtrade",
            freqtrade_datadir=tmp_path, history_download_days=1, history_wait_s=120,
        ))  # fmt: skip
        series = "binance:spot:SOL/USDT:1m"
        async with serving(settings, fake) as s:
            r = await s.http.get("/binance/api/v3/klines?symbol=SOLUSDT&interval=1m&limit=500")
            assert r.status_code == 200, r.text
            supply = s.services.supply
            assert supply.has_history
            state = supply.history_state_of(series)
            assert state is not None and state["status"] == "downloading", state
            rows = r.json()
            closed = [(row[0] // 1000, *map(float, row[1:6])) for row in rows[:-1]]
            assert len(rows) == 500
            assert closed == exchange_history(fake, series, closed[0][0], closed[-1][0])

            def imported() -> bool:
                done = supply.history_state_of(series)
                return done is not None and done["status"] == "imported"

            await poll(imported, "the download, then its import", timeout=120, every=0.1)
            assert (tmp_path / "SOL_USDT-1m.feather").exists()
            metrics = (await s.http.get("/metrics")).text
            assert (
                'trade_canvas_upstream_requests_total{caller="history",venue="binance"}' in metrics
            )
    finally:
        fake.stop()
