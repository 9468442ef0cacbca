"""The bots' settings and the pure parsing of what a freqtrade bot answers: every form of
`TRADE_CANVAS_BOTS`, a password that never shows, and garbage skipped rather than fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.bots.client import BotBadAnswer
from app.bots.model import indicator_points, parse_info, parse_plot_config, parse_trades
from app.config import Settings
from app.diagnostics import unknown_variables


def test_bots_as_json_compact_or_a_file(tmp_path: Path) -> None:
    listed = [
        {"name": "alpha", "url": "http://127.0.0.1:8080/", "username": "u", "password": "p w"}
    ]
    (bot,) = Settings(bots=json.dumps(listed)).bots
    assert (bot.name, bot.url, bot.username) == ("alpha", "http://127.0.0.1:8080", "u")
    assert bot.password.get_secret_value() == "p w"

    compact = Settings(bots="alpha=http://u:p%20w@127.0.0.1:8080, beta=https://host.lan:9000").bots
    assert [(b.name, b.url, b.username, b.password.get_secret_value()) for b in compact] == [
        ("alpha", "http://127.0.0.1:8080", "u", "p w"),
        ("beta", "https://host.lan:9000", "", ""),
    ]

    listing = tmp_path / "bots.json"
    listing.write_text(json.dumps({"bots": listed}))
    assert Settings(bots=str(listing)).bots == Settings(bots=json.dumps(listed)).bots

    # A bot named by its own freqtrade config: its api_server says where and who.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "bot_name": "my bot",
        "api_server": {"enabled": True, "listen_ip_address": "0.0.0.0", "listen_port": 8081,
                       "username": "freqtrader", "password": "secret"},
    }))  # fmt: skip
    (from_config,) = Settings(bots=str(config)).bots
    assert (from_config.name, from_config.url) == ("my-bot", "http://127.0.0.1:8081")
    assert from_config.password.get_secret_value() == "secret"


def test_the_password_shows_nowhere() -> None:
    settings = Settings(bots="alpha=http://u:hunter2@127.0.0.1:8080")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in settings.model_dump_json()
    assert "TRADE_CANVAS_BOTS" not in " ".join(unknown_variables({"TRADE_CANVAS_BOTS": "x"}))
    assert "TRADE_CANVAS_BOT_POLL_S" not in " ".join(
        unknown_variables({"TRADE_CANVAS_BOT_POLL_S": "1"})
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{", "TRADE_CANVAS_BOTS is not valid JSON"),
        ("no-such-file.json", "no bots file"),
        ('[{"name": "a", "url": "ftp://x"}]', r"an http\(s\) URL"),
        ('[{"name": "a b", "url": "http://x"}]', "use letters, digits"),
        ('[{"name": "a", "url": "http://u:p@x"}]', "give the username and password apart"),
        ("a=http://x,a=http://y", "bot names must differ: a given twice"),
        ('[{"name": "a", "url": "http://x", "token": "t"}]', "Extra inputs are not permitted"),
    ],
)
def test_a_bad_bots_setting_is_said(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(bots=value)


def test_a_freqtrade_config_without_its_api_is_said(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_server": {"enabled": False}}))
    with pytest.raises(ValidationError, match="api_server is not enabled"):
        Settings(bots=str(config))


def test_trades_that_cannot_be_read_are_skipped() -> None:
    rows = [
        {"trade_id": 1, "pair": "BTC/USDT", "open_timestamp": 1_700_000_030_500, "open_rate": 100.0,
         "close_timestamp": 1_700_000_090_000, "close_rate": 101.0, "profit_ratio": 0.01,
         "exit_reason": "roi", "is_short": False, "is_open": False},
        {"trade_id": "2", "pair": "BTC/USDT", "open_timestamp": 1, "open_rate": 1.0},
        {"trade_id": 3, "pair": "BTC/USDT", "open_timestamp": None, "open_rate": 1.0},
        {"trade_id": 4, "pair": "BTC/USDT", "open_timestamp": 1, "open_rate": float("nan")},
        "garbage",
    ]  # fmt: skip
    (trade,) = parse_trades(rows)
    assert (trade.trade_id, trade.open_time, trade.close_time) == (
        1,
        1_700_000_030.5,
        1_700_000_090,
    )
    assert trade.exit_reason == "roi" and trade.profit_abs is None


def test_show_config_and_plot_config() -> None:
    info = parse_info({"exchange": "Binance", "trading_mode": "futures", "timeframe": "5m",
                       "strategy": "S", "state": "RUNNING", "dry_run": True})  # fmt: skip
    assert (info.exchange, info.market, info.state) == ("binance", "futures", "running")
    with pytest.raises(BotBadAnswer):
        parse_info({"exchange": "binance"})
    plot = parse_plot_config({
        "main_plot": {"tema": {}, "sar": {"color": "white", "type": "scatter"}},
        "subplots": {"MACD": {"macd": {"color": "blue"}, "macdhist": {"type": "bar"}},
                     "broken": "not a mapping"},
    })  # fmt: skip
    assert [(p.column, p.pane, p.color, p.kind) for p in plot] == [
        ("tema", "main", None, "line"),
        ("sar", "main", "white", "scatter"),
        ("macd", "MACD", "blue", "line"),
        ("macdhist", "MACD", None, "bar"),
    ]
    assert parse_plot_config({}) == ()


def test_indicator_points_skip_gaps_and_short_rows() -> None:
    raw = {
        "columns": ["date", "close", "sma", "__date_ts"],
        "data": [
            ["d", 1.0, None, 1_700_000_000_000],
            ["d", 2.0, 1.5, 1_700_000_060_000],
            ["short row"],
            ["d", 3.0, 2.5, None],
        ],
    }
    assert indicator_points(raw, ["sma", "missing"]) == {"sma": [(1_700_000_060, 1.5)]}
    assert indicator_points({"columns": [], "data": []}, ["sma"]) == {}
    with pytest.raises(BotBadAnswer):
        indicator_points({"data": "x"}, ["sma"])
