"""The Binance- and Bybit-compatible facades against the real ccxt (async and sync): what
a client reads through `/binance` and `/bybit` is what it reads from the exchange itself
(here the local one, over real sockets), errors included; forwarded market data is cached
and coalesced; private paths go nowhere; a ban is waited out with the venue's own 429 while
klines keep being served; a restart fetches nothing the store holds."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import httpx
import pytest

from app.series import parse_series_id
from local_exchange.market import SymbolModel, funding_rate
from local_exchange.server import FakeVenue
from tests.conftest import SettingsFactory
from tests.freqtrade_support import freqtrade_rows
from tests.live_support import (
    clock_of,
    driven,
    each_facade_venue,  # noqa: F401 (the `fake` fixture)
    exchange_history,
    live_settings,
    serving,
    start_fake,
    stepped_fake,
    wait_backfilled,
    wait_candles_close,
    wait_caught_up,
)
from tests.support import LiveServer, live_server, poll

CCXT_TYPES = {"spot": "spot", "futures": "linear"}


def api_urls(venue: str, base: str) -> dict[str, str]:
    """ccxt's `urls.api` for a Binance, Bybit or OKX host at `base`: the snippet in docs/facades.md."""
    if venue == "binance":
        return {"public": f"{base}/api/v3", "fapiPublic": f"{base}/fapi/v1",
                "fapiPublicV2": f"{base}/fapi/v2"}  # fmt: skip
    if venue == "okx":
        return {"rest": base}
    return dict.fromkeys(("spot", "futures", "v2", "public", "private"), base)


def ccxt_config(venue: str, base: str, market: str) -> dict[str, Any]:
    kind = "spot" if market == "spot" else ("future" if venue == "binance" else "swap")
    return {
        "urls": {"api": api_urls(venue, base)},
        "options": {
            "defaultType": kind,
            "fetchMarkets": {"types": [CCXT_TYPES[market] if venue != "okx" else kind]},
        },
        "enableRateLimit": False,
    }


@asynccontextmanager
async def clients(s: LiveServer, fake: FakeVenue, market: str) -> AsyncIterator[tuple[Any, Any]]:
    """An async ccxt client through the facade, and one straight to the exchange."""
    make = getattr(ccxt_async, fake.name)
    ours = make(ccxt_config(fake.name, f"{s.base_url}/{fake.name}", market))
    theirs = make(ccxt_config(fake.name, fake.rest_url, market))
    try:
        yield ours, theirs
    finally:
        await ours.close()
        await theirs.close()


def symbol_of(market: str, base: str = "BTC") -> str:
    return f"{base}/USDT" if market == "spot" else f"{base}/USDT:USDT"


def series_of(fake: FakeVenue, market: str, base: str = "BTC") -> str:
    return f"{fake.name}:{market}:{symbol_of(market, base)}:1m"


def as_ccxt(rows: list[tuple[int, float, float, float, float, float]]) -> list[list[float]]:
    return [[t * 1000, o, h, low, c, v] for t, o, h, low, c, v in rows]


def assert_the_exchanges(fake: FakeVenue, series_id: str, got: list[list[float]], *,
                         forming: bool) -> None:  # fmt: skip
    """`got` (ccxt rows) are the exchange's own closed candles, contiguous, and, when
    `forming`, end with the candle that opened next (the one forming when it was read)."""
    closed = got[:-1] if forming else got
    first, last = int(closed[0][0]) // 1000, int(closed[-1][0]) // 1000
    assert closed == as_ccxt(exchange_history(fake, series_id, first, last))
    if forming:
        opened = int(got[-1][0]) // 1000
        assert opened == last + 60
        series = parse_series_id(series_id)
        model = fake.exchange.pair_model(series.market, series.symbol)
        assert got[-1][1] == float(model.kline("1m", opened).open)


