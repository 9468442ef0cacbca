"""OKX v5 business-stream frames to values: a pure function, no I/O.

Handles `candle<bar>` pushes (`data`: rows of strings `[ts, o, h, l, c, vol, volCcy,
volCcyQuote, confirm]`, `confirm` "1" is the close), the `subscribe` / `unsubscribe`
acknowledgements, `error` events, the text `pong` of the heartbeat, and any other channel,
which is ignored. Malformed frames raise `FrameError`; the caller counts them and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.exchanges.frames import json_object, kline_candle
from app.exchanges.okx.wire import CHANNEL_PREFIX, channel_timeframe, topic
from app.exchanges.ports import FrameError, KlineEvent

# Volume is row[5], `vol`: base currency on spot, contracts on swaps, as ccxt (and so
# freqtrade's datadir) reads it.
_KEYS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class OkxEvent:
    """An `event` frame: a subscribe or unsubscribe acknowledgement, or an error."""

    event: str
    code: str
    message: str

    @property
    def refused(self) -> bool:
        return self.event == "error"


OkxFrame = tuple[KlineEvent, ...] | OkxEvent


def parse_frame(raw: str | bytes) -> OkxFrame:
    if raw in ("pong", b"pong"):
        return ()
    msg = json_object(raw)
    event = msg.get("event")
    if isinstance(event, str):
        return OkxEvent(event, str(msg.get("code") or ""), str(msg.get("msg") or ""))
    arg = msg.get("arg")
    if not isinstance(arg, dict):
        raise FrameError("frame has neither event nor arg")
    channel, inst = arg.get("channel"), arg.get("instId")
    if not isinstance(channel, str) or not isinstance(inst, str) or not inst:
        raise FrameError("arg without channel and instId")
    if not channel.startswith(CHANNEL_PREFIX):
        return ()
    timeframe = channel_timeframe(channel)
    if timeframe is None:
        raise FrameError(f"candle channel {channel!r} is not a bar served here")
    data = msg.get("data")
    if not isinstance(data, list):
        raise FrameError("candle push without a data list")
    return tuple(_candle(row, topic(channel, inst), timeframe) for row in data)


def _candle(row: Any, name: str, timeframe: str) -> KlineEvent:
    if not isinstance(row, list) or len(row) < 9:
        raise FrameError("candle row is not a list of 9 fields")
    ts, confirm = row[0], row[8]
    if not isinstance(ts, str) or not ts.isdigit():
        raise FrameError(f"candle ts {ts!r} is not a millisecond string")
    if confirm not in ("0", "1"):
        raise FrameError(f"candle confirm {confirm!r} is neither 0 nor 1")
    fields = dict(zip(_KEYS, row[1:6], strict=True))
    candle = kline_candle(fields, int(ts), timeframe, " ".join(_KEYS))
    return KlineEvent(name, candle, confirm == "1", None)
