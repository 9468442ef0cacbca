"""`/api/market/*`: candles, the series list, and the (gated) ingest endpoint."""

from __future__ import annotations

import asyncio
import hmac
import time
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException

from app.api.deps import ServicesDep, SettingsDep, VenuesDep, client_address
from app.api.responses import JSONBytesResponse
from app.api.schemas import (
    CandlesResponse,
    ExchangesResponse,
    IngestRequest,
    IngestResponse,
    SeriesListResponse,
    errors,
)
from app.candle import candle_from_json, candles_to_dicts
from app.errors import ClientError, InvalidParameter
from app.exchanges.registry import VenueRegistry
from app.history.datadir import list_datadirs
from app.series import parse_series_id

router = APIRouter(prefix="/api/market")

MAX_LIMIT = 5000
_MAX_INGEST_BODY = 65_536
_EPOCH_RANGE = {"ge": 0, "le": 2**40}


@router.get("/candles", response_model=CandlesResponse, responses=errors(400, 404, 429, 503))
async def get_candles(
    request: Request,
    services: ServicesDep,
    series_id: Annotated[str, Query(max_length=128)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    since: Annotated[int | None, Query(**_EPOCH_RANGE)] = None,
    before: Annotated[int | None, Query(**_EPOCH_RANGE)] = None,
) -> JSONBytesResponse:
    parsed = parse_series_id(series_id)
    series = str(parsed)
    if since is not None and before is not None:
        raise InvalidParameter("give either since or before, not both")
    await services.admission.admit(parsed, client_address(request))
    if services.history is not None:
        # Scrolling back (`before`) needs the whole file; the newest page or a `since`
        # read is served as soon as those candles are committed.
        await services.history.ensure(parsed, since=since, complete=before is not None)
    page = await services.store.page(series, limit, since=since, before=before)
    return JSONBytesResponse(
        {
            "series_id": series,
            "server_head_time": page.head_time,
            "candles": candles_to_dicts(page.candles),
        }
    )


@router.get("/series", response_model=SeriesListResponse, responses=errors(503))
async def list_series(services: ServicesDep) -> JSONBytesResponse:
    """Stored, whitelisted, live and datadir series; each with its history state when the
    server has looked at it."""
    live = set(services.supervisor.live_series())
    history = services.history.states() if services.history is not None else {}
    entry = partial(_series_entry, services.venues)
    known: dict[str, dict[str, Any]] = {
        s.series_id: entry(s.series_id, s.first_time, s.head_time, s.count)
        for s in await services.store.list_series()
    }
    for series_id in [*services.settings.whitelist, *live, *history]:
        known.setdefault(series_id, entry(series_id, None, None, 0))
    if services.datadirs is not None:
        for file in await asyncio.to_thread(list_datadirs, services.datadirs):
            if file.series_id is not None:
                item = known.setdefault(file.series_id, entry(file.series_id, None, None, 0))
                item.setdefault("datadir_files", []).append(
                    {"path": str(file.path), "format": file.format, "problem": file.problem}
                )
    for series_id, item in known.items():
        item["live"] = series_id in live
        if series_id in history:
            item["history"] = history[series_id]
    return JSONBytesResponse({"series": [known[k] for k in sorted(known)]})


def _series_entry(
    venues: VenueRegistry,
    series_id: str,
    first_time: int | None,
    head_time: int | None,
    count: int,
) -> dict[str, Any]:
    series = parse_series_id(series_id)  # every id here was parsed when it came in
    venue = venues.get(series.exchange)
    info = venue.catalog.cached(series) if venue is not None else None
    return {
        "series_id": series_id,
        "exchange": series.exchange,
        "market": series.market,
        "symbol": series.symbol,
        "timeframe": series.timeframe,
        "first_time": first_time,
        "head_time": head_time,
        "count": count,
        "live": False,
        "price_tick": info.price_tick if info else None,
        "amount_step": info.amount_step if info else None,
    }


@router.get("/exchanges", response_model=ExchangesResponse, responses=errors(503))
async def list_exchanges(venues: VenuesDep) -> JSONBytesResponse:
    """The venues, their markets and timeframes, and the symbols each market lists (from
    the venue's cached market list; `catalog_error` when it cannot be had now)."""
    exchanges = []
    for venue in venues.values():
        markets = []
        for market in venue.markets:
            symbols = await venue.catalog.symbols(market)
            markets.append(
                {
                    "market": market,
                    "timeframes": list(venue.timeframes),
                    "symbols": [
                        {
                            "symbol": info.symbol,
                            "exchange_symbol": info.exchange_symbol,
                            "price_tick": info.price_tick,
                            "amount_step": info.amount_step,
                        }
                        for info in sorted((symbols or {}).values(), key=lambda i: i.symbol)
                    ],
                    "catalog_error": None if symbols is not None else "market list unavailable",
                }
            )
        exchanges.append({"exchange": venue.name, "markets": markets})
    return JSONBytesResponse({"exchanges": exchanges})


@router.post(
    "/ingest/candle_closed",
    response_model=IngestResponse,
    responses=errors(400, 401, 403, 404, 408, 413, 503),
    openapi_extra={
        # The body is read and validated by hand (size cap, clear errors), so FastAPI
        # cannot see it; described here.
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": IngestRequest.model_json_schema(
                        ref_template="#/components/schemas/{model}"
                    )
                }
            },
        }
    },
)
async def ingest_candle_closed(
    request: Request, settings: SettingsDep, services: ServicesDep
) -> JSONBytesResponse:
    if not settings.enable_ingest_api:
        raise HTTPException(404, "Not Found")
    _authorize(request, settings.ingest_token)
    body = await request.body()
    if len(body) > _MAX_INGEST_BODY:
        raise HTTPException(413, f"body larger than {_MAX_INGEST_BODY} bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ClientError(f"body is not valid JSON: {e}") from e
    if not isinstance(payload, dict):
        raise ClientError('body must be {"series_id": ..., "candle": {...}}')
    series = parse_series_id(payload.get("series_id"))
    candle = candle_from_json(payload.get("candle"), series.timeframe, int(time.time()))
    result = await services.hub.commit_closed(str(series), [candle])
    return JSONBytesResponse(
        {
            "series_id": str(series),
            "candle_time": candle.candle_time,
            "inserted": result.inserted,
            "updated": result.updated,
            "server_head_time": result.head_time,
        }
    )


def _authorize(request: Request, token: str | None) -> None:
    if token is None:
        return
    header = request.headers.get("authorization")
    if not header:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    scheme, _, given = header.partition(" ")
    # As bytes: compare_digest refuses non-ASCII str, and headers arrive as latin-1.
    expected = token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("latin-1"), expected
    ):
        raise HTTPException(403, "invalid bearer token")
