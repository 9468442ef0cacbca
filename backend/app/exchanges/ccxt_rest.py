"""Closed klines and market lists over a venue's REST API through ccxt's async client,
paged within the venue's limits. Each adapter says only how to build its ccxt client (which
URLs, which market types); paging, the exchange's present, and the translation of ccxt's
errors into this project's are here once.

Every request passes the venue's shared `UpstreamLimiter` (the facades use the same one):
its weight is spent from the budget before ccxt sends it (ccxt's `fetch`, through which
every request goes, is wrapped: the URL names the endpoint), each answer's status and
weight headers reach the limiter through ccxt's `on_rest_response` hook, and during a ban
(HTTP 429/418, Bybit's 403 or `retCode` 10006) or with no room in the budget no request
reaches the venue and the caller gets `UpstreamRateLimited`, so a ban is waited out
instead of extended. ccxt is imported on first use: it costs ~75 MB, which a server that
never needs REST should not pay.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final, TypeVar

from app.candle import Candle, CandleRow, ExtrasByTime
from app.clock import Clock
from app.errors import ExchangeError, UnknownSymbol, UpstreamRateLimited
from app.exchanges.ports import FrameError, KlinePage, SymbolInfo
from app.exchanges.upstream import UpstreamLimiter
from app.redact import without_secrets
from app.series import UNREPORTED, CandleType, Market, SeriesId, align_time, timeframe_seconds

T = TypeVar("T")

MakeClient = Callable[[Market], Any]
# A reading of the venue's clock is reused this long (monotonic seconds).
VENUE_TIME_REUSE_S: Final = 1.0
# What an answer to the request this task is sending tells the limiter (set around ccxt's
# `fetch`, read by its `on_rest_response` hook within it).
Observe = Callable[[int, Mapping[str, str], bytes], None]
_observing: ContextVar[Observe | None] = ContextVar("ccxt_observing", default=None)


# ccxt's unified method for each price a contract derives.
_DERIVED_OHLCV: Final[dict[str, str]] = {
    "mark": "fetch_mark_ohlcv",
    "index": "fetch_index_ohlcv",
    "premiumIndex": "fetch_premium_index_ohlcv",
}


class CcxtRestKlines:
    def __init__(
        self, venue: str, make_client: MakeClient, limiter: UpstreamLimiter, clock: Clock, *,
        page_limit: int, page_sizes: Mapping[CandleType, int] | None = None,
    ) -> None:  # fmt: skip
        """`page_sizes`: the most rows the venue sends a page of a kind, where fewer than
        `page_limit` (its funding and open interest histories)."""
        self.venue = venue
        self._page_sizes = dict(page_sizes or {})
        self._make_client = make_client
        self._limiter = limiter
        self._clock = clock
        self._page_limit = page_limit
        self._clients: dict[Market, Any] = {}
        # The venue's clock less ours, per market, and when it was read (monotonic).
        self._venue_offset: dict[Market, tuple[float, float]] = {}

    def _client(self, market: Market) -> Any:
        client = self._clients.get(market)
        if client is None:
            client = self._clients[market] = self._make_client(market)
            client.fetch = _budgeted(self._limiter, client.fetch)
            client.on_rest_response = _observed(client.on_rest_response)
        return client

    async def _ask(self, what: str, call: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
        """Requests to the venue, each within its limiter, their errors translated."""
        errors = _ccxt_errors()
        try:
            return await call(*args, **kw)
        except (errors.RateLimitExceeded, errors.DDoSProtection) as e:
            retry_after = max(1.0, self._limiter.wait_s())
            raise UpstreamRateLimited(
                f"{self.venue} rate-limited {what}; backing off {retry_after:.0f}s: "
                f"{without_secrets(str(e))}",
                retry_after,
            ) from e
        except errors.BadSymbol as e:
            raise UnknownSymbol(f"{what}: {without_secrets(str(e))}") from e
        except errors.BaseError as e:
            # ccxt's messages quote the URL asked, user info included.
            raise ExchangeError(f"{what} failed on {self.venue}: {without_secrets(str(e))}") from e

    async def _load_markets(self, market: Market, reload: bool) -> dict[str, Any]:
        client = self._client(market)
        markets: dict[str, Any] = await self._ask(
            f"loading the {market} markets", client.load_markets, reload
        )
        return markets

    async def markets(self, market: Market, reload: bool = False) -> dict[str, SymbolInfo]:
        """Every symbol of `market` that the venue lists, with its tick size and lot step.
        Loaded once unless `reload`."""
        return {
            pair: SymbolInfo(
                pair,
                str(m.get("id") or pair),
                _positive(m.get("precision", {}).get("price")),
                _positive(m.get("precision", {}).get("amount")),
                _positive(m.get("contractSize")),
            )
            for pair, m in (await self._load_markets(market, reload)).items()
            if m.get("active", True) is not False
        }

    async def check_symbol(self, series: SeriesId) -> None:
        """Raise `UnknownSymbol` if the venue does not list `series`' symbol (from the
        market list loaded once)."""
        if series.symbol not in await self._load_markets(series.instrument_market, False):
            raise UnknownSymbol(
                f"{series.symbol} is not listed on {self.venue} {series.instrument_market}"
            )

    async def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        """Pages of closed candles with `candle_time > after` (and `<= until`), ascending,
        up to the newest candle that has closed by the exchange's own clock."""
        await self.check_symbol(series)
        client = self._client(series.instrument_market)
        tf = timeframe_seconds(series.timeframe)
        # A candle has closed once its timeframe has passed; an event is known at its time.
        closes_after = 0 if series.instant else tf
        now = int(await self._venue_now(series.instrument_market))
        cursor = after + 1
        while True:
            rows, extras = await self._ask(
                f"klines of {series}", self.klines, client, series, cursor * 1000
            )
            page: list[CandleRow] = []
            for ms, o, h, low, c, v in sorted(rows):
                t = int(ms) // 1000
                if t < cursor or t + closes_after > now or (until is not None and t > until):
                    continue
                page.append((t, float(o), float(h), float(low), float(c), float(v)))
            if page:
                yield KlinePage(page, extras)
            if len(rows) < self.page_size(series) or not page or page[-1][0] + 2 * tf > now:
                return
            if until is not None and page[-1][0] >= until:
                return
            cursor = page[-1][0] + 1

    async def _venue_now(self, market: Market) -> float:
        """The exchange's present (its clock says which candles have closed), its reading
        reused for a second: fills of many series at once ask it once."""
        held = self._venue_offset.get(market)
        if held is None or self._clock.monotonic() - held[1] >= VENUE_TIME_REUSE_S:
            return await self.server_time(market)
        return self._clock.time() + held[0]

    async def server_time(self, market: Market) -> float:
        client = self._client(market)
        venue_s = int(await self._ask("reading the exchange time", client.fetch_time)) / 1000
        self._venue_offset[market] = (venue_s - self._clock.time(), self._clock.monotonic())
        return venue_s

    def page_size(self, series: SeriesId) -> int:
        """The most rows a page of `series` brings (a shorter page is the last)."""
        return min(self._page_limit, self._page_sizes.get(series.market, self._page_limit))

    async def klines(
        self, client: Any, series: SeriesId, since_ms: int, limit: int | None = None
    ) -> tuple[list[list[Any]], ExtrasByTime]:
        """One page (`limit` rows, else a full one) of the venue's klines from `since_ms`:
        OHLCV rows as ccxt gives them (a contract's derived prices, funding rates and open
        interest through ccxt's own methods for them, as rows of the store's shape), and
        what else the venue says of them (an adapter that reads more overrides this)."""
        limit = limit or self.page_size(series)
        symbol, tf = series.symbol, series.timeframe
        if not series.derived:
            return await client.fetch_ohlcv(symbol, tf, since=since_ms, limit=limit), {}
        method = _DERIVED_OHLCV.get(series.market)
        try:
            if method is not None:
                got = await getattr(client, method)(symbol, tf, since=since_ms, limit=limit)
                return derived_rows(got), {}
            # ccxt ends these windows `limit` periods after their start, and a venue that
            # walks back from the end (Bybit) leaves the start out: asked a period early.
            early = since_ms - series.spacing * 1000
            if series.events:
                got = await client.fetch_funding_rate_history(symbol, since=early, limit=limit)
                return funding_rows(got, tf), {}
            got = await client.fetch_open_interest_history(symbol, tf, since=early, limit=limit)
            return open_interest_rows(got, tf), {}
        except FrameError as e:
            raise ExchangeError(f"{series} from {self.venue}: {e}") from e

    async def forming(self, series: SeriesId, open_time: int) -> Candle | None:
        client = self._client(series.instrument_market)
        rows, _ = await self._ask(
            f"the forming kline of {series}", self.klines, client, series, open_time * 1000, 1
        )
        for ms, o, h, low, c, v in rows:
            if int(ms) // 1000 == open_time:
                return Candle(open_time, float(o), float(h), float(low), float(c), float(v))
        return None

    async def close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()


