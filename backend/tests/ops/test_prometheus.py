"""What an operator runs beside the server (issue 40), against the real tools: promtool
checks the alert rules and runs their unit tests; a real Prometheus scrapes a live server,
fires the feed-down alert while the local exchange refuses connections, resolves it once
the feed streams again, and answers every panel query of the Grafana dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets
import yaml

from tests.conftest import PrometheusTools, SettingsFactory
from tests.live_support import live_settings, start_fake
from tests.support import LiveServer, free_port, live_server, poll

OPS = Path(__file__).resolve().parents[3] / "ops"
RULES = OPS / "prometheus" / "rules.yml"
DASHBOARD = OPS / "grafana" / "dashboards" / "trade-canvas.json"
SERIES = "binance:spot:BTC/USDT:1m"


def feed_down_for_s() -> int:
    """The shipped feed-down alert's `for`, in seconds."""
    rules = yaml.safe_load(RULES.read_text())
    [alert] = [r for g in rules["groups"] for r in g["rules"]
               if r.get("alert") == "TradeCanvasFeedDown"]  # fmt: skip
    match = re.fullmatch(r"(\d+)([sm])", alert["for"])
    assert match, alert["for"]
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_the_rules_pass_promtool_and_their_unit_tests(prometheus_tools: PrometheusTools) -> None:
    for args in (("check", "rules", "rules.yml"), ("check", "config", "prometheus.yml"),
                 ("test", "rules", "rules_test.yml")):  # fmt: skip
        done = subprocess.run([prometheus_tools.promtool, *args], capture_output=True,
                              text=True, cwd=OPS / "prometheus", timeout=60)  # fmt: skip
        assert done.returncode == 0 and "SUCCESS" in done.stdout + done.stderr, (args, done)
    # Every alert has unit tests of its own.
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((OPS / "prometheus" / "rules_test.yml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case.get("alert_rule_test", ())}
    assert alerts - tested == set() and len(alerts) >= 16


def panel_queries() -> list[str]:
    """Every panel query of the dashboard, its variables at "All"."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 20
    return [re.sub(r"\$(job|instance|venue|market)\b", ".*", q) for q in queries]


def metric_names(text: str) -> set[str]:
    return set(re.findall(r"\b((?:trade_canvas|process)_[a-z0-9_]+)", text))


async def test_rules_and_panels_read_only_metrics_the_server_exports(
    make_settings: SettingsFactory,
) -> None:
    async with live_server(make_settings()) as s:
        exported = (await s.http.get("/metrics")).text
    families = set(re.findall(r"^# TYPE (\S+) (\w+)", exported, re.M))
    names = set()
    for family, kind in families:
        names.add(family)
        suffixes = {"counter": ("_total", "_created"),
                    "histogram": ("_bucket", "_sum", "_count", "_created")}.get(kind, ())  # fmt: skip
        names.update(family + s for s in suffixes)
    used = metric_names(RULES.read_text()) | metric_names(DASHBOARD.read_text())
    # A cluster's bus metrics exist in a process with a bus only.
    cluster_only = {n for n in used if n.startswith("trade_canvas_bus_")}
    assert used - cluster_only - names == set()
    assert {"trade_canvas_whitelist_feeds_failing", "trade_canvas_ingest_owed_candles",
            "trade_canvas_venue_clock_skew_seconds", "trade_canvas_upstream_budget_used_ratio",
            "trade_canvas_ingest_leading"} <= used  # fmt: skip


@contextlib.asynccontextmanager
async def prometheus(binary: str, tmp_path: Path, target: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real Prometheus scraping `target` every second, with the shipped rules as they
    are, its API as a client."""
    shutil.copy(RULES, tmp_path / "rules.yml")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [rules.yml]\n"
        "scrape_configs:\n"
        f"  - job_name: trade-canvas\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        binary, f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:

            async def up() -> bool:
                try:
                    return (await api.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await poll(up, "Prometheus to start", timeout=60)
            yield api
    finally:
        proc.terminate()
        await proc.wait()
        log.close()


async def query(api: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/query", params={"query": expr})
    assert r.status_code == 200, (expr, r.text)
    result: list[dict[str, Any]] = r.json()["data"]["result"]
    return result


async def alerts(api: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/alerts")
    return [a for a in r.json()["data"]["alerts"] if a["labels"]["alertname"] == name]


async def use_the_server(s: LiveServer) -> None:
    """Traffic a dashboard shows: a facade read, a chart read, a chart client."""
    r = await s.http.get("/binance/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"})
    assert r.status_code == 200
    r = await s.http.get("/api/market/candles", params={"series_id": SERIES, "limit": 10})
    assert r.status_code == 200
    ws_url = s.base_url.replace("http://", "ws://") + "/ws/market"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "series_id": SERIES}))
        await ws.recv()


async def test_prometheus_fires_the_feed_down_alert_and_resolves_it(
    make_settings: SettingsFactory, tmp_path: Path, prometheus_tools: PrometheusTools
) -> None:
    fake = start_fake()  # sped up: a 1m candle closes every second
    try:
        settings = make_settings(**live_settings(fake, whitelist=[SERIES]))
        async with live_server(settings) as s:
            target = s.base_url.removeprefix("http://")
            async with prometheus(prometheus_tools.prometheus, tmp_path, target) as api:

                async def scraped_ready() -> bool:
                    ready = await query(api, 'trade_canvas_ready{job="trade-canvas"}')
                    failing = await query(api, "trade_canvas_whitelist_feeds_failing")
                    return bool(ready and ready[0]["value"][1] == "1" and failing
                                and failing[0]["value"][1] == "0")  # fmt: skip

                await poll(scraped_ready, "Prometheus to scrape a ready server", timeout=60)
                await use_the_server(s)
                assert await alerts(api, "TradeCanvasFeedDown") == []

                refused_at = time.monotonic()
                fake.run("spot", lambda ws: ws.refuse(10**9))
                fake.run("spot", lambda ws: ws.drop_all())

                async def firing() -> bool:
                    return any(a["state"] == "firing"
                               for a in await alerts(api, "TradeCanvasFeedDown"))  # fmt: skip

                wait_for = feed_down_for_s()
                await poll(firing, "the feed-down alert to fire", timeout=wait_for + 60)
                took = time.monotonic() - refused_at
                # Firing once the feed has failed for its `for` (scrapes and evaluations
                # each second, the feed seen failing within a few), not before.
                assert wait_for <= took <= wait_for + 30, took
                [alert] = await alerts(api, "TradeCanvasFeedDown")
                assert alert["labels"]["severity"] == "critical"
                assert alert["annotations"]["runbook_url"].endswith("#tradecanvasfeeddown")

                fake.run("spot", lambda ws: ws.refuse(0))

                async def resolved() -> bool:
                    return await alerts(api, "TradeCanvasFeedDown") == []

                await poll(resolved, "the feed-down alert to resolve", timeout=60)

                # Every panel of the dashboard has data from this Prometheus.
                await use_the_server(s)
                empty = [q for q in panel_queries() if not await query(api, q)]
                assert empty == [], empty
    finally:
        fake.stop()