@pytest.mark.parametrize("market", ["spot", "futures"])
async def test_klines_through_ccxt_are_the_exchanges(
    make_settings: SettingsFactory, fake: FakeVenue, market: str
) -> None:
    """A whitelisted (live) series and one asked for only here (leased, fetched once), by
    the newest candles and by `since`, through async and sync ccxt alike."""
    live, asked = series_of(fake, market), series_of(fake, market, "ETH")
    # A lease outlives the test (an hour of the stepped clock: 18 real seconds).
    settings = make_settings(**live_settings(fake, whitelist=[live], ondemand_idle_ttl_s=3600))
    async with serving(settings, fake) as s:
        await wait_caught_up(s, fake, live)
        async with clients(s, fake, market) as (ours, _):
            for series_id in (live, asked):
                symbol = parse_series_id(series_id).symbol
                for limit in (5, 500):
                    rows = await ours.fetch_ohlcv(symbol, "1m", limit=limit)
                    assert len(rows) == limit
                    assert_the_exchanges(fake, series_id, rows, forming=True)
                since = int(rows[0][0]) - 600 * 60_000
                rows = await ours.fetch_ohlcv(symbol, "1m", since=since, limit=300)
                assert len(rows) == 300 and rows[0][0] == since
                assert_the_exchanges(fake, series_id, rows, forming=False)
            sync = getattr(ccxt, fake.name)(
                ccxt_config(fake.name, f"{s.base_url}/{fake.name}", market)
            )
            rows = await asyncio.to_thread(sync.fetch_ohlcv, symbol_of(market), "1m", None, 100)
            assert len(rows) == 100
            assert_the_exchanges(fake, live, rows, forming=True)
        # The asked-for series is now live too, held by the facade's lease.
        jobs = (await s.http.get("/api/market/debug/ingest_state")).json()["jobs"]
        assert {j["series_id"]: j["kind"] for j in jobs}[asked] == "ondemand"


@pytest.mark.parametrize("market", ["spot", "futures"])
async def test_binance_rows_are_the_exchanges_whole(
    make_settings: SettingsFactory, market: str
) -> None:
    """Every field of a closed Binance row (quote volume, trade count, taker volumes
    included) is the exchange's, for candles the backfill fetched and for those the live
    stream closed."""
    fake = start_fake(venue="binance", stepped=True)
    try:
        live = series_of(fake, market)
        settings = make_settings(**live_settings(fake, whitelist=[live]))
        async with serving(settings, fake) as s:
            await wait_caught_up(s, fake, live)
            await wait_backfilled(s, live)
            await wait_candles_close(fake, 3)  # and some closed by the stream
            await wait_caught_up(s, fake, live)
            path = "/api/v3/klines" if market == "spot" else "/fapi/v1/klines"
            params = {"symbol": "BTCUSDT", "interval": "1m", "limit": 1000}
            ours = (await s.http.get(f"/binance{path}", params=params)).json()
            async with httpx.AsyncClient(base_url=fake.rest_url) as exchange:
                params["startTime"] = ours[0][0]
                theirs = (await exchange.get(path, params=params)).json()
    finally:
        fake.stop()
    assert len(ours) == 1000
    by_time = {row[0]: row for row in theirs}

    def numbers(row: list[Any]) -> list[float]:
        return [float(x) for x in row]

    for row in ours[:-1]:
        assert numbers(row) == numbers(by_time[row[0]]), row
    assert ours[-1][0] == ours[-2][0] + 60_000  # then the forming one (it moves on)


