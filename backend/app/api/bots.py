"""`/api/bots`: the user's freqtrade bots and what each puts on a chart. Read from the bots'
own APIs through `BotMonitor`s (one poll per bot however many charts ask); separate from
the candle routes, so a slow bot never delays a candle."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from app.api.deps import BotsDep
from app.api.schemas import errors
from app.bots.client import BotError
from app.bots.model import BotSnapshot, BotState
from app.bots.overlay import ChartTrade, chart_trades, indicator_lines, mismatch, timeframe_note
from app.errors import UnknownBot
from app.series import parse_series_id, series_id_pattern

router = APIRouter(prefix="/api/bots")


class BotEntry(BaseModel):
    name: str
    url: str
    state: BotState
    reason: str | None
    checked_at: float
    exchange: str | None = None
    market: str | None = None
    timeframe: str | None = None
    strategy: str | None = None
    # freqtrade's own state: running, stopped...
    bot_state: str | None = None
    dry_run: bool | None = None
    open_trades: int = 0
    closed_trades: int = 0


class BotsResponse(BaseModel):
    bots: list[BotEntry]


class TradeEntry(BaseModel):
    trade_id: int
    side: Literal["long", "short"]
    is_open: bool
    open_time: float
    open_rate: float
    # The open times of the candles (of the chart's timeframe) it entered and left in.
    entry_candle: int
    exit_candle: int | None
    close_time: float | None
    close_rate: float | None
    profit_ratio: float | None
    profit_abs: float | None
    exit_reason: str | None
    enter_tag: str | None
    current_rate: float | None
    stop_loss: float | None


class IndicatorEntry(BaseModel):
    column: str
    pane: str  # "main" (over the candles), or the subplot's name
    color: str
    kind: Literal["line", "bar", "scatter"]
    points: list[tuple[int, float]]


class OverlayResponse(BotEntry):
    series_id: str
    # Why the chart shows less than it might: another venue, another timeframe...
    note: str | None = None
    stake_currency: str | None = None
    trades: list[TradeEntry] = []
    indicators: list[IndicatorEntry] = []


@router.get("", response_model=BotsResponse)
async def list_bots(bots: BotsDep) -> BotsResponse:
    """Each configured bot: whether it answers (and why not), what it trades, its counts."""
    return BotsResponse(bots=[_entry(s) for s in await bots.snapshots()])


@router.get("/{name}/overlay", response_model=OverlayResponse, responses=errors(400, 404))
async def bot_overlay(
    bots: BotsDep,
    name: Annotated[str, Path(max_length=64)],
    series_id: Annotated[
        str, Query(max_length=128, json_schema_extra={"pattern": series_id_pattern()})
    ],
) -> OverlayResponse:
    """What bot `name` puts on the chart of `series_id`: its trades of that pair (entries,
    exits, open trades with their current profit) and its plot_config indicators."""
    series = parse_series_id(series_id)
    monitor = bots.get(name)
    if monitor is None:
        raise UnknownBot(f"no bot named {name!r} (TRADE_CANVAS_BOTS)")
    snapshot = await monitor.snapshot()
    overlay = OverlayResponse(series_id=str(series), **_entry(snapshot).model_dump())
    info = snapshot.info
    if info is None:
        return overlay
    overlay.stake_currency = info.stake_currency
    overlay.note = mismatch(info, series)
    if overlay.note is not None:
        return overlay
    overlay.trades = [_trade_entry(t) for t in chart_trades(snapshot, series)]
    overlay.note = timeframe_note(info, series, snapshot.plot)
    if snapshot.plot and overlay.note is None and snapshot.state == "ok":
        try:
            points = await monitor.indicators(
                series.symbol, series.timeframe, [line.column for line in snapshot.plot]
            )
        except BotError as e:
            overlay.note = f"indicators: {e.reason}"
        else:
            overlay.indicators = [
                IndicatorEntry(column=i.column, pane=i.pane, color=i.color, kind=i.kind,
                               points=list(i.points))
                for i in indicator_lines(snapshot.plot, points)
            ]  # fmt: skip
    return overlay


def _trade_entry(chart_trade: ChartTrade) -> TradeEntry:
    t = chart_trade.trade
    return TradeEntry(
        trade_id=t.trade_id, side="short" if t.is_short else "long", is_open=t.is_open,
        open_time=t.open_time, open_rate=t.open_rate,
        entry_candle=chart_trade.entry_candle, exit_candle=chart_trade.exit_candle,
        close_time=t.close_time, close_rate=t.close_rate,
        profit_ratio=t.profit_ratio, profit_abs=t.profit_abs,
        exit_reason=t.exit_reason, enter_tag=t.enter_tag,
        current_rate=t.current_rate, stop_loss=t.stop_loss,
    )  # fmt: skip


def _entry(snapshot: BotSnapshot) -> BotEntry:
    info = snapshot.info
    return BotEntry(
        name=snapshot.name,
        url=snapshot.url,
        state=snapshot.state,
        reason=snapshot.reason,
        checked_at=snapshot.checked_at,
        exchange=info.exchange if info else None,
        market=info.market if info else None,
        timeframe=info.timeframe if info else None,
        strategy=info.strategy if info else None,
        bot_state=info.state if info else None,
        dry_run=info.dry_run if info else None,
        open_trades=len(snapshot.open_trades),
        closed_trades=len(snapshot.closed_trades),
    )
