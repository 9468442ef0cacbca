"""What is true of one series now, in one word and a reason: the status the chart's header,
`GET /api/market/series` and `ingest_state` show.

The browser's socket to this server says nothing about the exchange: a chart can be
connected to us while the exchange has been unreachable for an hour. The status is built
from what the server itself knows: the ingest job and its connection to the venue, the
history source's last look at the datadir (and download), and the store's newest candle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from app.feeds import FeedStatus

State = Literal[
    "streaming",  # live from the venue
    "starting",  # its history is being fetched or its stream subscribed
    "retrying",  # the venue cannot be reached (or refuses); retried with backoff
    "unavailable",  # the venue does not list it: no live data will come
    "download_failed",  # no datadir file, and `download-data` failed
    "history_failed",  # the datadir file cannot be read
    "live_off",  # live ingest is switched off: what is stored is all there is
    "history_only",  # not followed live now (nobody asks for it)
    "conflict",  # its stored candles came from another endpoint of its venue: not served
]


def series_status(
    *,
    feed: FeedStatus | None,
    history: Mapping[str, Any] | None,
    head_time: int | None,
    live_ingest: bool,
    datadir: str | None,
    datadir_write_error: str | None = None,
    holes: int = 0,
    venue_lacks: int = 0,
    streamed: bool = True,
    fetched: bool = True,
) -> dict[str, Any]:
    """`streamed`: whether a feed of its venue streams its kind (a contract's derived
    prices are not streamed yet); `fetched`: whether its venue's REST serves it (fills
    and heals it)."""
    if streamed:
        state, reason = _state(feed, history, live_ingest, datadir)
    else:
        how = "fetched over REST" if fetched else "imported only, not fetched from the exchange"
        state, reason = _history_problem(history) or (
            "history_only",
            f"not streamed live (a contract's derived prices, funding rates and open "
            f"interest are {how})" + _no_file(history, datadir),
        )
    notes = [reason] if reason else []
    if holes:
        # Served as before around them; a read over one fills it or says why not.
        lacking = f", the exchange has none for {venue_lacks}" if venue_lacks else ""
        healing = f" (healing from the exchange{lacking})" if live_ingest and fetched else ""
        notes.append(f"{holes} hole{'s' if holes > 1 else ''} in its history{healing}")
    if datadir_write_error is not None:
        # Served as before, but a backtest on the datadir would miss what is not written.
        notes.append(f"its datadir file cannot be written: {datadir_write_error}")
    return {
        "state": state,
        "reason": "; ".join(notes) or None,
        "head_time": head_time,
        "hole_count": holes,
    }


def _state(
    feed: FeedStatus | None,
    history: Mapping[str, Any] | None,
    live_ingest: bool,
    datadir: str | None,
) -> tuple[State, str | None]:
    history_problem = _history_problem(history)
    if feed is not None and feed.clock_error is not None:
        return "retrying", f"rejecting candles: {feed.clock_error}"
    if feed is not None and feed.state == "live":
        if feed.connected:
            note = feed.backfill_error or (history_problem[1] if history_problem else None)
            return "streaming", note
        if feed.error is None:  # a first connect, or a planned reconnect
            return "starting", "connecting to the exchange"
        return "retrying", f"exchange unreachable: {feed.error}"
    if feed is not None and feed.state == "retrying":
        return "retrying", f"exchange unreachable: {feed.error}"
    if feed is not None and feed.state == "failed":
        return "unavailable", feed.error
    if feed is not None and feed.state in ("starting", "bootstrapping", "subscribing"):
        if history is not None and history.get("status") == "downloading":
            return "starting", "downloading its history (freqtrade download-data)"
        if history is not None and history.get("status") == "importing":
            return "starting", "importing its datadir file"
        return "starting", None
    if history_problem is not None:
        state, reason = history_problem
        if not live_ingest:
            reason += "; live ingest is off (TRADE_CANVAS_LIVE_INGEST=0)"
        return state, reason
    no_file = _no_file(history, datadir)
    if not live_ingest:
        return "live_off", "live ingest is off (TRADE_CANVAS_LIVE_INGEST=0)" + no_file
    return "history_only", "not followed live now: open it in a chart or whitelist it" + no_file


def _history_problem(history: Mapping[str, Any] | None) -> tuple[State, str] | None:
    if history is None or not history.get("last_error"):
        return None
    error = str(history["last_error"])
    if history.get("status") == "failed":
        if "file" not in history:  # paged from the venue's REST, not read from a file
            return "history_failed", f"its history cannot be fetched: {error}"
        return "history_failed", f"its datadir file cannot be read: {error}"
    if history.get("status") == "missing":
        return "download_failed", error
    return None


def _no_file(history: Mapping[str, Any] | None, datadir: str | None) -> str:
    if history is None or history.get("status") != "missing":
        return ""
    return f"; the datadir has no file for it{f' ({datadir})' if datadir else ''}"
