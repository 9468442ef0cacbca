"""Binance's REST hosts as a ccxt client: spot `/api/v3`, USDT-M futures `/fapi/v1`, at the
configured URLs (a local exchange in tests and the demo)."""

from __future__ import annotations

from typing import Any, Final

from app.candle import ExtrasByTime
from app.clock import Clock
from app.errors import ExchangeError
from app.exchanges.binance.feed import binance_symbol
from app.exchanges.binance.parser import rest_funding_rates, rest_klines, rest_open_interest
from app.exchanges.ccxt_rest import CcxtRestKlines, ccxt_client
from app.exchanges.ports import FrameError
from app.exchanges.upstream import UpstreamLimiter
from app.series import CandleType, Market, SeriesId


def binance_api_urls(spot_url: str, futures_url: str) -> dict[str, str]:
    """ccxt's `urls.api` for these hosts."""
    return {
        "public": f"{spot_url.rstrip('/')}/api/v3",
        "fapiPublic": f"{futures_url.rstrip('/')}/fapi/v1",
        "fapiData": f"{futures_url.rstrip('/')}/futures/data",
    }


# Each kind of series' klines: ccxt's implicit method and what names the instrument.
_KLINES: Final[dict[CandleType, tuple[str, str]]] = {
    "spot": ("publicGetKlines", "symbol"),
    "futures": ("fapiPublicGetKlines", "symbol"),
    "mark": ("fapiPublicGetMarkPriceKlines", "symbol"),
    "index": ("fapiPublicGetIndexPriceKlines", "pair"),
    "premiumIndex": ("fapiPublicGetPremiumIndexKlines", "symbol"),
}
# What Binance's REST serves of every kind of series.
FETCHED: Final[tuple[CandleType, ...]] = (*_KLINES, "funding_rate", "open_interest")
# The most rows Binance sends a page of funding events and open interest samples.
_PAGES: Final[dict[CandleType, int]] = {"funding_rate": 1000, "open_interest": 500}
# Binance keeps open interest history for 30 days only.
OPEN_INTEREST_KEPT_S: Final = 30 * 86_400


class BinanceRestKlines(CcxtRestKlines):
    """Binance's klines read raw (ccxt's OHLCV rows drop the quote volume, trade count and
    taker volumes, which the store keeps), and a contract's mark, index and premium index
    klines from their own endpoints."""

    async def klines(
        self, client: Any, series: SeriesId, since_ms: int, limit: int | None = None
    ) -> tuple[list[list[Any]], ExtrasByTime]:
        if series.events:
            return await self._funding(client, series, since_ms, limit), {}
        if series.market == "open_interest":
            return await self._open_interest(client, series, since_ms, limit), {}
        method, names = _KLINES[series.market]
        request = {names: binance_symbol(series), "interval": series.timeframe,
                   "startTime": since_ms, "limit": limit or self._page_limit}  # fmt: skip
        try:
            rows, extras = rest_klines(await getattr(client, method)(request))
        except FrameError as e:
            raise ExchangeError(f"klines of {series} from Binance: {e}") from e
        # A derived price's volume fields are placeholders ("0"), not a trade count.
        return rows, {} if series.derived else extras

    async def _funding(
        self, client: Any, series: SeriesId, since_ms: int, limit: int | None
    ) -> list[list[Any]]:
        request = {"symbol": binance_symbol(series), "startTime": since_ms,
                   "limit": limit or self.page_size(series)}  # fmt: skip
        try:
            return rest_funding_rates(
                await client.fapiPublicGetFundingRate(request), series.timeframe
            )
        except FrameError as e:
            raise ExchangeError(f"funding rates of {series} from Binance: {e}") from e

    async def _open_interest(
        self, client: Any, series: SeriesId, since_ms: int, limit: int | None
    ) -> list[list[Any]]:
        # Binance refuses a start older than the 30 days it keeps: asked from there.
        kept_from = (int(self._clock.time()) - OPEN_INTEREST_KEPT_S + 3_600) * 1000
        request = {"symbol": binance_symbol(series), "period": series.timeframe,
                   "startTime": max(since_ms, kept_from),
                   "limit": limit or self.page_size(series)}  # fmt: skip
        try:
            answer = await client.fapiDataGetOpenInterestHist(request)
            return rest_open_interest(answer, series.timeframe)
        except FrameError as e:
            raise ExchangeError(f"open interest of {series} from Binance: {e}") from e


def binance_rest(
    api_urls: dict[str, str], limiter: UpstreamLimiter, clock: Clock, *, timeout_s: float = 10.0,
    page_limit: int = 1000,
) -> CcxtRestKlines:  # fmt: skip
    def make_client(market: Market) -> Any:
        return ccxt_client("binance", api_urls, market, futures_type="future",
                           timeout_s=timeout_s)  # fmt: skip

    return BinanceRestKlines(
        "binance", make_client, limiter, clock, page_limit=page_limit, page_sizes=_PAGES
    )
