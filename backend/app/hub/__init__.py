"""From the writer to WebSocket clients: the CandleWriter (the one write path), the Bus it
publishes on, the Fanout (clients and their queues) and the Subscriptions that tie a
client's subscribe to ingest and history."""

from app.hub.bus import Bus, NoBus
from app.hub.fanout import Fanout
from app.hub.locks import SeriesLocks
from app.hub.session import ClientSession, SlowConsumer
from app.hub.subscriptions import Subscriptions
from app.hub.writer import CandleWriter

__all__ = [
    "Bus",
    "CandleWriter",
    "ClientSession",
    "Fanout",
    "NoBus",
    "SeriesLocks",
    "SlowConsumer",
    "Subscriptions",
]
