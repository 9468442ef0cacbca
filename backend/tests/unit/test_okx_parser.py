"""OKX v5 business-stream frames, as its documentation gives them, through the real parser
and the feed that turns them into the core's events."""

from __future__ import annotations

import orjson
import pytest

from app.candle import Candle
from app.exchanges.okx.feed import OkxFeed
from app.exchanges.okx.parser import OkxEvent, parse_frame
from app.exchanges.okx.wire import channel_timeframe
from app.exchanges.ports import FrameError, KlineEvent, PlannedReconnect, RequestRefused
from app.series import parse_series_id

# The candlestick push of OKX's v5 documentation (WebSocket > Business > Candlesticks).
DOC_CANDLE = (
    '{"arg":{"channel":"candle1D","instId":"BTC-USDT"},"data":[["1597026383085","8533.02",'
    '"8553.74","8527.17","8548.26","45247","529.5858061","5.5858061","0"]]}'
)
DOC_SUBSCRIBED = (
    '{"event":"subscribe","arg":{"channel":"candle1D","instId":"BTC-USDT"},"connId":"a4d3ae55"}'
)
DOC_ERROR = (
    '{"event":"error","code":"60012","msg":"Invalid request: {\\"op\\": \\"subscribe\\", '
    '\\"argss\\":[{ \\"channel\\" : \\"candle1D\\", \\"instId\\" : \\"BTC-USDT\\"}]}",'
    '"connId":"a4d3ae55"}'
)


def at(channel: str, inst: str, ts: int, confirm: str) -> str:
    """The documented push, on another channel, at an aligned time."""
    frame = orjson.loads(DOC_CANDLE)
    frame["arg"] = {"channel": channel, "instId": inst}
    frame["data"][0][0], frame["data"][0][8] = str(ts), confirm
    return orjson.dumps(frame).decode()


def test_the_documented_push_of_a_bar_served_here() -> None:
    """Its 1D bar is Hong Kong's day, which is not served (1Dutc is); at a UTC day it is."""
    with pytest.raises(FrameError, match="not a bar served here"):
        parse_frame(DOC_CANDLE)
    (candle,) = parse_frame(at("candle1Dutc", "BTC-USDT", 1597017600000, "1"))
    assert candle.topic == "candle1Dutc:BTC-USDT" and candle.event_time_ms is None
    assert channel_timeframe(candle.topic.split(":")[0]) == "1d"
    assert candle.closed
    assert candle.candle == Candle(1597017600, 8533.02, 8553.74, 8527.17, 8548.26, 45247.0)


def test_the_feed_turns_frames_into_events() -> None:
    feed = OkxFeed("futures", "wss://example/ws/v5/business")
    series = parse_series_id("okx:futures:BTC/USDT:USDT:1h")
    assert feed.topic(series) == "candle1H:BTC-USDT-SWAP"
    assert feed.topic(parse_series_id("okx:spot:ETH/USDT:1w")) == "candle1Wutc:ETH-USDT"
    (event,) = feed.parse(at("candle1H", "BTC-USDT-SWAP", 1597024800000, "0"))
    assert isinstance(event, KlineEvent) and event.topic == feed.topic(series)
    assert not event.closed
    assert feed.parse(DOC_SUBSCRIBED) == () and feed.parse("pong") == ()
    (refused,) = feed.parse(DOC_ERROR)
    assert isinstance(refused, RequestRefused) and "60012" in refused.reason
    notice = '{"event":"notice","code":"64008","msg":"upgrade","connId":"a4d3ae55"}'
    assert isinstance(feed.parse(notice)[0], PlannedReconnect)
    assert feed.heartbeat() == "ping"
    request = orjson.loads(feed.request("subscribe", [feed.topic(series)], 7))
    assert request == {
        "id": "7", "op": "subscribe",
        "args": [{"channel": "candle1H", "instId": "BTC-USDT-SWAP"}],
    }  # fmt: skip


def test_events_and_other_channels() -> None:
    assert parse_frame(DOC_SUBSCRIBED) == OkxEvent("subscribe", "", "")
    trades = '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"px":"1"}]}'
    assert parse_frame(trades) == ()


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[]",
        '{"data": []}',
        '{"arg":{"channel":"candle1m"},"data":[]}',
        '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":{}}',
        '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["60000","1"]]}',
        '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["60000","1","2","0.5",'
        '"1.5","3","3","3","2"]]}',
        '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["61000","1","2","0.5",'
        '"1.5","3","3","3","1"]]}',
        '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["60000","1","2","0.5",'
        '"nan","3","3","3","1"]]}',
        '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["60000","1","0.5","2",'
        '"1.5","3","3","3","1"]]}',
    ],
)
def test_garbage_is_a_frame_error(raw: str) -> None:
    with pytest.raises(FrameError):
        parse_frame(raw)
