"""How the process logs: lines of text, or one JSON object a line (`LOG_FORMAT=json`) for
a log collector, each with its time, level, logger and message, and the request id, the
series and the venue it concerns where known.

The request id is the one the HTTP middleware gives each request (a client's own
`X-Request-ID` when it sent one), carried by a context variable into everything the
request runs, so a line logged deep in a fill still names the request that caused it. A
series and a venue come from the record's `extra` (`log.info(..., extra={"series_id":
key})`) or from the context (`log_task_as`), which background tasks set for what they
do.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Final, Literal

import orjson

LogFormat = Literal["text", "json"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_series_var: ContextVar[str | None] = ContextVar("series_id", default=None)
_venue_var: ContextVar[str | None] = ContextVar("venue", default=None)
# What a line may say besides its message, where known (the record's, else the context's).
_CONTEXT: Final = {"request_id": request_id_var, "series_id": _series_var, "venue": _venue_var}


def log_task_as(*, series_id: str | None = None, venue: str | None = None) -> None:
    """Lines the calling task logs from now on name this series and venue (its context is
    its own copy: no other task sees it)."""
    if series_id is not None:
        _series_var.set(series_id)
    if venue is not None:
        _venue_var.set(venue)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `time` (UTC, ISO 8601 with milliseconds), `level`,
    `logger`, `message`, the context fields known, and `exception` with its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        millis = int((record.created - seconds) * 1000)
        entry: dict[str, object] = {
            "time": f"{stamp}.{millis:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _CONTEXT.items():
            value = getattr(record, name, None) or var.get()
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str, log_format: LogFormat) -> None:
    """The root logger's one handler (stderr), in `log_format`, at `level`."""
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
