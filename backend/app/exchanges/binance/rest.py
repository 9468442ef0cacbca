"""Binance's REST hosts as a ccxt client: spot `/api/v3`, USDT-M futures `/fapi/v1`, at the
configured URLs (a local exchange in tests and the demo)."""

from __future__ import annotations

from typing import Any

from app.exchanges.ccxt_rest import CcxtRestKlines
from app.series import Market


def binance_rest(
    *, spot_url: str, futures_url: str, timeout_s: float = 10.0, page_limit: int = 1000
) -> CcxtRestKlines:
    def make_client(market: Market) -> Any:
        import ccxt.async_support as ccxt_async

        return ccxt_async.binance(
            {
                "urls": {
                    "api": {
                        "public": f"{spot_url.rstrip('/')}/api/v3",
                        "fapiPublic": f"{futures_url.rstrip('/')}/fapi/v1",
                    }
                },
                "options": {
                    "defaultType": "spot" if market == "spot" else "future",
                    "fetchMarkets": {"types": ["spot" if market == "spot" else "linear"]},
                },
                "timeout": int(timeout_s * 1000),
                "enableRateLimit": True,
            }
        )

    return CcxtRestKlines("binance", make_client, page_limit=page_limit)
