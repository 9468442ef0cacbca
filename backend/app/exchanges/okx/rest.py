"""OKX's v5 REST host as a ccxt client (`market/candles` and `market/history-candles`,
newest first and paged back; a swap's mark and index candles and funding history;
`public/instruments`, `public/time`) at the configured URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from app.candle import CandleRow
from app.clock import Clock
from app.errors import ExchangeError
from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client, derived_rows, funding_rows
from app.exchanges.ports import FrameError, KlinePage
from app.exchanges.upstream import UpstreamLimiter
from app.series import CandleType, Market, SeriesId, timeframe_seconds

# Candles per page, as freqtrade and ccxt ask OKX (`candles` and `history-candles` alike).
PAGE_LIMIT: Final = 300
# What OKX's REST serves here of every kind of series: a swap's mark and index price
# candles and its funding history besides its own candles.
FETCHED: Final[tuple[CandleType, ...]] = ("spot", "futures", "mark", "index", "funding_rate")
# One page of a series' rows opened before a time (ms), newest first or not.
PageBack = Callable[[SeriesId, int], Awaitable[list[list[Any]]]]
# OKX's most mark and index price candles, and funding events, a page.
_PAGES: Final[dict[CandleType, int]] = {"mark": 100, "index": 100, "funding_rate": 100}


def okx_api_urls(url: str) -> dict[str, str]:
    """ccxt's `urls.api` for this host (its one key)."""
    return {"rest": url.rstrip("/")}


def okx_rest(
    api_urls: dict[str, str], limiter: UpstreamLimiter, clock: Clock, *, timeout_s: float = 10.0
) -> CcxtRestKlines:
    def make_client(market: Market) -> Any:
        return ccxt_client(
            "okx", api_urls, market, futures_type="swap", futures_markets="swap",
            timeout_s=timeout_s,
        )  # fmt: skip

    return OkxRestKlines(
        "okx", make_client, limiter, clock, page_limit=PAGE_LIMIT, page_sizes=_PAGES
    )


class OkxRestKlines(CcxtRestKlines):
    """OKX answers a window: candles asked from a time come from the `limit` periods
    after it (none, where those lie before the instrument's first candle), and its funding
    history pages only back from a time (`after`: older than), newest first. So a funding
    window, and a candle window whose first page came back empty long before the present,
    is read back from its end page by page, then handed out oldest first."""

    async def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        if series.market == "funding_rate":
            async for page in self._read_back(series, after, until, self._funding_page):
                yield page
            return
        found = False
        async for page in super().closed_pages(series, after, until=until):
            found = True
            yield page
        if found:
            return
        tf = timeframe_seconds(series.timeframe)
        now = int(await self._venue_now(series.instrument_market))
        if after + self.page_size(series) * tf >= now - tf:
            return  # the window asked reached the present: nothing newer there
        async for page in self._read_back(series, after, until, self._candle_page):
            yield page

    async def _read_back(
        self, series: SeriesId, after: int, until: int | None, read: PageBack
    ) -> AsyncIterator[KlinePage]:
        """The closed rows in `(after, until]`, read back from the end with `read`."""
        await self.check_symbol(series)
        now = int(await self._venue_now(series.instrument_market))
        closes_after = 0 if series.instant else timeframe_seconds(series.timeframe)
        end = now if until is None else min(until, now)
        rows: dict[int, CandleRow] = {}
        older_than_ms = (end + 1) * 1000
        while True:
            page = await self._ask(f"{series} back from {older_than_ms // 1000}", read, series,
                                   older_than_ms)  # fmt: skip
            for ms, o, h, low, c, v in page:
                t = int(ms) // 1000
                if after < t <= end and t + closes_after <= now:
                    rows[t] = (t, float(o), float(h), float(low), float(c), float(v))
            oldest = min((int(r[0]) for r in page), default=None)
            if len(page) < self.page_size(series) or oldest is None or oldest // 1000 <= after:
                break
            older_than_ms = oldest
        if rows:
            yield KlinePage(sorted(rows.values()), {})

    async def _candle_page(self, series: SeriesId, older_than_ms: int) -> list[list[Any]]:
        """The newest page of candles opened before `older_than_ms` (OKX's history
        candles, which reach back past the newest 1,440)."""
        client = self._client(series.instrument_market)
        params = {"until": older_than_ms, "type": "HistoryCandles"}
        limit = self.page_size(series)
        if not series.derived:
            rows: list[list[Any]] = await client.fetch_ohlcv(
                series.symbol, series.timeframe, None, limit, params
            )
            return rows
        method = "fetch_mark_ohlcv" if series.market == "mark" else "fetch_index_ohlcv"
        got = await getattr(client, method)(series.symbol, series.timeframe, None, limit, params)
        try:
            return derived_rows(got)
        except FrameError as e:
            raise ExchangeError(f"{series} from {self.venue}: {e}") from e

    async def _funding_page(self, series: SeriesId, older_than_ms: int) -> list[list[Any]]:
        client = self._client("futures")
        got = await client.fetch_funding_rate_history(
            series.symbol, None, self.page_size(series), {"after": older_than_ms}
        )
        try:
            return funding_rows(got, series.timeframe)
        except FrameError as e:
            raise ExchangeError(f"{series} from {self.venue}: {e}") from e
