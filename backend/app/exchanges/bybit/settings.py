"""Bybit's settings: `TRADE_CANVAS_BYBIT_*`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from app.config import VenueSettings


class BybitSettings(VenueSettings):
    venue: ClassVar[str] = "bybit"

    rest_url: str = "https://api.bybit.com"
    spot_ws_url: str = "wss://stream.bybit.com/v5/public/spot"
    linear_ws_url: str = "wss://stream.bybit.com/v5/public/linear"
    ws_topics_per_connection: int = Field(default=200, ge=1, le=1000)
    # Requests this server sends Bybit in any 5 s at most (Bybit allows an IP 600).
    rest_requests_per_5s: float = Field(default=300.0, gt=0, le=600)
