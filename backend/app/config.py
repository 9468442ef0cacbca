"""Settings: one object, built once at startup and handed to whatever needs it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.errors import InvalidSeriesId
from app.series import parse_series_id


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every `TRADE_CANVAS_*` setting. See README.md for the meaning of each."""

    # No infinite or NaN durations, rates or intervals: `inf` flush intervals never flush.
    model_config = SettingsConfigDict(
        env_prefix="TRADE_CANVAS_", extra="ignore", allow_inf_nan=False
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    db_path: Path = Path("user_data/trade_canvas.sqlite")
    # Reads are CPU-bound (rows become Python objects under the GIL); more threads only
    # contend for it, so one is the fastest under load on this kind of machine.
    db_read_threads: int = Field(default=1, ge=1, le=16)

    market_history_source: Literal["freqtrade", "ccxt", "off"] = "freqtrade"
    freqtrade_datadir: Path | None = None
    freqtrade_config: Path | None = None

    # History bootstrap from the freqtrade datadir.
    history_batch_size: int = Field(default=5_000, ge=100, le=100_000)
    history_recheck_s: float = Field(default=5.0, ge=0)
    history_wait_s: float = Field(default=20.0, ge=0)
    history_min_candles: int = Field(default=0, ge=0)
    history_data_format: Literal["feather", "parquet", "jsongz", "json"] | None = None
    history_download: bool = True
    history_download_days: float = Field(default=30.0, gt=0)
    history_download_timeout_s: float = Field(default=900.0, gt=0)
    history_download_cooldown_s: float = Field(default=300.0, ge=0)
    history_download_max_concurrent: int = Field(default=2, ge=1)
    history_download_config: Path | None = None

    whitelist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ondemand_max_jobs: int = Field(default=16, ge=0)
    ondemand_idle_ttl_s: float = Field(default=60.0, ge=0)

    # Requests that start work (an import, a download, a live job) for a series not yet
    # stored, per client address: a rate per minute and a burst.
    work_requests_per_min: float = Field(default=60.0, gt=0)
    work_requests_burst: int = Field(default=30, ge=1)

    live_ingest: bool = True
    binance_ws_batch_max: int = Field(default=500, ge=1)
    binance_ws_flush_s: float = Field(default=0.25, gt=0)
    binance_ws_stale_s: float = Field(default=30.0, gt=0)
    binance_ws_close_grace_s: float = Field(default=3.0, ge=0)
    binance_ws_max_connection_age_s: float = Field(default=23.5 * 3600, gt=0)
    binance_ws_backoff_max_s: float = Field(default=30.0, gt=0)
    binance_backfill_max_candles: int = Field(default=1_000, ge=1)
    binance_ws_streams_per_connection: int = Field(default=1024, ge=1, le=1024)
    binance_spot_ws_url: str = "wss://stream.binance.com:9443"
    binance_futures_ws_url: str = "wss://fstream.binance.com/market"
    binance_spot_rest_url: str = "https://api.binance.com"
    binance_futures_rest_url: str = "https://fapi.binance.com"
    bybit_rest_url: str = "https://api.bybit.com"
    bybit_spot_ws_url: str = "wss://stream.bybit.com/v5/public/spot"
    bybit_linear_ws_url: str = "wss://stream.bybit.com/v5/public/linear"
    bybit_ws_topics_per_connection: int = Field(default=200, ge=1, le=1000)

    enable_debug_api: bool = False
    enable_ingest_api: bool = False
    ingest_token: str | None = None

    # The built chart (frontend/dist of this checkout when unset).
    frontend_dir: Path | None = None

    # Slow or silent HTTP clients: headers and body must arrive within these.
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_body_timeout_s: float = Field(default=10.0, gt=0)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # WebSocket limits that protect the server from abusive or slow clients.
    ws_max_subscriptions: int = Field(default=64, ge=1)
    ws_max_message_bytes: int = Field(default=16_384, ge=256)
    ws_send_queue_max: int = Field(default=2_048, ge=8)
    # Unsent bytes per client, catchups included; a client that asks for more is closed.
    # Two full catchups (5,000 candles, ~0.5 MB each) and a busy live stream fit.
    ws_send_queue_max_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    ws_catchup_max: int = Field(default=5_000, ge=1, le=5_000)
    # Client messages per second (and burst) before they are dropped with `rate_limited`.
    ws_messages_per_s: float = Field(default=20.0, gt=0)
    ws_message_burst: int = Field(default=100, ge=1)

    @field_validator("whitelist", "cors_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("whitelist")
    @classmethod
    def _series_ids(cls, value: list[str]) -> list[str]:
        for series_id in value:
            try:
                parse_series_id(series_id)
            except InvalidSeriesId as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("ingest_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("ingest_token")
    @classmethod
    def _ascii_token(cls, value: str | None) -> str | None:
        # An HTTP header carries bytes; a non-ASCII token could never be presented the same
        # way by every client.
        if value is not None and not (value.isascii() and value.isprintable()):
            raise ValueError("must be printable ASCII")
        return value
