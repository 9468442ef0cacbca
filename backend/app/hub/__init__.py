"""Fan-out of candle messages to WebSocket clients."""

from app.hub.hub import MarketHub
from app.hub.session import ClientSession, SlowConsumer

__all__ = ["ClientSession", "MarketHub", "SlowConsumer"]
