"""The shapes of the HTTP API's bodies, for the OpenAPI document.

Handlers serialize with orjson themselves (faster than validating every candle through
pydantic); these models describe exactly what they return, so clients and the fuzz test can
hold the server to it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.reads.status import State
from app.series import series_id_pattern


class ErrorBody(BaseModel):
    error_code: str
    message: str
    request_id: str


class CandleBody(BaseModel):
    """One closed OHLCV candle. Consistent, as the server enforces: `low` is the lowest and
    `high` the highest of open, high, low and close (`low <= open, close <= high`)."""

    candle_time: int = Field(
        ge=0,
        multiple_of=60,
        description="open time, UTC epoch seconds, aligned to the series' timeframe (weeks "
        "open on Monday, `1M` on the 1st); when written, at most the candle after the one "
        "forming now",
    )
    open: float = Field(ge=0)
    high: float = Field(ge=0, description="the highest of open, high, low, close")
    low: float = Field(ge=0, description="the lowest of open, high, low, close")
    close: float = Field(ge=0)
    volume: float = Field(ge=0)


class CandlesResponse(BaseModel):
    series_id: str
    server_head_time: int | None
    candles: list[CandleBody]


class SeriesStatus(BaseModel):
    state: State = Field(
        examples=["streaming"],
        description="streaming: live from the venue; starting: history or stream being "
        "set up; retrying: the venue cannot be reached (reason says why); unavailable: the "
        "venue does not list it; download_failed / history_failed: no usable history file "
        "(reason says why); live_off: live ingest is switched off; history_only: not "
        "followed live now; conflict: its stored candles came from another endpoint of its "
        "venue (the demo's, a local one) and are not served (reason says the way out)",
    )
    reason: str | None = Field(None, description="why, in words")
    head_time: int | None = Field(None, description="the newest stored closed candle")
    hole_count: int = Field(
        0, description="ranges of candles the store lacks between its first and its head"
    )


class Hole(BaseModel):
    from_: int = Field(alias="from", description="open time of the first candle it lacks")
    to: int = Field(description="open time of the last candle it lacks")
    candles: int = Field(description="how many candles it lacks")


class SeriesStatusResponse(SeriesStatus):
    series_id: str
    holes: list[Hole] = Field(
        default_factory=list, description="the newest 100 holes, newest first"
    )
    missing_candles: int = Field(0, description="the candles all its holes lack")


class DatadirFile(BaseModel):
    path: str
    format: str = Field(examples=["feather"])
    problem: str | None = Field(description="why the file cannot be read, if it cannot")


class SeriesEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    series_id: str
    exchange: str
    market: str
    symbol: str
    timeframe: str
    first_time: int | None
    head_time: int | None
    count: int
    hole_count: int = Field(0, description="ranges of candles it lacks between first and head")
    live: bool
    price_tick: float | None = Field(None, description="from the venue's market list")
    amount_step: float | None = None
    history: dict[str, Any] | None = None
    datadir_files: list[DatadirFile] | None = None
    status: SeriesStatus | None = None


class SeriesListResponse(BaseModel):
    series: list[SeriesEntry]


class SymbolEntry(BaseModel):
    symbol: str = Field(examples=["BTC/USDT"])
    exchange_symbol: str = Field(examples=["BTCUSDT"])
    price_tick: float | None
    amount_step: float | None


class MarketEntry(BaseModel):
    market: str
    timeframes: list[str]
    symbols: list[SymbolEntry]
    catalog_error: str | None = Field(
        None, description="set when the venue's market list cannot be had now"
    )


class ExchangeEntry(BaseModel):
    exchange: str
    title: str = Field(description="the venue's name as people write it (`OKX`)")
    markets: list[MarketEntry]


class ExchangesResponse(BaseModel):
    exchanges: list[ExchangeEntry]


class IngestRequest(BaseModel):
    """A closed candle to store over what is stored (an operator's correction). Rules
    between fields (the OHLC order, alignment to the timeframe) are stated in the candle's
    description: JSON Schema cannot express them, and a candle breaking one is a 400."""

    series_id: str = Field(
        examples=["binance:spot:BTC/USDT:1m"], pattern=series_id_pattern(), max_length=128
    )
    candle: CandleBody


class IngestResponse(BaseModel):
    series_id: str
    candle_time: int
    inserted: int
    updated: int
    server_head_time: int | None


class IngestJobEntry(BaseModel):
    series_id: str
    kind: Literal["whitelist", "ondemand"]
    refcount: int
    state: str = Field(examples=["live"])
    source: str | None = Field(None, examples=["binance-ws"])
    head_time: int | None
    connection: str | None
    last_batch: dict[str, Any] | None
    last_error: str | None
    idle_deadline: float | None = Field(None, description="wall clock, epoch seconds")
    started_at: float
    owed: dict[str, int] | None = Field(
        None, description="closed candles not yet stored: from, through, candles"
    )
    backfill_retry_at: float | None = Field(
        None, description="when a failed backfill is tried again (wall clock)"
    )
    status: SeriesStatus | None = None


class ConnectionEntry(BaseModel):
    name: str
    state: str
    streams: int
    connected_at: float | None
    reconnects: int
    frames: int
    last_error: str | None


class DatadirState(BaseModel):
    path: str
    paths: dict[str, str] = Field(description="each venue's datadir folder")
    unusable_files: list[dict[str, Any]]


class IngestStateResponse(BaseModel):
    jobs: list[IngestJobEntry]
    max_jobs: int
    active: int = Field(description="on-demand jobs")
    connections: dict[str, list[ConnectionEntry]] = Field(
        description='by "exchange:market"', examples=[{"binance:spot": []}]
    )
    max_jobs_per_client: int | None = None
    upstream: dict[str, dict[str, Any]] | None = Field(
        None,
        description="per venue: its REST limiter (ban, budget, weight) and the facade's "
        "requests by endpoint and source",
    )
    history: dict[str, dict[str, Any]] | None = None
    downloads: dict[str, dict[str, Any]] | None = None
    datadir: DatadirState | None = None


class StatusResponse(BaseModel):
    status: str
    problems: list[str] | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the unified error body."""
    return {status: {"model": ErrorBody} for status in statuses}
