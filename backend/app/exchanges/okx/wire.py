"""OKX's names for what a series id says: instrument ids and bars. Pure functions."""

from __future__ import annotations

from typing import Final

from app.series import SeriesId

# freqtrade's timeframes to OKX bars. From 6h up OKX's plain bars (`1D`) are aligned to
# Hong Kong time; the `utc` ones match freqtrade's (and ccxt's) UTC candles.
BARS: Final[dict[str, str]] = {
    "1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H",
    "4h": "4H", "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc", "1w": "1Wutc",
}  # fmt: skip
TIMEFRAME_OF_BAR: Final = {bar: tf for tf, bar in BARS.items()}
CHANNEL_PREFIX: Final = "candle"


def inst_id(series: SeriesId) -> str:
    """`BTC-USDT` for spot, `BTC-USDT-SWAP` for the USDT-margined perpetual."""
    pair = f"{series.base}-{series.quote}"
    return pair if series.market == "spot" else f"{pair}-SWAP"


def topic(channel: str, inst: str) -> str:
    """The feed's topic for a channel of an instrument: `candle1m:BTC-USDT`."""
    return f"{channel}:{inst}"
