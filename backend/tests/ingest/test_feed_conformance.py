"""One feed conformance suite over every registered venue: each venue's recorded frames (real
ones: Binance's live sessions in `../shared/fixtures/binance-ws`, Bybit's and OKX's pushes as
their API documentation gives them) replayed through the feed the venue's package builds, the
same one live ingest runs. A venue registered without recordings fails here; a new venue
passes by adding its recordings below.

Each recording is also replayed through the real live engine (its frames as the stream of a
replaying transport): the closes it carries are committed to a real store, its forming
candles published. The live engine over these feeds (drops, refused reconnects, stalls,
missing closes, garbage, bans) is exercised per registered venue by test_live.py,
test_live_clock.py and test_faults.py against the local exchanges, and its own rules on an
in-memory venue by test_live_engine.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from app.bus.memory import NoBus
from app.candle import Candle
from app.clock import SYSTEM_CLOCK
from app.config import Settings
from app.exchanges.ports import FrameError, KlineEvent, LiveFeed
from app.exchanges.upstream import UpstreamMetrics
from app.exchanges.venues import VENUES
from app.hub import CandleWriter
from app.ingest.live import IngestOptions, LiveIngestor
from app.ingest.metrics import IngestMetrics
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.series import SeriesId, align_time, next_candle_time, parse_series_id
from app.store.sqlite import SqliteCandleStore
from local_exchange.clock import SteppedClock
from tests.manual_clock import drive
from tests.memory_venue import NoHistory, Replay
from tests.recorded import BINANCE_SESSIONS, frames
from tests.unit import test_bybit_parser as bybit_doc
from tests.unit import test_okx_parser as okx_doc


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    series_id: str  # the series whose klines the frames carry
    frames: tuple[str, ...]  # in the order they were received
    closes: int  # closed klines of the series among them


def _binance(file: str, series_id: str, closes: int) -> Recording:
    return Recording(file, series_id, tuple(frames(BINANCE_SESSIONS / file)), closes)


RECORDINGS: dict[str, tuple[Recording, ...]] = {
    "binance": (
        _binance("BINANCE.ws.1.0.txt", "binance:spot:NKN/USDT:1m", 0),
        _binance("BINANCE_FUTURES.ws.1.0.txt", "binance:futures:SUSHI/USDT:USDT:1m", 1),
    ),
    "bybit": (
        Recording(
            "v5 docs: subscribe, kline push, pong",
            "bybit:futures:BTC/USDT:USDT:5m",
            (
                bybit_doc.DOC_SUBSCRIBED,
                bybit_doc.DOC_KLINE,
                bybit_doc.DOC_PONG,
                bybit_doc.DOC_ORDERBOOK,
            ),
            0,
        ),
    ),
    "okx": (
        Recording(
            "v5 docs: subscribe, candle push on a UTC day, closed",
            "okx:spot:BTC/USDT:1d",
            (
                okx_doc.DOC_SUBSCRIBED,
                okx_doc.at("candle1Dutc", "BTC-USDT", 1597017600000, "1"),
                "pong",
            ),
            1,
        ),
    ),
}

# What any venue may send by mistake: each is a FrameError, or nothing to act on.
GARBAGE: tuple[str | bytes, ...] = (
    "", "{", "[]", "null", "42", '"text"', '{"data": 5}', '{"data": [[]]}', b"\xff\xfe",
    '{"topic": "kline.5.BTCUSDT", "data": [{"start": "x"}]}',
    '{"arg": {"channel": "candle1m", "instId": "BTC-USDT"}, "data": [["1", "a"]]}',
    '{"stream": "btcusdt@kline_1m", "data": {"e": "kline", "k": {"t": "x"}}}',
)  # fmt: skip


def feed_of(venue_name: str, series: SeriesId) -> LiveFeed:
    """The feed the venue's own package builds from default settings, as the server does."""
    (venue,) = (v for v in VENUES if v.name == venue_name)
    built = venue.build(Settings(), UpstreamMetrics(Metrics()), SYSTEM_CLOCK)
    return built.feeds[series.market]


VENUE_NAMES = [v.name for v in VENUES]


def recorded_klines(feed: LiveFeed, series: SeriesId, recording: Recording) -> list[KlineEvent]:
    """The series' klines among the recording's frames, as the feed parses them."""
    topic = feed.topic(series)
    klines: list[KlineEvent] = []
    for raw in recording.frames:
        try:
            events = feed.parse(raw)
        except FrameError:
            continue
        klines += [e for e in events if isinstance(e, KlineEvent) and e.topic == topic]
    return klines


@pytest.mark.parametrize("venue", VENUE_NAMES)
def test_every_registered_venue_brings_recordings(venue: str) -> None:
    assert RECORDINGS.get(venue), f"{venue}: add its recorded frames to RECORDINGS"


