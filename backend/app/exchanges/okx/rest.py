"""OKX's v5 REST host as a ccxt client (`market/candles` and `market/history-candles`,
newest first and paged back; `public/instruments`, `public/time`) at the configured URL."""

from __future__ import annotations

from typing import Any, Final

from app.exchanges.ccxt_rest import CcxtRestKlines
from app.exchanges.upstream import UpstreamLimiter
from app.series import Market

URL: Final = "https://www.okx.com"
# `market/history-candles` answers at most 100 rows; a page never asks for more.
PAGE_LIMIT: Final = 100


def okx_api_urls(url: str) -> dict[str, str]:
    """ccxt's `urls.api` for this host (its one key)."""
    return {"rest": url.rstrip("/")}


def okx_rest(
    api_urls: dict[str, str], limiter: UpstreamLimiter, *, timeout_s: float = 10.0
) -> CcxtRestKlines:
    def make_client(market: Market) -> Any:
        import ccxt.async_support as ccxt_async

        kind = "spot" if market == "spot" else "swap"
        return ccxt_async.okx(
            {
                "urls": {"api": api_urls},
                "options": {"defaultType": kind, "fetchMarkets": {"types": [kind]}},
                "timeout": int(timeout_s * 1000),
                "enableRateLimit": True,
            }
        )

    return CcxtRestKlines("okx", make_client, limiter, page_limit=PAGE_LIMIT)
