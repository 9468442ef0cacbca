"""The fake exchange's REST face on a threaded HTTP server: a venue's routes (Binance's
spot `/api/v3` and USDT-M futures `/fapi/v1` here; Bybit's in `bybit_rest.py`), its error
bodies, and the REST failure fault in the venue's own shape."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import orjson

from local_exchange.exchange import ApiError, FakeExchange

Route = Callable[[FakeExchange, Mapping[str, str]], Any]

ROUTES: dict[str, Route] = {
    "/api/v3/ping": lambda ex, p: {},
    "/api/v3/depth": lambda ex, p: ex.depth("spot", p),
    "/api/v3/ticker/24hr": lambda ex, p: ex.tickers("spot", p, "24hr"),
    "/api/v3/ticker/price": lambda ex, p: ex.tickers("spot", p, "price"),
    "/api/v3/ticker/bookTicker": lambda ex, p: ex.tickers("spot", p, "bookTicker"),
    "/fapi/v1/depth": lambda ex, p: ex.depth("futures", p),
    "/fapi/v1/ticker/24hr": lambda ex, p: ex.tickers("futures", p, "24hr"),
    "/fapi/v1/ticker/price": lambda ex, p: ex.tickers("futures", p, "price"),
    "/fapi/v2/ticker/price": lambda ex, p: ex.tickers("futures", p, "price"),
    "/fapi/v1/ticker/bookTicker": lambda ex, p: ex.tickers("futures", p, "bookTicker"),
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
    "/fapi/v1/markPriceKlines": lambda ex, p: ex.klines("futures", p, "mark"),
    "/fapi/v1/indexPriceKlines": lambda ex, p: ex.klines(
        "futures", {**p, "symbol": p.get("pair", "")}, "index"
    ),
    "/fapi/v1/premiumIndexKlines": lambda ex, p: ex.klines("futures", p, "premiumIndex"),
    "/fapi/v1/fundingRate": lambda ex, p: ex.funding_rates(p),
    "/fapi/v1/premiumIndex": lambda ex, p: ex.premium_index(p),
    "/futures/data/openInterestHist": lambda ex, p: ex.open_interest_history(p),
}


# Binance's answer when it is overloaded, as the REST failure fault gives it.
BINANCE_FAILURE: Final = (503, {"code": -1008, "msg": "Server is currently overloaded."})


# (status, body, headers): an answer, or with status 200 and no body, the rate headers of
# a request that may be answered.
Reply = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a venue's REST answers besides its routes: its failure, its ban, and what a
    request costs (the rate headers put on its answer, or the venue's refusal)."""

    failure: tuple[int, Any]
    ban: Callable[[float], Reply]
    charge: Callable[[FakeExchange, str, Mapping[str, str]], Reply]


def _binance_ban(left_s: float) -> Reply:
    body = {"code": -1003, "msg": "Way too much request weight used; IP banned."}
    return 418, body, {"Retry-After": str(max(1, round(left_s)))}


def _binance_charge(ex: FakeExchange, path: str, params: Mapping[str, str]) -> Reply:
    return ex.binance_weights.charge(path, params)


BINANCE_REST: Final = Dialect(BINANCE_FAILURE, _binance_ban, _binance_charge)


def _handler_for(
    exchange: FakeExchange, routes: Mapping[str, Route], dialect: Dialect
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-exchange"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/_fake/requests":  # not the venue's: what benchmarks count
                self._reply(200, dict(exchange.rest_requests_by_path))
                return
            if url.path == "/_fake/weight":  # Binance's weight per host and minute
                self._reply(200, exchange.binance_weights.report())
                return
            route = routes.get(url.path)
            if exchange.take_rest_failure(url.path):
                self._reply(*dialect.failure)
                return
            if (left := exchange.ban_left()) > 0:
                self._reply(*dialect.ban(left))
                return
            params = dict(parse_qsl(url.query))
            status, refusal, headers = dialect.charge(exchange, url.path, params)
            if status != 200:
                self._reply(status, refusal, headers)
                return
            if route is None:
                self._reply(404, {"code": -1, "msg": f"unknown endpoint {url.path}"}, headers)
                return
            try:
                self._reply(200, route(exchange, params), headers)
            except ApiError as e:
                self._reply(e.status, e.body(), headers)

        def _reply(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            text = isinstance(body, str)
            data = body.encode() if text else orjson.dumps(body)
            self.send_response(status)
            kind = "text/plain" if text else "application/json;charset=UTF-8"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
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
        dialect: Dialect = BINANCE_REST,
    ) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler_for(exchange, routes, dialect))
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
