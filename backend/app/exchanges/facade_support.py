"""What every venue's exchange-compatible facade shares beside its wire format: dispatch
and error translation (`VenueFacade`), the venue's symbol names mapped to ccxt pairs (from
its cached market list), and who is asking."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.candle import Candle, CandleRow
from app.errors import (
    ClientError,
    ExchangeError,
    InvalidSeriesId,
    MarketListUnavailable,
    StoreError,
    UnknownSymbol,
    UpstreamRateLimited,
)
from app.exchanges.ports import FacadeContext, KlineWindow, MarketCatalog, SymbolInfo
from app.exchanges.upstream import UpstreamProxy
from app.series import Market, SeriesId, align_time, next_candle_time, parse_series_id


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


def client_of(request: Request) -> str:
    """Who is asking, for per-client budgets (as the core's API counts clients)."""
    return request.client.host if request.client is not None else "unknown"


class VenueFacade:
    """The part every venue's facade shares: dispatch by path (its own routes, market-list
    documents, forwarded public market data, else 404), signed requests refused, and this
    server's errors answered in the venue's error shape (a subclass says how)."""

    # Public market data forwarded as it is, by path, with the market whose host has it.
    forwarded: Mapping[str, Market] = {}
    # Market lists and the like: forwarded, kept and refreshed in the background.
    documents: Mapping[str, Market] = {}

    def __init__(
        self, context: FacadeContext, proxy: UpstreamProxy, names: SymbolNames,
        hosts: Mapping[Market, str],
    ) -> None:  # fmt: skip
        self.context = context
        self.proxy = proxy
        self.names = names
        self.hosts = {m: url.rstrip("/") for m, url in hosts.items()}
        self.routes: dict[str, Callable[[Request], Awaitable[Response]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # the venues' kline streams come with their own issue
        request = Request(scope, receive)
        try:
            response = await self._answer(request)
        except Exception as e:
            response = self.render(self._translate(e))
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        path = request.url.path
        if request.method not in ("GET", "HEAD") or self.is_signed(request):
            raise self.unknown_path(path)  # private: never forwarded
        route = self.routes.get(path)
        if route is not None:
            return await route(request)
        for table, refresh_s in (
            (self.documents, self.context.document_refresh_s),
            (self.forwarded, None),
        ):
            market = table.get(path)
            if market is not None:
                url = self.hosts[market] + path
                params = request.query_params.multi_items()
                answer = await self.proxy.get(url, params, document_s=refresh_s)
                return Response(answer.body, answer.status, media_type=answer.content_type)
        raise self.unknown_path(path)

    def _translate(self, e: Exception) -> Exception:
        if isinstance(e, UpstreamRateLimited):
            return self.rate_limited(e.retry_after_s)
        if isinstance(e, UnknownSymbol):
            return self.unknown_symbol()
        if isinstance(e, MarketListUnavailable):
            return self.unavailable(str(e))
        if isinstance(e, ClientError):
            retry_after = getattr(e, "retry_after_s", None)
            return self.rate_limited(retry_after) if retry_after else self.bad_request(str(e))
        if isinstance(e, ExchangeError | StoreError):
            return self.unavailable(str(e))
        if self.owns(e):
            return e
        raise e

    # -- what a venue says ------------------------------------------------------------

    def is_signed(self, request: Request) -> bool:
        raise NotImplementedError

    def owns(self, e: Exception) -> bool:
        """Whether `e` is already an error in the venue's shape."""
        raise NotImplementedError

    def render(self, e: Exception) -> Response:
        raise NotImplementedError

    def rate_limited(self, wait_s: float) -> Exception:
        raise NotImplementedError

    def unknown_symbol(self) -> Exception:
        raise NotImplementedError

    def unavailable(self, detail: str) -> Exception:
        raise NotImplementedError

    def bad_request(self, detail: str) -> Exception:
        raise NotImplementedError

    def unknown_path(self, path: str) -> Exception:
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


def open_at_or_after(ms: int, timeframe: str) -> int:
    """The first candle opening at or after `ms` (the venues' start times are inclusive)."""
    t = math.ceil(ms / 1000)
    aligned = align_time(t, timeframe)
    return aligned if aligned == t else next_candle_time(aligned, timeframe)
