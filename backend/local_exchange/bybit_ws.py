"""Bybit's v5 public-stream dialect for the fake WebSocket server: `/v5/public/spot` and
`/v5/public/linear`, `subscribe` / `unsubscribe` / `ping` ops with Bybit's replies (at
most 10 args per spot request), and `kline.{interval}.{symbol}` pushes with `confirm`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson

from local_exchange.bybit_rest import INTERVALS
from local_exchange.exchange import MarketKind
from local_exchange.market import DerivedKind, Kline
from local_exchange.ws import Command

BYBIT_INTERVAL = {v: k for k, v in INTERVALS.items()}


class BybitDialect:
    max_topics = 1000

    def __init__(self, market: MarketKind, now_ms: Callable[[], int]) -> None:
        self.market = market
        self._now_ms = now_ms
        self.path = "/v5/public/spot" if market == "spot" else "/v5/public/linear"
        self.args_per_request = 10 if market == "spot" else 1000
        self.conn_id = str(uuid.uuid4())

    def open(self, path: str) -> tuple[bool, list[str]] | None:
        return (True, []) if path.split("?", 1)[0].rstrip("/").endswith(self.path) else None

    def _reply(self, op: str, req_id: Any, success: bool, msg: str) -> dict[str, Any]:
        reply: dict[str, Any] = {"success": success, "ret_msg": msg, "conn_id": self.conn_id,
                                 "op": op}  # fmt: skip
        if req_id is not None:
            reply["req_id"] = req_id
        return reply

    def command(self, topics: set[str], message: str | bytes) -> Command:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return Command(self._reply("", None, False, "error:request not json"))
        if not isinstance(request, dict):
            return Command(self._reply("", None, False, "error:request not an object"))
        op, args, req_id = request.get("op"), request.get("args"), request.get("req_id")
        if op == "ping":
            if self.market == "spot":  # spot answers in a shape of its own
                pong = {"req_id": req_id, "op": "pong", "args": [str(self._now_ms())],
                        "conn_id": self.conn_id}  # fmt: skip
                return Command(pong)
            return Command(self._reply("ping", req_id, True, "pong"))
        if op not in ("subscribe", "unsubscribe"):
            return Command(self._reply(str(op), req_id, False, f"error:unknown op {op}"))
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return Command(self._reply(op, req_id, False, "error:args must be strings"))
        if len(args) > self.args_per_request:
            return Command(self._reply(op, req_id, False,
                                       f"args size >{self.args_per_request}"))  # fmt: skip
        if op == "unsubscribe":
            return Command(self._reply(op, req_id, True, ""), unsubscribe=args)
        bad = [a for a in args if self.kline_topic(a) is None]
        if bad:
            return Command(
                self._reply(op, req_id, False, f"error:handler not found,topic:{bad[0]}")
            )
        if len(topics | set(args)) > self.max_topics:
            return Command(self._reply(op, req_id, False, "error:too many topics"))
        return Command(self._reply(op, req_id, True, ""), subscribe=args)

    def kline_topic(self, topic: str) -> tuple[str, str] | None:
        kind, _, rest = topic.partition(".")
        interval, _, symbol = rest.partition(".")
        if kind != "kline" or interval not in INTERVALS or not symbol:
            return None
        return symbol, INTERVALS[interval]

    def kline_kind(self, topic: str) -> DerivedKind | None:
        return None

    def kline_frame(
        self, topic: str, symbol: str, interval: str, k: Kline, closed: bool, now_ms: int,
        combined: bool,
    ) -> str:  # fmt: skip
        data = {
            "start": k.open_time_ms, "end": k.close_time_ms, "interval": BYBIT_INTERVAL[interval],
            "open": k.open, "close": k.close, "high": k.high, "low": k.low, "volume": k.volume,
            "turnover": k.quote_volume, "confirm": closed, "timestamp": now_ms,
        }  # fmt: skip
        return orjson.dumps(
            {"topic": topic, "data": [data], "ts": now_ms, "type": "snapshot"}
        ).decode()

    def shutdown_frame(self, now_ms: int) -> str | None:
        return None  # Bybit closes without an announcement

    def garbage(self) -> list[str]:
        return ["{not json", '{"topic": "kline.1.BTCUSDT", "data": [{"start": 1}]}', "[]"]
