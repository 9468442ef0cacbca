"""What every venue's exchange-compatible facade shares beside its wire format: dispatch
and error translation (`VenueFacade`), the venue's symbol names mapped to ccxt pairs (from
its cached market list), and who is asking."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.candle import Candle, CandleRow
from app.errors import (
    ClientError,
    ExchangeError,
    InvalidSeriesId,
    MarketListUnavailable,
    StoreError,
    TooManySubscriptions,
    UnknownSymbol,
    UpstreamRateLimited,
)
from app.exchanges.budget import CALLER_HEADER, HISTORY, Caller, on_behalf_of
from app.exchanges.endpoints import Endpoint, documented, normalise
from app.exchanges.ports import FacadeContext, KlineWindow, MarketCatalog, SymbolInfo
from app.exchanges.upstream import UpstreamProxy
from app.metrics import Metrics
from app.ratelimit import TokenBucket
from app.redact import without_hosts
from app.series import Market, SeriesId, align_time, next_candle_time, parse_series_id
from app.tasks import spawn


class SymbolNames:
    """A venue's own symbol names (`BTCUSDT`) to ccxt pairs, per market, from its catalog.
    When the market list cannot be had, `fallback` names the pair if it can."""

    def __init__(
        self, catalog: MarketCatalog, fallback: Callable[[Market, str], str | None]
    ) -> None:
        self._catalog = catalog
        self._fallback = fallback
        self._reverse: dict[Market, tuple[Mapping[str, SymbolInfo], dict[str, str]]] = {}

    async def pair(self, market: Market, exchange_symbol: str) -> str | None:
        """The pair the venue lists under `exchange_symbol`, or None when it lists none."""
        symbols = await self._catalog.symbols(market)
        if symbols is None:
            return self._fallback(market, exchange_symbol.upper())
        held = self._reverse.get(market)
        if held is None or held[0] is not symbols:  # the list was (re)loaded
            held = self._reverse[market] = (
                symbols,
                {info.exchange_symbol.upper(): pair for pair, info in symbols.items()},
            )
        return held[1].get(exchange_symbol.upper())

    async def info(self, market: Market, pair: str) -> SymbolInfo | None:
        """What the venue's market list says of `pair`, if it can be had now."""
        symbols = await self._catalog.symbols(market)
        return None if symbols is None else symbols.get(pair)


def client_of(request: Request | WebSocket) -> str:
    """Who is asking, for per-client budgets (as the core's API counts clients)."""
    return request.client.host if request.client is not None else "unknown"


def caller_of(request: Request, history_token: str) -> Caller:
    """On whose behalf a request is answered: this server's own history download (it names
    itself with the process's secret token), else the client at its address."""
    if history_token and request.headers.get(CALLER_HEADER) == history_token:
        return HISTORY
    return Caller("client", client_of(request))


