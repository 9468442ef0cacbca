"""Operations: liveness, readiness, Prometheus metrics, and the gated debug state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.api.deps import ServicesDep, SettingsDep
from app.api.responses import JSONBytesResponse, error_response

router = APIRouter()


@router.get("/health")
async def health() -> JSONBytesResponse:
    return JSONBytesResponse({"status": "ok"})


@router.get("/ready", response_model=None)
async def ready(request: Request, services: ServicesDep) -> Response:
    problems = []
    if not services.store.is_open:
        problems.append("candle store is not open")
    if not services.supervisor.running:
        problems.append("ingest supervisor is not running")
    if problems:
        return error_response(request, 503, "not_ready", "; ".join(problems))
    return JSONBytesResponse({"status": "ready"})


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/api/market/debug/ingest_state")
async def ingest_state(settings: SettingsDep, services: ServicesDep) -> JSONBytesResponse:
    if not settings.enable_debug_api:
        raise HTTPException(404, "Not Found")
    return JSONBytesResponse(services.supervisor.snapshot())
