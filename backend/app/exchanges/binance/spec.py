"""Binance as a series id names it: the venue's name and its kline intervals (all of
freqtrade's, the calendar month included)."""

from typing import Final

from app.series import TIMEFRAMES, VenueFacts

SPEC: Final = VenueFacts("binance", TIMEFRAMES, "Binance")
