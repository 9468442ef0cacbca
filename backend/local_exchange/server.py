"""The local exchanges: a venue's REST server and one WebSocket server per market type,
on loopback. `FakeBinance` and `FakeBybit` share one `FakeExchange` model each (symbols,
clock, history start, faults) and differ only in their dialects and URLs.

The WebSocket servers run on their own event loop in their own thread, so the exchange
keeps its own pace whatever the code under test does; fault controls are thread-safe."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Self, TypeVar

from local_exchange.binance_ws import BinanceDialect
from local_exchange.bybit_rest import BYBIT_REST, BYBIT_ROUTES
from local_exchange.bybit_ws import BybitDialect
from local_exchange.exchange import FakeExchange, MarketKind
from local_exchange.okx_rest import OKX_REST, OKX_ROUTES
from local_exchange.okx_ws import OkxDialect
from local_exchange.rest import BINANCE_REST, ROUTES, Dialect, RestServer, Route
from local_exchange.ws import WsDialect, WsLimits, WsMarketServer

T = TypeVar("T")

# Binance's own numbers: spot pings every 20 s and allows 5 incoming messages a second;
# futures pings every 3 minutes and allows 10.
SPOT_LIMITS = WsLimits(tick_s=1.0, ping_interval_s=20, ping_timeout_s=60, max_incoming_per_s=5)
FUTURES_LIMITS = WsLimits(
    tick_s=0.25, ping_interval_s=180, ping_timeout_s=600, max_incoming_per_s=10
)
# Bybit sends no pings: the client must, or it is cut after 10 minutes of silence.
BYBIT_LIMITS = WsLimits(
    tick_s=1.0, ping_interval_s=None, ping_timeout_s=None, max_incoming_per_s=20,
    client_idle_s=600.0,
)  # fmt: skip


class FakeVenue:
    name = "venue"

    def __init__(
        self,
        exchange: FakeExchange | None,
        *,
        host: str,
        rest_port: int,
        ws_ports: Mapping[MarketKind, int],
        routes: Mapping[str, Route],
        rest_dialect: Dialect,
        dialects: Mapping[MarketKind, WsDialect],
        limits: Mapping[MarketKind, WsLimits],
    ) -> None:
        self.exchange = exchange or FakeExchange()
        self.host = host
        self._ports = dict(ws_ports)
        self.rest = RestServer(self.exchange, host, rest_port, routes, rest_dialect)
        self.ws: dict[MarketKind, WsMarketServer] = {
            m: WsMarketServer(self.exchange, m, dialects[m], limits[m]) for m in dialects
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fake-{self.name}")

    def start(self) -> Self:
        self.rest.start()
        self._thread.start()
        for market, server in self.ws.items():
            self.call(server.start(self.host, self._ports[market]))
        return self

    def stop(self) -> None:
        for server in self.ws.values():
            self.call(server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self.rest.stop()

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the fake's loop and return its result (from any thread)."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(30)

    async def call_async(self, coro: Any) -> Any:
        """`call` without blocking the caller's loop: for a coroutine that needs the
        caller's side (a client) to answer meanwhile."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return await asyncio.wrap_future(future)

    def run(self, market: MarketKind, fn: Callable[[WsMarketServer], T]) -> T:
        """Call `fn(server)` on the fake's loop, e.g. `run("spot", lambda s: s.drop_all())`."""

        async def invoke() -> T:
            return fn(self.ws[market])

        result: T = self.call(invoke())
        return result

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest.port}"

    def ws_url(self, market: MarketKind) -> str:
        return f"ws://{self.host}:{self.ws[market].port}"

    def settings_env(self) -> dict[str, str]:
        """The trade-canvas settings that point it at this exchange, as variables."""
        raise NotImplementedError

    def settings(self) -> dict[str, str]:
        """The same as `Settings` field names, for `Settings(**...)`."""
        return {k.removeprefix("TRADE_CANVAS_").lower(): v for k, v in self.settings_env().items()}


