"""`/api/market/*`: candles, the series list, and the (gated) ingest endpoint."""

from __future__ import annotations

import hmac
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.api.deps import (
    ClockDep,
    QueryDep,
    SeriesRegistryDep,
    SettingsDep,
    SupplyDep,
    VenuesDep,
    client_address,
)
from app.api.responses import JSONBytesResponse
from app.api.schemas import (
    CandlesResponse,
    ExchangesResponse,
    IngestRequest,
    IngestResponse,
    SeriesListResponse,
    SeriesStatusResponse,
    errors,
)
from app.candle import candle_from_json, candles_to_dicts
from app.errors import ClientError
from app.series import parse_series_id, series_id_pattern, venue_title

router = APIRouter(prefix="/api/market")

MAX_LIMIT = 5000
_MAX_INGEST_BODY = 65_536
_EPOCH_RANGE = {"ge": 0, "le": 2**40}


@router.get("/candles", response_model=CandlesResponse, responses=errors(400, 404, 429, 503))
async def get_candles(
    request: Request,
    query: QueryDep,
    # The pattern is documented, not checked by FastAPI: `parse_series_id` (which accepts
    # exactly it) answers a bad id with `invalid_series_id` and the reason.
    series_id: Annotated[
        str, Query(max_length=128, json_schema_extra={"pattern": series_id_pattern()})
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most candles returned")] = 500,
    since: Annotated[
        int | None,
        Query(
            **_EPOCH_RANGE,
            description="exclusive: candles with `candle_time > since`, oldest first",
        ),
    ] = None,
    before: Annotated[
        int | None,
        Query(
            **_EPOCH_RANGE,
            description="exclusive: candles with `candle_time < before`; alone, the newest "
            "`limit` of them (scrolling back); with `since`, the oldest after `since`",
        ),
    ] = None,
) -> Response:
    """Closed candles of one series, ascending, without duplicates. With neither bound:
    the newest `limit`."""
    series = parse_series_id(series_id)
    page = await query.window(series, client_address(request), limit, since=since, before=before)
    body = query.rendered(
        ("candles", page.version),
        lambda: orjson.dumps(
            {
                "series_id": str(series),
                "server_head_time": page.head_time,
                "candles": candles_to_dicts(page.candles),
            }
        ),
    )
    return Response(body, media_type="application/json")


@router.get("/series", response_model=SeriesListResponse, responses=errors(503))
async def list_series(registry: SeriesRegistryDep) -> JSONBytesResponse:
    """Stored, whitelisted, live and datadir series; each with its history state when the
    server has looked at it."""
    return JSONBytesResponse({"series": await registry.listing()})


@router.get("/status", response_model=SeriesStatusResponse, responses=errors(400))
async def series_status(
    registry: SeriesRegistryDep,
    series_id: Annotated[
        str, Query(max_length=128, json_schema_extra={"pattern": series_id_pattern()})
    ],
) -> JSONBytesResponse:
    """Where one series stands now: streaming from the venue, retrying (and why), its
    download failed (why), history only, live ingest off... Starts no work."""
    return JSONBytesResponse(await registry.status(parse_series_id(series_id)))


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
        exchanges.append(
            {"exchange": venue.name, "title": venue_title(venue.name), "markets": markets}
        )
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
    request: Request, settings: SettingsDep, supply: SupplyDep, clock: ClockDep
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
    candle = candle_from_json(payload.get("candle"), series.timeframe, int(clock.time()))
    result = await supply.correct_closed(str(series), [candle])
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
