"""OKX's v5 business-stream dialect for the fake WebSocket server: `/ws/v5/business`,
`subscribe` / `unsubscribe` ops with `{channel, instId}` args (an acknowledgement per arg,
an `error` event for a bad one), the text `ping` heartbeat answered `pong`, and
`candle<bar>` pushes of 9-string rows whose last field, `confirm`, is "1" on the close, and
a swap's `mark-price-candle<bar>` (by its `instId`) and `index-candle<bar>` (by its family,
`BTC-USDT`) pushes of 6-string rows `[ts, o, h, l, c, confirm]`."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from local_exchange.exchange import MarketKind
from local_exchange.market import DerivedKind, Kline
from local_exchange.okx_rest import BARS, symbol_of
from local_exchange.ws import Command

OKX_BAR = {v: k for k, v in BARS.items()}
# A swap's derived price candles, by channel prefix (the traded ones are `candle<bar>`).
DERIVED_CHANNELS: dict[str, DerivedKind] = {"mark-price-candle": "mark", "index-candle": "index"}


class OkxDialect:
    max_topics = 1000

    def __init__(self, market: MarketKind) -> None:
        self.market = market
        self.conn_id = uuid.uuid4().hex[:8]

    def open(self, path: str) -> tuple[bool, list[str]] | None:
        served = path.split("?", 1)[0].rstrip("/").endswith("/ws/v5/business")
        return (True, []) if served else None

    def _error(self, code: str, msg: str, req_id: Any = None) -> dict[str, Any]:
        error = {"event": "error", "code": code, "msg": msg, "connId": self.conn_id}
        return error if req_id is None else {"id": req_id, **error}

    def command(self, topics: set[str], message: str | bytes) -> Command:
        if message in ("ping", b"ping"):
            return Command("pong")
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return Command(self._error("60012", f"Invalid request: {message!r}"))
        if not isinstance(request, dict):
            return Command(self._error("60012", "Invalid request: not an object"))
        op, args, req_id = request.get("op"), request.get("args"), request.get("id")
        if op not in ("subscribe", "unsubscribe"):
            return Command(self._error("60012", f"Invalid request: unknown op {op}", req_id))
        if not isinstance(args, list) or not all(isinstance(a, dict) for a in args):
            return Command(self._error("60012", "Invalid request: args", req_id))
        names = [f"{a.get('channel')}:{a.get('instId')}" for a in args]
        if op == "subscribe":
            bad = [(a, n) for a, n in zip(args, names, strict=True) if self.kline_topic(n) is None]
            if bad:
                arg = bad[0][0]
                msg = (
                    f"Wrong URL or channel:{arg.get('channel')},instId:{arg.get('instId')} "
                    "doesn't exist. Please use the correct URL, channel and parameters."
                )
                return Command(self._error("60018", msg, req_id))
            if len(topics | set(names)) > self.max_topics:
                return Command(self._error("60014", "Requests too frequent.", req_id))
        acks = [{"id": req_id, "event": op, "arg": a, "connId": self.conn_id} for a in args]
        if req_id is None:
            acks = [{k: v for k, v in ack.items() if k != "id"} for ack in acks]
        if op == "unsubscribe":
            return Command(acks, unsubscribe=names)
        return Command(acks, subscribe=names)

    def kline_topic(self, topic: str) -> tuple[str, str] | None:
        channel, _, inst = topic.partition(":")
        kind = self.kline_kind(topic)
        prefix = next((p for p, k in DERIVED_CHANNELS.items() if k == kind), "candle")
        interval = BARS.get(channel.removeprefix(prefix)) if channel.startswith(prefix) else None
        if kind == "index":  # by the swap's family: `BTC-USDT`
            inst = f"{inst}-SWAP"
        symbol = symbol_of(self.market, inst)
        return None if interval is None or symbol is None else (symbol, interval)

    def kline_kind(self, topic: str) -> DerivedKind | None:
        if self.market != "futures":
            return None
        channel = topic.partition(":")[0]
        return next((k for p, k in DERIVED_CHANNELS.items() if channel.startswith(p)), None)

    def kline_frame(
        self, topic: str, symbol: str, interval: str, k: Kline, closed: bool, now_ms: int,
        combined: bool,
    ) -> str:  # fmt: skip
        channel, _, inst = topic.partition(":")
        confirm = "1" if closed else "0"
        row = [str(k.open_time_ms), k.open, k.high, k.low, k.close]
        if self.kline_kind(topic) is None:
            row += [k.volume, k.volume, k.quote_volume]
        row.append(confirm)
        return orjson.dumps({"arg": {"channel": channel, "instId": inst}, "data": [row]}).decode()

    def shutdown_frame(self, now_ms: int) -> str | None:
        # OKX announces service upgrades on this event, 30 s ahead.
        return orjson.dumps(
            {"event": "notice", "code": "64008",
             "msg": "The connection will soon be closed for a service upgrade.",
             "connId": self.conn_id}
        ).decode()  # fmt: skip

    def garbage(self) -> list[str]:
        return ["{not json", '{"arg": {"channel": "candle1m", "instId": "BTC-USDT"}, "data": '
                '[["1", "x"]]}', "[]"]  # fmt: skip
