"""Closed klines over Binance's REST API (ccxt's async client, URLs from settings), paged.

Used by the `ccxt` history source and by the live ingestor's gap backfill. ccxt's errors
are translated here into this project's. ccxt is imported on first use: it costs ~75 MB,
which a server that never needs REST should not pay.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from app.candle import CandleRow
from app.errors import ExchangeError, UnknownSymbol
from app.exchanges.ports import SymbolInfo
from app.series import Market, SeriesId, timeframe_seconds


class BinanceRestKlines:
    def __init__(
        self, *, spot_url: str, futures_url: str, timeout_s: float = 10.0, page_limit: int = 1000
    ) -> None:
        self._urls = {"spot": spot_url.rstrip("/"), "futures": futures_url.rstrip("/")}
        self._timeout_ms = int(timeout_s * 1000)
        self._page_limit = page_limit
        self._clients: dict[Market, Any] = {}

    def _client(self, market: Market) -> Any:
        client = self._clients.get(market)
        if client is None:
            import ccxt.async_support as ccxt_async

            client = ccxt_async.binance(
                {
                    "urls": {
                        "api": {
                            "public": f"{self._urls['spot']}/api/v3",
                            "fapiPublic": f"{self._urls['futures']}/fapi/v1",
                        }
                    },
                    "options": {
                        "defaultType": "spot" if market == "spot" else "future",
                        "fetchMarkets": {"types": ["spot" if market == "spot" else "linear"]},
                    },
                    "timeout": self._timeout_ms,
                    "enableRateLimit": True,
                }
            )
            self._clients[market] = client
        return client

    async def _load_markets(self, market: Market, reload: bool) -> dict[str, Any]:
        try:
            markets: dict[str, Any] = await self._client(market).load_markets(reload)
        except _ccxt_errors().BaseError as e:
            raise ExchangeError(f"cannot load {market} markets: {e}") from e
        return markets

    async def markets(self, market: Market, *, reload: bool = False) -> dict[str, SymbolInfo]:
        """Every symbol of `market` that Binance lists (exchangeInfo, through ccxt), with
        its tick size and lot step. Loaded once unless `reload`."""
        return {
            pair: SymbolInfo(
                pair,
                str(m.get("id") or pair),
                _positive(m.get("precision", {}).get("price")),
                _positive(m.get("precision", {}).get("amount")),
            )
            for pair, m in (await self._load_markets(market, reload)).items()
        }

    async def check_symbol(self, series: SeriesId) -> None:
        """Raise `UnknownSymbol` if the exchange does not list `series`' symbol (from the
        market list ccxt loaded once)."""
        if series.symbol not in await self._load_markets(series.market, False):
            raise UnknownSymbol(f"{series.symbol} is not listed on binance {series.market}")

    async def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[list[CandleRow]]:
        """Pages of closed candles with `candle_time > after` (and `<= until`), ascending,
        up to the newest candle that has closed by the exchange's own clock."""
        await self.check_symbol(series)
        client = self._client(series.market)
        ccxt_errors = _ccxt_errors()
        tf = timeframe_seconds(series.timeframe)
        try:
            now = int(await client.fetch_time()) // 1000
        except ccxt_errors.BaseError as e:
            raise ExchangeError(f"cannot read the exchange time: {e}") from e
        cursor = after + 1
        while True:
            try:
                rows = await client.fetch_ohlcv(
                    series.symbol, series.timeframe, since=cursor * 1000, limit=self._page_limit
                )
            except ccxt_errors.BadSymbol as e:
                raise UnknownSymbol(str(e)) from e
            except ccxt_errors.BaseError as e:
                raise ExchangeError(f"klines of {series} failed: {e}") from e
            page: list[CandleRow] = []
            for ms, o, h, low, c, v in rows:
                t = int(ms) // 1000
                if t < cursor or t + tf > now or (until is not None and t > until):
                    continue
                page.append((t, float(o), float(h), float(low), float(c), float(v)))
            if page:
                yield page
            if len(rows) < self._page_limit or not page or page[-1][0] + 2 * tf > now:
                return
            if until is not None and page[-1][0] >= until:
                return
            cursor = page[-1][0] + 1

    async def close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()


def _positive(value: Any) -> float | None:
    """ccxt's precision in TICK_SIZE mode is the step itself (0.01), as Binance gives it."""
    try:
        step = float(value)
    except (TypeError, ValueError):
        return None
    return step if step > 0 else None


def _ccxt_errors() -> Any:
    from ccxt.base import errors

    return errors
