"""Bybit v5 as a series id names it: the venue's name and the kline intervals it offers
in freqtrade's names (no 8h, 3d or month)."""

from typing import Final

from app.series import VenueFacts

SPEC: Final = VenueFacts(
    "bybit", ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w"), "Bybit"
)
