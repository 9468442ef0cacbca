"""Print the server's OpenAPI document (what `/api/openapi.json` serves), from which the
chart's API types are generated (`npm run api:types`) and checked for drift (the tests)."""

from __future__ import annotations

import sys

import orjson

from app.api.app import create_app
from app.config import Settings


def main() -> None:
    document = create_app(Settings(_env_file=None)).openapi()
    options = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    sys.stdout.buffer.write(orjson.dumps(document, option=options))
    sys.stdout.buffer.write(b"\n")


if __name__ == "__main__":
    main()
