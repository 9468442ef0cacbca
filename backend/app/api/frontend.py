"""The chart: the built frontend bundle (`npm run build` -> frontend/dist) served at `/`.

Only `/` and `/assets/*` are served from the bundle, so every other unknown path keeps the
API's JSON 404. The page's exchange picker is filled here, from the registered venues, so a
venue can be picked before the page has asked the server for its venues (and the page
names none itself)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

from app.series import venue_names, venue_title

VENUE_OPTIONS: Final = "<!--venue-options-->"  # where index.html wants the picker's options
DEMO_BADGE: Final = "<!--demo-badge-->"  # where it says the data is the demo's

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>trade-canvas</title>
<p>The chart is not built. Run <code>npm ci && npm run build</code> (or
<code>./scripts/run-server.sh</code>, which does it), then reload. The API is at
<a href="/api/docs">/api/docs</a>.</p>"""


def default_frontend_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "frontend" / "dist"


def mount_frontend(app: FastAPI, dist: Path, *, demo: bool = False) -> None:
    index = dist / "index.html"
    options = venue_options()  # the venues are registered once, at import
    badge = (
        '<span class="demo-badge" title="local exchanges make these candles up">demo data</span>'
    )

    async def chart_page() -> Response:
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503)
        # The page names hashed assets; it must be re-read after every build.
        page = index.read_text(encoding="utf-8").replace(VENUE_OPTIONS, options, 1)
        page = page.replace(DEMO_BADGE, badge if demo else "", 1)
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    app.add_api_route("/", chart_page, methods=["GET"], include_in_schema=False)
    app.mount("/assets", StaticFiles(directory=dist / "assets", check_dir=False), name="assets")


def venue_options() -> str:
    return "".join(
        f'<option value="{escape(name)}">{escape(venue_title(name))}</option>'
        for name in venue_names()
    )
