"""OKX's settings: `TRADE_CANVAS_OKX_*`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from app.config import VenueSettings
from app.series import Market

BUSINESS_WS_URL = "wss://ws.okx.com:8443/ws/v5/business"


class OkxSettings(VenueSettings):
    venue: ClassVar[str] = "okx"

    rest_url: str = "https://www.okx.com"
    # OKX serves candles of every instrument type on its one business endpoint (the
    # contract's `OKX_WS_URL`); each market may be pointed elsewhere (a local exchange
    # serves each on its own port).
    ws_url: str = BUSINESS_WS_URL
    spot_ws_url: str | None = None
    swap_ws_url: str | None = None
    ws_channels_per_connection: int = Field(default=200, ge=1, le=1000)
    # The share of each endpoint's documented limit (requests per 2 s per IP) this server
    # keeps to.
    rest_limit_share: float = Field(default=0.8, gt=0, le=1)

    def stream_url(self, market: Market) -> str:
        """The business stream `market`'s candles are read from."""
        return (self.spot_ws_url if market == "spot" else self.swap_ws_url) or self.ws_url
