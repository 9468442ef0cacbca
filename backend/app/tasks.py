"""Background-task hygiene shared by every long-lived task."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


def log_crash(task: asyncio.Task[Any]) -> None:
    """Done-callback: a background task that died of an exception is logged, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s crashed", task.get_name(), exc_info=task.exception())
