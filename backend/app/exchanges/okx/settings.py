"""OKX's settings: `TRADE_CANVAS_OKX_*`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from app.config import VenueSettings

BUSINESS_WS_URL = "wss://ws.okx.com:8443/ws/v5/business"


class OkxSettings(VenueSettings):
    venue: ClassVar[str] = "okx"

    rest_url: str = "https://www.okx.com"
    # OKX serves candles of every instrument type on its one business endpoint; each
    # market may be pointed elsewhere (a local exchange serves each on its own port).
    spot_ws_url: str = BUSINESS_WS_URL
    swap_ws_url: str = BUSINESS_WS_URL
    ws_channels_per_connection: int = Field(default=200, ge=1, le=1000)
