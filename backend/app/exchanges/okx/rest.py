"""OKX's v5 REST host as a ccxt client (`market/candles` and `market/history-candles`,
newest first and paged back; a swap's mark and index candles and funding history;
`public/instruments`, `public/time`) at the configured URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from app.candle import CandleRow
from app.clock import Clock
from app.errors import ExchangeError
from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client, funding_rows
from app.exchanges.ports import FrameError, KlinePage
from app.exchanges.upstream import UpstreamLimiter
from app.series import CandleType, Market, SeriesId

# Candles per page, as freqtrade and ccxt ask OKX (`candles` and `history-candles` alike).
PAGE_LIMIT: Final = 300
# What OKX's REST serves here of every kind of series: a swap's mark and index price
# candles and its funding history besides its own candles.
FETCHED: Final[tuple[CandleType, ...]] = ("spot", "futures", "mark", "index", "funding_rate")
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
    """OKX's funding history pages only back from a time (`after`: older than), newest
    first; asked forward from a time (`before`), it answers the newest page, not the one
    that follows. So a window of it is read back from its end, then handed out oldest
    first."""

    async def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        if series.market != "funding_rate":
            async for page in super().closed_pages(series, after, until=until):
                yield page
            return
        await self.check_symbol(series)
        now = int(await self._venue_now("futures"))
        end = now if until is None else min(until, now)
        events: dict[int, CandleRow] = {}
        older_than_ms = (end + 1) * 1000
        while True:
            rows = await self._ask(
                f"funding rates of {series}", self._funding_page, series, older_than_ms
            )
            for ms, o, h, low, c, v in rows:
                if after < ms // 1000 <= end:
                    events[ms // 1000] = (ms // 1000, o, h, low, c, v)
            if len(rows) < self.page_size(series) or min(r[0] for r in rows) // 1000 <= after:
                break
            older_than_ms = min(r[0] for r in rows)
        if events:
            yield KlinePage(sorted(events.values()), {})

    async def _funding_page(self, series: SeriesId, older_than_ms: int) -> list[list[Any]]:
        client = self._client("futures")
        got = await client.fetch_funding_rate_history(
            series.symbol, None, self.page_size(series), {"after": older_than_ms}
        )
        try:
            return funding_rows(got, series.timeframe)
        except FrameError as e:
            raise ExchangeError(f"{series} from {self.venue}: {e}") from e
