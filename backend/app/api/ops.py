"""Operations: liveness, readiness, Prometheus metrics, and the gated debug state."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response

from app.api.deps import MetricsDep, ServicesDep, SettingsDep
from app.api.readiness import readiness_of
from app.api.responses import JSONBytesResponse, error_response
from app.api.schemas import IngestStateResponse, StatusResponse, errors
from app.history.datadir import list_datadirs
from app.series import parse_series_id

router = APIRouter()


@router.get("/health", response_model=StatusResponse)
async def health() -> JSONBytesResponse:
    return JSONBytesResponse({"status": "ok"})


@router.get("/ready", response_model=StatusResponse, responses=errors(503))
async def ready(request: Request, services: ServicesDep) -> Response:
    readiness = readiness_of(services)
    if readiness.not_ready:
        return error_response(request, 503, "not_ready", "; ".join(readiness.not_ready))
    if readiness.degraded:
        return JSONBytesResponse({"status": "degraded", "problems": readiness.degraded})
    return JSONBytesResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(registry: MetricsDep) -> Response:
    return Response(registry.render(), media_type="text/plain; version=0.0.4")


@router.get(
    "/api/market/debug/ingest_state",
    response_model=IngestStateResponse,
    responses=errors(404),
)
async def ingest_state(settings: SettingsDep, services: ServicesDep) -> JSONBytesResponse:
    if not settings.enable_debug_api:
        raise HTTPException(404, "Not Found")
    state = services.supply.snapshot()
    if services.cluster is not None:
        state["cluster"] = services.cluster.describe()
    for job in state["jobs"]:
        job["status"] = await services.reads.series.status(parse_series_id(job["series_id"]))
    state["upstream"] = {
        name: {**venue.limiter.snapshot(), "facade": services.reads.facade_metrics.snapshot(name)}
        for name, venue in services.venues.items()
    }
    if services.supply.has_history:
        state["history"] = services.supply.history_states()
    if services.downloads is not None:
        state["downloads"] = services.downloads.state()
    if services.datadirs is not None:
        entries = await asyncio.to_thread(list_datadirs, services.datadirs)
        state["datadir"] = {
            "path": str(services.datadirs.root),
            "paths": {name: str(path) for name, path in services.datadirs.all().items()},
            "unusable_files": [e.as_dict() for e in entries if e.problem],
        }
    return JSONBytesResponse(state)
