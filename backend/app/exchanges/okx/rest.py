"""OKX's v5 REST host as a ccxt client (`market/candles` and `market/history-candles`,
newest first and paged back; `public/instruments`, `public/time`) at the configured URL."""

from __future__ import annotations

from typing import Any, Final

from app.clock import Clock
from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client
from app.exchanges.upstream import UpstreamLimiter
from app.series import CandleType, Market

# Candles per page, as freqtrade and ccxt ask OKX (`candles` and `history-candles` alike).
PAGE_LIMIT: Final = 300
# What OKX's REST serves here of every kind of series: a swap's mark and index price
# candles besides its own (ccxt pages its funding history newest first only, and OKX
# keeps three months of it: not fetched yet).
FETCHED: Final[tuple[CandleType, ...]] = ("spot", "futures", "mark", "index")
# OKX's most mark and index price candles a page.
_PAGES: Final[dict[CandleType, int]] = {"mark": 100, "index": 100}


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

    return CcxtRestKlines(
        "okx", make_client, limiter, clock, page_limit=PAGE_LIMIT, page_sizes=_PAGES
    )
