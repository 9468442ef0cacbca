"""Log lines a collector can read (issue 40): with `TRADE_CANVAS_LOG_FORMAT=json` every
line the server writes is one JSON object with its time, level, logger and message, and a
request's lines carry its request id (the client's `X-Request-ID` when it sent one)."""

from __future__ import annotations

import contextvars
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from app.logs import JsonFormatter, log_task_as, request_id_var
from tests.support import free_port


def test_a_record_as_one_json_object_with_its_context() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("app.fill", logging.WARNING, __file__, 1, "fetched %s",
                               ("x",), None)  # fmt: skip
    record.series_id = "binance:spot:BTC/USDT:1m"

    def in_a_task() -> str:  # (a context of its own, as each task has)
        request_id_var.set("req-1")
        log_task_as(venue="binance")
        return formatter.format(record)

    line = contextvars.copy_context().run(in_a_task)
    entry = orjson.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "app.fill"
    assert entry["message"] == "fetched x" and entry["time"].endswith("Z")
    assert (entry["request_id"], entry["series_id"], entry["venue"]) == (
        "req-1", "binance:spot:BTC/USDT:1m", "binance",
    )  # fmt: skip
    try:
        raise ValueError("bad")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", (), sys.exc_info())
    assert "ValueError: bad" in orjson.loads(formatter.format(failed))["exception"]
    # Outside a request and a task that named them, no context is made up.
    assert set(orjson.loads(formatter.format(record))) == {
        "time", "level", "logger", "message", "series_id",
    }  # fmt: skip


def test_the_server_logs_json_lines_naming_the_request(tmp_path: Path) -> None:
    port = free_port()
    closed = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "TRADE_CANVAS_LOG_FORMAT": "json",
        "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite"),
        "TRADE_CANVAS_LIVE_INGEST": "0",
        "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
        "TRADE_CANVAS_BINANCE_SPOT_REST_URL": closed,
    }
    stderr = tmp_path / "server.log"
    with stderr.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)], env=env,
            stdout=subprocess.DEVNULL, stderr=out,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/market/candles",
                              params={"series_id": "binance:spot:BTC/USDT:1m"},
                              headers={"X-Request-ID": "chart-42.a"}, timeout=30)  # fmt: skip
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, stderr.read_text()[-2000:]
                time.sleep(0.05)
        assert r.headers["x-request-id"] == "chart-42.a"

        def lines() -> list[dict[str, object]]:
            text = stderr.read_text()
            return [orjson.loads(line) for line in text.splitlines() if line.strip()]

        while not any(e.get("request_id") == "chart-42.a" for e in lines()):
            assert time.monotonic() < deadline, stderr.read_text()[-2000:]
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
    entries = lines()  # every line parses: none is plain text
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries), entries
    assert any(e["logger"] == "trade_canvas" and "serving on" in str(e["message"])
               for e in entries), entries  # fmt: skip
    asked = [e for e in entries if e.get("request_id") == "chart-42.a"]
    assert any("/api/market/candles" in str(e["message"]) for e in asked), asked