def ccxt_client(
    exchange_id: str, api_urls: dict[str, str], market: Market, *, futures_type: str,
    timeout_s: float, futures_markets: str = "linear",
) -> Any:  # fmt: skip
    """ccxt's async client for one market of a venue, its API URLs overridden (a local
    exchange in tests and the demo) and only that market's list loaded."""
    import ccxt.async_support as ccxt_async

    return getattr(ccxt_async, exchange_id)(
        {
            "urls": {"api": api_urls},
            "options": {
                "defaultType": "spot" if market == "spot" else futures_type,
                "fetchMarkets": {"types": ["spot" if market == "spot" else futures_markets]},
            },
            "timeout": int(timeout_s * 1000),
            # The venue's budget (`UpstreamLimiter`) paces every request by its weight;
            # ccxt's own throttle would queue a burst of fills one at a time besides.
            "enableRateLimit": False,
        }
    )


def _budgeted(limiter: UpstreamLimiter, fetch: Callable[..., Any]) -> Callable[..., Any]:
    """ccxt's `fetch`, each request's weight spent before it is sent."""

    async def budgeted(url: str, method: str = "GET", headers: Any = None, body: Any = None
                       ) -> Any:  # fmt: skip
        async with limiter.sending(limiter.cost_of(url)) as sent:

            def observe(status: int, answer_headers: Mapping[str, str], raw: bytes) -> None:
                limiter.observe(status, answer_headers, raw, sent)

            token = _observing.set(observe)
            try:
                return await fetch(url, method, headers, body)
            finally:
                _observing.reset(token)

    return budgeted


