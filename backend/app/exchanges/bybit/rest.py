"""Bybit's v5 REST host as a ccxt client (`/v5/market/kline`, `instruments-info`, `time`)
at the configured URL (a local exchange in tests and the demo)."""

from __future__ import annotations

from typing import Any

from app.exchanges.ccxt_rest import CcxtRestKlines
from app.series import Market

# ccxt's bybit client builds its URLs from these keys; all point at the one v5 host.
_URL_KEYS = ("spot", "futures", "v2", "public", "private")


def bybit_rest(*, url: str, timeout_s: float = 10.0, page_limit: int = 1000) -> CcxtRestKlines:
    def make_client(market: Market) -> Any:
        import ccxt.async_support as ccxt_async

        return ccxt_async.bybit(
            {
                "urls": {"api": dict.fromkeys(_URL_KEYS, url.rstrip("/"))},
                "options": {
                    "defaultType": "spot" if market == "spot" else "swap",
                    "fetchMarkets": {"types": ["spot" if market == "spot" else "linear"]},
                },
                "timeout": int(timeout_s * 1000),
                "enableRateLimit": True,
            }
        )

    return CcxtRestKlines("bybit", make_client, page_limit=page_limit)