def _recordings() -> list[tuple[str, Recording]]:
    return [(venue, r) for venue in VENUE_NAMES for r in RECORDINGS.get(venue, ())]


@pytest.mark.parametrize(
    ("venue", "recording"), _recordings(), ids=lambda x: x if isinstance(x, str) else x.name
)
def test_recorded_frames_become_the_series_klines(venue: str, recording: Recording) -> None:
    """Every frame parses or is refused as a FrameError; the series' klines arrive on the
    topic the feed subscribes to, aligned to the timeframe, with sane prices; its closes are
    as many as were recorded, in ascending time."""
    series = parse_series_id(recording.series_id)
    klines = recorded_klines(feed_of(venue, series), series, recording)
    assert klines, f"no kline of {series} in the recording"
    for event in klines:
        candle: Candle = event.candle
        assert align_time(candle.candle_time, series.timeframe) == candle.candle_time
        assert all(math.isfinite(x) for x in (candle.open, candle.high, candle.low, candle.close))
        assert candle.low <= min(candle.open, candle.close) <= candle.high
        assert candle.low <= max(candle.open, candle.close) <= candle.high
        assert candle.volume >= 0
    closes = [e.candle.candle_time for e in klines if e.closed]
    assert len(closes) == recording.closes
    assert closes == sorted(set(closes))


@pytest.mark.parametrize(
    ("venue", "recording"), _recordings(), ids=lambda x: x if isinstance(x, str) else x.name
)
async def test_recorded_frames_through_the_live_engine_store_their_closes(
    tmp_path: Path, venue: str, recording: Recording
) -> None:
    """The engine subscribes with the feed's request, commits exactly the recorded closes
    (values as sent) and publishes every forming update, on a clock set just after the
    recording's newest candle."""
    series = parse_series_id(recording.series_id)
    feed = feed_of(venue, series)
    klines = recorded_klines(feed, series, recording)
    newest = max(e.candle.candle_time for e in klines)
    clock = SteppedClock(start=next_candle_time(newest, series.timeframe) + 1)
    metrics = Metrics()
    store = SqliteCandleStore(tmp_path / "store.sqlite", metrics)
    await store.open()
    writer = CandleWriter(store, SeriesLocks(), NoBus(), clock)
    replay = Replay(recording.frames)
    ingestor = LiveIngestor(
        venue, feed, NoHistory(), writer, NoBus(), IngestMetrics(metrics, clock),
        IngestOptions(), clock, transport=replay,
    )  # fmt: skip
    key = str(series)

    def received(kind: str) -> float:
        name = f"trade_canvas_ingest_{kind}_received_total"
        return metrics.registry.get_sample_value(name, {"series_id": key}) or 0.0

    closes = [e.candle for e in klines if e.closed]
    formings = sum(1 for e in klines if not e.closed)
    try:
        await ingestor.add(series)
        await drive(clock, lambda: received("closed") == len(closes) and received("forming")
                    == formings, "every kline of the recording", step=0.05)  # fmt: skip
        await drive(clock, lambda: clock.monotonic() >= 1.0, "a flush", step=0.05)
        assert list(await store.newest(key, 100)) == [tuple(c) for c in closes]
        [subscribe, *_] = replay.sent
        assert subscribe == feed.request("subscribe", [feed.topic(series)], 1)
        assert replay.opened == 1
    finally:
        await ingestor.stop()
        await store.close()


@pytest.mark.parametrize("venue", VENUE_NAMES)
def test_garbage_is_a_frame_error_or_nothing(venue: str) -> None:
    """A feed never raises anything but FrameError, whatever arrives."""
    feed = feed_of(venue, parse_series_id(RECORDINGS[venue][0].series_id))
    for raw in GARBAGE:
        try:
            events = feed.parse(raw)
        except FrameError:
            continue
        assert not any(isinstance(e, KlineEvent) for e in events), raw


@pytest.mark.parametrize("venue", VENUE_NAMES)
def test_requests_and_limits_are_what_a_connection_can_send(venue: str) -> None:
    """A subscribe request names the topics in one JSON text; the limits can be kept; a
    heartbeat is owed only where the venue wants one."""
    recording = RECORDINGS[venue][0]
    series = parse_series_id(recording.series_id)
    feed = feed_of(venue, series)
    request = feed.request("subscribe", [feed.topic(series)], 7)
    assert isinstance(orjson.loads(request), dict)
    limits = feed.limits
    assert limits.topics_per_request >= 1 and limits.topics_per_connection >= 1
    assert limits.requests_per_s > 0 and limits.connects_per_5min > 0
    assert (limits.connects_per_s or 1) > 0 and (limits.requests_per_hour or 1) > 0
    assert (feed.heartbeat() is None) == (limits.heartbeat_s is None)
    assert feed.name.startswith(f"{venue}-") and feed.market == series.market