def _observed(hook: Callable[..., Any]) -> Callable[..., Any]:
    """ccxt's `on_rest_response`, telling the limiter each answer's status and headers
    first (before ccxt raises for an error status)."""

    def observed(status: int, reason: str, url: str, method: str, headers: Any, body: Any,
                 *request: Any) -> Any:  # fmt: skip
        observe = _observing.get()
        if observe is not None:
            raw = body.encode() if isinstance(body, str) else (body or b"")
            observe(int(status), dict(headers or {}), raw[:4096])
        return hook(status, reason, url, method, headers, body, *request)

    return observed


def _positive(value: Any) -> float | None:
    """ccxt's precision in TICK_SIZE mode is the step itself (0.01), as the venue gives it."""
    try:
        step = float(value)
    except (TypeError, ValueError):
        return None
    return step if step > 0 else None


def _ccxt_errors() -> Any:
    from ccxt.base import errors

    return errors


def derived_rows(rows: Any) -> list[list[Any]]:
    """ccxt's mark, index or premium index OHLCV rows (their volume None) in the store's
    shape; a row that is not one raises `FrameError`."""
    if not isinstance(rows, list):
        raise FrameError("price klines are not a list")
    try:
        return [[int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), 0.0]
                for r in rows]  # fmt: skip
    except (TypeError, ValueError, IndexError) as e:
        raise FrameError(f"a price kline is not [ms, o, h, l, c]: {str(rows)[:100]}") from e


def funding_rows(rates: Any, timeframe: str) -> list[list[Any]]:
    """ccxt's funding rate history as flat rows at the open of the `timeframe` candle each
    was paid in."""
    if not isinstance(rates, list):
        raise FrameError("funding rates are not a list")
    rows = []
    for r in rates:
        try:
            rate = float(r["fundingRate"])
            at = align_time(int(r["timestamp"]) // 1000, timeframe) * 1000
        except (KeyError, TypeError, ValueError) as e:
            raise FrameError(f"a funding rate without its time or rate: {str(r)[:100]}") from e
        rows.append([at, rate, rate, rate, rate, 0.0])
    return rows


def open_interest_rows(samples: Any, timeframe: str) -> list[list[Any]]:
    """ccxt's open interest history as rows of the store's shape: the amount flat, the
    value as the volume, either one the venue does not report `UNREPORTED`."""
    if not isinstance(samples, list):
        raise FrameError("open interest is not a list")
    rows = []
    for r in samples:
        try:
            at = align_time(int(r["timestamp"]) // 1000, timeframe) * 1000
            said = (r.get("openInterestAmount"), r.get("openInterestValue"))
            amount, value = (UNREPORTED if x is None else float(x) for x in said)
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise FrameError(f"an open interest sample without its time: {str(r)[:100]}") from e
        if amount == UNREPORTED and value == UNREPORTED:
            raise FrameError(f"an open interest sample with no value: {str(r)[:100]}")
        rows.append([at, amount, amount, amount, amount, value])
    return rows
