"""The built chart is served at `/` (its assets under /assets); nothing else changes."""

from __future__ import annotations

from pathlib import Path

from app.series import venue_names, venue_title
from tests.conftest import SettingsFactory
from tests.support import live_server


def built_bundle(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(
        '<!doctype html><header><!--demo-badge--><select id="exchange"><!--venue-options-->'
        '</select></header><script type="module" src="/assets/index-abc.js"></script>'
    )
    (dist / "assets" / "index-abc.js").write_text("console.log('chart')")
    return dist


async def test_the_chart_page_and_its_assets_are_served(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    dist = built_bundle(tmp_path)
    async with live_server(make_settings(frontend_dir=dist)) as s:
        page = await s.http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert "/assets/index-abc.js" in page.text
        # The picker lists every registered venue by its title, before the page asks.
        options = "".join(
            f'<option value="{name}">{venue_title(name)}</option>' for name in venue_names()
        )
        assert f'<select id="exchange">{options}</select>' in page.text
        assert '<option value="okx">OKX</option>' in options
        asset = await s.http.get("/assets/index-abc.js")
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]
        # Unknown paths keep the API's JSON error body, inside /assets too.
        for path in ("/assets/missing.js", "/nope", "/api/nope"):
            r = await s.http.get(path)
            assert r.status_code == 404, path
            assert r.json()["error_code"] == "not_found"


async def test_the_demo_says_its_data_is_the_demos(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    dist = built_bundle(tmp_path)
    for demo in (False, True):
        async with live_server(make_settings(frontend_dir=dist, demo=demo)) as s:
            page = (await s.http.get("/")).text
            assert ("demo data" in page) is demo
            assert "<header><select" in page or "<header><span" in page


async def test_an_unbuilt_chart_says_how_to_build_it(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    async with live_server(make_settings(frontend_dir=tmp_path / "no-dist")) as s:
        r = await s.http.get("/")
        assert r.status_code == 503
        assert "npm run build" in r.text
        assert (await s.http.get("/health")).status_code == 200


def test_the_default_bundle_is_this_checkouts_frontend_dist() -> None:
    from app.api.frontend import default_frontend_dir

    assert default_frontend_dir() == Path(__file__).resolve().parents[3] / "frontend" / "dist"
