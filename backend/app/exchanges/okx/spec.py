"""OKX v5 as a series id names it: the venue's name and the bars it offers in freqtrade's
names (no 8h, 3d or month here)."""

from typing import Final

from app.series import VenueFacts

SPEC: Final = VenueFacts(
    "okx", ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w"), "OKX"
)
