"""FakeBinance: the REST server and one WebSocket server per market type, on loopback.

The WebSocket servers run on their own event loop in their own thread, so the exchange
keeps its own pace whatever the code under test does; fault controls are thread-safe."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from app.fake_binance.exchange import FakeExchange, MarketKind
from app.fake_binance.rest import RestServer
from app.fake_binance.ws import WsLimits, WsMarketServer

T = TypeVar("T")

# Binance's own numbers: spot pings every 20 s and allows 5 incoming messages a second;
# futures pings every 3 minutes and allows 10.
SPOT_LIMITS = WsLimits(tick_s=1.0, ping_interval_s=20, ping_timeout_s=60, max_incoming_per_s=5)
FUTURES_LIMITS = WsLimits(
    tick_s=0.25, ping_interval_s=180, ping_timeout_s=600, max_incoming_per_s=10
)


class FakeBinance:
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
    ) -> None:
        self.exchange = exchange or FakeExchange()
        self.host = host
        self._ports = {"spot": spot_ws_port, "futures": futures_ws_port}
        self.rest = RestServer(self.exchange, host, rest_port)
        self.ws: dict[MarketKind, WsMarketServer] = {
            "spot": WsMarketServer(self.exchange, "spot", spot_limits),
            "futures": WsMarketServer(self.exchange, "futures", futures_limits),
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-binance-ws")

    def start(self) -> FakeBinance:
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

    def run(self, market: MarketKind, fn: Callable[[WsMarketServer], T]) -> T:
        """Call `fn(server)` on the fake's loop, e.g. `run("spot", lambda s: s.drop_all())`."""

        async def invoke() -> T:
            return fn(self.ws[market])

        result: T = self.call(invoke())
        return result

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest.port}"

    @property
    def spot_ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws['spot'].port}"

    @property
    def futures_ws_url(self) -> str:
        # Binance's current USDT-M endpoint has a /market prefix; so does this one.
        return f"ws://{self.host}:{self.ws['futures'].port}/market"

    def settings_env(self) -> dict[str, str]:
        """The trade-canvas settings that point it at this exchange."""
        return {
            "TRADE_CANVAS_BINANCE_SPOT_WS_URL": self.spot_ws_url,
            "TRADE_CANVAS_BINANCE_FUTURES_WS_URL": self.futures_ws_url,
            "TRADE_CANVAS_BINANCE_SPOT_REST_URL": self.rest_url,
            "TRADE_CANVAS_BINANCE_FUTURES_REST_URL": self.rest_url,
        }
