"""Bybit v5 public-stream frames, as its documentation gives them, through the real parser
and the feed that turns them into the core's events."""

from __future__ import annotations

import orjson
import pytest

from app.candle import Candle
from app.exchanges.bybit.feed import BybitFeed
from app.exchanges.bybit.parser import BybitReply, parse_frame
from app.exchanges.ports import FrameError, KlineEvent, RequestRefused
from app.series import parse_series_id

# The kline push of Bybit's v5 documentation (WebSocket Stream > Public > Kline).
DOC_KLINE = (
    '{"topic":"kline.5.BTCUSDT","data":[{"start":1672324800000,"end":1672325099999,'
    '"interval":"5","open":"16649.5","close":"16677","high":"16677","low":"16608",'
    '"volume":"2.081","turnover":"34666.4005","confirm":false,"timestamp":1672324988882}],'
    '"ts":1672324988882,"type":"snapshot"}'
)
DOC_PONG = (
    '{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}'
)
# Spot answers the same ping in another shape.
DOC_SPOT_PONG = (
    '{"req_id":"test","op":"pong","args":["1675418560633"],"conn_id":"cfcb4ocsvfriu23r3er0-1b"}'
)
DOC_SUBSCRIBED = (
    '{"success":true,"ret_msg":"","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b",'
    '"req_id":"10001","op":"subscribe"}'
)
DOC_ORDERBOOK = (
    '{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":'
    '{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":18521288,'
    '"seq":7961638724},"cts":1672304484976}'
)


def test_the_documented_kline_push() -> None:
    frame = parse_frame(DOC_KLINE)
    assert frame == (
        KlineEvent(
            "kline.5.BTCUSDT", Candle(1672324800, 16649.5, 16677.0, 16608.0, 16677.0, 2.081),
            False, 1672324988882,
        ),
    )  # fmt: skip


def test_confirm_true_is_the_close() -> None:
    raw = DOC_KLINE.replace('"confirm":false', '"confirm":true')
    (kline,) = BybitFeed("spot", "ws://x").parse(raw)
    assert isinstance(kline, KlineEvent) and kline.closed
    assert kline.topic == "kline.5.BTCUSDT"


def test_replies_pongs_and_other_topics_need_no_action() -> None:
    feed = BybitFeed("futures", "ws://x")
    assert parse_frame(DOC_PONG) == BybitReply("ping", True, "pong")
    assert feed.parse(DOC_PONG) == ()
    assert parse_frame(DOC_SPOT_PONG) == BybitReply("pong", True, "")
    assert BybitFeed("spot", "ws://x").parse(DOC_SPOT_PONG) == ()
    assert feed.parse(DOC_SUBSCRIBED) == ()
    assert feed.parse(DOC_ORDERBOOK) == ()
    refused = orjson.dumps(
        {"success": False, "ret_msg": "args size >10", "conn_id": "c", "op": "subscribe"}
    )
    assert feed.parse(refused) == (RequestRefused("subscribe: args size >10"),)


def test_topics_requests_and_heartbeat() -> None:
    feed = BybitFeed("spot", "ws://x")
    assert feed.topic(parse_series_id("bybit:spot:BTC/USDT:1h")) == "kline.60.BTCUSDT"
    assert feed.topic(parse_series_id("bybit:futures:ETH/USDT:USDT:1d")) == "kline.D.ETHUSDT"
    assert orjson.loads(feed.request("subscribe", ["kline.1.BTCUSDT"], 7)) == {
        "req_id": "7", "op": "subscribe", "args": ["kline.1.BTCUSDT"],
    }  # fmt: skip
    assert orjson.loads(feed.heartbeat() or "") == {"op": "ping"}
    assert feed.limits.topics_per_request == 10  # Bybit spot takes 10 args per request
    assert feed.limits.heartbeat_s == 20


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"hello": 1}', "neither op nor topic"),
        ('{"topic": "kline.7.BTCUSDT", "data": []}', "is not kline"),
        ('{"topic": "kline.1.BTCUSDT", "data": {}}', "data list"),
        ('{"topic": "kline.1.BTCUSDT", "data": [{"interval": "5"}]}', "differs"),
        (DOC_KLINE.replace('"confirm":false', '"confirm":"no"'), "boolean confirm"),
        (DOC_KLINE.replace('"open":"16649.5"', '"open":16649.5'), "decimal string"),
        (DOC_KLINE.replace('"low":"16608"', '"low":"99999"'), "implausible"),
        (DOC_KLINE.replace("1672324800000", "1672324860000"), "not aligned"),
        (DOC_KLINE.replace('"volume":"2.081"', '"volume":"nan"'), "not finite"),
    ],
)
def test_garbage_is_a_frame_error(frame: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        parse_frame(frame)
