"""`/okx`: OKX's v5 public market-data REST (`/api/v5/...`), answered as OKX answers, so
that freqtrade, `download-data` and any ccxt client point `urls.api.rest` here.

Candles come from this server's store, newest first, `market/candles` with the forming
candle as the first row (`confirm` "0"), `market/history-candles` closed ones only; both
paged with `after` (older than) and `before` (newer than). So do a swap's mark price
candles (`market/mark-price-candles`, by its `instId`) and index candles
(`market/index-candles`, by its family `BTC-USDT`) and their `history-` forms, in rows
`[ts, o, h, l, c, confirm]`; so do its funding history and its open interest every 5
minutes (`rubik/stat/contracts/open-interest-history`). `public/instruments` is OKX's own
document, kept and refreshed in the background; `public/time` is answered here; tickers,
order books, funding and the other public market data on the allowlist are forwarded, each
query answered from one upstream call per `cache_s`. Errors come in OKX's `code` envelope;
anything else, and any signed request, is a 404 in that shape. While OKX bans this server,
forwarded requests get 429 with code 50011 and `Retry-After`.

The business stream (`/okx/ws/v5/business`) serves `candle<bar>` channels, and a swap's
`mark-price-candle<bar>` and `index-candle<bar>`, from this server's live feed as OKX
does: an acknowledgement per subscribed arg, an `error` event for a bad request or an
unknown channel, the text `ping` answered `pong`, and each candle pushed as it forms and
once on its close (`confirm` "1"), sent only once the store holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.candle import Candle
from app.errors import TradeCanvasError
from app.exchanges.budget import current_caller
from app.exchanges.facade_support import (
    StreamSession,
    SymbolNames,
    VenueFacade,
    int_param,
    limit_param,
    open_at_or_after,
    retry_after_headers,
    with_forming,
    with_row,
)
from app.exchanges.okx import limits, wire
from app.exchanges.ports import FacadeContext
from app.exchanges.upstream import UpstreamProxy
from app.series import FUNDING_TIMEFRAME, CandleType, Market, SeriesId, align_time

JSON: Final = "application/json"
FUNDING_PATH: Final = "/api/v5/public/funding-rate-history"
OPEN_INTEREST_PATH: Final = "/api/v5/rubik/stat/contracts/open-interest-history"
# The period of a contract's open interest the store keeps (coarser ones are forwarded):
# OKX names it as the store's timeframe.
STORED_OPEN_INTEREST_PERIOD: Final = "5m"
# The derived prices served from the store, by the name their endpoints carry.
_DERIVED: Final[dict[CandleType, str]] = {"mark": "mark-price-", "index": "index-"}
STREAM_PATH: Final = "/ws/v5/business"
# OKX's one host serves every instrument type.
_HOST: Final[Market] = "spot"


class OkxFacade(VenueFacade):
    venue = "okx"
    endpoints = limits.ENDPOINTS

    def __init__(
        self, context: FacadeContext, proxy: UpstreamProxy, names: SymbolNames,
        hosts: Mapping[Market, str],
    ) -> None:  # fmt: skip
        super().__init__(context, proxy, names, hosts)
        self.routes["/api/v5/public/time"] = (self._time, "local", "time")
        self.routes[FUNDING_PATH] = (self._funding_history, "store", FUNDING_PATH)
        self.routes[OPEN_INTEREST_PATH] = (self._open_interest, "store", OPEN_INTEREST_PATH)
        for kind in wire.CANDLE_LIMITS:
            path = f"/api/v5/market/{kind}"
            self.routes[path] = (partial(self._answer_candles, kind=kind), "store", path)

    async def _time(self, request: Request) -> Response:
        now_ms = int(self.context.clock.time() * 1000)
        return Response(wire.envelope([{"ts": str(now_ms)}]), media_type=JSON)

    async def _answer_candles(self, request: Request, kind: str) -> Response:
        """`kind`: the endpoint's name, `candles`, `history-mark-price-candles`..."""
        params = request.query_params
        inst = params.get("instId")
        if not inst:
            raise wire.params_error("instId")
        forming = not kind.startswith("history-")
        derived: CandleType | None = next(
            (d for d in _DERIVED if kind.endswith(f"{_DERIVED[d]}candles")), None
        )
        timeframe = wire.timeframe_of(params.get("bar"))
        default_limit, most = wire.CANDLE_LIMITS[kind]
        limit = limit_param(params, default_limit, most, wire.params_error)
        bounds = _paged(params, timeframe)
        if derived is None:
            series = await self.series("okx", wire.market_of(inst), inst, timeframe)
        else:
            series = await self._derived_series(derived, inst, timeframe)
        if bounds is None:
            return Response(wire.envelope([]), media_type=JSON)
        start, end = bounds
        window = await self.context.klines.klines(
            series, current_caller(), limit, start=start, end=end, newest=True
        )
        if not forming:  # history-candles: closed candles only
            window = replace(window, forming=None)
        closed, current = with_forming(window, limit, True)
        rows = self.context.klines.rendered(  # newest first
            ("okx", window.version, len(closed), derived),
            lambda: orjson.dumps([wire.series_row(series, c, True) for c in reversed(closed)]),
        )
        row = None if current is None else orjson.dumps(wire.series_row(series, current, False))
        return Response(wire.envelope_with_rows(with_row(rows, row, first=True)), media_type=JSON)

    async def _derived_series(self, kind: CandleType, inst: str, timeframe: str) -> SeriesId:
        """A swap's mark or index price series, by the id OKX names it by: the swap's
        own for its mark price, its family's (`BTC-USDT`) for its index."""
        swap = f"{inst}-SWAP" if kind == "index" else inst
        if wire.market_of(swap) != "futures":
            raise wire.unknown_instrument()
        return replace(await self.series("okx", "futures", swap, timeframe), market=kind)

    async def _funding_history(self, request: Request) -> Response:
        """A swap's funding events from the store, newest first: the newest `limit` with
        `fundingTime` older than `after` and newer than `before` (ms, both exclusive)."""
        params = request.query_params
        inst = _swap_id(params)
        limit = limit_param(params, *wire.FUNDING_LIMITS, wire.params_error)
        bounds = _paged(params, FUNDING_TIMEFRAME)
        contract = await self.series("okx", "futures", inst, FUNDING_TIMEFRAME)
        funding = replace(contract, market="funding_rate")
        if bounds is None:
            return Response(wire.envelope([]), media_type=JSON)
        start, end = bounds
        window = await self.context.klines.klines(
            funding, current_caller(), limit, start=start, end=end, newest=True
        )
        rows = [wire.funding_row(inst, t, rate) for t, rate, *_ in reversed(window.closed)]
        return Response(wire.envelope(rows), media_type=JSON)

    async def _open_interest(self, request: Request) -> Response | None:
        """A swap's open interest every 5 minutes from the store (beyond the 1,440 samples
        OKX keeps), newest first: the newest `limit` sampled after `begin` and before `end`
        (ms, both exclusive). Other periods are forwarded."""
        params = request.query_params
        timeframe = STORED_OPEN_INTEREST_PERIOD
        if params.get("period", timeframe) != timeframe:
            return None
        inst = _swap_id(params)
        limit = limit_param(params, *wire.OPEN_INTEREST_LIMITS, wire.params_error)
        bounds = _paged(params, timeframe, older_than="end", newer_than="begin")
        contract = await self.series("okx", "futures", inst, timeframe)
        info = await self.names.info("futures", contract.symbol)
        if bounds is None:
            return Response(wire.envelope([]), media_type=JSON)
        start, end = bounds
        window = await self.context.klines.klines(
            replace(contract, market="open_interest"), current_caller(), limit,
            start=start, end=end, newest=True,
        )  # fmt: skip
        size = None if info is None else info.contract_size
        rows = [wire.open_interest_row(c, size) for c in reversed(window.closed)]
        return Response(wire.envelope(rows), media_type=JSON)

    # -- OKX's business stream (`/ws/v5/business`): candle channels ---------------------

    async def stream(self, websocket: WebSocket) -> None:
        if websocket.url.path.rstrip("/") != STREAM_PATH:
            await websocket.close(1008, f"no stream at {websocket.url.path}")
            return
        # One stream serves spot and swap alike: each arg's instId says which.
        await StreamSession(self, websocket, _HOST, combined=True).run(())

    async def on_stream_message(self, session: StreamSession, text: str) -> None:
        conn_id = f"{id(session) & 0xFFFFFFFF:08x}"
        if text == "ping":
            session.send("pong")
            return
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            msg = f"Invalid request: {text[:200]}"
            session.send(wire.stream_error("60012", msg, None, conn_id).decode())
            return
        op, args, req_id = request.get("op"), request.get("args"), request.get("id")
        if (
            op not in ("subscribe", "unsubscribe")
            or not isinstance(args, list)
            or not all(isinstance(a, dict) for a in args)
        ):
            msg = f"Invalid request: {text[:200]}"
            session.send(wire.stream_error("60012", msg, req_id, conn_id).decode())
            return
        for arg in args:
            if op == "unsubscribe":
                inst = str(arg.get("instId")).upper()
                await session.drop(wire.topic(str(arg.get("channel")), inst))
                problem = None
            else:
                problem = await self._follow(session, arg)
            if problem is None:
                session.send(wire.stream_ack(op, arg, req_id, conn_id).decode())
            else:
                session.send(wire.stream_error(*problem, req_id, conn_id).decode())

    async def _follow(
        self, session: StreamSession, arg: dict[str, object]
    ) -> tuple[str, str] | None:
        """Stream one `{channel, instId}` arg; the error event's code and message if not."""
        channel, inst = arg.get("channel"), arg.get("instId")
        if not isinstance(channel, str) or not isinstance(inst, str):
            return wire.no_such_channel(arg)
        inst = inst.upper()  # OKX's instrument ids are upper case: one topic each
        timeframe = wire.channel_timeframe(channel)
        derived = wire.derived_channel(channel)
        try:
            if timeframe is not None:
                series = await self.series("okx", wire.market_of(inst), inst, timeframe)
            elif derived is not None:  # a swap's mark or index price candles
                kind, bar_timeframe = derived
                series = await self._derived_series(kind, inst, bar_timeframe)
            else:  # not a candle channel, or a bar OKX does not have
                return wire.no_such_channel(arg)
        except wire.OkxError:  # an instrument OKX does not list
            return wire.no_such_channel(arg)
        except TradeCanvasError as e:  # the market list cannot be had now
            return "50001", f"Service temporarily unavailable: {e}"

        def frame(candle: Candle, closed: bool) -> str:
            return wire.candle_push(channel, inst, wire.series_row(series, candle, closed)).decode()

        try:
            await session.follow(wire.topic(channel, inst), series, frame)
        except TradeCanvasError as e:  # capacity, the client's share, the store
            return "50001", f"Service temporarily unavailable: {e}"
        return None

    # -- OKX's error shape ------------------------------------------------------------

    def is_signed(self, request: Request) -> bool:
        return any(h.startswith("ok-access-") for h in request.headers)

    def owns(self, e: Exception) -> bool:
        return isinstance(e, wire.OkxError)

    def render(self, e: Exception) -> Response:
        assert isinstance(e, wire.OkxError)
        headers = retry_after_headers(e.retry_after_s)
        body = wire.envelope([], e.code, e.msg)
        return Response(body, status_code=e.status, media_type=JSON, headers=headers)

    def rate_limited(self, wait_s: float, why: str) -> Exception:
        return wire.too_many_requests(wait_s, why)

    def unknown_symbol(self) -> Exception:
        return wire.unknown_instrument()

    def unavailable(self, detail: str) -> Exception:
        return wire.unavailable(detail)

    def bad_request(self, detail: str) -> Exception:
        return wire.OkxError("51000", detail)

    def unknown_path(self, path: str) -> Exception:
        return wire.unknown_path(path)

    def trimmed(self, path: str, body: bytes, rows: int) -> bytes:
        return wire.book_cut(body, rows)


def _swap_id(params: Mapping[str, str]) -> str:
    """The swap an `instId` names (OKX's ids are upper case), or OKX's error."""
    inst = (params.get("instId") or "").upper()
    if not inst:
        raise wire.params_error("instId")
    if wire.market_of(inst) != "futures":
        raise wire.unknown_instrument()
    return inst


def _paged(
    params: Mapping[str, str], timeframe: str, *, older_than: str = "after",
    newer_than: str = "before",
) -> tuple[int | None, int | None] | None:  # fmt: skip
    """OKX's `after` (opened before it) and `before` (opened after it), both exclusive ms
    (its statistics name them `end` and `begin`), as the first and last open times of the
    window; None when nothing lies between."""
    after_ms = int_param(params, older_than, wire.params_error)
    before_ms = int_param(params, newer_than, wire.params_error)
    end = None if after_ms is None else align_time((after_ms - 1) // 1000, timeframe)
    start = None if before_ms is None else open_at_or_after(before_ms + 1, timeframe)
    if end is not None and start is not None and end < start:
        return None
    return start, end
