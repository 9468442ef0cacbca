"""OKX's names for what a series id says (instrument ids and bars), and what its REST
answers look like (the facade's envelope, rows and errors). Pure functions."""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from app.candle import CandleRow
from app.exchanges.frames import decimal_text
from app.series import UNREPORTED, CandleType, Market, SeriesId

# freqtrade's timeframes to OKX bars. From 6h up OKX's plain bars (`1D`) are aligned to
# Hong Kong time; the `utc` ones match freqtrade's (and ccxt's) UTC candles.
BARS: Final[dict[str, str]] = {
    "1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H",
    "4h": "4H", "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc", "1w": "1Wutc",
}  # fmt: skip
TIMEFRAME_OF_BAR: Final = {bar: tf for tf, bar in BARS.items()}
CHANNEL_PREFIX: Final = "candle"
# The business stream's candle channels of each kind of series: the traded candles, and a
# swap's mark and index price candles (rows `[ts, o, h, l, c, confirm]`, no volume).
CHANNEL_PREFIXES: Final[dict[CandleType, str]] = {
    "spot": CHANNEL_PREFIX, "futures": CHANNEL_PREFIX,
    "mark": "mark-price-candle", "index": "index-candle",
}  # fmt: skip


def inst_id(series: SeriesId) -> str:
    """`BTC-USDT` for spot, `BTC-USDT-SWAP` for the USDT-margined perpetual."""
    pair = f"{series.base}-{series.quote}"
    return pair if series.market == "spot" else f"{pair}-SWAP"


def streamed_inst(series: SeriesId) -> str:
    """The instrument id a series is streamed by: a swap's index by its family
    (`BTC-USDT`), everything else by `inst_id`."""
    return f"{series.base}-{series.quote}" if series.market == "index" else inst_id(series)


def candle_channel(timeframe: str, kind: CandleType = "spot") -> str:
    """The stream's channel of a kind's candles at a timeframe: `candle1m`, `candle1Dutc`,
    `mark-price-candle1H`."""
    return CHANNEL_PREFIXES[kind] + BARS[timeframe]


def channel_bar(channel: str) -> tuple[bool, str] | None:
    """Of a candle channel, whether its rows are traded candles (with volumes), and the
    timeframe it carries; None for another channel or a bar not served here (Hong
    Kong-aligned ones)."""
    for prefix in sorted(set(CHANNEL_PREFIXES.values()), key=len, reverse=True):
        if channel.startswith(prefix):
            timeframe = TIMEFRAME_OF_BAR.get(channel.removeprefix(prefix))
            return None if timeframe is None else (prefix == CHANNEL_PREFIX, timeframe)
    return None


def derived_channel(channel: str) -> tuple[CandleType, str] | None:
    """The kind (`mark`, `index`) and timeframe of a `mark-price-candle<bar>` or
    `index-candle<bar>` channel; None for another channel or a bar not served here."""
    bar = channel_bar(channel)
    if bar is None or bar[0]:
        return None
    kind: CandleType = "mark" if channel.startswith(CHANNEL_PREFIXES["mark"]) else "index"
    return kind, bar[1]


def channel_timeframe(channel: str) -> str | None:
    """The timeframe a `candle<bar>` channel (traded candles) carries; None for another
    channel or a bar not served here."""
    bar = channel_bar(channel)
    return bar[1] if bar is not None and bar[0] else None


def topic(channel: str, inst: str) -> str:
    """The feed's topic for a channel of an instrument: `candle1m:BTC-USDT`."""
    return f"{channel}:{inst}"


# -- what the facade (`/okx/api/v5/...`) answers ---------------------------------------

# (default, most): 300 on both, as OKX answers ccxt and freqtrade, which ask 300.
CANDLE_LIMITS: Final = {
    "candles": (100, 300), "history-candles": (100, 300),
    # A swap's mark and index price candles: 100 a page, as OKX documents them.
    "mark-price-candles": (100, 100), "history-mark-price-candles": (100, 100),
    "index-candles": (100, 100), "history-index-candles": (100, 100),
}  # fmt: skip
# `public/funding-rate-history`: (default, most) events a page.
FUNDING_LIMITS: Final = (100, 400)
# A contract's open interest history: samples a page (default, most).
OPEN_INTEREST_LIMITS: Final = (100, 100)
# When the venue cannot be reached, a client is told to ask again after this.
UNAVAILABLE_RETRY_S: Final = 5.0


class OkxError(Exception):
    """An error in OKX's shape: `{"code", "msg", "data": []}`, on HTTP 400 unless said."""

    def __init__(self, code: str, msg: str, *, status: int = 400,
                 retry_after_s: float | None = None) -> None:  # fmt: skip
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status
        self.retry_after_s = retry_after_s


def envelope(data: Any, code: str = "0", msg: str = "") -> bytes:
    return orjson.dumps({"code": code, "msg": msg, "data": data})


def envelope_with_rows(rows: bytes) -> bytes:
    """`envelope` of rows given already as JSON."""
    return b'{"code":"0","msg":"","data":' + rows + b"}"


