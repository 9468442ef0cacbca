"""Binance's REST hosts as a ccxt client: spot `/api/v3`, USDT-M futures `/fapi/v1`, at the
configured URLs (a local exchange in tests and the demo)."""

from __future__ import annotations

from typing import Any

from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client
from app.series import Market


def binance_rest(
    *, spot_url: str, futures_url: str, timeout_s: float = 10.0, page_limit: int = 1000
) -> CcxtRestKlines:
    urls = {
        "public": f"{spot_url.rstrip('/')}/api/v3",
        "fapiPublic": f"{futures_url.rstrip('/')}/fapi/v1",
    }

    def make_client(market: Market) -> Any:
        return ccxt_client("binance", urls, market, futures_type="future", timeout_s=timeout_s)

    return CcxtRestKlines("binance", make_client, page_limit=page_limit)
