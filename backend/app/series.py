"""Series ids and timeframes: pure functions, no I/O.

A series id is `{exchange}:{market}:{symbol}:{timeframe}`. The symbol may itself contain
`:` (futures: `BTC/USDT:USDT`), so exchange and market are split from the left and the
timeframe from the right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from app.errors import InvalidSeriesId

# Where a symbol trades: what a venue lists and streams candles of.
Market = Literal["spot", "futures"]
MARKETS: Final[tuple[Market, ...]] = ("spot", "futures")
# A series' market part: freqtrade's candle type. Besides the contract's own candles, a
# futures contract has series derived from it: prices (`mark`, `index`, `premiumIndex`),
# its funding rate (`funding_rate`) and its open interest (`open_interest`), named as
# freqtrade names their files; they share the contract's listing.
CandleType = Literal[
    "spot", "futures", "mark", "index", "premiumIndex", "funding_rate", "open_interest"
]

DERIVED_PRICES: Final = ("mark", "index", "premiumIndex")
# One value per time, stored as a flat candle (open = high = low = close, no volume), as
# freqtrade once stored them and still reads them (`open`).
SINGLE_VALUES: Final = ("funding_rate",)
# Open interest sampled each period: its amount (base currency) as a flat candle, its
# value (quote currency) as the volume; either one a venue does not report is `UNREPORTED`.
OPEN_INTEREST: Final = ("open_interest",)
UNREPORTED: Final = -1.0
_FUTURES_TYPES: Final = ("futures", *DERIVED_PRICES, *SINGLE_VALUES, *OPEN_INTEREST)
CANDLE_TYPES: Final = ("spot", *_FUTURES_TYPES)
# What freqtrade keeps a contract's mark prices and funding rates at (its
# `mark_ohlcv_timeframe` and `funding_fee_timeframe`), and its futures backtest loads.
MARK_TIMEFRAME: Final = "1h"
FUNDING_TIMEFRAME: Final = "1h"

_MINUTE: Final = 60
_HOUR: Final = 3_600
_DAY: Final = 86_400
# The longest a venue leaves between two funding events (Binance, Bybit and OKX pay every
# 1, 4 or 8 hours).
FUNDING_EVERY_MAX_S: Final = 8 * _HOUR

# Fixed-length Binance kline intervals in seconds. `1M` is calendar-based and handled apart.
TIMEFRAME_SECONDS: Final[dict[str, int]] = {
    "1m": _MINUTE,
    "3m": 3 * _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE,
    "1h": _HOUR,
    "2h": 2 * _HOUR,
    "4h": 4 * _HOUR,
    "6h": 6 * _HOUR,
    "8h": 8 * _HOUR,
    "12h": 12 * _HOUR,
    "1d": _DAY,
    "3d": 3 * _DAY,
    "1w": 7 * _DAY,
}
MONTH: Final = "1M"
TIMEFRAMES: Final = (*TIMEFRAME_SECONDS, MONTH)

# The venues and the kline intervals each offers, in freqtrade's names. Each venue's
# package states its own (`exchanges/<venue>/spec.py`); `exchanges/venues.py` registers
# them when the `app` package is imported, before anything parses a series id.
_VENUES: dict[str, VenueFacts] = {}


@dataclass(frozen=True, slots=True)
class VenueFacts:
    """What a series id needs to know of a venue."""

    name: str
    timeframes: tuple[str, ...]
    title: str  # as people write it (`OKX`), for pickers and messages


def register_venue(facts: VenueFacts) -> None:
    unknown = set(facts.timeframes) - set(TIMEFRAMES)
    if unknown or not facts.name.isalnum() or facts.name != facts.name.lower():
        raise ValueError(f"venue {facts.name!r}: bad name or timeframes {sorted(unknown)}")
    _VENUES[facts.name] = facts


def venue_names() -> tuple[str, ...]:
    return tuple(_VENUES)


def default_venue() -> str:
    """The venue a datadir or a freqtrade config belongs to when nothing names one: the
    first registered (so the contract's default datadir, `user_data/data/binance`)."""
    return next(iter(_VENUES))


def venue_title(exchange: str) -> str:
    facts = _VENUES.get(exchange)
    return facts.title if facts is not None else exchange


def venue_timeframes(exchange: str) -> tuple[str, ...]:
    """The timeframes `exchange` offers; raises `InvalidSeriesId` for an unknown venue."""
    facts = _VENUES.get(exchange)
    if facts is None:
        raise InvalidSeriesId(
            f"unsupported exchange {exchange!r}; expected one of {' '.join(_VENUES)}"
        )
    return facts.timeframes


# Binance weeks open on Monday 00:00 UTC; the epoch fell on a Thursday, 3 days later.
_WEEK_OFFSET: Final = 3 * _DAY
_MAX_SYMBOL_LEN: Final = 64
# Base, quote and settle assets: upper-case letters and digits, at most this long (real
# ones have at most 11: `BROCCOLI714`). Three of them fit the symbol's 64 characters.
_MAX_ASSET_LEN: Final = 20


def series_id_pattern() -> str:
    """Exactly the ids `parse_series_id` accepts, for the OpenAPI document."""
    asset = f"[A-Z0-9]{{1,{_MAX_ASSET_LEN}}}"
    per_exchange = [
        f"{name}:(?:spot:{asset}/{asset}|(?:{'|'.join(_FUTURES_TYPES)}):{asset}/{asset}:{asset})"
        f":(?:{'|'.join(facts.timeframes)})"
        for name, facts in _VENUES.items()
    ]
    return f"^(?:{'|'.join(per_exchange)})$"


@dataclass(frozen=True, slots=True)
class SeriesId:
    exchange: str
    market: CandleType
    symbol: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.market}:{self.symbol}:{self.timeframe}"

    @property
    def instrument_market(self) -> Market:
        """The market its symbol is listed on (a mark price's is its contract's)."""
        return "spot" if self.market == "spot" else "futures"

    @property
    def derived(self) -> bool:
        """Derived from the contract (its mark, index and premium index prices, its funding
        rate, its open interest), not its traded candles."""
        return self.market != "spot" and self.market != "futures"

    @property
    def instant(self) -> bool:
        """Each row a value at its time (a funding paid, open interest sampled), known from
        that time on; not a candle, which closes when its timeframe has passed."""
        return self.market in SINGLE_VALUES or self.market in OPEN_INTEREST

    @property
    def events(self) -> bool:
        """A series of events (funding rates): a row where the venue paid one, known from
        its time on; rows far apart lack nothing."""
        return self.market in SINGLE_VALUES

    @property
    def spacing(self) -> int:
        """The most seconds between two consecutive rows the venue has of it: a timeframe's
        length, or for events the longest between funding events."""
        tf = timeframe_seconds(self.timeframe)
        return max(tf, FUNDING_EVERY_MAX_S) if self.events else tf

    def newest_at(self, t: int) -> int:
        """The open time of its newest row that can be known at epoch second `t`: the
        candle that closed last, or an instant value's own time."""
        current = align_time(t, self.timeframe)
        return current if self.instant else align_time(current - 1, self.timeframe)

    @property
    def base(self) -> str:
        return self.symbol.split("/", 1)[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/", 1)[1].split(":", 1)[0]


def parse_series_id(raw: object) -> SeriesId:
    """Parse and validate a series id; raise `InvalidSeriesId` with a reason otherwise."""
    if not isinstance(raw, str) or not raw:
        raise InvalidSeriesId("series_id must be a non-empty string")
    if len(raw) > 128:
        raise InvalidSeriesId("series_id is too long")
    parts = raw.split(":", 2)
    if len(parts) != 3:
        raise InvalidSeriesId(f"series_id {raw!r} is not exchange:market:symbol:timeframe")
    exchange, market, rest = parts
    symbol, sep, timeframe = rest.rpartition(":")
    if not sep:
        raise InvalidSeriesId(f"series_id {raw!r} is not exchange:market:symbol:timeframe")
    timeframes = venue_timeframes(exchange)
    if market not in CANDLE_TYPES:
        raise InvalidSeriesId(
            f"unsupported market {market!r}; expected spot, futures or a futures contract's "
            f"{', '.join(_FUTURES_TYPES[1:])}"
        )
    if timeframe not in timeframes:
        raise InvalidSeriesId(
            f"unsupported timeframe {timeframe!r} on {exchange}; "
            f"expected one of {' '.join(timeframes)}"
        )
    _check_symbol(raw, market, symbol)
    return SeriesId(exchange, market, symbol, timeframe)  # type: ignore[arg-type]


def _check_symbol(raw: str, market: str, symbol: str) -> None:
    if not symbol or len(symbol) > _MAX_SYMBOL_LEN or not symbol.isascii():
        raise InvalidSeriesId(f"series_id {raw!r} has an invalid symbol")
    pair, colon, settle = symbol.partition(":")
    base, slash, quote = pair.partition("/")
    if not slash or not _is_asset(base) or not _is_asset(quote):
        raise InvalidSeriesId(f"symbol {symbol!r} is not BASE/QUOTE")
    if market == "spot" and colon:
        raise InvalidSeriesId(f"spot symbol {symbol!r} must not have a settle currency")
    if market != "spot" and (not colon or not _is_asset(settle)):
        raise InvalidSeriesId(f"{market} symbol {symbol!r} must be BASE/QUOTE:SETTLE")


def _is_asset(name: str) -> bool:
    return (
        0 < len(name) <= _MAX_ASSET_LEN
        and name.isascii()
        and name.isalnum()
        and name == name.upper()
    )


def timeframe_seconds(timeframe: str) -> int:
    """Nominal length of a timeframe in seconds (a 1M month counts as 30 days)."""
    if timeframe == MONTH:
        return 30 * _DAY
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise InvalidSeriesId(f"unsupported timeframe {timeframe!r}") from None


def align_time(t: int, timeframe: str) -> int:
    """The open time of the candle containing epoch second `t`."""
    if timeframe == MONTH:
        dt = datetime.fromtimestamp(t, UTC)
        return int(datetime(dt.year, dt.month, 1, tzinfo=UTC).timestamp())
    size = timeframe_seconds(timeframe)
    offset = _WEEK_OFFSET if timeframe == "1w" else 0
    return t - (t + offset) % size


def is_aligned(t: int, timeframe: str) -> bool:
    return align_time(t, timeframe) == t


def next_candle_time(t: int, timeframe: str) -> int:
    """The open time of the candle after the one opening at aligned time `t`."""
    if timeframe == MONTH:
        dt = datetime.fromtimestamp(t, UTC)
        year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp())
    return t + timeframe_seconds(timeframe)
