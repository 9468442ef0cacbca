"""OKX's v5 REST host as a ccxt client (`market/candles` and `market/history-candles`,
newest first and paged back; a swap's mark and index candles and funding history;
a swap's open interest history; `public/instruments`, `public/time`) at the configured
URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from app.candle import CandleRow, ExtrasByTime
from app.clock import Clock
from app.errors import ExchangeError
from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client, funding_rows
from app.exchanges.ports import FrameError, KlinePage
from app.exchanges.upstream import UpstreamLimiter
from app.series import CandleType, Market, SeriesId, align_time, timeframe_seconds

# Candles per page, as freqtrade and ccxt ask OKX (`candles` and `history-candles` alike).
PAGE_LIMIT: Final = 300
# What OKX's REST serves here of every kind of series: a swap's mark and index price
# candles, its funding history and its open interest besides its own candles.
FETCHED: Final[tuple[CandleType, ...]] = (
    "spot", "futures", "mark", "index", "funding_rate", "open_interest",
)  # fmt: skip
# OKX's most mark and index price candles, funding events and open interest samples a page.
_PAGES: Final[dict[CandleType, int]] = {
    "mark": 100, "index": 100, "funding_rate": 100, "open_interest": 100,
}  # fmt: skip
# OKX keeps the newest 1,440 samples of a contract's open interest at each period; a window
# is asked from this many periods back at the most (its clock may be ahead of ours).
OPEN_INTEREST_KEPT: Final = 1_440 - 12


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
    after it, none where those lie before the instrument's listing (then they are asked
    again from its `listTime`); and its funding history pages only back from a time
    (`after`: older than), newest first, so a funding window is read back from its end
    page by page, then handed out oldest first."""

    async def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        if series.market == "funding_rate":
            async for page in self._funding_back(series, after, until):
                yield page
            return
        found = False
        async for page in super().closed_pages(series, after, until=until):
            found = True
            yield page
        if found:
            return
        # Nothing in the window asked: it lay before the instrument's listing, or reached
        # the present. Asked again from the listing, if that came after the window.
        tf = timeframe_seconds(series.timeframe)
        listed = await self._listed_at(series)
        if listed is None or listed <= after + self.page_size(series) * tf:
            return
        now = int(await self._venue_now(series.instrument_market))
        if listed >= now or (until is not None and listed > until):
            return
        first = align_time(listed, series.timeframe)
        async for page in super().closed_pages(series, max(after, first - 1), until=until):
            yield page

    async def klines(
        self, client: Any, series: SeriesId, since_ms: int, limit: int | None = None
    ) -> tuple[list[list[Any]], ExtrasByTime]:
        if series.market == "open_interest":  # (a window before what OKX keeps is empty)
            kept_s = int(self._clock.time()) - OPEN_INTEREST_KEPT * timeframe_seconds(
                series.timeframe
            )
            since_ms = max(since_ms, kept_s * 1000)
        return await super().klines(client, series, since_ms, limit)

    async def _listed_at(self, series: SeriesId) -> int | None:
        """When OKX listed the series' instrument (its `listTime`), if it says."""
        markets = await self._load_markets(series.instrument_market, False)
        info = (markets.get(series.symbol) or {}).get("info") or {}
        try:
            return int(info["listTime"]) // 1000
        except (KeyError, TypeError, ValueError):
            return None

    async def _funding_back(
        self, series: SeriesId, after: int, until: int | None
    ) -> AsyncIterator[KlinePage]:
        """The funding events in `(after, until]` paid by now, read back from the end
        (OKX keeps three months of them: a few pages)."""
        await self.check_symbol(series)
        now = int(await self._venue_now(series.instrument_market))
        end = now if until is None else min(until, now)
        rows: dict[int, CandleRow] = {}
        older_than_ms = (end + 1) * 1000
        while True:
            page = await self._ask(f"funding rates of {series}", self._funding_page, series,
                                   older_than_ms)  # fmt: skip
            for ms, o, h, low, c, v in page:
                t = int(ms) // 1000
                if after < t <= end:
                    rows[t] = (t, float(o), float(h), float(low), float(c), float(v))
            oldest = min((int(r[0]) for r in page), default=None)
            if len(page) < self.page_size(series) or oldest is None or oldest // 1000 <= after:
                break
            older_than_ms = oldest
        if rows:
            yield KlinePage(sorted(rows.values()), {})

    async def _funding_page(self, series: SeriesId, older_than_ms: int) -> list[list[Any]]:
        client = self._client("futures")
        got = await client.fetch_funding_rate_history(
            series.symbol, None, self.page_size(series), {"after": older_than_ms}
        )
        try:
            return funding_rows(got, series.timeframe)
        except FrameError as e:
            raise ExchangeError(f"{series} from {self.venue}: {e}") from e
