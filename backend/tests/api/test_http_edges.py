"""HTTP edges: HEAD, clients that leave or stall mid-request, and an OpenAPI document that
says what the server does."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import SettingsFactory
from tests.support import SERIES, LiveServer, live_server, poll


@pytest.mark.parametrize(
    "path",
    ["/health", "/ready", "/metrics", f"/api/market/candles?series_id={SERIES}",
     "/api/market/series", "/api/market/candles", "/nowhere"],
)  # fmt: skip
async def test_head_answers_as_get_without_a_body(server: LiveServer, path: str) -> None:
    got = await server.http.get(path)
    head = await server.http.head(path)
    assert head.status_code == got.status_code
    assert head.headers["content-type"] == got.headers["content-type"]
    if path != "/metrics":  # the metrics change with every request
        assert head.headers["content-length"] == str(len(got.content))
    assert head.content == b""


async def raw_request(
    server: LiveServer, data: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    return reader, writer


def partial_post(length: int, sent: bytes) -> bytes:
    return (
        b"POST /api/market/ingest/candle_closed HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(length).encode()
        + b"\r\n\r\n"
        + sent
    )


async def test_client_leaving_mid_body_is_not_a_server_error(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    _, writer = await raw_request(server, partial_post(1000, b'{"series_id": '))
    writer.close()
    await writer.wait_closed()

    sample = (
        'trade_canvas_http_request_duration_seconds_count{method="POST",'
        'route="/api/market/ingest/candle_closed",status="499"} 1.0'
    )

    async def recorded() -> bool:
        return sample in (await server.http.get("/metrics")).text

    await poll(recorded, "the early close to be recorded as 499")
    text = (await server.http.get("/metrics")).text
    assert 'status="500"' not in text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_request_body_and_headers_have_read_deadlines(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(http_body_timeout_s=0.3, http_header_timeout_s=0.3)
    async with live_server(settings) as server:
        reader, writer = await raw_request(server, partial_post(1000, b'{"series_id": '))
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b'"error_code":"request_timeout"' in answer
        writer.close()
        # Headers trickled and never finished: the connection is closed.
        reader, writer = await raw_request(
            server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: "
        )
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # A connection that says nothing at all is closed too.
        reader, writer = await raw_request(server, b"")
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # Normal requests are unaffected.
        assert (await server.http.get("/health")).status_code == 200


async def test_openapi_document_matches_the_server(server: LiveServer) -> None:
    doc = (await server.http.get("/api/openapi.json")).json()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
    candles = doc["paths"]["/api/market/candles"]["get"]["responses"]
    assert candles["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    r = await server.http.get("/api/market/candles", params={"series_id": SERIES, "limit": 0})
    assert r.status_code == 400 and r.json()["error_code"] == "invalid_parameter"
    assert list(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert (await server.http.get("/metrics")).headers["content-type"].startswith("text/plain")
    ingest = doc["paths"]["/api/market/ingest/candle_closed"]["post"]
    body = ingest["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["series_id", "candle"]
