"""Who may drive the server from a browser: the `Host` a request names (a guard against DNS
rebinding, where a web page reaches a loopback server under its own name), and the site a
request comes from: a page on another site must not open `/ws/market`, post candles in the
user's name, or make the server spend its upstream budget (an `<img>` tag pointing at a
facade's depth is a GET). Only the chart's own page and assets may be reached from
anywhere (a link to the chart is a cross-site navigation).

Both answer with the unified error body (a WebSocket with a denial response of it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.responses import error_body

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# The chart's page and its bundle: reachable from any site, as any web page is.
_PUBLIC_PATHS = frozenset({"/", "/favicon.ico"})
_PUBLIC_PREFIXES = ("/assets/",)
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def default_allowed_hosts(bind: str) -> list[str]:
    """On a loopback bind only the loopback names; on any other bind every name (the
    server is meant to be reached from elsewhere, under names it cannot know)."""
    if bind == "localhost":
        return list(LOOPBACK_NAMES)
    try:
        loopback = ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    return list(LOOPBACK_NAMES) if loopback else ["*"]


class AllowedHosts:
    """Starlette's `TrustedHostMiddleware` decides; this answers a refusal in our shape."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self._check = TrustedHostMiddleware(_passed, allowed_hosts, www_redirect=False)
        self._allow_any = "*" in allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        verdict: dict[str, bool] = {}
        await self._check({**scope, "state": verdict}, receive, _discard)
        if verdict.get("passed"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        await _refuse(scope, send, 400, "invalid_host", f"Host {host!r} is not served here")


class AllowedOrigins:
    """A browser's request from another site is refused before any work, GET included,
    unless its origin is listed: one whose `Origin` is neither listed nor the server's
    own, or that the browser marks `Sec-Fetch-Site: cross-site` (a no-cors GET such as an
    `<img>` sends no `Origin`). Requests with neither header (bots, ccxt, curl: not a
    browser) pass."""

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self._allowed = {_origin_key(o) for o in allowed_origins if o != "*"}
        self._allow_any = "*" in allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._allow_any or not _guarded(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None:
            allowed = self._allows(origin, headers.get("host", ""))
        else:
            allowed = headers.get("sec-fetch-site", "").lower() != "cross-site"
        if allowed:
            await self.app(scope, receive, send)
            return
        where = repr(origin) if origin is not None else "another site"
        message = f"requests from {where} are not allowed (TRADE_CANVAS_ALLOWED_ORIGINS)"
        await _refuse(scope, send, 403, "origin_not_allowed", message)

    def _allows(self, origin: str, host: str) -> bool:
        key = _origin_key(origin)
        if key in self._allowed:
            return True
        # The server's own pages: the origin names the host the request was sent to.
        scheme = urlsplit(origin).scheme.lower()
        return key.split("://", 1)[-1] == _host_key(host, scheme)


def _guarded(scope: Scope) -> bool:
    if scope["type"] == "websocket":
        return True
    if scope["type"] != "http":
        return False
    path: str = scope["path"]
    return path not in _PUBLIC_PATHS and not path.startswith(_PUBLIC_PREFIXES)


def _origin_key(origin: str) -> str:
    """`scheme://host[:port]`, lower case, default ports dropped."""
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    return f"{scheme}://{_host_key(parts.netloc, scheme)}"


def _host_key(netloc: str, scheme: str) -> str:
    netloc = netloc.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(default) - 1]
    return netloc


async def _passed(scope: Scope, receive: Receive, send: Send) -> None:
    scope["state"]["passed"] = True


async def _discard(message: object) -> None:
    pass


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    body = error_body(code, message, str(scope.get("state", {}).get("request_id", "")))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "websocket":
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        start, body_type = "websocket.http.response.start", "websocket.http.response.body"
    else:
        start, body_type = "http.response.start", "http.response.body"
    await send({"type": start, "status": status, "headers": headers})
    await send({"type": body_type, "body": body})
