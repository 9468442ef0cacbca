"""Bybit's v5 REST host as a ccxt client (`/v5/market/kline`, `instruments-info`, `time`)
at the configured URL (a local exchange in tests and the demo)."""

from __future__ import annotations

from typing import Any, Final

from app.clock import Clock
from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client
from app.exchanges.upstream import UpstreamLimiter
from app.series import CandleType, Market

# ccxt's bybit client builds its URLs from these keys; all point at the one v5 host.
_URL_KEYS = ("spot", "futures", "v2", "public", "private")


# What Bybit's REST serves of every kind of series (ccxt reads each kind from its own
# endpoint: `mark-price-kline`, `funding/history`, `open-interest`...).
FETCHED: Final[tuple[CandleType, ...]] = (
    "spot",
    "futures",
    "mark",
    "index",
    "premiumIndex",
    "funding_rate",
    "open_interest",
)
# The most rows Bybit sends a page of funding events and open interest samples.
_PAGES: Final[dict[CandleType, int]] = {"funding_rate": 200, "open_interest": 200}


def bybit_api_urls(url: str) -> dict[str, str]:
    """ccxt's `urls.api` for this v5 host."""
    return dict.fromkeys(_URL_KEYS, url.rstrip("/"))


def bybit_rest(
    api_urls: dict[str, str], limiter: UpstreamLimiter, clock: Clock, *, timeout_s: float = 10.0,
    page_limit: int = 1000,
) -> CcxtRestKlines:  # fmt: skip
    def make_client(market: Market) -> Any:
        return ccxt_client("bybit", api_urls, market, futures_type="swap", timeout_s=timeout_s)

    return CcxtRestKlines(
        "bybit", make_client, limiter, clock, page_limit=page_limit, page_sizes=_PAGES
    )
