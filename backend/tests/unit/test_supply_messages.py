"""The supply's calls as the bus carries them: each request read back as it was written,
and a request of the wrong shape refused when read (the leader answers it as unreadable)."""

from __future__ import annotations

import orjson
import pytest

from app.candle import Candle, KlineExtras
from app.errors import InvalidSeriesId
from app.exchanges.budget import LIVE, Caller
from app.exchanges.ports import SymbolInfo
from app.series import parse_series_id
from app.store import UpsertResult
from app.supply import messages

SERIES = parse_series_id("binance:futures:BTC/USDT:USDT:1h")


def over_the_wire(wire: messages.Wire) -> messages.Wire:
    decoded: messages.Wire = orjson.loads(orjson.dumps(wire))
    return decoded


@pytest.mark.parametrize(
    "request_",
    [
        messages.EnsureHistory(SERIES, None, True, False),
        messages.EnsureHistory(SERIES, 1_700_000_000, False, True),
        messages.Fill(SERIES, 1_700_000_000, 1_700_003_600, Caller("client", "10.0.0.7")),
        messages.Fill(SERIES, 0, 3_600, Caller("history")),
        messages.FetchUnstored(SERIES, 1_699_999_940, 1_700_003_600, 1000, True, Caller("history")),
        messages.FetchForming(SERIES, 1_700_003_600, LIVE),
        messages.CorrectClosed(str(SERIES), ((1_700_000_000, 1.0, 2.0, 0.5, 1.5, 10.0),)),
        messages.LoadMarkets("okx", "futures"),
    ],
)
def test_each_request_is_read_back_as_written(request_: messages.Request) -> None:
    read = type(request_).from_wire(over_the_wire(request_.to_wire()))
    assert read == request_


def test_answers_are_read_back_as_written() -> None:
    candle = Candle(1_700_000_000, 1.0, 2.0, 0.5, 1.5, 10.0)
    assert messages.candle_of(over_the_wire(messages.candle_wire(candle))) == candle
    assert messages.candle_of(over_the_wire(messages.candle_wire(None))) is None
    fetched = (
        [(1_700_000_000, 1.0, 2.0, 0.5, 1.5, 10.0)],
        {1_700_000_000: KlineExtras(1_700_000_000, 15.0, 42, 4.0, 6.0)},
    )
    assert messages.fetched_of(over_the_wire(messages.fetched_wire(fetched))) == fetched
    assert messages.floor_of(over_the_wire(messages.floor_wire(1_500_000_000))) == 1_500_000_000
    assert messages.ready_of(over_the_wire(messages.ready_wire(False))) is False
    written = UpsertResult(str(SERIES), 1, 2, 1_700_000_000)
    wire = over_the_wire(messages.written_wire(written))
    assert messages.written_of(str(SERIES), wire) == written
    symbols = {"BTC/USDT:USDT": SymbolInfo("BTC/USDT:USDT", "BTCUSDT", 0.1, 0.001, 0.01)}
    assert messages.symbols_of(over_the_wire(messages.symbols_wire(symbols))) == symbols
    assert messages.symbols_of(over_the_wire(messages.symbols_wire(None))) is None


@pytest.mark.parametrize(
    ("kind", "wire"),
    [
        (messages.EnsureHistory, {"s": "nowhere:spot:BTC/USDT:1h", "since": None, "c": False}),
        (messages.Fill, {"s": str(SERIES), "a": "soon", "u": 3_600}),
        (messages.FetchForming, {"s": str(SERIES)}),
        (messages.CorrectClosed, {"s": str(SERIES), "c": [[1, 2, 3]]}),
        (messages.LoadMarkets, {"v": "binance", "m": "options"}),
    ],
)
def test_a_request_of_the_wrong_shape_is_refused(kind: type, wire: messages.Wire) -> None:
    # What `LeaderAnswers` answers as a refusal, rather than leave the asker waiting.
    with pytest.raises((KeyError, TypeError, ValueError, InvalidSeriesId)):
        kind.from_wire(wire)


def test_a_caller_of_an_unknown_kind_is_charged_as_live_ingest() -> None:
    wire = {**messages.Fill(SERIES, 0, 3_600, LIVE).to_wire(), "k": "admin"}
    assert messages.Fill.from_wire(wire).caller == LIVE
