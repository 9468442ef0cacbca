"""URLs as logs and messages may show them. A URL's user info, and a password, token or key
in its query, are secrets: logs and operator messages get the URL without them
(`safe_url`, or `without_secrets` for a library's error text that quotes a URL), and a
client is told which venue failed and how, never where this server reaches it
(`without_hosts`)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urlsplit

# A URL as library messages quote it: up to the first blank or quote.
_URL: Final = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]]+")
_SECRET_KEYS: Final = frozenset({"password", "passwd", "pass", "token", "secret", "key", "apikey"})
HIDDEN: Final = "***"


def safe_url(url: str) -> str:
    """`url` without its password (in the authority or the query); the user name stays, as
    it says which account is used. Built by hand: urlunsplit drops the `//` of
    `unix:///path` (an empty authority), and a malformed port must not raise."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN
    user, at, host = parts.netloc.rpartition("@")
    if at:
        name = user.split(":", 1)[0]
        netloc = f"{name}:{HIDDEN}@{host}" if ":" in user else f"{name}@{host}"
    else:
        netloc = host
    query = "&".join(
        f"{k}={HIDDEN}" if k.lower() in _SECRET_KEYS else f"{k}={v}" if v else k
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    authority = f"//{netloc}" if parts.netloc or url.startswith(f"{parts.scheme}://") else ""
    return f"{parts.scheme}:{authority}{parts.path}" + (f"?{query}" if query else "")


def without_secrets(text: str, *urls: str) -> str:
    """`text` (a library's error message) with every URL in it as `safe_url` gives it, and
    the secrets of `urls` taken out wherever they appear (a library may quote them)."""
    text = _URL.sub(lambda m: safe_url(m.group(0)), text)
    for secret in (s for url in urls for s in _secrets_of(url)):
        text = text.replace(secret, HIDDEN)
    return text


def without_hosts(text: str) -> str:
    """`text` with every URL in it reduced to its path: what a client may be told."""

    def path_of(match: re.Match[str]) -> str:
        try:
            return urlsplit(match.group(0)).path or "/"
        except ValueError:
            return "/"

    return _URL.sub(path_of, text)


def _secrets_of(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    user, at, _ = parts.netloc.rpartition("@")
    secrets = [user.split(":", 1)[1]] if at and ":" in user else []
    secrets += [v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_KEYS]
    return [s for s in secrets if len(s) >= 3]  # shorter ones would blank out ordinary text
