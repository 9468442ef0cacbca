"""A bot is another program and its answers are bounded: one that streams `show_config`
without end is read up to `BOT_MAX_BYTES` and called `error`, not held in memory; one that
reports more open trades than `BOT_MAX_OPEN_TRADES` is `error` too; the candle routes are
served beside them. The "bots" are HTTP servers over loopback that misbehave so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson

from tests.conftest import SettingsFactory
from tests.support import SERIES, live_server, poll

CONFIG = orjson.dumps({"exchange": "binance", "timeframe": "1m", "strategy": "S",
                       "state": "running", "stake_currency": "USDT"})  # fmt: skip


def trades(n: int) -> bytes:
    return orjson.dumps([
        {"trade_id": i, "pair": "BTC/USDT", "open_timestamp": 1_700_000_000_000 + i,
         "open_rate": 1.0, "is_open": True}
        for i in range(n)
    ])  # fmt: skip


@asynccontextmanager
async def bot_server(answer: Callable[[str], bytes | None]) -> AsyncIterator[tuple[str, list[int]]]:
    """A freqtrade-like API on loopback: `answer(path)` is the JSON body, or None to stream
    a body without end (as long as the client reads). Yields its URL and, per request,
    the bytes it wrote before the client went."""
    written: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?")[0]
                body = answer(path)
                if body is not None:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
                    await writer.drain()
                    continue
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
                chunk = b'{"exchange": "' + b"x" * 65_536
                while True:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
                    sent += len(chunk)
                    chunk = b"x" * 65_536
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            if sent:
                written.append(sent)
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", written
    finally:
        server.close()


async def test_a_bot_answering_without_end_or_with_too_many_trades_is_an_error(
    make_settings: SettingsFactory,
) -> None:
    endless_answers = {"/api/v1/status": b"[]"}
    crowded_answers = {"/api/v1/show_config": CONFIG, "/api/v1/status": trades(1_500),
                       "/api/v1/trades": b'{"trades": [], "total_trades": 0}',
                       "/api/v1/plot_config": b"{}"}  # fmt: skip
    async with (
        bot_server(lambda path: endless_answers.get(path)) as (endless, written),
        bot_server(lambda path: crowded_answers.get(path, b"{}")) as (crowded, _),
    ):
        bots = [{"name": "endless", "url": endless}, {"name": "crowded", "url": crowded}]
        settings = make_settings(bots=json.dumps(bots), bot_max_bytes=1024 * 1024, bot_timeout_s=30)
        async with live_server(settings) as s:
            listing = asyncio.create_task(s.http.get("/api/bots"))
            candles = await s.http.get("/api/market/candles", params={"series_id": SERIES})
            assert candles.status_code == 200  # served while the bots are read
            by_name = {b["name"]: b for b in (await listing).json()["bots"]}
            assert by_name["endless"]["state"] == "error"
            assert "BOT_MAX_BYTES" in by_name["endless"]["reason"]
            assert by_name["crowded"]["state"] == "error"
            assert "1500 open trades" in by_name["crowded"]["reason"]
            # The endless answer was cut where the cap said, not read on.
            await poll(lambda: bool(written), "the endless bot to see its reader gone")
            assert max(written) < 8 * 1024 * 1024, written
