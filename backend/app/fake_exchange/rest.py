"""The fake exchange's REST face on a threaded HTTP server: a venue's routes (Binance's
spot `/api/v3` and USDT-M futures `/fapi/v1` here; Bybit's in `bybit_rest.py`), its error
bodies, and the REST failure fault in the venue's own shape."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import orjson

from app.fake_exchange.exchange import ApiError, FakeExchange

Route = Callable[[FakeExchange, Mapping[str, str]], Any]

ROUTES: dict[str, Route] = {
    "/api/v3/ping": lambda ex, p: {},
    "/api/v3/time": lambda ex, p: {"serverTime": ex.clock.now_ms()},
    "/api/v3/exchangeInfo": lambda ex, p: ex.exchange_info("spot"),
    "/api/v3/klines": lambda ex, p: ex.klines("spot", p),
    "/api/v3/uiKlines": lambda ex, p: ex.klines("spot", p),
    "/fapi/v1/ping": lambda ex, p: {},
    "/fapi/v1/time": lambda ex, p: {"serverTime": ex.clock.now_ms()},
    "/fapi/v1/exchangeInfo": lambda ex, p: ex.exchange_info("futures"),
    "/fapi/v1/klines": lambda ex, p: ex.klines("futures", p),
    "/fapi/v1/continuousKlines": lambda ex, p: ex.klines(
        "futures", {**p, "symbol": p.get("pair", "")}
    ),
    "/fapi/v1/markPriceKlines": lambda ex, p: ex.mark_price_klines(p),
    "/fapi/v1/indexPriceKlines": lambda ex, p: ex.mark_price_klines(
        {**p, "symbol": p.get("pair", "")}
    ),
    "/fapi/v1/premiumIndexKlines": lambda ex, p: ex.mark_price_klines(p),
    "/fapi/v1/fundingRate": lambda ex, p: ex.funding_rates(p),
    "/fapi/v1/premiumIndex": lambda ex, p: ex.premium_index(p),
}


# Binance's answer when it is overloaded, as the REST failure fault gives it.
BINANCE_FAILURE: Final = (503, {"code": -1008, "msg": "Server is currently overloaded."})


def _handler_for(
    exchange: FakeExchange, routes: Mapping[str, Route], failure: tuple[int, Any]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-exchange"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            route = routes.get(url.path)
            if exchange.take_rest_failure():
                self._reply(*failure)
                return
            if route is None:
                self._reply(404, {"code": -1, "msg": f"unknown endpoint {url.path}"})
                return
            try:
                self._reply(200, route(exchange, dict(parse_qsl(url.query))))
            except ApiError as e:
                self._reply(e.status, e.body())

        def _reply(self, status: int, body: Any) -> None:
            text = isinstance(body, str)
            data = body.encode() if text else orjson.dumps(body)
            self.send_response(status)
            kind = "text/plain" if text else "application/json;charset=UTF-8"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and demos make thousands of requests

    return Handler


class RestServer:
    def __init__(
        self,
        exchange: FakeExchange,
        host: str = "127.0.0.1",
        port: int = 0,
        routes: Mapping[str, Route] = ROUTES,
        failure: tuple[int, Any] = BINANCE_FAILURE,
    ) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler_for(exchange, routes, failure))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-exchange-rest", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
