"""What a bot told us, as immutable values: parsed from freqtrade's JSON by pure functions
that skip what they cannot read rather than fail the whole bot."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from app.bots.client import BotBadAnswer, BotProblem

BotState = Literal["ok"] | BotProblem


@dataclass(frozen=True, slots=True)
class BotTrade:
    trade_id: int
    pair: str
    is_short: bool
    open_time: float  # epoch seconds
    open_rate: float
    is_open: bool
    close_time: float | None = None
    close_rate: float | None = None
    # Realised for a closed trade, at the current rate for an open one.
    profit_ratio: float | None = None
    profit_abs: float | None = None
    exit_reason: str | None = None
    enter_tag: str | None = None
    current_rate: float | None = None
    stop_loss: float | None = None


@dataclass(frozen=True, slots=True)
class BotInfo:
    """The bot's own settings (`show_config`)."""

    exchange: str
    market: Literal["spot", "futures"]
    timeframe: str
    strategy: str
    state: str  # freqtrade's: running, stopped, paused...
    dry_run: bool
    stake_currency: str


@dataclass(frozen=True, slots=True)
class PlotLine:
    column: str
    pane: str  # "main", or the subplot's name
    color: str | None
    kind: Literal["line", "bar", "scatter"]


@dataclass(frozen=True, slots=True)
class BotSnapshot:
    name: str
    url: str
    state: BotState
    reason: str | None
    checked_at: float
    info: BotInfo | None = None
    open_trades: tuple[BotTrade, ...] = ()
    closed_trades: tuple[BotTrade, ...] = ()
    plot: tuple[PlotLine, ...] = field(default=())


def parse_info(raw: dict[str, Any]) -> BotInfo:
    exchange = raw.get("exchange")
    timeframe = raw.get("timeframe")
    if not isinstance(exchange, str) or not isinstance(timeframe, str):
        raise BotBadAnswer("/api/v1/show_config names no exchange or timeframe")
    return BotInfo(
        exchange=exchange.lower(),
        market="futures" if raw.get("trading_mode") == "futures" else "spot",
        timeframe=timeframe,
        strategy=str(raw.get("strategy") or ""),
        state=str(raw.get("state") or "").lower(),
        dry_run=bool(raw.get("dry_run", False)),
        stake_currency=str(raw.get("stake_currency") or ""),
    )


def parse_trades(rows: list[Any]) -> list[BotTrade]:
    return [trade for row in rows if (trade := parse_trade(row)) is not None]


def parse_trade(row: Any) -> BotTrade | None:
    if not isinstance(row, dict):
        return None
    trade_id, pair = row.get("trade_id"), row.get("pair")
    open_ms, open_rate = _number(row.get("open_timestamp")), _number(row.get("open_rate"))
    if not isinstance(trade_id, int) or not isinstance(pair, str):
        return None
    if open_ms is None or open_rate is None:
        return None
    close_ms = _number(row.get("close_timestamp"))
    return BotTrade(
        trade_id=trade_id,
        pair=pair,
        is_short=bool(row.get("is_short", False)),
        open_time=open_ms / 1000,
        open_rate=open_rate,
        is_open=bool(row.get("is_open", False)),
        close_time=close_ms / 1000 if close_ms else None,
        close_rate=_number(row.get("close_rate")),
        profit_ratio=_number(row.get("profit_ratio")),
        profit_abs=_number(row.get("profit_abs")),
        exit_reason=_text(row.get("exit_reason")),
        enter_tag=_text(row.get("enter_tag")),
        current_rate=_number(row.get("current_rate")),
        stop_loss=_number(row.get("stop_loss_abs")),
    )


def parse_plot_config(raw: dict[str, Any]) -> tuple[PlotLine, ...]:
    """freqtrade's `plot_config`: `main_plot` overlays and named `subplots`, each column
    with an optional `color` and `type`."""
    lines = list(_plot_lines(raw.get("main_plot"), "main"))
    subplots = raw.get("subplots")
    if isinstance(subplots, dict):
        for pane, columns in subplots.items():
            lines += _plot_lines(columns, str(pane))
    return tuple(lines)


def _plot_lines(columns: Any, pane: str) -> list[PlotLine]:
    if not isinstance(columns, dict):
        return []
    lines = []
    for column, spec in columns.items():
        spec = spec if isinstance(spec, dict) else {}
        color = spec.get("color")
        kind = spec.get("type")
        lines.append(
            PlotLine(
                column=str(column),
                pane=pane,
                color=color if isinstance(color, str) and color else None,
                kind=kind if kind in ("bar", "scatter") else "line",
            )
        )
    return lines


def indicator_points(raw: dict[str, Any], columns: list[str]) -> dict[str, list[tuple[int, float]]]:
    """`pair_candles`' analysed dataframe: per column asked for, (candle time in seconds,
    value) for every row where the value is a number."""
    names = raw.get("columns")
    rows = raw.get("data")
    if not isinstance(names, list) or not isinstance(rows, list):
        raise BotBadAnswer("/api/v1/pair_candles has no dataframe")
    if not rows:
        return {}  # a pair the bot has not analysed (yet)
    if "__date_ts" not in names:
        raise BotBadAnswer("/api/v1/pair_candles has no candle times")
    at = names.index("__date_ts")
    wanted = {c: names.index(c) for c in columns if c in names}
    points: dict[str, list[tuple[int, float]]] = {c: [] for c in wanted}
    for row in rows:
        if not isinstance(row, list) or len(row) != len(names):
            continue
        stamp = _number(row[at])
        if stamp is None:
            continue
        for column, i in wanted.items():
            value = _number(row[i])
            if value is not None:
                points[column].append((int(stamp // 1000), value))
    return points


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
