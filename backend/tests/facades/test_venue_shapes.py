"""The facades answer in the venues' exact shape, field for field (keys, order of row
fields, JSON types): Binance's kline stream frames against the live sessions recorded in
`../shared/fixtures/binance-ws` (real frames, written by other software), Bybit's push and
both venues' REST kline bodies against the examples in the venues' API documentation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib import import_module
from typing import Any

import orjson
import pytest
import websockets

from tests.conftest import SettingsFactory
from tests.live_support import live_settings, serving, start_fake, wait_caught_up
from tests.recorded import RECORDINGS, frames
from tests.unit.test_bybit_parser import DOC_KLINE

# Binance's documented `GET /api/v3/klines` row (Kline/Candlestick data: open time, OHLCV,
# close time, quote volume, trades, taker buy base and quote volumes, ignore).
BINANCE_DOC_ROW: list[Any] = [
    1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100",
    "148976.11427815", 1499644799999, "2434.19055334", 308, "1756.87402397",
    "28.46694368", "0",
]  # fmt: skip
# Bybit's documented `GET /v5/market/kline` answer (one row of its example).
BYBIT_DOC_KLINES: dict[str, Any] = {
    "retCode": 0, "retMsg": "OK",
    "result": {"symbol": "BTCUSD", "category": "inverse",
               "list": [["1670608800000", "17071", "17073", "17027", "17055.5", "268611",
                         "15.74462667"]]},
    "retExtInfo": {}, "time": 1672026361839,
}  # fmt: skip


def shape(value: Any) -> Any:
    """What a body says, without what it is worth: keys in order, JSON types, row lengths."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def recorded_kline_frame() -> dict[str, Any]:
    for path in RECORDINGS:
        for raw in frames(path):
            frame = orjson.loads(raw)
            if frame["data"].get("e") == "kline":
                return dict(frame)
    raise AssertionError("the recordings hold kline frames")


async def test_binance_bodies_are_shaped_as_binances(make_settings: SettingsFactory) -> None:
    fake = start_fake(venue="binance", stepped=True)
    try:
        live = "binance:spot:BTC/USDT:1m"
        async with serving(make_settings(**live_settings(fake, whitelist=[live])), fake) as s:
            await wait_caught_up(s, fake, live)
            params = {"symbol": "BTCUSDT", "interval": "1m", "limit": 3}
            rows = (await s.http.get("/binance/api/v3/klines", params=params)).json()
            ws_url = s.base_url.replace("http://", "ws://")
            async with websockets.connect(
                f"{ws_url}/binance/stream?streams=btcusdt@kline_1m"
            ) as ws:
                frame = orjson.loads(await ws.recv())
    finally:
        fake.stop()
    assert [shape(row) for row in rows] == [shape(BINANCE_DOC_ROW)] * 3
    recorded = recorded_kline_frame()
    assert shape(frame) == shape(recorded), (frame, recorded)


async def test_bybit_bodies_are_shaped_as_bybits(make_settings: SettingsFactory) -> None:
    fake = start_fake(venue="bybit", stepped=True)
    try:
        live = "bybit:futures:BTC/USDT:USDT:1m"
        async with serving(make_settings(**live_settings(fake, whitelist=[live])), fake) as s:
            await wait_caught_up(s, fake, live)
            params = {"category": "linear", "symbol": "BTCUSDT", "interval": "1", "limit": 1}
            body = (await s.http.get("/bybit/v5/market/kline", params=params)).json()
            ws_url = s.base_url.replace("http://", "ws://")
            async with websockets.connect(f"{ws_url}/bybit/v5/public/linear") as ws:
                await ws.send(orjson.dumps({"op": "subscribe", "args": ["kline.1.BTCUSDT"]}))
                await ws.recv()  # the subscription's answer
                push = orjson.loads(await ws.recv())
    finally:
        fake.stop()
    assert shape(body) == shape(BYBIT_DOC_KLINES)
    assert shape(push) == shape(orjson.loads(DOC_KLINE))


# Each venue's documented order book answer (its API docs' example), with a second level.
BOOKS: dict[str, tuple[Any, Callable[[Any], list[Any]]]] = {
    "binance": (
        {"lastUpdateId": 1027024,
         "bids": [["4.00000000", "431.00000000"], ["3.99000000", "9.00000000"]],
         "asks": [["4.00000200", "12.00000000"], ["4.00000300", "7.00000000"]]},
        lambda b: [b["bids"], b["asks"]],
    ),
    "bybit": (
        {"retCode": 0, "retMsg": "OK",
         "result": {"s": "BTCUSDT", "a": [["65557.7", "16.606555"], ["65558", "1"]],
                    "b": [["65485.47", "47.081829"], ["65485", "2"]], "ts": 1716863719031,
                    "u": 230704, "seq": 1432604333, "cts": 1716863718905},
         "retExtInfo": {}, "time": 1716863719382},
        lambda b: [b["result"]["b"], b["result"]["a"]],
    ),
    "okx": (
        {"code": "0", "msg": "",
         "data": [{"asks": [["41006.8", "0.60038921", "0", "1"], ["41007", "1", "0", "1"]],
                   "bids": [["41006.3", "0.30178218", "0", "2"], ["41006", "1", "0", "1"]],
                   "ts": "1629966436396"}]},
        lambda b: [b["data"][0]["bids"], b["data"][0]["asks"]],
    ),
}  # fmt: skip


@pytest.mark.parametrize("venue", sorted(BOOKS))
def test_a_book_fetched_at_its_tier_is_cut_to_the_levels_asked(venue: str) -> None:
    """A facade fetches a book at its weight tier and answers the levels asked: the best of
    each side, the venue's shape kept field for field."""
    doc, sides = BOOKS[venue]
    cut = orjson.loads(import_module(f"app.exchanges.{venue}.wire").book_cut(orjson.dumps(doc), 1))
    best = copy.deepcopy(doc)
    for side in sides(best):
        del side[1:]
    assert shape(cut) == shape(best) and cut == best
