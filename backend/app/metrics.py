"""Prometheus metrics. One `Metrics` per app, on its own registry, so apps built by tests
never share counters."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # CPU seconds, resident memory, open files
        self.http_request_seconds = Histogram(
            "trade_canvas_http_request_duration_seconds",
            "HTTP request duration by route template.",
            ["method", "route", "status"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.db_read_seconds = Histogram(
            "trade_canvas_db_read_duration_seconds",
            "Duration of one page read from the candle store (not from its page cache).",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.db_write_seconds = Histogram(
            "trade_canvas_db_write_duration_seconds",
            "Duration of one write of candles (one transaction), as the writer times it.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.db_rows_written = Counter(
            "trade_canvas_db_rows_written",
            "Candle rows passed to upserts.",
            registry=r,
        )
        self.db_commits = Counter(
            "trade_canvas_db_commits",
            "Transactions committed by the candle store (one per batch).",
            registry=r,
        )
        self.db_write_failures = Counter(
            "trade_canvas_db_write_failures",
            "Candle store write transactions that failed (disk full, I/O error...).",
            registry=r,
        )
        self.ws_clients = Gauge(
            "trade_canvas_ws_clients",
            "Open /ws/market connections.",
            registry=r,
        )
        self.ws_messages_sent = Counter(
            "trade_canvas_ws_messages_sent",
            "Messages sent to WebSocket clients by type.",
            ["type"],
            registry=r,
        )
        self.ws_messages_dropped = Counter(
            "trade_canvas_ws_messages_dropped",
            "Messages dropped for slow WebSocket clients by type.",
            ["type"],
            registry=r,
        )
        self.ws_clients_closed = Counter(
            "trade_canvas_ws_clients_closed",
            "WebSocket clients closed by the server (1008), by reason.",
            ["reason"],
            registry=r,
        )
        self.ws_clients_refused = Counter(
            "trade_canvas_ws_clients_refused",
            "WebSocket upgrades refused before the connection opened, by reason.",
            ["reason"],
            registry=r,
        )
        self.ws_client_messages_rate_limited = Counter(
            "trade_canvas_ws_client_messages_rate_limited",
            "Client messages dropped for exceeding the per-connection message rate.",
            registry=r,
        )
        self.ingest_subscriptions = Gauge(
            "trade_canvas_ingest_subscriptions",
            "Series held by at least one WebSocket subscriber.",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
