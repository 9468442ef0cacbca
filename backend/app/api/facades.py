"""`/<venue>/...`: each venue's exchange-compatible API, mounted under the venue's name at
app creation and built with the services (by the venue's adapter) when the server starts."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.responses import error_body


@dataclass(frozen=True, slots=True)
class FacadeMount:
    venue: str

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = getattr(scope["app"].state, "services", None)
        facade = services.reads.facades.get(self.venue) if services is not None else None
        if facade is None or scope["type"] not in ("http", "websocket"):
            if scope["type"] == "http":
                await _not_found(scope, send)
            return
        await _forward(facade, scope, receive, send)


async def _forward(facade: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    # The facade sees the path below its venue's name, as the venue's own host would.
    root = scope.get("root_path", "")
    path = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
    await facade({**scope, "path": path, "root_path": ""}, receive, send)


async def _not_found(scope: Scope, send: Send) -> None:
    request_id = str(scope.get("state", {}).get("request_id", ""))
    body = error_body("not_found", "Not Found", request_id)
    await send({
        "type": "http.response.start",
        "status": 404,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