class FacadeMetrics:
    """Per venue and endpoint: requests by where the answer came from (`store`, `local`,
    `upstream`, `cached`, `refused` during a ban, `error`), and their latency."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.requests = Counter(
            "trade_canvas_facade_requests",
            "Requests to the exchange-compatible facades, by where the answer came from.",
            ["venue", "endpoint", "source"], registry=r,
        )  # fmt: skip
        self.seconds = Histogram(
            "trade_canvas_facade_request_seconds",
            "Latency of the facades' answers.",
            ["venue", "endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.stream_frames = Counter(
            "trade_canvas_facade_stream_frames",
            "Kline frames the facades' streams sent, forming or closed.",
            ["venue", "kind"], registry=r,
        )  # fmt: skip
        self.stream_closes = Counter(
            "trade_canvas_facade_stream_clients_closed",
            "Facade stream clients this server closed, by why.",
            ["venue", "reason"], registry=r,
        )  # fmt: skip
        self._counts: dict[tuple[str, str, str], int] = {}

    def stream_closed(self, venue: str, reason: str) -> None:
        self.stream_closes.labels(venue, reason).inc()

    def stream_frame(self, venue: str, closed: bool) -> None:
        kind = "closed" if closed else "forming"
        self.stream_frames.labels(venue, kind).inc()
        key = (venue, "stream", kind)
        self._counts[key] = self._counts.get(key, 0) + 1

    def observe(self, venue: str, endpoint: str, source: str, seconds: float) -> None:
        self.requests.labels(venue, endpoint, source).inc()
        self.seconds.labels(venue, endpoint).observe(seconds)
        key = (venue, endpoint, source)
        self._counts[key] = self._counts.get(key, 0) + 1

    def snapshot(self, venue: str) -> dict[str, dict[str, int]]:
        """Requests per endpoint and source, for `ingest_state`."""
        out: dict[str, dict[str, int]] = {}
        for (v, endpoint, source), n in sorted(self._counts.items()):
            if v == venue:
                out.setdefault(endpoint, {})[source] = n
        return out


class VenueFacade:
    """The part every venue's facade shares: dispatch by path (its own routes, market-list
    documents, forwarded public market data, else 404), signed requests refused, only the
    parameters the venue documents taken (and a forwarded `limit` at its tier, so junk
    cannot make new cache keys), every request answered on behalf of its client (its
    share of the venue's budget), this server's errors answered in the venue's error shape
    (a subclass says how), and the facade's metrics."""

    venue: str = ""
    # The venue's public endpoints by path (its `limits.ENDPOINTS`): forwarded market data
    # and market lists (`document`: kept and refreshed in the background), and the
    # parameters of those answered here.
    endpoints: Mapping[str, Endpoint] = {}

    def __init__(
        self, context: FacadeContext, proxy: UpstreamProxy, names: SymbolNames,
        hosts: Mapping[Market, str],
    ) -> None:  # fmt: skip
        self.context = context
        self.proxy = proxy
        self.names = names
        self.hosts = {m: url.rstrip("/") for m, url in hosts.items()}
        # Path -> (handler, what its answers come from, the endpoint's metric label). A
        # handler's None: the request is forwarded (a form the store cannot answer).
        self.routes: dict[
            str, tuple[Callable[[Request], Awaitable[Response | None]], str, str]
        ] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.stream(WebSocket(scope, receive, send))
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        started = time.perf_counter()
        endpoint = self._endpoint(request.url.path)
        try:
            with on_behalf_of(caller_of(request, self.context.history_token)):
                response, source = await self._answer(request)
        except Exception as e:  # translated into the venue's shape, or re-raised
            response = self.render(self._translate(e))
            source = "refused" if isinstance(e, UpstreamRateLimited) else "error"
        await response(scope, receive, send)
        self.context.metrics.observe(self.venue, endpoint, source, time.perf_counter() - started)

    def _endpoint(self, path: str) -> str:
        route = self.routes.get(path)
        if route is not None:
            return route[2]
        return path if path in self.endpoints else "other"

    async def _answer(self, request: Request) -> tuple[Response, str]:
        path = request.url.path
        if request.method not in ("GET", "HEAD") or self.is_signed(request):
            raise self.unknown_path(path)  # private: never forwarded
        endpoint = self.endpoints.get(path)
        route = self.routes.get(path)
        if route is not None:
            if endpoint is not None:
                documented(endpoint, request.query_params.multi_items(), self.unread_parameter)
            handler, source, _ = route
            response = await handler(request)
            if response is not None:
                return response, source
        elif endpoint is None or endpoint.served not in ("forwarded", "document"):
            raise self.unknown_path(path)
        assert endpoint is not None  # a route that forwards is one of the venue's endpoints
        asked = normalise(endpoint, request.query_params.multi_items(), self.unread_parameter)
        refresh_s = self.context.document_refresh_s if endpoint.served == "document" else None
        answer = await self.proxy.get(
            self.hosts[endpoint.market] + path, asked.params,
            endpoint.cost(dict(asked.params)), document_s=refresh_s,
        )  # fmt: skip
        body = answer.body
        if asked.trim_to is not None and answer.status == 200:
            body = self.trimmed(path, body, asked.trim_to)
        headers = {"Age": str(int(answer.age_s))} if answer.cached else None
        response = Response(body, answer.status, headers, media_type=answer.content_type)
        return response, "cached" if answer.cached else "upstream"

    def _translate(self, e: Exception) -> Exception:
        if isinstance(e, UpstreamRateLimited):
            return self.rate_limited(e.retry_after_s, without_hosts(str(e)))
        if isinstance(e, UnknownSymbol):
            return self.unknown_symbol()
        if isinstance(e, MarketListUnavailable):
            return self.unavailable(str(e))
        if isinstance(e, ClientError):
            retry_after = getattr(e, "retry_after_s", None)
            if not retry_after:
                return self.bad_request(str(e))
            return self.rate_limited(retry_after, str(e))
        if isinstance(e, ExchangeError | StoreError):
            return self.unavailable(without_hosts(str(e)))  # which venue failed, not where
        if self.owns(e):
            return e
        raise e

    # -- what a venue says ------------------------------------------------------------

    async def stream(self, websocket: WebSocket) -> None:
        """A kline stream at the venue's stream path, else refused."""
        await websocket.close(1008, "no stream at this path")

    async def open_stream(self, session: StreamSession, topics: Sequence[str]) -> None:
        """Follow the topics named in the connection's path."""

    async def on_stream_message(self, session: StreamSession, text: str) -> None:
        raise NotImplementedError

    def is_signed(self, request: Request) -> bool:
        raise NotImplementedError

    def owns(self, e: Exception) -> bool:
        """Whether `e` is already an error in the venue's shape."""
        raise NotImplementedError

    def render(self, e: Exception) -> Response:
        raise NotImplementedError

    def rate_limited(self, wait_s: float, why: str) -> Exception:
        raise NotImplementedError

    def unknown_symbol(self) -> Exception:
        raise NotImplementedError

    def unavailable(self, detail: str) -> Exception:
        raise NotImplementedError

    def bad_request(self, detail: str) -> Exception:
        raise NotImplementedError

    def unknown_path(self, path: str) -> Exception:
        raise NotImplementedError

    def unread_parameter(self, why: str) -> Exception:
        """A parameter the endpoint does not take, or one sent twice."""
        return self.bad_request(why)

    def trimmed(self, path: str, body: bytes, rows: int) -> bytes:
        """A forwarded answer fetched at a `limit` tier, cut to the `rows` asked (the
        venue's book answers: each side's best `rows` levels)."""
        raise NotImplementedError

    async def series(self, exchange: str, market: Market, symbol: str, timeframe: str) -> SeriesId:
        """The series a venue symbol names, or the venue's unknown-symbol error."""
        pair = await self.names.pair(market, symbol)
        if pair is not None:
            try:
                return parse_series_id(f"{exchange}:{market}:{pair}:{timeframe}")
            except InvalidSeriesId:
                pass
        raise self.unknown_symbol()


def with_forming(
    window: KlineWindow, limit: int, newest: bool
) -> tuple[list[CandleRow], Candle | None]:
    """The closed candles and the forming one a venue answers within `limit` rows: the
    forming candle is the newest row, so a window of the newest drops its oldest close."""
    closed = list(window.closed)
    if window.forming is None:
        return closed, None
    if newest:
        del closed[: max(0, len(closed) - (limit - 1))]
    return closed, window.forming if len(closed) < limit else None


def int_param(
    params: Mapping[str, str], name: str, invalid: Callable[[str], Exception]
) -> int | None:
    """A whole-number query parameter (at most 20 digits), None when absent or empty;
    anything else raises the venue's `invalid(name)`."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise invalid(name)
    return int(raw)


def limit_param(
    params: Mapping[str, str], default: int, most: int, invalid: Callable[[str], Exception]
) -> int:
    """`limit` within 1..`most`; absent or 0, `default`."""
    return min(max(int_param(params, "limit", invalid) or default, 1), most)


def retry_after_headers(retry_after_s: float | None) -> dict[str, str] | None:
    """`Retry-After` in whole seconds (at least 1), as the venues send it with a 429."""
    if retry_after_s is None:
        return None
    return {"Retry-After": str(max(1, math.ceil(retry_after_s)))}


def with_row(rows: bytes, row: bytes | None, *, first: bool) -> bytes:
    """The JSON array `rows` with the JSON value `row` added as its first or last item:
    the closed rows are rendered once per change (`KlineSource.rendered`), the forming
    one at each request."""
    if row is None:
        return rows
    if rows == b"[]":
        return b"[" + row + b"]"
    return b"[" + row + b"," + rows[1:] if first else rows[:-1] + b"," + row + b"]"


def open_at_or_after(ms: int, timeframe: str) -> int:
    """The first candle opening at or after `ms` (the venues' start times are inclusive)."""
    t = math.ceil(ms / 1000)
    aligned = align_time(t, timeframe)
    return aligned if aligned == t else next_candle_time(aligned, timeframe)


def window_bounds(
    start_ms: int | None, end_ms: int | None, timeframe: str
) -> tuple[int | None, int | None]:
    """A venue's inclusive `[start_ms, end_ms]` (either optional) as the open times of the
    first and the last candle in it."""
    start = None if start_ms is None else open_at_or_after(start_ms, timeframe)
    end = None if end_ms is None else align_time(end_ms // 1000, timeframe)
    return start, end


class StreamSession:
    """One client of a facade's kline stream: the topics it follows, and a bounded queue
    of frames its sender writes, so a slow client delays nobody: over the bound it is
    closed (a stream that silently skipped frames would lose closes). The venue's dialect
    (`VenueFacade.on_stream_message`) says what a message asks for and what a frame
    looks like."""

    def __init__(self, facade: VenueFacade, websocket: WebSocket, market: Market,
                 combined: bool) -> None:  # fmt: skip
        self.facade = facade
        self.websocket = websocket
        self.market = market
        self.combined = combined
        self.client = client_of(websocket)
        self.topics: dict[str, Callable[[], Awaitable[None]]] = {}
        self._series: dict[str, str] = {}  # series id -> the topic it is followed as
        self.limits = facade.context.stream_limits
        self._queue: asyncio.Queue[str] = asyncio.Queue(self.limits.queue_max)
        self._messages = TokenBucket(
            self.limits.messages_per_s, self.limits.message_burst, facade.context.clock
        )
        self._overflowed = asyncio.Event()

    def send(self, text: str) -> None:
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._overflowed.set()

    async def follow(
        self, topic: str, series: SeriesId, frame: Callable[[Candle, bool], str]
    ) -> None:
        """Stream `series` to this client as `topic`, the venue's one name for it: a
        series is followed once per connection, however its name is spelt. Raises the
        core's client errors, `TooManySubscriptions` past `topics_max`."""
        if topic in self.topics or str(series) in self._series:
            return
        if len(self.topics) >= self.limits.topics_max:
            raise TooManySubscriptions(
                f"a connection follows at most {self.limits.topics_max} streams"
            )
        venue, metrics = self.facade.venue, self.facade.context.metrics

        def deliver(candle: Candle, closed: bool) -> None:
            self.send(frame(candle, closed))
            metrics.stream_frame(venue, closed)

        self.topics[topic] = await self.facade.context.streams.follow(series, self.client, deliver)
        self._series[str(series)] = topic

    async def drop(self, topic: str) -> None:
        stop = self.topics.pop(topic, None)
        if stop is not None:
            self._series = {k: v for k, v in self._series.items() if v != topic}
            await stop()

    async def run(self, first_topics: Sequence[str]) -> None:
        connections = self.facade.context.connections
        if not connections.enter(self.client):
            await self._close(1008, "too many connections from this address", "connections")
            return
        name = f"{self.facade.venue} stream of {self.client}"
        try:
            await self.websocket.accept()
            tasks = [
                spawn(self._send_loop(), f"{name}: sender"),
                spawn(self._receive_loop(), f"{name}: receiver"),
                spawn(self._overflowed.wait(), f"{name}: overflow"),
            ]
            try:
                await self.facade.open_stream(self, first_topics)
                await asyncio.wait(tasks[1:], return_when=asyncio.FIRST_COMPLETED)
                if self._overflowed.is_set():
                    await self._close(1008, "client too slow", "too_slow")
            finally:
                for task in tasks:
                    task.cancel()
                for topic in list(self.topics):
                    await self.drop(topic)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            connections.leave(self.client)

    async def _receive_loop(self) -> None:
        """The client's messages, until it leaves, sends one too big, or sends too fast
        (closed, as the venues close such connections)."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw: str | bytes = message.get("text") or message.get("bytes") or b""
                if len(raw) > self.limits.max_message_bytes:
                    await self._close(1009, "message too big", "message_too_big")
                    return
                if not self._messages.take():
                    await self._close(1008, "too many messages", "flood")
                    return
                text = raw if isinstance(raw, str) else raw.decode(errors="replace")
                await self.facade.on_stream_message(self, text)

    async def _close(self, code: int, reason: str, metric_reason: str) -> None:
        self.facade.context.metrics.stream_closed(self.facade.venue, metric_reason)
        await self.websocket.close(code, reason)

    async def _send_loop(self) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                await self.websocket.send_text(await self._queue.get())
