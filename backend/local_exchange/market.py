"""A deterministic market: every kline is a pure function of (symbol, interval, open time).

The price is a smooth seeded wave plus hash noise in 10-second buckets, so any candle can be
computed on its own, REST history and live WebSocket closes agree to the last digit, and
higher timeframes resemble their lower ones. Prices and volumes are formatted as Binance
sends them: decimal strings.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from typing import Final, Literal

INTERVAL_SECONDS: Final[dict[str, int]] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1_800,
    "1h": 3_600,
    "2h": 7_200,
    "4h": 14_400,
    "6h": 21_600,
    "8h": 28_800,
    "12h": 43_200,
    "1d": 86_400,
    "3d": 259_200,
    "1w": 604_800,
}
# Binance weeks open on Monday; the epoch was a Thursday.
_WEEK_OFFSET: Final = 3 * 86_400
_BUCKET_S: Final = 10
_MASK64: Final = (1 << 64) - 1

DEFAULT_SPOT: Final = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "ETHBTC")
DEFAULT_FUTURES: Final = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT")
_KNOWN_QUOTES: Final = ("USDT", "BTC", "ETH", "BNB", "FDUSD", "USDC")
_BASE_PRICES: Final = {"BTC": 60_000.0, "ETH": 3_000.0, "BNB": 550.0, "SOL": 150.0}
# A contract's prices derived from its trades: apart from them, so that one served or
# stored in place of another shows.
DerivedKind = Literal["mark", "index", "premiumIndex"]
_DERIVED_FACTOR: Final = {"mark": 1.0002, "index": 0.9997}


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _unit(x: int) -> float:
    """A hash mapped to [0, 1)."""
    return (_mix(x) >> 11) / float(1 << 53)


def split_symbol(symbol: str) -> tuple[str, str]:
    for quote in _KNOWN_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"cannot split symbol {symbol!r} into base and quote")


@dataclass(frozen=True, slots=True)
class Kline:
    open_time_ms: int
    close_time_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str
    trades: int
    taker_base: str
    taker_quote: str

    def rest_row(self) -> list[object]:
        """Binance's 12-field REST kline row."""
        return [
            self.open_time_ms,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.close_time_ms,
            self.quote_volume,
            self.trades,
            self.taker_base,
            self.taker_quote,
            "0",
        ]


class SymbolModel:
    def __init__(self, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self.base_asset, self.quote_asset = split_symbol(symbol)
        self._seed = zlib.crc32(symbol.encode()) ^ (seed * 0x1000193)
        base = _BASE_PRICES.get(self.base_asset)
        if base is None:
            base = 0.05 + 200 * _unit(self._seed) ** 3
        if self.quote_asset == "BTC":
            base /= 60_000.0
        self.base_price = base
        self.decimals = min(8, max(2, 6 - math.floor(math.log10(base))))
        self._phases = [2 * math.pi * _unit(self._seed + k) for k in range(4)]

    def price(self, t: int) -> float:
        """The traded price at epoch second `t` (constant within a 10-second bucket)."""
        bucket = t - t % _BUCKET_S
        p = self._phases
        wave = (
            0.06 * math.sin(2 * math.pi * bucket / 604_800 + p[0])
            + 0.02 * math.sin(2 * math.pi * bucket / 86_400 + p[1])
            + 0.006 * math.sin(2 * math.pi * bucket / 3_600 + p[2])
        )
        noise = 0.0015 * (2 * _unit(self._seed ^ (bucket * 0x2545F491)) - 1)
        return self.base_price * (1 + wave + noise)

    def _fmt(self, x: float) -> str:
        return f"{x:.{self.decimals}f}"

    def kline(self, interval: str, open_time: int, until: int | None = None) -> Kline:
        """The kline opening at `open_time` (epoch seconds). With `until`, the forming
        state as of that second; without, the closed kline."""
        size = INTERVAL_SECONDS[interval]
        end = open_time + size if until is None else min(open_time + size, until + 1)
        step = max(_BUCKET_S, size // 60)
        samples = [self.price(t) for t in range(open_time, end, step)] or [self.price(open_time)]
        open_, close = float(self._fmt(samples[0])), float(self._fmt(samples[-1]))
        high = max(float(self._fmt(max(samples))), open_, close)
        low = min(float(self._fmt(min(samples))), open_, close)
        elapsed = (end - open_time) / size
        volume = round((0.5 + _unit(self._seed ^ open_time)) * size / 60 * 7.5 * elapsed, 3)
        taker = round(volume * 0.48, 3)
        return Kline(
            open_time_ms=open_time * 1000,
            close_time_ms=(open_time + size) * 1000 - 1,
            open=self._fmt(open_),
            high=self._fmt(high),
            low=self._fmt(low),
            close=self._fmt(close),
            volume=f"{volume:.3f}",
            quote_volume=f"{volume * close:.4f}",
            trades=int(volume * 3) + 1,
            taker_base=f"{taker:.3f}",
            taker_quote=f"{taker * close:.4f}",
        )

    def derived(self, kind: DerivedKind, kline: Kline) -> Kline:
        """A futures kline's mark, index or premium index kline: prices moved off the
        traded ones (the premium a small signed rate, rising with the price, so the candle's
        order holds), no volume, as Binance's `markPriceKlines` and kin send them."""

        def moved(x: str) -> str:
            if kind == "premiumIndex":
                return f"{(float(x) / self.base_price - 1) * 0.01:.8f}"
            return self._fmt(float(x) * _DERIVED_FACTOR[kind])

        return replace(
            kline, open=moved(kline.open), high=moved(kline.high), low=moved(kline.low),
            close=moved(kline.close), volume="0", quote_volume="0", trades=0,
            taker_base="0", taker_quote="0",
        )  # fmt: skip


def funding_rate(t: int) -> str:
    """The rate paid at funding time `t`: it moves, and is sometimes negative (so a swap
    of events, or a lost sign, shows)."""
    return f"{((t // 3_600) % 7 - 2) * 0.00003125:.8f}"


def open_interest(model: SymbolModel, t: int) -> tuple[str, str]:
    """The contract's open interest sampled at `t`: its amount in the base currency, and
    its value at the price then, as Binance's `openInterestHist` states them."""
    amount = 20_000 + (t // 300) % 977 * 3.25
    return f"{amount:.8f}", f"{amount * model.price(t):.8f}"


def align(t: int, interval: str) -> int:
    size = INTERVAL_SECONDS[interval]
    offset = _WEEK_OFFSET if interval == "1w" else 0
    return t - (t + offset) % size
