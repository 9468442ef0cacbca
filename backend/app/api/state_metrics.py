"""The process's state as Prometheus gauges, read when scraped: what `/ready` and
`ingest_state` say, in figures an alert can hold to a threshold (issue 40's rules in
`ops/prometheus/`). Nothing here is counted as it happens; each scrape asks the parts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.api.readiness import readiness_of
from app.services import Services


class StateCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        services = self._services
        readiness = readiness_of(services)
        yield _gauge("trade_canvas_ready",
                     "1 when the process serves (/ready not 503), else 0.",
                     [((), 0.0 if readiness.not_ready else 1.0)])  # fmt: skip
        yield _gauge("trade_canvas_degraded_problems",
                     "Problems /ready reports as degraded now (0: ready).",
                     [((), float(len(readiness.degraded)))])  # fmt: skip
        yield _gauge("trade_canvas_whitelist_feeds_failing",
                     "Whitelisted series whose live feed is failing now.",
                     [((), float(len(services.supply.failing_whitelist())))])  # fmt: skip
        state = services.supply.snapshot()
        yield from self._feeds(state)
        skews = state.get("clock_skew_s") or {}
        yield _gauge("trade_canvas_venue_clock_skew_seconds",
                     "Each followed venue's clock less this server's, as last measured.",
                     [((venue,), float(s)) for venue, s in sorted(skews.items())],
                     ["venue"])  # fmt: skip
        yield from self._upstream()
        yield from self._cluster(state)

    def _feeds(self, state: dict[str, object]) -> Iterator[Metric]:
        counts: dict[tuple[str, str, str], int] = {}
        connections = state.get("connections") or {}
        assert isinstance(connections, dict)
        for feed, conns in connections.items():
            exchange, _, market = str(feed).partition(":")
            for conn in conns:
                key = (exchange, market, str(conn.get("state")))
                counts[key] = counts.get(key, 0) + 1
        yield _gauge("trade_canvas_feed_connections",
                     "Live feed connections by venue, market and state (streaming, "
                     "connecting, backoff...).",
                     [(k, float(n)) for k, n in sorted(counts.items())],
                     ["exchange", "market", "state"])  # fmt: skip
        owed = []
        jobs = state.get("jobs") or []
        assert isinstance(jobs, list)
        for job in jobs:
            debt = job.get("owed")
            owed.append(((str(job["series_id"]),), float(debt["candles"] if debt else 0)))
        yield _gauge("trade_canvas_ingest_owed_candles",
                     "Closed candles a live series has neither stored nor buffered yet "
                     "(owed to a REST catch-up).",
                     owed, ["series_id"])  # fmt: skip

    def _upstream(self) -> Iterator[Metric]:
        used, banned = [], []
        for name, venue in sorted(self._services.venues.items()):
            limiter = venue.limiter
            banned.append(((name,), limiter.wait_s()))
            for pool, figures in sorted(limiter.budget.snapshot().items()):
                if figures["capacity"] > 0:
                    used.append(((name, pool), figures["used"] / figures["capacity"]))
        yield _gauge("trade_canvas_upstream_budget_used_ratio",
                     "What this server has spent of each venue pool's capacity in its "
                     "window (1: all of it).",
                     used, ["venue", "pool"])  # fmt: skip
        yield _gauge("trade_canvas_upstream_blocked_seconds",
                     "Seconds until requests may reach the venue again (a ban or a full "
                     "budget; 0: they may now).",
                     banned, ["venue"])  # fmt: skip

    def _cluster(self, state: dict[str, object]) -> Iterator[Metric]:
        cluster = self._services.cluster
        if cluster is None:  # one process: it leads whenever its supervisor runs
            known = leading = 1.0 if self._services.supply.running else 0.0
        else:
            described = cluster.describe()
            known = 0.0 if described["leader"] is None and not cluster.leading else 1.0
            leading = 1.0 if cluster.leading else 0.0
        yield _gauge("trade_canvas_ingest_leader_known",
                     "1 when some process leads ingest (writes the venues' candles).",
                     [((), known)])  # fmt: skip
        yield _gauge("trade_canvas_ingest_leading", "1 when this process leads ingest.",
                     [((), leading)])  # fmt: skip


def _gauge(
    name: str, doc: str, samples: Sequence[tuple[tuple[str, ...], float]],
    labels: list[str] | None = None,
) -> GaugeMetricFamily:  # fmt: skip
    family = GaugeMetricFamily(name, doc, labels=labels or [])
    for values, value in samples:
        family.add_metric(list(values), value)
    return family
