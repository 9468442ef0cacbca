"""Binance's REST hosts as a ccxt client: spot `/api/v3`, USDT-M futures `/fapi/v1`, at the
configured URLs (a local exchange in tests and the demo)."""

from __future__ import annotations

from typing import Any

from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client
from app.exchanges.upstream import UpstreamLimiter
from app.series import Market

SPOT_URL = "https://api.binance.com"
FUTURES_URL = "https://fapi.binance.com"


def binance_api_urls(spot_url: str, futures_url: str) -> dict[str, str]:
    """ccxt's `urls.api` for these hosts."""
    return {
        "public": f"{spot_url.rstrip('/')}/api/v3",
        "fapiPublic": f"{futures_url.rstrip('/')}/fapi/v1",
    }


def binance_rest(
    api_urls: dict[str, str], limiter: UpstreamLimiter, *, timeout_s: float = 10.0,
    page_limit: int = 1000,
) -> CcxtRestKlines:  # fmt: skip
    def make_client(market: Market) -> Any:
        return ccxt_client("binance", api_urls, market, futures_type="future",
                           timeout_s=timeout_s)  # fmt: skip

    return CcxtRestKlines("binance", make_client, limiter, page_limit=page_limit)
