"""`trade-canvas` command line."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from app.config import Settings
from app.errors import TradeCanvasError


def _serve(args: argparse.Namespace) -> int:
    from app.api.app import create_app

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = Settings(**overrides)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        ws_max_size=settings.ws_max_message_bytes * 4,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trade-canvas", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the market-data server")
    serve.add_argument("--host", help="bind address (default TRADE_CANVAS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default TRADE_CANVAS_PORT or 8000)")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.func(args)
    except TradeCanvasError as e:
        print(f"trade-canvas: {e}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
