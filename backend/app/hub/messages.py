"""Server-to-client WebSocket messages, serialized once to the text every subscriber gets."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from app.candle import CandleRow, candle_to_dict, candles_to_dicts


def _text(obj: object) -> str:
    return orjson.dumps(obj).decode()


def candle_closed(series_id: str, candle: CandleRow) -> str:
    return _text(
        {"type": "candle_closed", "series_id": series_id, "candle": candle_to_dict(candle)}
    )


def candle_forming(series_id: str, candle: CandleRow, event_time_ms: int | None = None) -> str:
    msg: dict[str, object] = {
        "type": "candle_forming",
        "series_id": series_id,
        "candle": candle_to_dict(candle),
    }
    if event_time_ms is not None:
        msg["event_time"] = event_time_ms  # the exchange's event time, for lag
    return _text(msg)


def gap(series_id: str, expected_next_time: int, actual_time: int) -> str:
    return _text(
        {
            "type": "gap",
            "series_id": series_id,
            "expected_next_time": expected_next_time,
            "actual_time": actual_time,
        }
    )


def catchup(
    series_id: str, server_head_time: int | None, candles: Sequence[CandleRow], truncated: bool
) -> str:
    msg: dict[str, object] = {
        "type": "catchup",
        "series_id": series_id,
        "server_head_time": server_head_time,
        "candles": candles_to_dicts(candles),
    }
    if truncated:
        msg["truncated"] = True
    return _text(msg)


def error(code: str, message: str, series_id: str | None = None) -> str:
    msg: dict[str, object] = {"type": "error", "code": code, "message": message}
    if series_id is not None:
        msg["series_id"] = series_id
    return _text(msg)


PONG = _text({"type": "pong"})
