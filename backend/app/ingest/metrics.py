"""Live-ingest metrics, per series where it helps to find the one that is behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.clock import Clock
from app.metrics import Metrics


class _HeadLag(Collector):
    """Now minus each live series' newest stored candle, computed when scraped."""

    def __init__(self, heads: Callable[[], dict[str, int | None]], clock: Clock) -> None:
        self._heads = heads
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "trade_canvas_ingest_head_lag_seconds",
            "Seconds since the open of the newest stored candle of each live series.",
            labels=["series_id"],
        )
        now = self._clock.time()
        for series_id, head in sorted(self._heads().items()):
            if head is not None:
                family.add_metric([series_id], now - head)
        yield family


class IngestMetrics:
    def __init__(self, metrics: Metrics, clock: Clock) -> None:
        r = metrics.registry
        self._registry = r
        self._clock = clock
        self.closed_received = Counter(
            "trade_canvas_ingest_closed_received", "Closed klines received over WebSocket.",
            ["series_id"], registry=r,
        )  # fmt: skip
        self.forming_received = Counter(
            "trade_canvas_ingest_forming_received", "Forming kline updates received.",
            ["series_id"], registry=r,
        )  # fmt: skip
        self.rows_written = Counter(
            "trade_canvas_ingest_rows_written", "Closed candles committed from the stream.",
            ["series_id"], registry=r,
        )  # fmt: skip
        self.backfilled = Counter(
            "trade_canvas_ingest_backfilled", "Closed candles fetched over REST to fill gaps.",
            ["series_id"], registry=r,
        )  # fmt: skip
        self.reconnects = Counter(
            "trade_canvas_ingest_reconnects", "WebSocket reconnects by venue and market.",
            ["exchange", "market"], registry=r,
        )  # fmt: skip
        self.bad_frames = Counter(
            "trade_canvas_ingest_bad_frames", "Frames that were not valid messages of the venue.",
            ["exchange", "market"], registry=r,
        )  # fmt: skip
        self.frames_rejected = Counter(
            "trade_canvas_ingest_frames_rejected",
            "Klines (or whole frames) from an exchange that were not stored or broadcast: "
            "from the future, differing from a stored candle, or an oversized frame.",
            ["venue", "reason"], registry=r,
        )  # fmt: skip
        self.close_delay_seconds = Histogram(
            "trade_canvas_ingest_close_delay_seconds",
            "From a candle's close (its open plus its timeframe) to its commit from the "
            "stream, by venue and market.",
            ["exchange", "market"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        self.batch_db_seconds = Histogram(
            "trade_canvas_ingest_batch_db_seconds",
            "DB time of one closed-candle batch (all its series, one transaction).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )

    def watch_heads(self, heads: Callable[[], dict[str, int | None]]) -> None:
        self._registry.register(_HeadLag(heads, self._clock))
