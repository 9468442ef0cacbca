"""Record and replay: every frame of real recorded Binance sessions through the parser."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from app.candle import Candle, KlineExtras
from app.exchanges.binance.feed import BinanceFeed
from app.exchanges.binance.parser import (
    FrameError,
    KlineEvent,
    OtherEvent,
    Reply,
    ServerShutdown,
    parse_frame,
    rest_funding_rates,
    rest_klines,
)
from app.series import parse_series_id
from tests.recorded import BINANCE_SESSIONS, RECORDINGS, frames


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_every_recorded_frame_parses(path: Path) -> None:
    klines: list[KlineEvent] = []
    others: set[str] = set()
    for raw in frames(path):
        parsed = parse_frame(raw)
        if isinstance(parsed, KlineEvent):
            klines.append(parsed)
            msg = orjson.loads(raw)
            k = msg["data"]["k"]
            assert msg["stream"] == parsed.topic
            assert parsed.event_time_ms == msg["data"]["E"]
            assert parsed.candle == Candle(
                k["t"] // 1000,
                float(k["o"]),
                float(k["h"]),
                float(k["l"]),
                float(k["c"]),
                float(k["v"]),
            )
            assert parsed.closed is k["x"]
            # Quote volume, trades and taker volumes are kept: the Binance facade serves them.
            assert parsed.extras == KlineExtras(
                k["t"] // 1000, float(k["q"]), k["n"], float(k["V"]), float(k["Q"])
            )
        else:
            assert isinstance(parsed, OtherEvent)
            others.add(parsed.kind)
    assert klines, "each recording has kline frames"
    assert {"depthUpdate", "bookTicker", "aggTrade"} <= others
    assert {k.topic.rsplit("_", 1)[1] for k in klines} == {"1m"}


def test_closed_klines_in_the_recordings() -> None:
    closed = [
        parsed
        for path in RECORDINGS
        for raw in frames(path)
        if isinstance(parsed := parse_frame(raw), KlineEvent) and parsed.closed
    ]
    assert len(closed) == 5
    futures = [
        k for k in closed
        if k.topic.split("@")[0] in {"sushiusdt", "akrousdt", "keepusdt", "ctkusdt"}
    ]  # fmt: skip
    assert futures and all(k.candle.candle_time % 60 == 0 for k in closed)


def test_raw_frames_replies_and_shutdown() -> None:
    raw = next(frames(RECORDINGS[0])[i] for i in range(300) if "kline" in frames(RECORDINGS[0])[i])
    data = orjson.dumps(orjson.loads(raw)["data"])
    assert isinstance(parse_frame(data), KlineEvent)  # a raw /ws/<stream> frame
    assert parse_frame('{"result": null, "id": 7}') == Reply(7, None, None)
    assert parse_frame('{"result": ["btcusdt@kline_1m"], "id": 3}').result == ["btcusdt@kline_1m"]
    err = parse_frame('{"error": {"code": 2, "msg": "Invalid request"}, "id": 2}')
    assert isinstance(err, Reply) and err.error == {"code": 2, "msg": "Invalid request"}
    assert parse_frame('{"event": {"e": "serverShutdown", "E": 5}}') == ServerShutdown(5)
    assert parse_frame('{"e": "serverShutdown", "E": 6}') == ServerShutdown(6)


KLINE = {
    "e": "kline", "E": 1, "s": "BTCUSDT",
    "k": {"t": 1_700_000_040_000, "T": 1_700_000_099_999, "s": "BTCUSDT", "i": "1m",
          "o": "1.0", "h": "2.0", "l": "0.5", "c": "1.5", "v": "10", "x": True},
}  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"stream": "x", "data": 5}', "data object"),
        ('{"foo": 1}', "no event type"),
        ({**KLINE, "k": None}, "without k"),
        ({**KLINE, "k": {**KLINE["k"], "i": "7m"}}, "unknown interval"),
        ({**KLINE, "k": {**KLINE["k"], "x": "true"}}, "boolean x"),
        ({**KLINE, "k": {**KLINE["k"], "t": 1_700_000_041_000}}, "not aligned"),
        ({**KLINE, "k": {**KLINE["k"], "o": 1.0}}, "decimal string"),
        ({**KLINE, "k": {**KLINE["k"], "c": "abc"}}, "not a number"),
        ({**KLINE, "k": {**KLINE["k"], "h": "nan"}}, "not finite"),
        ({**KLINE, "k": {**KLINE["k"], "h": "0.1"}}, "implausible"),
        ({**KLINE, "E": "1"}, "integer"),
        ({**KLINE, "k": {**KLINE["k"], "s": ""}, "s": ""}, "symbol"),
    ],
)
def test_garbage_is_a_frame_error(frame: object, reason: str) -> None:
    raw = frame if isinstance(frame, str) else orjson.dumps(frame)
    with pytest.raises(FrameError, match=reason):
        parse_frame(raw)


@pytest.mark.parametrize(
    ("recording", "series_id"),
    [
        ("BINANCE.ws.1.0.txt", "binance:spot:NKN/USDT:1m"),
        ("BINANCE_FUTURES.ws.1.0.txt", "binance:futures:SUSHI/USDT:USDT:1m"),
    ],
)
def test_topics_are_the_recorded_stream_names(recording: str, series_id: str) -> None:
    """The adapter maps a pair to Binance's symbol: the stream it subscribes to is the one
    the live exchange sent these klines on."""
    series = parse_series_id(series_id)
    topic = BinanceFeed(series.market, "wss://example.invalid").topic(series)
    streams = {orjson.loads(f).get("stream") for f in frames(BINANCE_SESSIONS / recording)}
    assert topic in streams
    assert topic == f"{series.base.lower()}{series.quote.lower()}@kline_1m"


def test_rest_klines_keep_the_extras_and_refuse_rows_that_are_not_binances() -> None:
    # A row as Binance documents it (GET /api/v3/klines).
    row = [1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100",
           "148976.11427815", 1499644799999, "2434.19055334", 308, "1756.87402397",
           "28.46694368", "0"]  # fmt: skip
    rows, extras = rest_klines([row])
    assert rows == [[1499040000000, 0.0163479, 0.8, 0.015758, 0.015771, 148976.11427815]]
    assert extras == {1499040000: KlineExtras(1499040000, 2434.19055334, 308, 1756.87402397,
                                              28.46694368)}  # fmt: skip
    # Without (or with nonsense) extras the candle stays; its extras are not kept.
    assert rest_klines([row[:6]])[1] == {}
    assert rest_klines([[*row[:8], -1, *row[9:]]])[1] == {}
    for bad in ({"code": -1121}, [row[:5]], [["x", *row[1:]]], [[row[0], "abc", *row[2:]]]):
        with pytest.raises(FrameError):
            rest_klines(bad)


def test_funding_rows_are_flat_candles_at_the_hour_they_were_paid() -> None:
    """Binance's `fundingRate` rows (one stamped a few ms late, as Binance's sometimes
    are), a negative rate kept; a row without its time or rate refused."""
    answer = [
        {"symbol": "BTCUSDT", "fundingTime": 1_700_006_400_000, "fundingRate": "0.00010000",
         "markPrice": "37000.1"},
        {"symbol": "BTCUSDT", "fundingTime": 1_700_035_200_004, "fundingRate": "-0.00002500",
         "markPrice": ""},
    ]  # fmt: skip
    assert rest_funding_rates(answer, "1h") == [
        [1_700_006_400_000, 0.0001, 0.0001, 0.0001, 0.0001, 0.0],
        [1_700_035_200_000, -0.000025, -0.000025, -0.000025, -0.000025, 0.0],
    ]
    for bad in ({"code": -1121}, [{"fundingTime": "x", "fundingRate": "0.1"}],
                [{"fundingTime": 1, "fundingRate": "rate"}], [{"fundingTime": 1}]):  # fmt: skip
        with pytest.raises(FrameError):
            rest_funding_rates(bad, "1h")