def params_error(name: str) -> OkxError:
    return OkxError("51000", f"Parameter {name} error")


def unknown_instrument() -> OkxError:
    return OkxError("51001", "Instrument ID does not exist")


def unknown_path(path: str) -> OkxError:
    return OkxError("404", f"Not Found: {path} is not served", status=404)


def too_many_requests(wait_s: float, why: str) -> OkxError:
    return OkxError(
        "50011", f"Too Many Requests: retry in {math.ceil(wait_s)}s ({why})",
        status=429, retry_after_s=wait_s,
    )  # fmt: skip


def unavailable(detail: str, retry_after_s: float = UNAVAILABLE_RETRY_S) -> OkxError:
    return OkxError(
        "50001", f"Service temporarily unavailable: {detail}", status=503,
        retry_after_s=retry_after_s,
    )  # fmt: skip


def book_cut(body: bytes, rows: int) -> bytes:
    """A `market/books` answer with the best `rows` levels of each side."""
    answer = orjson.loads(body)
    for book in answer.get("data") or []:
        if isinstance(book, dict):
            for side in ("asks", "bids"):
                book[side] = book.get(side, [])[:rows]
    return orjson.dumps(answer)


def market_of(inst: str) -> Market:
    return "futures" if inst.upper().endswith("-SWAP") else "spot"


def timeframe_of(bar: str | None) -> str:
    """freqtrade's timeframe of an OKX bar; Hong Kong-aligned bars (`1D`) are not served."""
    timeframe = TIMEFRAME_OF_BAR.get(bar or "1m")
    if timeframe is None:
        raise params_error("bar")
    return timeframe


def candle_row(candle: CandleRow, closed: bool, market: Market) -> list[str]:
    """`[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`. The store keeps the base
    volume: spot's `vol` is that (its quote volumes are unknown here: "0"); a swap's base
    volume is `volCcy`, what ccxt reads, and `vol` (contracts) repeats it, exact where a
    contract is one coin."""
    t, o, h, low, c, v = candle
    d = decimal_text
    volume = d(v)
    in_ccy = "0" if market == "spot" else volume
    return [str(t * 1000), d(o), d(h), d(low), d(c), volume, in_ccy, "0", "1" if closed else "0"]


def funding_row(inst: str, t: int, rate: float) -> dict[str, str]:
    """One funding event. The store keeps the rate paid (OKX's `realizedRate`, what ccxt
    reads, and freqtrade downloads); `fundingRate` says it too."""
    rate_text = f"{rate:.8f}"
    return {
        "instType": "SWAP", "instId": inst, "fundingRate": rate_text, "realizedRate": rate_text,
        "fundingTime": str(t * 1000), "method": "current_period", "formulaType": "withRate",
    }  # fmt: skip


def open_interest_row(sample: CandleRow, contract_size: float | None) -> list[str]:
    """One open interest sample, `[ts, oi, oiCcy, oiUsd]`: in contracts (what ccxt reads
    as the amount, and freqtrade stores), in the base currency (contracts times their
    size), in USD; what is not known, empty."""
    t, amount, value = sample[0], sample[1], sample[5]

    def said(x: float | None) -> str:
        return "" if x is None or x == UNREPORTED else decimal_text(x)

    coins = None
    if contract_size is not None and amount != UNREPORTED:
        coins = round(amount * contract_size, 10)  # (a product's float noise dropped)
    return [str(t * 1000), said(amount), said(coins), said(value)]


def derived_row(candle: CandleRow, closed: bool) -> list[str]:
    """A mark or index price candle: `[ts, o, h, l, c, confirm]`."""
    return [*candle_row(candle, closed, "futures")[:5], "1" if closed else "0"]


def series_row(series: SeriesId, candle: CandleRow, closed: bool) -> list[str]:
    """A candle of `series` as OKX writes it: a traded one (`candle_row`), or a swap's
    mark or index price (`derived_row`)."""
    if series.derived:
        return derived_row(candle, closed)
    return candle_row(candle, closed, series.instrument_market)


# -- what the facade's business stream (`/okx/ws/v5/business`) sends --------------------


def stream_ack(op: str, arg: dict[str, str], req_id: Any, conn_id: str) -> bytes:
    """The acknowledgement of one `subscribe` / `unsubscribe` arg."""
    ack = {"event": op, "arg": arg, "connId": conn_id}
    return orjson.dumps(ack if req_id is None else {"id": req_id, **ack})


def stream_error(code: str, msg: str, req_id: Any, conn_id: str) -> bytes:
    error = {"event": "error", "code": code, "msg": msg, "connId": conn_id}
    return orjson.dumps(error if req_id is None else {"id": req_id, **error})


def no_such_channel(arg: dict[str, Any]) -> tuple[str, str]:
    return "60018", (
        f"Wrong URL or channel:{arg.get('channel')},instId:{arg.get('instId')} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    )


def candle_push(channel: str, inst: str, row: list[str]) -> bytes:
    """A push of a candle channel: one row (`candle_row`, `derived_row`), `confirm` "1" on
    the close."""
    return orjson.dumps({"arg": {"channel": channel, "instId": inst}, "data": [row]})
