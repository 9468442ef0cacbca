"""Request context for every HTTP request: a request id (echoed in `X-Request-ID`), the
duration metric by route template, `HEAD` wherever `GET` works, a deadline for reading the
request body, a client that leaves mid-request recorded as such (not as an error), and a
last-resort 500 with the unified error body."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.responses import error_body
from app.logs import request_id_var
from app.metrics import Metrics

log = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# nginx's status for "the client closed the connection before the response": not a 5xx.
CLIENT_CLOSED = 499


class BodyTimeout(Exception):
    """The client did not send its request body within the deadline."""


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, body_timeout_s: float) -> None:
        self.app = app
        self.metrics = metrics
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        logged_as = request_id_var.set(request_id)  # every line the request logs names it
        head = scope["method"] == "HEAD"
        if head:
            # Answered as GET, without the body (its length stays in Content-Length).
            scope = {**scope, "method": "GET"}
        started = time.perf_counter()
        status = 500
        response_started = False
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:  # e.g. a streaming response listening for a disconnect
                return await receive()
            try:
                async with asyncio.timeout(self.body_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_with_id)
        except ClientDisconnect:
            status = CLIENT_CLOSED  # nothing to answer, and nobody to answer it to
        except BodyTimeout:
            if response_started:
                raise
            status = 408
            body = error_body(
                "request_timeout",
                f"request body not received within {self.body_timeout_s:g} s",
                request_id,
            )
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            status = 500
            body = error_body("internal_error", "internal server error", request_id)
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_request_seconds.labels(
                scope["method"], template, str(status)
            ).observe(time.perf_counter() - started)
            request_id_var.reset(logged_as)

    @staticmethod
    def _request_id(scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate: str = value.decode("latin-1")
                if _SAFE_REQUEST_ID.fullmatch(candidate):
                    return candidate
                break
        return uuid.uuid4().hex
