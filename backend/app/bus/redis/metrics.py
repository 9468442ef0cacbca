"""The bus's Prometheus metrics, on the app's registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from app.metrics import Metrics

_LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class BusMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.published = Counter(
            "trade_canvas_bus_published",
            "Messages this process put on the bus, by kind.",
            ["kind"],
            registry=r,
        )
        self.pending = Gauge(
            "trade_canvas_bus_pending",
            "Messages waiting to be put on the bus (it is down or slow).",
            registry=r,
        )
        self.received = Counter(
            "trade_canvas_bus_received",
            "Messages this process read from the bus, by kind.",
            ["kind"],
            registry=r,
        )
        self.lag = Histogram(
            "trade_canvas_bus_lag_seconds",
            "From a closed candle's entry on the bus to its delivery to this process's "
            "clients (Redis's clock to this one's).",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.connected = Gauge(
            "trade_canvas_bus_connected",
            "1 while this process reads the bus.",
            registry=r,
        )
        self.lost = Counter(
            "trade_canvas_bus_messages_lost",
            "Closed-candle messages trimmed from the stream before this process read "
            "them (its followers were told to re-read).",
            registry=r,
        )
