"""From the writer to WebSocket clients: the CandleWriter (the one write path) and the
Fanout (clients and their queues)."""

from app.hub.fanout import Fanout
from app.hub.session import ClientSession, SlowConsumer
from app.hub.writer import CandleWriter

__all__ = [
    "CandleWriter",
    "ClientSession",
    "Fanout",
    "SlowConsumer",
]
