"""Binance's market-stream dialect for the fake WebSocket server: raw streams at
`/ws/<stream>`, combined at `/stream?streams=a/b` (any path prefix, so `/market/stream`
works like Binance's futures endpoint), `SUBSCRIBE` / `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS`,
kline payloads exactly as Binance sends them, the 1024-streams limit and `serverShutdown`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from local_exchange.market import DerivedKind, Kline
from local_exchange.ws import Command


class BinanceDialect:
    max_topics = 1024

    def open(self, path: str) -> tuple[bool, list[str]] | None:
        url = urlsplit(path)
        streams: list[str] = []
        if url.path.endswith("/stream"):
            for value in parse_qs(url.query).get("streams", []):
                streams += [s for s in value.split("/") if s]
            return True, streams
        if "/ws" in url.path:
            rest = url.path.split("/ws", 1)[1].strip("/")
            return False, [s for s in rest.split("/") if s]
        return None

    def command(self, topics: set[str], message: str | bytes) -> Command:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return Command({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
        if not isinstance(request, dict):
            return Command({"error": {"code": 2, "msg": "Invalid request"}, "id": None})
        method, params, rid = request.get("method"), request.get("params"), request.get("id")
        if method == "LIST_SUBSCRIPTIONS":
            return Command({"result": sorted(topics), "id": rid})
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return Command({"error": {"code": 2, "msg": "Invalid request: unknown method"},
                            "id": rid})  # fmt: skip
        if not all(isinstance(p, str) for p in params):
            return Command({"error": {"code": 1, "msg": "Invalid value type: expected Array "
                                      "of String"}, "id": rid})  # fmt: skip
        if method == "UNSUBSCRIBE":
            return Command({"result": None, "id": rid}, unsubscribe=params)
        if len(topics | set(params)) > self.max_topics:
            return Command({"error": {"code": 2, "msg": f"Max {self.max_topics} streams"},
                            "id": rid})  # fmt: skip
        return Command({"result": None, "id": rid}, subscribe=params)

    def kline_topic(self, topic: str) -> tuple[str, str] | None:
        symbol, _, kind = topic.partition("@")
        if not kind.startswith("kline_"):
            return None
        return symbol.upper(), kind.removeprefix("kline_")

    def kline_kind(self, topic: str) -> DerivedKind | None:
        return None

    def kline_frame(
        self, topic: str, symbol: str, interval: str, k: Kline, closed: bool, now_ms: int,
        combined: bool,
    ) -> str:  # fmt: skip
        payload = _kline_payload(symbol, interval, k, closed, now_ms)
        return orjson.dumps({"stream": topic, "data": payload} if combined else payload).decode()

    def shutdown_frame(self, now_ms: int) -> str | None:
        return orjson.dumps({"event": {"e": "serverShutdown", "E": now_ms}}).decode()

    def garbage(self) -> list[str]:
        return ["{not json", '{"stream": "x@kline_1m", "data": {"e": "kline"}}', "[]"]


def _kline_payload(
    symbol: str, interval: str, k: Kline, closed: bool, event_ms: int
) -> dict[str, Any]:
    first_trade = k.open_time_ms // 1000
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": k.open_time_ms,
            "T": k.close_time_ms,
            "s": symbol,
            "i": interval,
            "f": first_trade,
            "L": first_trade + k.trades - 1,
            "o": k.open,
            "c": k.close,
            "h": k.high,
            "l": k.low,
            "v": k.volume,
            "n": k.trades,
            "x": closed,
            "q": k.quote_volume,
            "V": k.taker_base,
            "Q": k.taker_quote,
            "B": "0",
        },
    }