async def test_errors_map_to_the_same_ccxt_exceptions(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    settings = make_settings(**live_settings(fake))
    async with serving(settings, fake) as s, clients(s, fake, "spot") as (ours, theirs):
        if fake.name == "binance":
            calls = [
                ("public_get_klines", {"symbol": "NOPEUSDT", "interval": "1m"}),
                ("public_get_klines", {"symbol": "BTCUSDT", "interval": "2m"}),
                ("public_get_klines", {"symbol": "BTCUSDT"}),
                ("public_get_klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "x"}),
            ]
        else:
            calls = [
                ("public_get_v5_market_kline",
                 {"category": "spot", "symbol": "NOPEUSDT", "interval": "1"}),
                ("public_get_v5_market_kline",
                 {"category": "spot", "symbol": "BTCUSDT", "interval": "2"}),
                ("public_get_v5_market_kline",
                 {"category": "spot", "symbol": "BTCUSDT", "interval": "1", "limit": "x"}),
            ]  # fmt: skip
        for method, params in calls:
            raised = []
            for client in (ours, theirs):
                with pytest.raises(ccxt.BaseError) as e:
                    await getattr(client, method)(params)
                raised.append(type(e.value))
            assert raised[0] is raised[1], (method, params, raised)
        with pytest.raises(ccxt.BadSymbol):
            await ours.fetch_ohlcv("NOPE/USDT", "1m")  # ccxt's own check, from our market list


async def test_forwarded_market_data_is_cached_and_coalesced(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """Ten clients asking for the same ticker at once cost the exchange one request; the
    answer is the exchange's own."""
    settings = make_settings(**live_settings(fake, facade_cache_s=60))
    path = "/api/v3/ticker/24hr" if fake.name == "binance" else "/v5/market/tickers"
    async with serving(settings, fake) as s, clients(s, fake, "spot") as (ours, theirs):
        await ours.load_markets()
        before = fake.exchange.rest_requests_by_path.get(path, 0)
        tickers = await asyncio.gather(*(ours.fetch_ticker("BTC/USDT") for _ in range(10)))
        assert fake.exchange.rest_requests_by_path[path] - before == 1
        direct = await theirs.fetch_ticker("BTC/USDT")
        assert {t["last"] for t in tickers} == {direct["last"]}
        book = await ours.fetch_order_book("BTC/USDT", 5)
        assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]


async def test_private_and_unknown_paths_are_404_and_never_forwarded(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    settings = make_settings(**live_settings(fake))
    private = (
        ["/api/v3/account", "/api/v3/order", "/fapi/v2/balance", "/sapi/v1/capital/config/getall"]
        if fake.name == "binance"
        else ["/v5/account/wallet-balance", "/v5/order/create", "/v5/position/list"]
    )
    signed = (
        "/api/v3/ticker/price?symbol=BTCUSDT&timestamp=1&signature=abc"
        if fake.name == "binance"
        else "/v5/market/tickers?category=spot&sign=abc"
    )
    async with serving(settings, fake) as s:
        before = fake.exchange.rest_requests
        for path in [*private, signed]:
            r = await s.http.get(f"/{fake.name}{path}", headers={"X-MBX-APIKEY": "k"})
            assert r.status_code == 404, (path, r.text)
            body = r.json()
            assert ("code" in body) if fake.name == "binance" else body["retCode"] == 10001
        r = await s.http.post(f"/{fake.name}/api/v3/order")
        assert r.status_code == 404
        assert fake.exchange.rest_requests == before


async def test_a_ban_is_waited_out_with_the_venues_429_and_klines_keep_coming(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """The exchange bans this server (Binance 418 with Retry-After, Bybit 403): clients get
    the venue's 429 with Retry-After and the exchange is asked nothing more until the ban
    has passed; klines of a live series keep being served, current."""
    live = series_of(fake, "spot")
    settings = make_settings(**live_settings(fake, whitelist=[live], facade_cache_s=0))
    clock = clock_of(fake)
    async with driven(clock) as driver, live_server(settings, clock) as s:
        await wait_caught_up(s, fake, live)
        await wait_backfilled(s, live)
        async with clients(s, fake, "spot") as (ours, _):
            await ours.load_markets()
            fake.exchange.ban_rest(900)
            with driver.paused():
                with pytest.raises((ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
                    await ours.fetch_ticker("BTC/USDT")  # the ban is met upstream, once
                asked = fake.exchange.rest_requests
                tickers_path = (
                    "/binance/api/v3/ticker/price?symbol=BTCUSDT"
                    if fake.name == "binance"
                    else "/bybit/v5/market/tickers?category=spot&symbol=BTCUSDT"
                )
                r = await s.http.get(tickers_path)
                assert r.status_code == 429, r.text
                assert int(r.headers["Retry-After"]) >= 1
                for _ in range(5):
                    with pytest.raises((ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
                        await ours.fetch_ticker("BTC/USDT")
                assert fake.exchange.rest_requests == asked  # nothing reached the exchange

            async def current() -> bool:
                rows = await ours.fetch_ohlcv("BTC/USDT", "1m", limit=3)
                return rows[-1][0] // 1000 == int(fake.exchange.clock.now()) // 60 * 60

            await poll(current, "klines to stay current during the ban")
            assert fake.exchange.rest_requests == asked
            limiter = (await s.http.get("/metrics")).text
            assert f'trade_canvas_upstream_bans_total{{venue="{fake.name}"}}' in limiter
            # After the ban, the exchange is asked again.
            await poll(lambda: fake.exchange.ban_left() == 0, "the ban to pass", timeout=30)
            await poll(lambda: _ticker_ok(ours), "a ticker after the ban", timeout=30)


async def _ticker_ok(client: Any) -> bool:
    try:
        await client.fetch_ticker("BTC/USDT")
    except (ccxt.DDoSProtection, ccxt.RateLimitExceeded):
        return False
    return True


async def test_a_restart_fetches_nothing_the_store_holds(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """A window read once through the facade is stored; after a restart the same read
    costs the exchange no kline request."""
    asked = series_of(fake, "spot", "SOL")
    settings = make_settings(**live_settings(fake, live_ingest=False))
    kline_path = "/api/v3/klines" if fake.name == "binance" else "/v5/market/kline"
    clock = clock_of(fake)
    async with driven(clock) as driver:
        with driver.paused():
            since_ms = (int(clock.now()) // 60 * 60 - 3600) * 1000
            async with (
                live_server(settings, clock) as s,
                clients(s, fake, "spot") as (ours, theirs),
            ):
                first = await ours.fetch_ohlcv("SOL/USDT", "1m", since=since_ms, limit=30)
                assert first == await theirs.fetch_ohlcv("SOL/USDT", "1m", since=since_ms, limit=30)
            klines_before = fake.exchange.rest_requests_by_path.get(kline_path, 0)
            async with live_server(settings, clock) as s, clients(s, fake, "spot") as (ours, _):
                again = await ours.fetch_ohlcv("SOL/USDT", "1m", since=since_ms, limit=30)
            assert again == first
            assert fake.exchange.rest_requests_by_path.get(kline_path, 0) == klines_before
    assert asked


async def test_a_window_over_a_hole_in_the_store_is_served_whole(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """The newest window, whose ends the store holds and whose middle it lacks (as a live
    series' catch-up leaves it while paging up to the closes streamed meanwhile), is the
    exchange's own: the hole is fetched, not served."""
    settings = make_settings(**live_settings(fake, live_ingest=False))
    clock = clock_of(fake)
    async with driven(clock) as driver:
        with driver.paused():
            latest_ms = (int(clock.now()) // 60 * 60 - 60) * 1000
            async with (
                live_server(settings, clock) as s,
                clients(s, fake, "spot") as (ours, theirs),
            ):
                await ours.fetch_ohlcv("SOL/USDT", "1m", since=latest_ms - 99 * 60_000, limit=30)
                await ours.fetch_ohlcv("SOL/USDT", "1m", since=latest_ms - 20 * 60_000, limit=21)
                rows = await ours.fetch_ohlcv("SOL/USDT", "1m", limit=100)
                assert len(rows) == 100
                assert rows == await theirs.fetch_ohlcv("SOL/USDT", "1m", limit=100)


@pytest.fixture(name="binance")
def local_binance() -> Iterator[FakeVenue]:
    yield from stepped_fake("binance")


async def test_a_venue_outage_inside_a_window_is_asked_for_once(
    make_settings: SettingsFactory, binance: FakeVenue
) -> None:
    """Ten minutes the exchange has no klines for (an outage) leave a hole no fetch can
    fill: it is asked for once, then served as the exchange serves it."""
    settings = make_settings(**live_settings(binance, live_ingest=False))
    clock = clock_of(binance)
    async with driven(clock) as driver:
        with driver.paused():
            latest = int(clock.now()) // 60 * 60 - 60
            binance.exchange.outages.append((latest - 50 * 60, latest - 41 * 60))
            since_ms = (latest - 99 * 60) * 1000
            async with (
                live_server(settings, clock) as s,
                clients(s, binance, "spot") as (ours, theirs),
            ):
                first = await ours.fetch_ohlcv("SOL/USDT", "1m", since=since_ms, limit=100)
                assert first == await theirs.fetch_ohlcv("SOL/USDT", "1m", since=since_ms,
                                                         limit=100)  # fmt: skip
                assert len(first) == 91  # 90 closed, then the forming candle
                klines = binance.exchange.rest_requests_by_path["/api/v3/klines"]
                again = await ours.fetch_ohlcv("SOL/USDT", "1m", since=since_ms, limit=100)
                assert again == first
                assert binance.exchange.rest_requests_by_path["/api/v3/klines"] == klines


def download_config(path: Path, venue: str, base: str, market: str) -> Path:
    """A freqtrade config whose ccxt reads `venue` at `base` (the snippet in docs/facades.md)."""
    ccxt_settings = ccxt_config(venue, base, market)
    config = {
        "exchange": {
            "name": venue,
            "key": "",
            "secret": "",
            "ccxt_config": {"urls": ccxt_settings["urls"], "options": ccxt_settings["options"]},
            "ccxt_async_config": {},
            "only_from_ccxt": True,  # this host has no bulk-download site
            "pair_whitelist": [],
        },
        "stake_currency": "USDT",
        "dry_run": True,
        "trading_mode": market,
        "margin_mode": "isolated" if market == "futures" else "",
    }
    path.write_text(json.dumps(config))
    return path


async def download(config: Path, datadir: Path, pair: str, market: str, days: int = 1) -> None:
    userdir = datadir.parent / "user_data"
    userdir.mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "freqtrade", "download-data", "--config", str(config),
        "--userdir", str(userdir),
        "--datadir", str(datadir), "--pairs", pair, "--timeframes", "1m", "--days", str(days),
        "--trading-mode", market, "--data-format-ohlcv", "feather",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    log = out.decode(errors="replace")
    assert proc.returncode == 0 and " - ERROR - " not in log, log[-3000:]


@pytest.mark.parametrize("market", ["spot", "futures"])
async def test_download_data_through_the_facade(
    make_settings: SettingsFactory, fake: FakeVenue, market: str, tmp_path: Path
) -> None:
    """The real `freqtrade download-data`, pointed at the facade, writes the exchange's
    own candles (in futures mode on Binance also the contract's mark prices and funding
    rates, served from the store: issue 36); a second download of the same (another
    bot's) asks the exchange for none of them."""
    pair = symbol_of(market)
    series_id = series_of(fake, market)
    paths = [{"binance": {"spot": "/api/v3/klines", "futures": "/fapi/v1/klines"},
              "bybit": {"spot": "/v5/market/kline", "futures": "/v5/market/kline"}}[fake.name][market]]  # fmt: skip
    served_futures = fake.name == "binance" and market == "futures"
    if served_futures:
        paths += ["/fapi/v1/markPriceKlines", "/fapi/v1/fundingRate"]
    settings = make_settings(**live_settings(fake, live_ingest=False))

    def asked() -> list[int]:
        return [fake.exchange.rest_requests_by_path.get(path, 0) for path in paths]

    async with live_server(settings, clock_of(fake)) as s:
        config = download_config(
            tmp_path / "config.json", fake.name, f"{s.base_url}/{fake.name}", market
        )
        await download(config, tmp_path / "first", pair, market)
        before = asked()
        await download(config, tmp_path / "second", pair, market)
        assert asked() == before
    model = fake.exchange.pair_model("futures", pair) if market == "futures" else None
    for datadir in ("first", "second"):
        rows = freqtrade_rows(tmp_path / datadir, pair, "1m", "feather", market)
        assert len(rows) >= 1_000
        assert rows == exchange_history(fake, series_id, rows[0][0], rows[-1][0])
        if served_futures:
            assert model is not None
            assert_mark_and_funding_files(tmp_path / datadir, pair, model, hours=20)


def assert_mark_and_funding_files(datadir: Path, pair: str, model: SymbolModel, hours: int) -> None:
    """A futures download's `-1h-mark` and `-1h-funding_rate` files hold the venue's own
    mark prices (at least `hours` of them) and funding events."""
    marks = freqtrade_rows(datadir, pair, "1h", "feather", "mark")
    assert len(marks) >= hours
    assert [m[1:5] for m in marks] == [
        tuple(float(x) for x in (k.open, k.high, k.low, k.close))
        for k in (model.derived("mark", model.kline("1h", m[0])) for m in marks)
    ]
    events = freqtrade_rows(datadir, pair, "1h", "feather", "funding_rate")
    assert len(events) >= hours // 8 and all(e[0] % (8 * 3_600) == 0 for e in events)
    assert [e[1] for e in events] == [float(funding_rate(e[0])) for e in events]
