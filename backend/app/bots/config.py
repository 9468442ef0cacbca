"""The user's freqtrade bots (`TRADE_CANVAS_BOTS`): a name, the bot's REST API and its
credentials. The password is a secret: it is sent to the bot and nowhere else (not in
reprs, logs or anything the browser reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class BotConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    # The bot's API server, e.g. `http://127.0.0.1:8080` (without `/api/v1`).
    url: str
    username: str = ""
    password: SecretStr = SecretStr("")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not set(value) <= _NAME_CHARS:
            raise ValueError(f"bot name {value!r}: use letters, digits, '-', '_' or '.'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"bot url {value!r}: an http(s) URL such as http://127.0.0.1:8080")
        if parts.username or parts.password:
            raise ValueError("bot url: give the username and password apart, not in the URL")
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def parse_bots(value: object) -> object:
    """`TRADE_CANVAS_BOTS` in any of its forms, as a list of bot mappings:
    - JSON: `[{"name": "alpha", "url": "http://127.0.0.1:8080", "username": ..., "password": ...}]`
    - `name=http://user:password@host:port`, comma-separated;
    - a path to a JSON file holding that list, or to a freqtrade config (its `api_server`).
    Anything else is handed to validation as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        return _json(text, "TRADE_CANVAS_BOTS")
    path = Path(text).expanduser()
    if "=" not in text and "://" not in text:
        if not path.is_file():
            raise ValueError(f"no bots file {path} (or give name=http://user:password@host:port)")
        return _from_file(path)
    return [_from_compact(part.strip()) for part in text.split(",") if part.strip()]


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not valid JSON: {e}") from None


def _from_file(path: Path) -> Any:
    try:
        loaded = _json(path.read_text(), str(path))
    except OSError as e:
        raise ValueError(f"cannot read bots file {path}: {e.strerror}") from None
    if isinstance(loaded, dict) and "api_server" in loaded:
        return [_from_freqtrade_config(loaded, path)]
    if isinstance(loaded, dict) and "bots" in loaded:
        return loaded["bots"]
    return loaded


def _from_freqtrade_config(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """A bot named by its own freqtrade config: its `api_server` says where and who."""
    api = config["api_server"]
    if not isinstance(api, dict) or not api.get("enabled"):
        raise ValueError(f"{path}: api_server is not enabled, so the bot cannot be read")
    host = str(api.get("listen_ip_address") or "127.0.0.1")
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    name = str(config.get("bot_name") or path.stem).replace(" ", "-")
    return {
        "name": name,
        "url": f"http://{host}:{api.get('listen_port', 8080)}",
        "username": str(api.get("username", "")),
        "password": str(api.get("password", "")),
    }


def _from_compact(part: str) -> dict[str, Any]:
    name, sep, url = part.partition("=")
    if not sep or "://" in name:
        raise ValueError(
            f"bot {part.split('@')[-1]!r}: write it as name=http://user:password@host:port"
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        # Its text would quote the password (`Port could not be cast ... 'Secr'`).
        raise ValueError(
            f"bot {name.strip()!r}: its URL cannot be read; a password holding '#', '?', '/' "
            "or '@' must be percent-encoded ('#' is %23)"
        ) from None
    netloc = parts.hostname or ""
    if port is not None:
        netloc = f"{netloc}:{port}"
    return {
        "name": name.strip(),
        "url": urlunsplit((parts.scheme, netloc, parts.path, "", "")),
        "username": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
    }
