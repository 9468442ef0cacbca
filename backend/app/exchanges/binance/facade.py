"""`/binance`: Binance's spot (`/api/v3`) and USDT-M futures (`/fapi/v1`, `/fapi/v2`) public
market-data REST, answered as Binance answers, so that freqtrade, `download-data` and any
ccxt client point their base URLs here instead of at Binance.

Klines, and a contract's mark, index and premium index price klines, come from this
server's store (the forming candle as the last row, as Binance sends it); `exchangeInfo`
is Binance's own document, kept and refreshed in the background; `time` and `ping` are
answered here; tickers, books and the other public market data on the allowlist are
forwarded, each query answered from one upstream call per `cache_s`.
Anything else, and any signed request, is a 404 in Binance's error shape: no credentials
are ever forwarded. While Binance bans this server, forwarded requests get Binance's 429
with `Retry-After`; klines of live series keep being served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.candle import Candle
from app.errors import TradeCanvasError
from app.exchanges.binance import limits, wire
from app.exchanges.budget import current_caller
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
    MARK_TIMEFRAME,
    CandleType,
    Market,
    timeframe_seconds,
)

JSON: Final = "application/json;charset=UTF-8"
# A funding event's mark price is the close of the mark's hour before it.
HOUR: Final = timeframe_seconds(MARK_TIMEFRAME)


class BinanceFacade(VenueFacade):
    venue = "binance"
    endpoints = limits.ENDPOINTS

    def __init__(
        self, context: FacadeContext, proxy: UpstreamProxy, names: SymbolNames,
        hosts: Mapping[Market, str],
    ) -> None:  # fmt: skip
        super().__init__(context, proxy, names, hosts)
        self.routes.update({
            "/api/v3/ping": (self._ping, "local", "ping"),
            "/fapi/v1/ping": (self._ping, "local", "ping"),
            "/api/v3/time": (self._time, "local", "time"),
            "/fapi/v1/time": (self._time, "local", "time"),
            "/api/v3/klines": (self._spot_klines, "store", "/api/v3/klines"),
            "/api/v3/uiKlines": (self._spot_klines, "store", "/api/v3/klines"),
            "/fapi/v1/klines": (self._futures_klines, "store", "/fapi/v1/klines"),
            "/fapi/v1/markPriceKlines": (
                self._mark_klines, "store", "/fapi/v1/markPriceKlines"),
            "/fapi/v1/indexPriceKlines": (
                self._index_klines, "store", "/fapi/v1/indexPriceKlines"),
            "/fapi/v1/premiumIndexKlines": (
                self._premium_klines, "store", "/fapi/v1/premiumIndexKlines"),
            "/fapi/v1/fundingRate": (self._funding_rates, "store", "/fapi/v1/fundingRate"),
            "/futures/data/openInterestHist": (
                self._open_interest, "store", "/futures/data/openInterestHist"),
        })  # fmt: skip

    async def _ping(self, request: Request) -> Response:
        return Response(b"{}", media_type=JSON)

    async def _time(self, request: Request) -> Response:
        now_ms = int(self.context.clock.time() * 1000)
        return Response(orjson.dumps({"serverTime": now_ms}), media_type=JSON)

    async def _spot_klines(self, request: Request) -> Response:
        return await self._klines(request, "spot")

    async def _futures_klines(self, request: Request) -> Response:
        return await self._klines(request, "futures")

    async def _mark_klines(self, request: Request) -> Response:
        return await self._klines(request, "futures", "mark")

    async def _index_klines(self, request: Request) -> Response:
        return await self._klines(request, "futures", "index", names="pair")

    async def _premium_klines(self, request: Request) -> Response:
        return await self._klines(request, "futures", "premiumIndex")

    async def _klines(
        self, request: Request, market: Market, derived: CandleType | None = None,
        names: str = "symbol",
    ) -> Response:  # fmt: skip
        """`derived`: the contract's mark, index or premium index klines instead of its
        own; `names`: the parameter that names the instrument."""
        params = request.query_params
        symbol = params.get(names)
        if not symbol:
            raise wire.mandatory(names)
        timeframe = wire.interval_of(params.get("interval"))
        default_limit, most = wire.KLINE_LIMITS[market]
        limit = limit_param(params, default_limit, most, wire.illegal)
        start_ms = int_param(params, "startTime", wire.illegal)
        end_ms = int_param(params, "endTime", wire.illegal)
        series = await self.series("binance", market, symbol, timeframe)
        if derived is not None:
            series = replace(series, market=derived)
        start, end = window_bounds(start_ms, end_ms, timeframe)
        newest = start is None
        window = await self.context.klines.klines(
            series, current_caller(), limit, start=start, end=end, newest=newest
        )
        closed, forming = with_forming(window, limit, newest)
        rows = self.context.klines.rendered(
            ("binance", window.version, len(closed)),
            lambda: wire.kline_rows_json(closed, timeframe, window.extras),
        )
        # The candle forming now is Binance's last row.
        row = None if forming is None else orjson.dumps(wire.kline_row(forming, timeframe))
        return Response(with_row(rows, row, first=False), media_type=JSON)

    async def _funding_rates(self, request: Request) -> Response | None:
        """A contract's funding events, each with the mark price at its time (the close of
        the hour before it), from the store; every contract's at once is forwarded."""
        params = request.query_params
        symbol = params.get("symbol")
        if not symbol:
            return None
        limit = limit_param(params, *wire.FUNDING_LIMITS, wire.illegal)
        start_ms = int_param(params, "startTime", wire.illegal)
        end_ms = int_param(params, "endTime", wire.illegal)
        contract = await self.series("binance", "futures", symbol, FUNDING_TIMEFRAME)
        funding = replace(contract, market="funding_rate")
        start, end = window_bounds(start_ms, end_ms, FUNDING_TIMEFRAME)
        caller = current_caller()
        window = await self.context.klines.klines(
            funding, caller, limit, start=start, end=end, newest=start is None
        )
        events = window.closed
        marks: dict[int, float] = {}
        if events:
            hours = (events[-1][0] - events[0][0]) // HOUR + 1
            marked = await self.context.klines.klines(
                replace(contract, market="mark", timeframe=MARK_TIMEFRAME), caller, hours,
                start=events[0][0] - HOUR, end=events[-1][0] - HOUR, newest=False,
            )  # fmt: skip
            marks = {c[0] + HOUR: c[4] for c in marked.closed}
        return Response(wire.funding_rows_json(symbol, events, marks), media_type=JSON)

    async def _open_interest(self, request: Request) -> Response:
        """A contract's open interest, sampled each `period`, from the store: beyond the
        30 days Binance keeps, as far back as the store has sampled it."""
        params = request.query_params
        symbol = params.get("symbol")
        if not symbol:
            raise wire.mandatory("symbol")
        period = params.get("period")
        if period not in wire.OPEN_INTEREST_PERIODS:
            raise wire.invalid_parameter("period")
        limit = limit_param(params, *wire.OPEN_INTEREST_LIMITS, wire.illegal)
        start_ms = int_param(params, "startTime", wire.illegal)
        end_ms = int_param(params, "endTime", wire.illegal)
        contract = await self.series("binance", "futures", symbol, period)
        start, end = window_bounds(start_ms, end_ms, period)
        window = await self.context.klines.klines(
            replace(contract, market="open_interest"), current_caller(), limit,
            start=start, end=end, newest=start is None,
        )  # fmt: skip
        return Response(wire.open_interest_rows_json(symbol, window.closed), media_type=JSON)

    # -- Binance's kline streams (`/ws`, `/stream`; under `/market` the USDT-M ones) ----

    async def stream(self, websocket: WebSocket) -> None:
        path = websocket.url.path
        market: Market = "futures" if path.startswith("/market/") else "spot"
        rest = path.removeprefix("/market")
        if rest == "/stream":
            names = "/".join(websocket.query_params.getlist("streams"))
            await StreamSession(self, websocket, market, combined=True).run(names.split("/"))
        elif rest == "/ws" or rest.startswith("/ws/"):
            names = rest.removeprefix("/ws").strip("/")
            await StreamSession(self, websocket, market, combined=False).run(names.split("/"))
        else:
            await websocket.close(1008, f"no stream at {path}")

    async def open_stream(self, session: StreamSession, topics: Sequence[str]) -> None:
        for topic in topics:
            await self._follow(session, topic)  # a stream that cannot be is left out

    async def on_stream_message(self, session: StreamSession, text: str) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            session.send(_reply(None, error=(3, "Invalid JSON: expected a request object")))
            return
        if not isinstance(request, dict):
            session.send(_reply(None, error=(2, "Invalid request")))
            return
        method, params, rid = request.get("method"), request.get("params"), request.get("id")
        if method == "LIST_SUBSCRIPTIONS":
            session.send(_reply(rid, result=sorted(session.topics)))
            return
        if (
            method not in ("SUBSCRIBE", "UNSUBSCRIBE")
            or not isinstance(params, list)
            or not all(isinstance(p, str) for p in params)
        ):
            session.send(_reply(rid, error=(2, "Invalid request: method and params")))
            return
        problem = None
        for topic in params:
            if method == "UNSUBSCRIBE":
                await session.drop(wire.canonical_stream(topic))
            else:
                problem = await self._follow(session, topic) or problem
        session.send(_reply(rid, error=(2, problem)) if problem else _reply(rid, result=None))

    async def _follow(self, session: StreamSession, asked: str) -> str | None:
        """Follow a kline stream; why not, when it cannot be."""
        parsed = wire.parse_stream(asked)
        if parsed is None:
            return f"{asked}: only kline streams are served here"
        symbol, timeframe = parsed
        topic = wire.canonical_stream(asked)
        try:
            series = await self.series("binance", session.market, symbol, timeframe)
            clock = self.context.clock

            def frame(candle: Candle, closed: bool) -> str:
                event = wire.kline_event(
                    symbol, timeframe, candle, closed, int(clock.time() * 1000)
                )
                payload = {"stream": topic, "data": event} if session.combined else event
                return orjson.dumps(payload).decode()

            await session.follow(topic, series, frame)
        except (wire.BinanceError, TradeCanvasError) as e:
            # A subscription refused (unknown symbol, capacity, the market list or the
            # store unavailable): said to the client, the connection goes on.
            return f"{topic}: {e}"
        return None

    # -- Binance's error shape --------------------------------------------------------

    def is_signed(self, request: Request) -> bool:
        return "signature" in request.query_params

    def owns(self, e: Exception) -> bool:
        return isinstance(e, wire.BinanceError)

    def render(self, e: Exception) -> Response:
        assert isinstance(e, wire.BinanceError)
        headers = retry_after_headers(e.retry_after_s)
        return Response(e.body(), status_code=e.status, media_type=JSON, headers=headers)

    def rate_limited(self, wait_s: float, why: str) -> Exception:
        return wire.too_many_requests(wait_s, why)

    def unknown_symbol(self) -> Exception:
        return wire.invalid_symbol()

    def unavailable(self, detail: str) -> Exception:
        return wire.unavailable(detail)

    def bad_request(self, detail: str) -> Exception:
        return wire.BinanceError(400, -1100, detail)

    def unknown_path(self, path: str) -> Exception:
        return wire.unknown_path(path)

    def unread_parameter(self, why: str) -> Exception:
        return wire.not_all_read(why)

    def trimmed(self, path: str, body: bytes, rows: int) -> bytes:
        return wire.book_cut(body, rows)


def _reply(rid: object, *, result: object = None, error: tuple[int, str] | None = None) -> str:
    if error is not None:
        return orjson.dumps({"error": {"code": error[0], "msg": error[1]}, "id": rid}).decode()
    return orjson.dumps({"result": result, "id": rid}).decode()
