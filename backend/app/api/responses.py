"""JSON responses (orjson) and the one error body every failure uses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import HTTPConnection
from starlette.responses import Response


class JSONBytesResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def request_id_of(conn: HTTPConnection) -> str:
    return str(conn.scope.get("state", {}).get("request_id", ""))


def error_body(code: str, message: str, request_id: str) -> bytes:
    return orjson.dumps({"error_code": code, "message": message, "request_id": request_id})


def error_response(
    conn: HTTPConnection,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(code, message, request_id_of(conn)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
