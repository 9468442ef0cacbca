"""The shapes of the HTTP API's bodies, for the OpenAPI document.

Handlers serialize with orjson themselves (faster than validating every candle through
pydantic); these models describe exactly what they return, so clients and the fuzz test can
hold the server to it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    error_code: str
    message: str
    request_id: str


class CandleBody(BaseModel):
    candle_time: int = Field(ge=0, description="open time, UTC epoch seconds, aligned")
    open: float = Field(ge=0)
    high: float = Field(ge=0)
    low: float = Field(ge=0)
    close: float = Field(ge=0)
    volume: float = Field(ge=0)


class CandlesResponse(BaseModel):
    series_id: str
    server_head_time: int | None
    candles: list[CandleBody]


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
    live: bool
    price_tick: float | None = Field(None, description="from the venue's market list")
    amount_step: float | None = None
    history: dict[str, Any] | None = None
    datadir_files: list[dict[str, Any]] | None = None


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
    markets: list[MarketEntry]


class ExchangesResponse(BaseModel):
    exchanges: list[ExchangeEntry]


class IngestRequest(BaseModel):
    series_id: str = Field(examples=["binance:spot:BTC/USDT:1m"])
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
    history: dict[str, dict[str, Any]] | None = None
    downloads: dict[str, dict[str, Any]] | None = None
    datadir: DatadirState | None = None


class StatusResponse(BaseModel):
    status: str
    problems: list[str] | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the unified error body."""
    return {status: {"model": ErrorBody} for status in statuses}
