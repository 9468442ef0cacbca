"""`/bybit`: Bybit's v5 public market-data REST (`/v5/market/...`), answered as Bybit
answers, so that freqtrade, `download-data` and any ccxt client point `urls.api` here.

Klines (and a contract's mark, index and premium index klines, funding history and open
interest) come from this server's store, newest first with the forming candle as the first
row, as Bybit sends them; `instruments-info` is Bybit's own document, kept and refreshed in
the background; `time` is answered here; tickers, order books and the other public market
data on the allowlist are forwarded, each query answered from one
upstream call per `cache_s`. Errors come in Bybit's `retCode` envelope; anything else, and
any signed request, is a 404 in that shape. While Bybit bans this server, forwarded
requests get 429 with `retCode` 10006 and `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.candle import Candle, CandleRow
from app.errors import TradeCanvasError
from app.exchanges.budget import current_caller
from app.exchanges.bybit import limits, wire
from app.exchanges.bybit.feed import bybit_symbol
from app.exchanges.facade_support import (
    StreamSession,
    SymbolNames,
    VenueFacade,
    int_param,
    limit_param,
    retry_after_headers,
    window_bounds,
    with_forming,
    with_row,
)
from app.exchanges.ports import FacadeContext
from app.exchanges.upstream import UpstreamProxy
from app.series import (
    FUNDING_TIMEFRAME,
    UNREPORTED,
    CandleType,
    Market,
    next_candle_time,
)

JSON: Final = "application/json"
STREAM_PATHS: Final[dict[str, Market]] = {"/v5/public/spot": "spot", "/v5/public/linear": "futures"}
# A contract's price klines, by path.
_DERIVED: Final[dict[str, CandleType]] = {
    "/v5/market/mark-price-kline": "mark",
    "/v5/market/index-price-kline": "index",
    "/v5/market/premium-index-price-kline": "premiumIndex",
}


class BybitFacade(VenueFacade):
    venue = "bybit"
    endpoints = limits.ENDPOINTS

    def __init__(
        self, context: FacadeContext, proxy: UpstreamProxy, names: SymbolNames,
        hosts: Mapping[Market, str],
    ) -> None:  # fmt: skip
        super().__init__(context, proxy, names, hosts)
        self.routes.update({
            "/v5/market/time": (self._time, "local", "time"),
            "/v5/market/kline": (self._klines, "store", "/v5/market/kline"),
            "/v5/market/funding/history": (
                self._funding_history, "store", "/v5/market/funding/history"),
            "/v5/market/open-interest": (
                self._open_interest, "store", "/v5/market/open-interest"),
        })  # fmt: skip
        for path, kind in _DERIVED.items():
            self.routes[path] = (partial(self._klines, derived=kind), "store", path)

    def _now_ms(self) -> int:
        return int(self.context.clock.time() * 1000)

    async def _time(self, request: Request) -> Response:
        now_ms = self._now_ms()
        result = {"timeSecond": str(now_ms // 1000), "timeNano": str(now_ms * 1_000_000)}
        return Response(wire.envelope(result, now_ms), media_type=JSON)

    async def _klines(self, request: Request, derived: CandleType | None = None) -> Response:
        """`derived`: the contract's mark, index or premium index klines (rows of start,
        open, high, low, close) instead of its own."""
        params = request.query_params
        category = params.get("category")
        market = wire.category_of(category)
        if derived is not None and market != "futures":
            raise wire.params_error(f"category {category!r} is not served (linear)")
        symbol = params.get("symbol")
        if not symbol:
            raise wire.params_error("symbol is required")
        timeframe = wire.timeframe_of(params.get("interval"))
        default_limit, most = wire.KLINE_LIMITS
        limit = limit_param(params, default_limit, most, wire.not_an_integer)
        start_ms = int_param(params, "start", wire.not_an_integer)
        end_ms = int_param(params, "end", wire.not_an_integer)
        series = await self.series("bybit", market, symbol, timeframe)
        if derived is not None:
            series = replace(series, market=derived)
        width = 7 if derived is None else 5
        start, end = window_bounds(start_ms, end_ms, timeframe)
        # Bybit: the oldest `limit` from `start` when only it is given, else the newest.
        newest = start is None or end is not None
        window = await self.context.klines.klines(
            series, current_caller(), limit, start=start, end=end, newest=newest
        )
        closed, forming = with_forming(window, limit, newest)
        rows = self.context.klines.rendered(  # newest first, the forming candle first
            ("bybit", window.version, len(closed), width),
            lambda: orjson.dumps([wire.kline_row(c)[:width] for c in reversed(closed)]),
        )
        row = None if forming is None else orjson.dumps(wire.kline_row(forming)[:width])
        result = {"symbol": bybit_symbol(series), "category": category}
        body = wire.envelope_with_list(result, with_row(rows, row, first=True), self._now_ms())
        return Response(body, media_type=JSON)

    async def _funding_history(self, request: Request) -> Response:
        """A contract's funding events from the store, newest first: the newest `limit` up
        to `endTime` (or now), from `startTime` on."""
        symbol, events = await self._newest_of(
            request, "funding_rate", FUNDING_TIMEFRAME, wire.FUNDING_LIMITS
        )
        entries = [{"symbol": symbol, "fundingRate": f"{rate:.8f}",
                    "fundingRateTimestamp": str(t * 1000)}
                   for t, rate, *_ in reversed(events)]  # fmt: skip
        body = wire.envelope({"category": "linear", "list": entries}, self._now_ms())
        return Response(body, media_type=JSON)

    async def _open_interest(self, request: Request) -> Response | None:
        """A contract's open interest every 5 minutes from the store, newest first (beyond
        what Bybit keeps); coarser intervals and cursor paging are forwarded."""
        params = request.query_params
        if params.get("intervalTime") != "5min" or "cursor" in params:
            return None
        symbol, samples = await self._newest_of(
            request, "open_interest", "5m", wire.OPEN_INTEREST_LIMITS
        )
        entries = [{"openInterest": f"{c[1]:.8f}", "timestamp": str(c[0] * 1000)}
                   for c in reversed(samples) if c[1] != UNREPORTED]  # fmt: skip
        result = {"category": "linear", "symbol": symbol, "list": entries, "nextPageCursor": ""}
        return Response(wire.envelope(result, self._now_ms()), media_type=JSON)

    async def _newest_of(
        self, request: Request, kind: CandleType, timeframe: str, limits: tuple[int, int]
    ) -> tuple[str, Sequence[CandleRow]]:
        """A linear contract's `kind` rows, the newest `limit` up to `endTime` (or now)
        from `startTime` on, as Bybit's histories answer; and the symbol asked for."""
        params = request.query_params
        if wire.category_of(params.get("category")) != "futures":
            raise wire.params_error("category only supports linear")
        symbol = params.get("symbol")
        if not symbol:
            raise wire.params_error("symbol is required")
        limit = limit_param(params, *limits, wire.not_an_integer)
        start_ms = int_param(params, "startTime", wire.not_an_integer)
        end_ms = int_param(params, "endTime", wire.not_an_integer)
        contract = await self.series("bybit", "futures", symbol, timeframe)
        start, end = window_bounds(start_ms, end_ms, timeframe)
        window = await self.context.klines.klines(
            replace(contract, market=kind), current_caller(), limit,
            start=start, end=end, newest=True,
        )  # fmt: skip
        return symbol, window.closed

    # -- Bybit's public kline streams (`/v5/public/spot`, `/v5/public/linear`) -----------

    async def stream(self, websocket: WebSocket) -> None:
        market = STREAM_PATHS.get(websocket.url.path)
        if market is None:
            await websocket.close(1008, f"no stream at {websocket.url.path}")
            return
        await StreamSession(self, websocket, market, combined=True).run(())

    async def on_stream_message(self, session: StreamSession, text: str) -> None:
        conn_id = str(id(session))
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            session.send(wire.op_reply("", None, False, "error:request not json", conn_id).decode())
            return
        op, args, req_id = request.get("op"), request.get("args"), request.get("req_id")
        if op == "ping":
            session.send(wire.op_reply("ping", req_id, True, "pong", conn_id).decode())
            return
        if (
            op not in ("subscribe", "unsubscribe")
            or not isinstance(args, list)
            or not all(isinstance(a, str) for a in args)
        ):
            session.send(
                wire.op_reply(str(op), req_id, False, "error:bad request", conn_id).decode()
            )
            return
        problem = None
        for topic in args:
            if op == "unsubscribe":
                await session.drop(_canonical(topic))
            else:
                problem = await self._follow(session, topic) or problem
        reply = wire.op_reply(op, req_id, problem is None, problem or "", conn_id)
        session.send(reply.decode())

    async def _follow(self, session: StreamSession, asked: str) -> str | None:
        topic = _canonical(asked)
        kind, _, rest = topic.partition(".")
        interval, _, symbol = rest.partition(".")
        if kind != "kline" or not symbol:
            return f"error:handler not found,topic:{asked}"
        try:
            timeframe = wire.timeframe_of(interval)
            series = await self.series("bybit", session.market, symbol, timeframe)
        except wire.BybitError:
            return f"error:handler not found,topic:{asked}"
        except TradeCanvasError as e:  # the market list cannot be had now
            return f"error:{e}"
        clock = self.context.clock

        def frame(candle: Candle, closed: bool) -> str:
            end_ms = next_candle_time(candle.candle_time, timeframe) * 1000 - 1
            now_ms = int(clock.time() * 1000)
            return wire.kline_push(topic, interval, candle, closed, now_ms, end_ms).decode()

        try:
            await session.follow(topic, series, frame)
        except TradeCanvasError as e:  # capacity, the client's share, the store
            return f"error:{e}"
        return None

    # -- Bybit's error shape ----------------------------------------------------------

    def is_signed(self, request: Request) -> bool:
        return any(h.startswith("x-bapi-sign") for h in request.headers) or (
            "sign" in request.query_params
        )

    def owns(self, e: Exception) -> bool:
        return isinstance(e, wire.BybitError)

    def render(self, e: Exception) -> Response:
        assert isinstance(e, wire.BybitError)
        headers = retry_after_headers(e.retry_after_s)
        body = wire.envelope({}, self._now_ms(), e.code, e.msg)
        return Response(body, status_code=e.status, media_type=JSON, headers=headers)

    def rate_limited(self, wait_s: float, why: str) -> Exception:
        return wire.too_many_visits(wait_s, why)

    def unknown_symbol(self) -> Exception:
        return wire.params_error("Symbol Is Invalid")

    def unavailable(self, detail: str) -> Exception:
        return wire.unavailable(detail)

    def bad_request(self, detail: str) -> Exception:
        return wire.params_error(detail)

    def unknown_path(self, path: str) -> Exception:
        return wire.unknown_path(path)

    def trimmed(self, path: str, body: bytes, rows: int) -> bytes:
        return wire.book_cut(body, rows)


def _canonical(topic: str) -> str:
    """One name per topic, as Bybit's symbols are upper case (`kline.1.btcusdt` is the
    topic `kline.1.BTCUSDT`)."""
    head, dot, symbol = topic.rpartition(".")
    return f"{head}{dot}{symbol.upper()}" if head.startswith("kline.") else topic