class FakeBinance(FakeVenue):
    name = "binance"

    def __init__(
        self,
        exchange: FakeExchange | None = None,
        *,
        host: str = "127.0.0.1",
        rest_port: int = 0,
        spot_ws_port: int = 0,
        futures_ws_port: int = 0,
        spot_limits: WsLimits = SPOT_LIMITS,
        futures_limits: WsLimits = FUTURES_LIMITS,
        limits: WsLimits | None = None,  # both markets'
    ) -> None:
        if limits is not None:
            spot_limits = futures_limits = limits
        dialect = BinanceDialect()
        super().__init__(
            exchange, host=host, rest_port=rest_port,
            ws_ports={"spot": spot_ws_port, "futures": futures_ws_port},
            routes=ROUTES, rest_dialect=BINANCE_REST,
            dialects={"spot": dialect, "futures": dialect},
            limits={"spot": spot_limits, "futures": futures_limits},
        )  # fmt: skip

    @property
    def spot_ws_url(self) -> str:
        return self.ws_url("spot")

    @property
    def futures_ws_url(self) -> str:
        # Binance's current USDT-M endpoint has a /market prefix; so does this one.
        return self.ws_url("futures") + "/market"

    def settings_env(self) -> dict[str, str]:
        return {
            "TRADE_CANVAS_BINANCE_SPOT_WS_URL": self.spot_ws_url,
            "TRADE_CANVAS_BINANCE_FUTURES_WS_URL": self.futures_ws_url,
            "TRADE_CANVAS_BINANCE_SPOT_REST_URL": self.rest_url,
            "TRADE_CANVAS_BINANCE_FUTURES_REST_URL": self.rest_url,
        }


class FakeBybit(FakeVenue):
    name = "bybit"

    def __init__(
        self,
        exchange: FakeExchange | None = None,
        *,
        host: str = "127.0.0.1",
        rest_port: int = 0,
        spot_ws_port: int = 0,
        futures_ws_port: int = 0,  # the linear category's
        limits: WsLimits = BYBIT_LIMITS,
    ) -> None:
        exchange = exchange or FakeExchange()
        now_ms = exchange.clock.now_ms
        super().__init__(
            exchange, host=host, rest_port=rest_port,
            ws_ports={"spot": spot_ws_port, "futures": futures_ws_port},
            routes=BYBIT_ROUTES, rest_dialect=BYBIT_REST,
            dialects={m: BybitDialect(m, now_ms) for m in ("spot", "futures")},
            limits={"spot": limits, "futures": limits},
        )  # fmt: skip

    @property
    def spot_ws_url(self) -> str:
        return self.ws_url("spot") + "/v5/public/spot"

    @property
    def futures_ws_url(self) -> str:
        return self.ws_url("futures") + "/v5/public/linear"

    def settings_env(self) -> dict[str, str]:
        return {
            "TRADE_CANVAS_BYBIT_REST_URL": self.rest_url,
            "TRADE_CANVAS_BYBIT_SPOT_WS_URL": self.spot_ws_url,
            "TRADE_CANVAS_BYBIT_LINEAR_WS_URL": self.futures_ws_url,
        }


# OKX sends no pings: the client says `ping` at least every 30 s, or is cut.
OKX_LIMITS = WsLimits(
    tick_s=0.5, ping_interval_s=None, ping_timeout_s=None, max_incoming_per_s=20,
    client_idle_s=30.0,
)  # fmt: skip


class FakeOkx(FakeVenue):
    name = "okx"

    def __init__(
        self,
        exchange: FakeExchange | None = None,
        *,
        host: str = "127.0.0.1",
        rest_port: int = 0,
        spot_ws_port: int = 0,
        futures_ws_port: int = 0,  # the swaps'
        limits: WsLimits = OKX_LIMITS,
    ) -> None:
        super().__init__(
            exchange, host=host, rest_port=rest_port,
            ws_ports={"spot": spot_ws_port, "futures": futures_ws_port},
            routes=OKX_ROUTES, rest_dialect=OKX_REST,
            dialects={m: OkxDialect(m) for m in ("spot", "futures")},
            limits={"spot": limits, "futures": limits},
        )  # fmt: skip

    def settings_env(self) -> dict[str, str]:
        return {
            "TRADE_CANVAS_OKX_REST_URL": self.rest_url,
            "TRADE_CANVAS_OKX_SPOT_WS_URL": self.ws_url("spot") + "/ws/v5/business",
            "TRADE_CANVAS_OKX_SWAP_WS_URL": self.ws_url("futures") + "/ws/v5/business",
        }
