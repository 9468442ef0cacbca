"""One freqtrade bot's REST API (`/api/v1/...`), read with HTTP basic auth (freqtrade takes
it on every endpoint, beside its JWT). httpx's errors become `BotError`s here, each saying
what the user sees: the bot is down, refuses the credentials, or answered nonsense."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import httpx
import orjson

from app.bots.config import BotConfig
from app.errors import TradeCanvasError

BotProblem = Literal["down", "unauthorized", "error"]


class BotError(TradeCanvasError):
    problem: BotProblem = "error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BotDown(BotError):
    """Nothing answered in time: the bot is stopped, elsewhere, or hung."""

    problem = "down"


class BotRefused(BotError):
    """The bot answered 401/403: wrong username or password."""

    problem = "unauthorized"


class BotBadAnswer(BotError):
    """The bot answered, but not as a freqtrade API does."""


class FreqtradeClient:
    def __init__(
        self, config: BotConfig, http: httpx.AsyncClient, timeout_s: float, max_bytes: int
    ) -> None:
        self._base = f"{config.url}/api/v1"
        self._auth = httpx.BasicAuth(config.username, config.password.get_secret_value())
        self._http = http
        self._timeout = httpx.Timeout(timeout_s)
        self._max_bytes = max_bytes

    async def get(self, path: str, params: dict[str, str | int] | None = None) -> Any:
        """The bot's answer, read up to `max_bytes` and parsed off the event loop (a bot is
        another program: its answer may be of any size)."""
        try:
            async with self._http.stream(
                "GET", f"{self._base}/{path}", params=params, auth=self._auth,
                timeout=self._timeout,
            ) as response:  # fmt: skip
                if response.status_code in (401, 403):
                    raise BotRefused("the bot refused the username or password")
                if response.status_code >= 400:
                    raise BotBadAnswer(f"/api/v1/{path} answered HTTP {response.status_code}")
                body = await self._read(response, path)
        except httpx.TimeoutException as e:
            raise BotDown(f"no answer within {self._timeout.read:g} s") from e
        except httpx.HTTPError as e:
            raise BotDown(_connection_reason(e)) from e
        try:
            return await asyncio.to_thread(orjson.loads, body)
        except orjson.JSONDecodeError as e:
            raise BotBadAnswer(f"/api/v1/{path} did not answer JSON") from e

    async def _read(self, response: httpx.Response, path: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise BotBadAnswer(
                    f"/api/v1/{path} answered more than {self._max_bytes:,} bytes "
                    "(BOT_MAX_BYTES); the rest is not read"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def show_config(self) -> dict[str, Any]:
        return _object(await self.get("show_config"), "show_config")

    async def open_trades(self) -> list[Any]:
        return _list(await self.get("status"), "status")

    async def closed_trades(self, offset: int, limit: int) -> dict[str, Any]:
        # Newest close first, so the trades a poll has not seen are on the first page.
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "order_by_id": "false"}
        return _object(await self.get("trades", params), "trades")

    async def plot_config(self) -> dict[str, Any]:
        return _object(await self.get("plot_config"), "plot_config")

    async def pair_candles(self, pair: str, timeframe: str) -> dict[str, Any]:
        params: dict[str, str | int] = {"pair": pair, "timeframe": timeframe}
        return _object(await self.get("pair_candles", params), "pair_candles")


def _connection_reason(error: httpx.HTTPError) -> str:
    cause: BaseException | None = error
    while cause is not None:  # the OS's own word is at the end of the chain
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, httpx.ConnectError):
        return "cannot connect"
    return f"connection failed ({type(error).__name__})"


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BotBadAnswer(f"/api/v1/{path} did not answer a JSON object")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise BotBadAnswer(f"/api/v1/{path} did not answer a JSON list")
    return value
