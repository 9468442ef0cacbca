"""freqtrade itself, as the reference for what a datadir holds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from freqtrade.data.history import load_pair_history
from freqtrade.data.history.datahandlers import get_datahandler
from freqtrade.enums import CandleType

from app.candle import CandleRow
from app.series import DERIVED_PRICES, OPEN_INTEREST, SINGLE_VALUES, UNREPORTED


def candle_type(market: str) -> CandleType:
    """freqtrade's candle type of a series' market part (they are spelled alike)."""
    return CandleType(market)


def freqtrade_rows(
    datadir: Path, pair: str, timeframe: str, data_format: str, market: str = "spot"
) -> list[CandleRow]:
    """What freqtrade's own `load_pair_history` returns, as (epoch s, o, h, l, c, v); the
    volume of a derived price (mark, index, premium index), which ccxt leaves out and
    freqtrade keeps as NaN, as 0 (what the venues' APIs say); a funding rate (its one
    value) as a flat candle."""
    df = load_pair_history(
        pair,
        timeframe,
        datadir,
        fill_up_missing=False,
        data_format=data_format,
        candle_type=candle_type(market),
    )
    if market in DERIVED_PRICES:
        df["volume"] = df["volume"].fillna(0.0)
    if market in SINGLE_VALUES:
        rate = df["funding_rate"]
        df = pd.DataFrame({"date": df["date"], "open": rate, "high": rate, "low": rate,
                           "close": rate, "volume": 0.0})  # fmt: skip
    if market in OPEN_INTEREST:  # the amount flat, the value as the volume, NaN unreported
        amount = df["open_interest_amount"].fillna(UNREPORTED)
        value = df["open_interest_value"].fillna(UNREPORTED)
        df = pd.DataFrame({"date": df["date"], "open": amount, "high": amount, "low": amount,
                           "close": amount, "volume": value})  # fmt: skip
    return frame_rows(df)


def frame_rows(df: pd.DataFrame) -> list[CandleRow]:
    times = (
        df["date"].astype("int64") // 10**9
        if df["date"].dt.unit == "ns"
        else df["date"].map(lambda d: int(d.timestamp()))
    )
    return [
        (int(t), float(o), float(h), float(lo), float(c), float(v))
        for t, o, h, lo, c, v in zip(
            times, df["open"], df["high"], df["low"], df["close"], df["volume"], strict=True
        )
    ]


def store_with_freqtrade(
    datadir: Path,
    pair: str,
    timeframe: str,
    rows: list[CandleRow],
    data_format: str,
    market: str = "spot",
) -> None:
    """Write `rows` the way `freqtrade download-data` does: its own data handler."""
    df = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
    df["date"] = pd.to_datetime(df["date"], unit="s", utc=True)
    if market in SINGLE_VALUES:  # freqtrade's layout for it: the one value, named
        df = df[["date", "open"]].rename(columns={"open": "funding_rate"})
    if market in OPEN_INTEREST:
        df = df[["date", "open", "volume"]].rename(
            columns={"open": "open_interest_amount", "volume": "open_interest_value"}
        )
    handler = get_datahandler(datadir, data_format)
    handler.ohlcv_store(pair, timeframe, df, candle_type(market))
