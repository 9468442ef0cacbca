"""The facades' kline streams: Binance's `/binance/ws` and `/binance/stream` (USDT-M under
`/binance/market/`), Bybit's `/bybit/v5/public/{spot,linear}` and OKX's
`/okx/ws/v5/business`, fed by this server's own live feed. The real ccxt.pro follows them as it follows the exchange; raw clients get each
venue's own replies to subscriptions, bad requests and pings; a closed candle is sent only
once the store holds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import ccxt.pro as ccxt_pro
import orjson
import pytest
import websockets

from local_exchange.server import FakeVenue
from tests.conftest import SettingsFactory
from tests.facades.test_facades import ccxt_config, series_of, symbol_of
from tests.live_support import (
    each_venue,  # noqa: F401 (the `fake` fixture)
    exchange_history,
    head_of,
    live_settings,
    serving,
    start_fake,
    wait_caught_up,
)
from tests.support import LiveServer, StalledClient, poll


def ws_urls(venue: str, ws_base: str) -> Any:
    """ccxt's `urls.api.ws` for this server's streams: the snippet in docs/facades.md."""
    if venue == "binance":
        # ccxt turns a USDT-M `…/ws` into `…/market/ws` for klines, as Binance's own.
        return {"spot": f"{ws_base}/binance/ws", "linear": f"{ws_base}/binance/ws"}
    if venue == "okx":
        return f"{ws_base}/okx/ws/v5"  # ccxt adds `/business` for candle channels
    return {"public": {"spot": f"{ws_base}/bybit/v5/public/spot",
                       "linear": f"{ws_base}/bybit/v5/public/linear"}}  # fmt: skip


@asynccontextmanager
async def pro_client(s: LiveServer, venue: str, market: str) -> AsyncIterator[Any]:
    config = ccxt_config(venue, f"{s.base_url}/{venue}", market)
    config["urls"]["api"]["ws"] = ws_urls(venue, s.base_url.replace("http://", "ws://"))
    client = getattr(ccxt_pro, venue)(config)
    try:
        yield client
    finally:
        await client.close()


@pytest.mark.parametrize("market", ["spot", "futures"])
async def test_ccxt_pro_watches_klines_through_the_facade(
    make_settings: SettingsFactory, fake: FakeVenue, market: str
) -> None:
    """ccxt.pro's watch_ohlcv, pointed at the facade, sees candle after candle open and
    close; every candle it saw close is the exchange's own."""
    live = series_of(fake, market)
    settings = make_settings(**live_settings(fake, whitelist=[live]))
    async with serving(settings, fake) as s:
        await wait_caught_up(s, fake, live)
        async with pro_client(s, fake.name, market) as client:
            seen: dict[int, list[float]] = {}

            def closed_ones() -> list[int]:
                # The first may have been joined half-way; the newest two may not have
                # closed yet (a close is committed a little after its boundary).
                return sorted(seen)[1:-2]

            async def candles_closed() -> bool:
                for row in await client.watch_ohlcv(symbol_of(market), "1m"):
                    seen[int(row[0]) // 1000] = row
                closed = closed_ones()
                if len(closed) < 3:
                    return False
                expected = exchange_history(fake, live, closed[0], closed[-1])
                return [seen[t] for t in closed] == [[t * 1000, *r] for t, *r in expected]

            await poll(candles_closed, "ccxt.pro to see candles close as the exchange's")
    times = sorted(seen)
    assert times == list(range(times[0], times[-1] + 60, 60))  # none skipped


@asynccontextmanager
async def live_venue(
    make_settings: SettingsFactory, venue: str, market: str
) -> AsyncIterator[tuple[FakeVenue, LiveServer, str]]:
    """The local `venue` and the server following its BTC series of `market` live."""
    fake = start_fake(venue=venue, stepped=True)
    try:
        live = series_of(fake, market)
        settings = make_settings(**live_settings(fake, whitelist=[live]))
        async with serving(settings, fake) as s:
            await wait_caught_up(s, fake, live)
            yield fake, s, live
    finally:
        fake.stop()


async def recv_json(ws: Any) -> Any:
    return orjson.loads(await ws.recv())


async def test_binance_stream_replies_and_sends_closes_only_once_stored(
    make_settings: SettingsFactory,
) -> None:
    async with live_venue(make_settings, "binance", "spot") as (fake, s, live):
        ws_base = s.base_url.replace("http://", "ws://")
        async with websockets.connect(f"{ws_base}/binance/stream?streams=btcusdt@kline_1m") as ws:
            closes = 0
            while closes < 2:
                message = await recv_json(ws)
                assert message["stream"] == "btcusdt@kline_1m"
                k = message["data"]["k"]
                assert (message["data"]["e"], k["s"], k["i"]) == ("kline", "BTCUSDT", "1m")
                if k["x"]:
                    closes += 1
                    # Sent only once committed: the store already holds it.
                    head = await head_of(s, live)
                    assert head is not None and head >= k["t"] // 1000
                    t = k["t"] // 1000
                    [(_, o, h, low, c, v)] = exchange_history(fake, live, t, t)
                    assert [float(k[f]) for f in "ohlcv"] == [o, h, low, c, v]

            async def reply(request: Any) -> dict[str, Any]:
                await ws.send(request if isinstance(request, str) else orjson.dumps(request))
                while True:  # frames keep coming meanwhile
                    message = await recv_json(ws)
                    if "stream" not in message:
                        return dict(message)

            assert (await reply("not json"))["error"]["code"] == 3
            r = await reply({"method": "SUBSCRIBE", "params": ["nosuchusdt@kline_1m"],
                             "id": 7})  # fmt: skip
            assert r["id"] == 7 and r["error"]["code"] == 2
            r = await reply({"method": "SUBSCRIBE", "params": ["ethusdt@kline_1m"], "id": 8})
            assert r == {"result": None, "id": 8}
            r = await reply({"method": "LIST_SUBSCRIPTIONS", "id": 9})
            assert r == {"result": ["btcusdt@kline_1m", "ethusdt@kline_1m"], "id": 9}
            r = await reply({"method": "UNSUBSCRIBE", "params": ["btcusdt@kline_1m"],
                             "id": 10})  # fmt: skip
            assert r == {"result": None, "id": 10}

            async def only_eth() -> bool:
                return bool((await recv_json(ws))["stream"] == "ethusdt@kline_1m")

            await poll(only_eth, "ETH frames")
        # The subscription made the series live (a lease, as for a chart client).
        jobs = (await s.http.get("/api/market/debug/ingest_state")).json()["jobs"]
        assert "binance:spot:ETH/USDT:1m" in {j["series_id"] for j in jobs}


async def test_bybit_stream_replies_and_sends_closes_only_once_stored(
    make_settings: SettingsFactory,
) -> None:
    async with live_venue(make_settings, "bybit", "futures") as (fake, s, live):
        ws_base = s.base_url.replace("http://", "ws://")
        async with websockets.connect(f"{ws_base}/bybit/v5/public/linear") as ws:
            await ws.send(orjson.dumps({"op": "ping", "req_id": "p"}))
            pong = await recv_json(ws)
            assert (pong["op"], pong["success"], pong["req_id"]) == ("ping", True, "p")
            await ws.send(orjson.dumps({"op": "subscribe", "args": ["kline.1.BTCUSDT"],
                                        "req_id": "s"}))  # fmt: skip
            r = await recv_json(ws)
            assert (r["op"], r["success"], r["req_id"]) == ("subscribe", True, "s")
            closes = 0
            while closes < 2:
                push = await recv_json(ws)
                assert (push["topic"], push["type"]) == ("kline.1.BTCUSDT", "snapshot")
                [k] = push["data"]
                if k["confirm"]:
                    closes += 1
                    t = k["start"] // 1000
                    head = await head_of(s, live)
                    assert head is not None and head >= t
                    [(_, o, h, low, c, v)] = exchange_history(fake, live, t, t)
                    got = [float(k[f]) for f in ("open", "high", "low", "close", "volume")]
                    assert got == [o, h, low, c, v]
            for bad in ("kline.1.NOSUCHUSDT", "orderbook.50.BTCUSDT", "kline.7.BTCUSDT"):
                await ws.send(orjson.dumps({"op": "subscribe", "args": [bad]}))
                while "topic" in (r := await recv_json(ws)):
                    pass
                assert (r["op"], r["success"]) == ("subscribe", False), r
            await ws.send(b"\xff not json")
            while "topic" in (r := await recv_json(ws)):
                pass
            assert r["success"] is False


async def test_okx_stream_replies_and_sends_closes_only_once_stored(
    make_settings: SettingsFactory,
) -> None:
    async with live_venue(make_settings, "okx", "futures") as (fake, s, live):
        ws_base = s.base_url.replace("http://", "ws://")
        async with websockets.connect(f"{ws_base}/okx/ws/v5/business") as ws:
            await ws.send("ping")
            assert await ws.recv() == "pong"
            arg = {"channel": "candle1m", "instId": "BTC-USDT-SWAP"}
            await ws.send(orjson.dumps({"id": "s1", "op": "subscribe", "args": [arg]}))
            ack = await recv_json(ws)
            assert (ack["id"], ack["event"], ack["arg"]) == ("s1", "subscribe", arg)
            closes = 0
            while closes < 2:
                push = await recv_json(ws)
                assert push["arg"] == arg
                [row] = push["data"]
                if row[8] == "1":
                    closes += 1
                    t = int(row[0]) // 1000
                    head = await head_of(s, live)
                    assert head is not None and head >= t
                    [(_, o, h, low, c, v)] = exchange_history(fake, live, t, t)
                    assert [float(x) for x in row[1:6]] == [o, h, low, c, v]

            async def reply(request: str | bytes) -> dict[str, Any]:
                await ws.send(request)
                while "arg" in (r := await recv_json(ws)) and "event" not in r:
                    pass  # candle pushes keep coming meanwhile
                return dict(r)

            for bad in ({"channel": "candle7m", "instId": "BTC-USDT"},
                        {"channel": "candle", "instId": "BTC-USDT"},
                        {"channel": "candle1m", "instId": "NOSUCH-USDT"},
                        {"channel": "books", "instId": "BTC-USDT"}):  # fmt: skip
                r = await reply(orjson.dumps({"op": "subscribe", "args": [bad]}))
                assert (r["event"], r["code"]) == ("error", "60018"), r
            r = await reply(b"\xff not json")
            assert (r["event"], r["code"]) == ("error", "60012")
            r = await reply(orjson.dumps({"op": "unsubscribe", "args": [arg]}))
            assert (r["event"], r["arg"]) == ("unsubscribe", arg)
            spot = {"channel": "candle1m", "instId": "ETH-USDT"}
            r = await reply(orjson.dumps({"op": "subscribe", "args": [spot]}))
            assert (r["event"], r["arg"]) == ("subscribe", spot)

            async def only_spot() -> bool:
                return bool((await recv_json(ws))["arg"] == spot)

            await poll(only_spot, "ETH-USDT pushes")
        jobs = (await s.http.get("/api/market/debug/ingest_state")).json()["jobs"]
        assert "okx:spot:ETH/USDT:1m" in {j["series_id"] for j in jobs}


async def test_okx_stream_sends_a_swaps_mark_and_index_candles_once_stored(
    make_settings: SettingsFactory,
) -> None:
    """A swap's `mark-price-candle<bar>` (by its id) and `index-candle<bar>` (by its
    family) channels, as OKX pushes them: rows `[ts, o, h, l, c, confirm]` from this
    server's live feed of `okx:mark:...` and `okx:index:...`, each close sent once stored."""
    async with live_venue(make_settings, "okx", "futures") as (fake, s, _):
        ws_base = s.base_url.replace("http://", "ws://")
        async with websockets.connect(f"{ws_base}/okx/ws/v5/business") as ws:
            args = {"okx:mark:BTC/USDT:USDT:1m": {"channel": "mark-price-candle1m",
                                                   "instId": "BTC-USDT-SWAP"},
                    "okx:index:BTC/USDT:USDT:1m": {"channel": "index-candle1m",
                                                    "instId": "BTC-USDT"}}  # fmt: skip
            await ws.send(orjson.dumps({"id": "d", "op": "subscribe", "args": list(args.values())}))
            acks = [await recv_json(ws) for _ in args]
            assert [(a["event"], a["arg"]) for a in acks] == [
                ("subscribe", a) for a in args.values()
            ]
            closes: dict[str, int] = {}
            while len(closes) < len(args) or min(closes.values()) < 2:
                push = await recv_json(ws)
                series = next(k for k, a in args.items() if a == push["arg"])
                [row] = push["data"]
                assert len(row) == 6 and row[5] in ("0", "1"), row
                if row[5] == "1":
                    closes[series] = closes.get(series, 0) + 1
                    t = int(row[0]) // 1000
                    head = await head_of(s, series)
                    assert head is not None and head >= t, (series, head, t)
                    [(_, o, h, low, c, _v)] = exchange_history(fake, series, t, t)
                    assert [float(x) for x in row[1:5]] == [o, h, low, c], series
            unknown = {"channel": "mark-price-candle1m", "instId": "BTC-USDT"}  # (a spot id)
            await ws.send(orjson.dumps({"op": "subscribe", "args": [unknown]}))
            while "arg" in (r := await recv_json(ws)) and "event" not in r:
                pass
            assert (r["event"], r["code"]) == ("error", "60018"), r


async def test_a_stream_path_that_is_not_a_venues_is_refused(
    make_settings: SettingsFactory,
) -> None:
    fake = start_fake(venue="binance", stepped=True)
    try:
        async with serving(make_settings(**live_settings(fake)), fake) as s:
            ws_base = s.base_url.replace("http://", "ws://")
            for path in ("/binance/nowhere", "/bybit/v5/private", "/bybit/v5/public/option",
                         "/okx/ws/v5/public", "/okx/ws/v5/private"):  # fmt: skip
                with pytest.raises(websockets.exceptions.WebSocketException):
                    async with websockets.connect(f"{ws_base}{path}") as ws:
                        await ws.recv()
    finally:
        fake.stop()


async def test_a_stream_client_that_stops_reading_is_closed(
    make_settings: SettingsFactory,
) -> None:
    """Its frames are not dropped one by one (it would miss closes without knowing): past
    its queue (`WS_SEND_QUEUE_MAX`) it is closed with 1008, and the others go on."""
    fake = start_fake(venue="binance", stepped=True)
    try:
        symbols = ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA")
        whitelist = [series_of(fake, "spot", base) for base in symbols]
        settings = make_settings(**live_settings(fake, whitelist=whitelist),
                                 ws_send_queue_max=8)  # fmt: skip
        async with serving(settings, fake) as s:
            await wait_caught_up(s, fake, whitelist[0])
            ws_base = s.base_url.replace("http://", "ws://")
            streams = "/".join(f"{b.lower()}usdt@kline_1m" for b in symbols)
            stalled = await StalledClient.connect(f"{ws_base}/binance/stream?streams={streams}")
            async with websockets.connect(f"{ws_base}/binance/ws/btcusdt@kline_1m") as reader:

                async def closed_as_too_slow() -> bool:
                    await reader.recv()  # a reading client keeps being served meanwhile
                    text = (await s.http.get("/metrics")).text
                    return (
                        'trade_canvas_facade_stream_clients_closed_total{reason="too_slow",'
                        'venue="binance"} 1.0' in text
                    )

                await poll(closed_as_too_slow, "the stalled client to be closed", timeout=60)
                code, reason = await stalled.read_until_closed(30)
                assert (code, reason) == (1008, "client too slow")
                await stalled.close()
                assert orjson.loads(await reader.recv())["e"] == "kline"
    finally:
        fake.stop()


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
async def test_a_stream_client_that_floods_or_sends_too_much_is_closed(
    make_settings: SettingsFactory, venue: str
) -> None:
    """The same limits as `/ws/market` (`WS_MAX_MESSAGE_BYTES`, `WS_MESSAGES_PER_S` and its
    burst); past them the connection is closed, as the venues close such connections."""
    fake = start_fake(venue=venue, stepped=True)
    try:
        settings = make_settings(**live_settings(fake), ws_max_message_bytes=1024,
                                 ws_messages_per_s=1, ws_message_burst=5)  # fmt: skip
        path, ping = {
            "binance": ("/binance/ws", '{"method": "LIST_SUBSCRIPTIONS", "id": 1}'),
            "bybit": ("/bybit/v5/public/spot", '{"op": "ping"}'),
            "okx": ("/okx/ws/v5/business", "ping"),
        }[venue]
        async with serving(settings, fake) as s:
            url = s.base_url.replace("http://", "ws://") + path
            async with websockets.connect(url) as ws:
                await ws.send("x" * 2000)
                with pytest.raises(websockets.exceptions.ConnectionClosed) as big:
                    while True:
                        await ws.recv()
                assert big.value.rcvd is not None and big.value.rcvd.code == 1009
            async with websockets.connect(url) as ws:
                for _ in range(5):  # the burst is answered
                    await ws.send(ping)
                    await ws.recv()
                with pytest.raises(websockets.exceptions.ConnectionClosed) as flood:
                    for _ in range(50):
                        await ws.send(ping)
                    while True:
                        await ws.recv()
                assert flood.value.rcvd is not None
                assert (flood.value.rcvd.code, flood.value.rcvd.reason) == (
                    1008, "too many messages",
                )  # fmt: skip
            text = (await s.http.get("/metrics")).text
            assert f'reason="flood",venue="{venue}"}} 1.0' in text
    finally:
        fake.stop()


def spellings(name: str) -> list[str]:
    """Every upper/lower-case spelling of `name`'s letters (`btcusdt`: 128)."""
    out = [""]
    for ch in name:
        out = [s + c for s in out for c in {ch.lower(), ch.upper()}]
    return out


def subscribe_frame(venue: str, symbols: list[str], op: str = "subscribe") -> str:
    """A subscription to the 1m klines of `symbols` (each as spelt), in the venue's words."""
    if venue == "binance":
        params = [f"{s}@kline_1m" for s in symbols]
        return orjson.dumps({"method": op.upper(), "params": params, "id": op}).decode()
    if venue == "bybit":
        return orjson.dumps({"op": op, "args": [f"kline.1.{s}" for s in symbols]}).decode()
    args = [{"channel": "candle1m", "instId": f"{s[:-4]}-{s[-4:]}"} for s in symbols]
    return orjson.dumps({"op": op, "args": args}).decode()


def is_kline(venue: str, message: Any, symbol: str = "") -> bool:
    if venue == "binance":
        return message.get("e") == "kline" and symbol in message["s"]
    if "data" not in message:
        return False
    return symbol in str(message.get("topic") or message.get("arg", {}).get("instId", ""))


def unsubscribed(venue: str, message: Any) -> bool:
    """Whether `message` acknowledges an unsubscribe."""
    if venue == "binance":
        return message.get("id") == "unsubscribe" and "error" not in message
    key = "op" if venue == "bybit" else "event"
    return message.get(key) == "unsubscribe"


def refused(venue: str, message: Any) -> bool:
    if venue == "binance":
        return "error" in message
    if venue == "bybit":
        return message.get("success") is False
    return message.get("event") == "error"


STREAM_PATHS = {"binance": "/binance/ws", "bybit": "/bybit/v5/public/spot",
                "okx": "/okx/ws/v5/business"}  # fmt: skip


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
async def test_a_stream_spelt_many_ways_is_one_topic_and_topics_are_capped(
    make_settings: SettingsFactory, venue: str
) -> None:
    """BTCUSDT's klines asked for in all 128 spellings on one connection are one topic: each
    frame comes once, not 128 times. A connection follows at most `WS_MAX_SUBSCRIPTIONS`
    streams; past that a subscription is refused in the venue's words."""
    fake = start_fake(venue=venue, stepped=True)
    try:
        live = series_of(fake, "spot")
        settings = make_settings(**live_settings(fake, whitelist=[live]), ws_max_subscriptions=3)
        async with serving(settings, fake) as s:
            await wait_caught_up(s, fake, live)
            ws_base = s.base_url.replace("http://", "ws://")
            async with websockets.connect(ws_base + STREAM_PATHS[venue], max_queue=None) as ws:
                for chunk in range(0, 128, 32):  # the venues take a few dozen per request
                    await ws.send(subscribe_frame(venue, spellings("btcusdt")[chunk : chunk + 32]))
                frames: list[str] = []
                while len(frames) < 12:
                    raw = await ws.recv()
                    message = orjson.loads(raw)
                    assert not refused(venue, message), message
                    if is_kline(venue, message):
                        frames.append(raw if isinstance(raw, str) else raw.decode())
                if venue != "okx":  # OKX's frames carry no time: a quiet market repeats one
                    assert len(set(frames)) == len(frames), "a frame came more than once"
                # One spelling given back gives the one topic back: once it is acknowledged
                # (after every frame queued before it), no BTC frame follows; ETH's do.
                await ws.send(subscribe_frame(venue, ["BtcUsdt"], "unsubscribe"))
                await ws.send(subscribe_frame(venue, ["ETHUSDT"]))
                given_back, eth_frames = False, 0
                while eth_frames < 3:
                    message = orjson.loads(await ws.recv())
                    if is_kline(venue, message, "BTC"):
                        assert not given_back, "BTC frames after it was given back"
                    elif is_kline(venue, message, "ETH"):
                        eth_frames += 1
                    else:
                        assert not refused(venue, message), message
                        given_back = given_back or unsubscribed(venue, message)
                # Two more streams fit (three in all); a fourth does not.
                for symbol in ("SOLUSDT", "BNBUSDT", "XRPUSDT"):
                    await ws.send(subscribe_frame(venue, [symbol]))
                answers: list[Any] = []
                while not any(refused(venue, m) for m in answers):
                    message = orjson.loads(await ws.recv())
                    if not is_kline(venue, message):
                        answers.append(message)
                assert sum(refused(venue, m) for m in answers) == 1, answers
    finally:
        fake.stop()
