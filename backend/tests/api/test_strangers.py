"""Strangers cannot drive the server: a web page on another site cannot open its WebSocket
or post to it, a DNS-rebinding page cannot reach it under another name, and one client
cannot take every on-demand slot or open connections without end. Real server, real
clients over loopback; a second client address is a socket bound to 127.0.0.2."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from app.api.guards import default_allowed_hosts
from tests.conftest import FakeRest, SettingsFactory
from tests.support import SERIES, T0, LiveServer, candle, live_server, recv_json, send_json

OTHER_ADDRESS = "127.0.0.2"


@asynccontextmanager
async def ws_from(s: LiveServer, address: str, **kw: Any) -> AsyncIterator[ClientConnection]:
    async with connect(s.ws_url, local_addr=(address, 0), **kw) as ws:
        yield ws


async def subscribe(ws: ClientConnection, series_id: str) -> dict[str, Any]:
    await send_json(ws, {"type": "subscribe", "series_id": series_id})
    return await recv_json(ws)


async def test_one_client_holds_at_most_its_share_of_on_demand_slots(
    make_settings: SettingsFactory,
) -> None:
    """With 4 on-demand slots and the default share of half, one address gets 2; another
    address still gets its own."""
    async with live_server(make_settings(ondemand_max_jobs=4)) as s:
        series = [f"binance:spot:{b}/USDT:1m" for b in ("BTC", "ETH", "SOL", "XRP", "ADA")]
        async with s.ws() as greedy:
            assert (await subscribe(greedy, series[0]))["type"] == "catchup"
            assert (await subscribe(greedy, series[1]))["type"] == "catchup"
            refused = await subscribe(greedy, series[2])
            assert refused["type"] == "error" and refused["code"] == "capacity", refused
            assert "holds 2 of the 4" in refused["message"]
            # Another client has its own share; joining a series someone already follows
            # starts no job and is allowed.
            async with ws_from(s, OTHER_ADDRESS) as other:
                assert (await subscribe(other, series[3]))["type"] == "catchup"
                assert (await subscribe(other, series[4]))["type"] == "catchup"
                assert (await subscribe(greedy, series[3]))["type"] == "catchup"
                debug = (await s.http.get("/api/market/debug/ingest_state")).json()
                assert debug["max_jobs_per_client"] == 2 and debug["active"] == 4
                # Giving series back makes room for another (an idle job is evicted).
                for sid in (series[0], series[3]):
                    await send_json(greedy, {"type": "unsubscribe", "series_id": sid})
                assert (await subscribe(greedy, series[2]))["type"] == "catchup"


async def test_connections_per_address_are_capped(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings(ws_max_connections_per_address=5)) as s:
        open_ = [await connect(s.ws_url) for _ in range(5)]
        try:
            with pytest.raises(InvalidStatus) as refused:
                await connect(s.ws_url)
            assert refused.value.response.status_code == 429
            assert b"too_many_connections" in refused.value.response.body
            # Another address is not affected, and a closed connection frees its place.
            async with ws_from(s, OTHER_ADDRESS) as other:
                await send_json(other, {"type": "ping"})
                assert await recv_json(other) == {"type": "pong"}
            await open_.pop().close()
            async with s.ws() as again:
                await send_json(again, {"type": "ping"})
                assert await recv_json(again) == {"type": "pong"}
        finally:
            for ws in open_:
                await ws.close()
        text = (await s.http.get("/metrics")).text
        assert 'trade_canvas_ws_clients_refused_total{reason="connections_per_address"} 1.0' in text


async def test_a_websocket_from_another_site_is_refused(make_settings: SettingsFactory) -> None:
    settings = make_settings(allowed_origins=["https://charts.example"])
    async with live_server(settings) as s:
        with pytest.raises(InvalidStatus) as refused:
            await connect(s.ws_url, origin="https://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert b"origin_not_allowed" in refused.value.response.body
        assert s.services.fanout.follower_count(SERIES) == 0
        # The server's own page, a listed origin, and a client that is not a browser.
        for origin in (s.base_url, "https://charts.example", None):
            async with connect(s.ws_url, origin=origin) as ws:  # type: ignore[arg-type]
                assert (await subscribe(ws, SERIES))["type"] == "catchup"


async def test_a_post_from_another_site_is_refused(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings()) as s:
        body = {"series_id": SERIES, "candle": candle(T0)}
        r = await s.http.post("/api/market/ingest/candle_closed", json=body,
                              headers={"Origin": "https://evil.example"})  # fmt: skip
        assert r.status_code == 403 and r.json()["error_code"] == "origin_not_allowed"
        assert r.headers["X-Request-ID"] == r.json()["request_id"]
        r = await s.http.get("/api/market/candles", params={"series_id": SERIES})
        assert r.json()["candles"] == []
        r = await s.http.post("/api/market/ingest/candle_closed", json=body,
                              headers={"Origin": s.base_url})  # fmt: skip
        assert r.status_code == 200


async def test_a_get_from_another_site_is_refused_before_any_work(
    make_settings: SettingsFactory, fake_binance: FakeRest
) -> None:
    """Any web page the user opens could make the server spend its upstream budget with
    `<img>` tags (a no-cors GET: `Sec-Fetch-Site: cross-site`, no `Origin`) or a fetch
    (`Origin` of its own): both are refused on the facades and the chart API, and the
    exchange is asked nothing. The chart's own page and a listed origin are served, and
    so is a client that is not a browser."""
    settings = make_settings(
        allowed_origins=["https://charts.example"],
        binance_spot_rest_url=fake_binance.url,
        binance_futures_rest_url=fake_binance.url,
    )
    depth = "/binance/api/v3/depth?symbol=BTCUSDT&limit=5"
    candles = f"/api/market/candles?series_id={SERIES}"
    img = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    async with live_server(settings) as s:
        for path in (depth, candles, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m"):
            for headers in (img, {"Origin": "https://evil.example", **img}):
                r = await s.http.get(path, headers=headers)
                assert r.status_code == 403, (path, headers, r.text)
                assert r.json()["error_code"] == "origin_not_allowed"
        assert fake_binance.exchange.rest_requests == 0
        # A link to the chart from anywhere opens it.
        page = await s.http.get("/", headers={"Sec-Fetch-Site": "cross-site"})
        assert page.status_code in (200, 503)  # 503: the bundle is not built here
        allowed = [
            {"Sec-Fetch-Site": "same-origin", "Origin": s.base_url},
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://charts.example"},
            {"Sec-Fetch-Site": "none"},  # typed into the address bar
            {},  # not a browser
        ]
        for headers in allowed:
            r = await s.http.get(depth, headers=headers)
            assert r.status_code == 200 and r.json()["bids"], (headers, r.text)
            assert (await s.http.get(candles, headers=headers)).status_code == 200


async def test_other_host_names_are_refused_on_a_loopback_bind(
    make_settings: SettingsFactory,
) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 reaches
    the server with `Host: evil.example`, and is refused."""
    async with live_server(make_settings()) as s:
        r = await s.http.get("/api/market/series", headers={"Host": "evil.example:8000"})
        assert r.status_code == 400 and r.json()["error_code"] == "invalid_host"
        assert (await upgrade_status(s, "evil.example")) == 400
        assert (await upgrade_status(s, "localhost")) == 101
        for host in ("127.0.0.1", "localhost:8000", "[::1]:8000"):
            r = await s.http.get("/health", headers={"Host": host})
            assert r.status_code == 200, host
    async with live_server(make_settings(allowed_hosts=["*"])) as s:
        r = await s.http.get("/health", headers={"Host": "evil.example"})
        assert r.status_code == 200


async def upgrade_status(s: LiveServer, host: str) -> int:
    """The status of a WebSocket upgrade of /ws/market that names `host`."""
    port = int(s.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /ws/market HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status.split()[1])


def test_the_default_host_names_follow_the_bind() -> None:
    assert default_allowed_hosts("127.0.0.1") == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("::1") == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("localhost") == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("0.0.0.0") == ["*"]
    assert default_allowed_hosts("192.168.1.20") == ["*"]


async def test_a_request_without_a_host_header_is_refused(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings()) as s:
        transport = httpx.AsyncHTTPTransport()
        async with httpx.AsyncClient(transport=transport, base_url=s.base_url) as client:
            r = await client.get("/health", headers={"Host": ""})
        assert r.status_code == 400
