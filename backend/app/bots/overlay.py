"""What one bot puts on one chart: its trades of the chart's pair, each at the candle it
entered and left in, and its strategy's `plot_config` indicators when the chart shows the
timeframe the strategy runs on. Pure: built from a snapshot and the bot's dataframe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.bots.model import BotInfo, BotSnapshot, BotTrade, PlotLine
from app.series import SeriesId, align_time

# Lines plot_config gives no colour, coloured in turn (freqUI's choice is random).
PALETTE = ("#2962ff", "#ff6d00", "#9c27b0", "#00897b", "#c2185b", "#795548", "#607d8b")


@dataclass(frozen=True, slots=True)
class ChartTrade:
    trade: BotTrade
    entry_candle: int
    exit_candle: int | None


@dataclass(frozen=True, slots=True)
class IndicatorLine:
    column: str
    pane: str
    color: str
    kind: Literal["line", "bar", "scatter"]
    points: tuple[tuple[int, float], ...]


def mismatch(info: BotInfo, series: SeriesId) -> str | None:
    """Why the bot has nothing to say about `series`'s venue, if it has not."""
    # A futures bot's trades belong on its contract's mark and index charts too.
    market = series.instrument_market
    if (info.exchange, info.market) != (series.exchange, market):
        return f"trades on {info.exchange} {info.market}, not {series.exchange} {market}"
    return None


def timeframe_note(info: BotInfo, series: SeriesId, plot: tuple[PlotLine, ...]) -> str | None:
    if plot and info.timeframe != series.timeframe:
        return f"its strategy runs on {info.timeframe}: indicators show on {info.timeframe} charts"
    return None


def chart_trades(snapshot: BotSnapshot, series: SeriesId) -> list[ChartTrade]:
    trades = [*snapshot.closed_trades, *snapshot.open_trades]
    tf = series.timeframe
    return [
        ChartTrade(
            trade,
            align_time(int(trade.open_time), tf),
            None if trade.close_time is None else align_time(int(trade.close_time), tf),
        )
        for trade in trades
        if trade.pair == series.symbol
    ]


def indicator_lines(
    plot: tuple[PlotLine, ...], points: dict[str, list[tuple[int, float]]]
) -> list[IndicatorLine]:
    return [
        IndicatorLine(
            line.column,
            line.pane,
            line.color or PALETTE[i % len(PALETTE)],
            line.kind,
            tuple(points.get(line.column, ())),
        )
        for i, line in enumerate(plot)
    ]
