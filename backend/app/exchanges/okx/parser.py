"""OKX v5 business-stream frames to values: a pure function, no I/O.

Handles `candle<bar>` pushes (`data`: rows of strings `[ts, o, h, l, c, vol, volCcy,
volCcyQuote, confirm]`, `confirm` "1" is the close), a swap's `mark-price-candle<bar>` and
`index-candle<bar>` pushes (rows `[ts, o, h, l, c, confirm]`), the `subscribe` / `unsubscribe`
acknowledgements, `error` events, the text `pong` of the heartbeat, and any other channel,
which is ignored. Malformed frames raise `FrameError`; the caller counts them and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.exchanges.frames import json_object, kline_candle
from app.exchanges.okx.wire import channel_bar, topic
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
    if "candle" not in channel:
        return ()
    bar = channel_bar(channel)
    if bar is None:
        raise FrameError(f"candle channel {channel!r} is not a bar served here")
    traded, timeframe = bar
    data = msg.get("data")
    if not isinstance(data, list):
        raise FrameError("candle push without a data list")
    return tuple(_candle(row, topic(channel, inst), timeframe, traded) for row in data)


def _candle(row: Any, name: str, timeframe: str, traded: bool) -> KlineEvent:
    fields = 9 if traded else 6
    if not isinstance(row, list) or len(row) < fields:
        raise FrameError(f"candle row is not a list of {fields} fields")
    ts, confirm = row[0], row[fields - 1]
    if not isinstance(ts, str) or not ts.isdigit():
        raise FrameError(f"candle ts {ts!r} is not a millisecond string")
    if confirm not in ("0", "1"):
        raise FrameError(f"candle confirm {confirm!r} is neither 0 nor 1")
    # A derived price has no volume: 0, as the venues' REST rows and freqtrade's files say.
    values = dict(zip(_KEYS, [*row[1:5], row[5] if traded else "0"], strict=True))
    candle = kline_candle(values, int(ts), timeframe, " ".join(_KEYS))
    return KlineEvent(name, candle, confirm == "1", None)
