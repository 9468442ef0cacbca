"""Settings are grouped by concern, and the variable names stay those the configuration
reference (docs/configuration.md) lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.diagnostics import known_variables
from app.exchanges.binance.settings import BinanceSettings
from app.exchanges.bybit.settings import BybitSettings
from app.exchanges.okx.settings import OkxSettings

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def reference_variables() -> list[str]:
    names = []
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            names += re.findall(r"`([A-Z0-9_]+)`", first_column)
    return names


def setting_of(variable: str) -> tuple[str, ...] | None:
    """Where `TRADE_CANVAS_<variable>` lands: a top-level field or (group, field)."""
    name = variable.lower()
    if name in Settings.model_fields:
        return (name,)
    group, _, rest = name.partition("_")
    annotation = Settings.groups().get(group)
    return (group, rest) if annotation is not None and rest in annotation.model_fields else None


def test_every_documented_variable_is_a_setting() -> None:
    variables = reference_variables()
    assert len(variables) > 40
    assert [v for v in variables if setting_of(v) is None] == []


def test_a_variable_reaches_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADE_CANVAS_WS_MAX_SUBSCRIPTIONS", "7")
    monkeypatch.setenv("TRADE_CANVAS_BINANCE_WS_STALE_S", "9.5")
    monkeypatch.setenv("TRADE_CANVAS_WORK_REQUESTS_BURST", "3")
    settings = Settings()
    assert settings.ws.max_subscriptions == 7
    assert settings.venue(BinanceSettings).ws_stale_s == 9.5
    assert settings.work.requests_burst == 3
    assert settings.ws.catchup_max == 5_000  # the rest of the group keeps its defaults


def test_flat_keywords_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADE_CANVAS_WS_MAX_SUBSCRIPTIONS", "7")
    monkeypatch.setenv("TRADE_CANVAS_WS_CATCHUP_MAX", "10")
    settings = Settings(ws_max_subscriptions=8)
    assert (settings.ws.max_subscriptions, settings.ws.catchup_max) == (8, 10)


def test_a_bad_value_is_reported_under_its_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADE_CANVAS_HISTORY_WAIT_S", "-1")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [e["loc"] for e in raised.value.errors()] == [("history", "wait_s")]


def test_a_venues_settings_come_from_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each venue's package declares its group; its variables keep their names, keywords
    win over them, and a bad one is named as its variable."""
    monkeypatch.setenv("TRADE_CANVAS_BYBIT_REST_URL", "http://env.example")
    monkeypatch.setenv("trade_canvas_bybit_ws_topics_per_connection", "3")
    settings = Settings(_env_file=None, binance_spot_rest_url="http://kw.example")
    assert settings.venue(BybitSettings).rest_url == "http://env.example"
    assert settings.venue(BybitSettings).ws_topics_per_connection == 3
    assert settings.venue(BinanceSettings).spot_rest_url == "http://kw.example"
    assert Settings(_env_file=None, bybit_rest_url="http://kw").venue(BybitSettings).rest_url == (
        "http://kw"
    )
    monkeypatch.setenv("TRADE_CANVAS_BINANCE_WS_STREAMS_PER_CONNECTION", "0")
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    assert [e["loc"] for e in raised.value.errors()] == [("binance", "ws_streams_per_connection")]


def test_okx_reads_its_one_stream_url_each_market_may_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The contract's `OKX_WS_URL` is the business stream of both markets; the local
    exchanges point each market at its own port (`OKX_SPOT_WS_URL`, `OKX_SWAP_WS_URL`)."""
    default = Settings(_env_file=None).venue(OkxSettings)
    assert (
        default.stream_url("spot")
        == default.stream_url("futures")
        == ("wss://ws.okx.com:8443/ws/v5/business")
    )
    monkeypatch.setenv("TRADE_CANVAS_OKX_WS_URL", "ws://one.example/ws/v5/business")
    one = Settings(_env_file=None).venue(OkxSettings)
    assert one.stream_url("spot") == one.stream_url("futures") == "ws://one.example/ws/v5/business"
    monkeypatch.setenv("TRADE_CANVAS_OKX_SWAP_WS_URL", "ws://swap.example/ws/v5/business")
    both = Settings(_env_file=None).venue(OkxSettings)
    assert both.stream_url("spot") == "ws://one.example/ws/v5/business"
    assert both.stream_url("futures") == "ws://swap.example/ws/v5/business"
    assert "TRADE_CANVAS_OKX_WS_URL" in known_variables()


def test_live_timers_keep_their_first_binance_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """`LIVE_*` names live ingest's timers; the `BINANCE_WS_*` names they had first still
    set them where the new one is not set."""
    assert Settings(_env_file=None).live.flush_s == 0.25
    monkeypatch.setenv("TRADE_CANVAS_BINANCE_WS_STALE_S", "7")
    monkeypatch.setenv("TRADE_CANVAS_BINANCE_BACKFILL_MAX_CANDLES", "300")
    settings = Settings(_env_file=None)
    assert (settings.live.stale_s, settings.live.backfill_max_candles) == (7.0, 300)
    monkeypatch.setenv("TRADE_CANVAS_LIVE_STALE_S", "9")
    assert Settings(_env_file=None).live.stale_s == 9.0
    assert Settings(_env_file=None, binance_ws_flush_s=0.5).live.flush_s == 0.5
    assert Settings(_env_file=None, binance_ws_flush_s=0.5, live_flush_s=0.1).live.flush_s == 0.1
