"""Bus messages as Redis holds them: pure functions, both ways. Garbage in a message (a
foreign writer on the same keys) raises `BusMessageError`, never anything else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from app.candle import Candle, CandleRow, row_of

SEP = "\x1f"  # between series id and holder in a wanted-set member


class BusMessageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ClosedMessage:
    series_id: str
    candles: tuple[CandleRow, ...]
    head_before: int | None


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    series_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FormingMessage:
    series_id: str
    candle: Candle
    event_time_ms: int | None


StreamMessage = ClosedMessage | ErrorMessage


def encode_closed(
    series_id: str, candles: Sequence[CandleRow], head_before: int | None
) -> dict[str, bytes]:
    return {
        "k": b"c",
        "s": series_id.encode(),
        "h": b"" if head_before is None else str(head_before).encode(),
        "c": orjson.dumps([list(c) for c in candles]),
    }


def encode_error(series_id: str, code: str, message: str) -> dict[str, bytes]:
    return {"k": b"e", "s": series_id.encode(), "code": code.encode(), "m": message.encode()}


def decode_stream(fields: Mapping[bytes, bytes]) -> StreamMessage:
    try:
        kind = fields[b"k"]
        series_id = fields[b"s"].decode()
        if kind == b"c":
            head = fields[b"h"]
            rows = orjson.loads(fields[b"c"])
            candles = tuple(row_of(r) for r in rows)
            return ClosedMessage(series_id, candles, int(head) if head else None)
        if kind == b"e":
            return ErrorMessage(series_id, fields[b"code"].decode(), fields[b"m"].decode())
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, orjson.JSONDecodeError) as e:
        raise BusMessageError(f"unreadable bus message: {e!r}") from e
    raise BusMessageError(f"unknown bus message kind {kind!r}")


def encode_forming(series_id: str, candle: Candle, event_time_ms: int | None) -> bytes:
    return orjson.dumps({"s": series_id, "c": list(candle), "e": event_time_ms})


def decode_forming(data: bytes) -> FormingMessage:
    try:
        obj = orjson.loads(data)
        event = obj["e"]
        return FormingMessage(
            str(obj["s"]), Candle(*row_of(obj["c"])), None if event is None else int(event)
        )
    except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as e:
        raise BusMessageError(f"unreadable forming message: {e!r}") from e


def wanted_member(series_id: str, holder: str) -> str:
    return f"{series_id}{SEP}{holder}"


def parse_wanted_member(member: bytes | str) -> tuple[str, str] | None:
    text = member.decode() if isinstance(member, bytes) else member
    series_id, sep, holder = text.partition(SEP)
    return (series_id, holder) if sep and series_id else None
