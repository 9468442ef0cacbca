"""FacadeProbe: a deliberately tiny freqtrade strategy for trying trade-canvas's
exchange-compatible facades with a dry-run bot. It enters long at each new candle of a pair
it holds no trade in, and leaves at the next chance (an ROI of -100 %), so every candle of
every pair shows in its trades whether the bot saw that candle on time. Its plot_config
(an average over the candles, a momentum in a subplot) is what trade-canvas draws of it.
Not a strategy to trade with."""

from __future__ import annotations

from pandas import DataFrame

from freqtrade.strategy import IStrategy


class FacadeProbe(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    minimal_roi = {"0": -1}  # leave at the first exit check, whatever the price
    stoploss = -0.99
    process_only_new_candles = True
    startup_candle_count = 30
    plot_config = {
        "main_plot": {"sma_10": {"color": "#1f77b4"}},
        "subplots": {"Momentum": {"momentum_5": {"color": "#ff7f0e"}}},
    }

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["sma_10"] = dataframe["close"].rolling(10).mean()
        dataframe["momentum_5"] = dataframe["close"] - dataframe["close"].shift(5)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = (dataframe["volume"] > 0).astype(int)
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
