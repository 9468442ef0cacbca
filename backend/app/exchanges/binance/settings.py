"""Binance's settings: `TRADE_CANVAS_BINANCE_*`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from app.config import VenueSettings


class BinanceSettings(VenueSettings):
    venue: ClassVar[str] = "binance"
    # Live ingest's timers were first named here; `LIVE_*` is their name now.
    live_aliases: ClassVar[dict[str, str]] = {
        "batch_max": "ws_batch_max",
        "flush_s": "ws_flush_s",
        "stale_s": "ws_stale_s",
        "close_grace_s": "ws_close_grace_s",
        "backoff_max_s": "ws_backoff_max_s",
        "backfill_max_candles": "backfill_max_candles",
    }

    spot_ws_url: str = "wss://stream.binance.com:9443"
    futures_ws_url: str = "wss://fstream.binance.com/market"
    spot_rest_url: str = "https://api.binance.com"
    futures_rest_url: str = "https://fapi.binance.com"
    ws_streams_per_connection: int = Field(default=1024, ge=1, le=1024)
    ws_max_connection_age_s: float = Field(default=23.5 * 3600, gt=0)
    # Request weight per minute this server spends at most on each Binance host (Binance
    # allows 6,000 on spot and 2,400 on futures per IP); past it, it waits for the minute.
    rest_weight_budget_per_min: float = Field(default=1_000.0, gt=0)

    # The older names of live ingest's settings (see `live_aliases`).
    ws_batch_max: int = Field(default=500, ge=1)
    ws_flush_s: float = Field(default=0.25, gt=0)
    ws_stale_s: float = Field(default=30.0, gt=0)
    ws_close_grace_s: float = Field(default=3.0, ge=0)
    ws_backoff_max_s: float = Field(default=30.0, gt=0)
    backfill_max_candles: int = Field(default=1_000, ge=1)
